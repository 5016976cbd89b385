"""`traitrl run` end to end on a tiny profile: it completes, and a run killed with SIGKILL and
started again with the same command resumes and ends with the same results."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import REPO, TINY_RUN, adopt_tiny_organism, tiny_run_env
from traitrl.train.arms import PAPER_ARMS


def _cmd(out: Path) -> list[str]:
    args = [sys.executable, "-m", "traitrl", "run", "--config", "configs/smoke.yaml", "--out", str(out)]
    for s in TINY_RUN:
        args += ["--set", s]
    return args


def _stable(results: dict) -> dict:
    """results.json without what legitimately differs between runs (times, paths of the run)."""
    r = dict(results)
    r.pop("timings", None)
    r.pop("environment", None)
    meta = dict(r.get("meta") or {})
    meta.pop("created_at", None)
    r["meta"] = meta
    r["arms"] = {k: {f: v for f, v in a.items() if f != "wall_s"} for k, a in r.get("arms", {}).items()}
    return r


@pytest.mark.slow
def test_run_completes_and_resumes_after_kill(tiny_run, tmp_path):
    """The reference is the session's tiny run (`tiny_run`: the same command, run straight through
    in another process); this run is killed with SIGKILL mid-training and started again."""
    expected = json.loads(tiny_run.read_text())
    assert set(expected["models"]) == {"base", *PAPER_ARMS}
    arms = expected["arms"]
    assert len({a["optimizer_steps"] for a in arms.values()}) == 1
    assert len({a["generated_tokens"] for a in arms.values()}) == 1

    resumed = tmp_path / "resumed"
    adopt_tiny_organism(tiny_run, resumed)
    proc = subprocess.Popen(_cmd(resumed), cwd=REPO, env=tiny_run_env(), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    marker = resumed / "stages" / "train_trait.json"
    deadline = time.time() + 600
    while not marker.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.2)
    assert proc.poll() is None, "the run finished before it could be interrupted"
    os.killpg(proc.pid, signal.SIGKILL)  # kill -9, mid-run
    proc.wait()
    assert not (resumed / "results.json").exists()
    done_before = {p.name: p.read_bytes() for p in (resumed / "stages").glob("*.json")}
    assert "train_trait.json" in done_before and len(done_before) < len(expected["timings"]) - 1
    again = subprocess.run(_cmd(resumed), cwd=REPO, env=tiny_run_env(), capture_output=True, text=True, timeout=900)
    assert again.returncode == 0, again.stderr[-3000:]
    got = json.loads((resumed / "results.json").read_text())
    assert _stable(got) == _stable(expected)
    assert (resumed / "report.html").stat().st_size > 10_000
    # every stage completed before the kill was reused as it was, not run again
    assert {name: (resumed / "stages" / name).read_bytes() for name in done_before} == done_before


@pytest.mark.slow
def test_run_with_two_seeds_trains_evaluates_and_pairs_both(tiny_run, tmp_path):
    out = tmp_path / "seeds"
    adopt_tiny_organism(tiny_run, out)
    arms = ("baseline", "trait")  # run.arms: the compared pair; persistence: prompting, on both seeds
    done = subprocess.run([*_cmd(out), "--seeds", "2", "--set", "run.arms=[trait, baseline]",
                           "--set", "run.persistence=[prompting]", "--set", "run.persistence_seeds=2"],
                          cwd=REPO, env=tiny_run_env(), capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    res = json.loads((out / "results.json").read_text())
    labels = {f"{arm}-s{s}" for arm in arms for s in (0, 1)}
    assert set(res["arms"]) == labels and set(res["models"]) == labels | {"base"}
    assert res["meta"]["seeds"] == [0, 1]
    assert {a["optimizer_steps"] for a in res["arms"].values()} == {4}
    # each seed is its own replicate: its RL seed, its own draw of the mix
    assert {(a["arm"], a["seed"]) for a in res["arms"].values()} == {(a, s) for a in arms for s in (0, 1)}
    assert {k for k, v in res["scoreboard"].items() if v} == {"trait_vs_baseline"}
    assert set(res["persistence"]["prompting"]) == labels and res["persistence"]["finetuning"] is None
    mixes = [json.loads((out / "arms" / f"trait-s{s}" / "mix.json").read_text())["ids"] for s in (0, 1)]
    assert sorted(mixes[0]) != sorted(mixes[1]) or mixes[0] != mixes[1]
    for e in res["evals"]:
        assert labels <= set(e["scores"]), e["id"]  # every seed's arm was evaluated
    # the scoreboard takes both seeds as replicates: items paired by id across arms, CIs over seeds and prompts
    from traitrl.evals.results import load_results

    def scored(label: str) -> dict[str, set[str]]:
        r = load_results(out / "evals" / f"{label}.json")
        return {e.id: {it.item_id for it in e.items if it.score is not None} for e in r.evals}

    base = [scored(f"baseline-s{s}") for s in (0, 1)]
    trait = [scored(f"trait-s{s}") for s in (0, 1)]
    rows = [r for r in res["scoreboard"]["trait_vs_baseline"]["evals"] if r["pairing"] == "paired"]
    assert rows
    for row in rows:
        e = row["id"]
        both = (base[0][e] | base[1][e]) & (trait[0][e] | trait[1][e])  # scored in some seed of each arm
        assert row["n_baseline"] == row["n_treatment"] == len(both), e
        assert row["n_seeds_baseline"] == row["n_seeds_treatment"] == 2 and row["ci_covers"] == "seeds+items", e
    _check_both_seeds_persisted(out, res)


def _check_both_seeds_persisted(out: Path, res: dict) -> None:
    """run.persistence_seeds=2: each seed's pair is prompted in its own stage, scored on its own
    training curves and matched at its own start; the first seed's endpoints stay `endpoints`,
    and the sweep's columns and the report's per-seed table read every seed."""
    from traitrl.experiments.sweep_summary import _persistence
    from traitrl.report.schema import load_run_results

    stages = {p.stem for p in (out / "stages").glob("*.json")}
    assert {"persist_prompting", "persist_prompting_s1"} <= stages
    assert {"curve_trait-s1_2", "curve_baseline-s1_4"} <= stages
    by_seed = res["persistence"]["endpoints_by_seed"]
    assert [(e["reference"], e["model"]) for e in by_seed] == [("baseline-s0", "trait-s0"), ("baseline-s1", "trait-s1")]
    assert by_seed[0] == res["persistence"]["endpoints"]
    assert by_seed[0]["raw_drop"] != by_seed[1]["raw_drop"]  # different models, different prompting results
    for e in by_seed:
        assert e["matched_start"]["step"] in (2, 4) and e["matched_start"]["drop"]["known"]["n"] > 0
    for label in ("trait-s1", "baseline-s1"):
        assert all(v is not None for v in res["training_curves"][label]["out_of_distribution_score"])
    summary = _persistence(load_run_results(out / "results.json"))
    drops = [e["raw_drop"]["known"]["difference"] for e in by_seed]
    assert summary["drop_difference"].per_seed == drops and summary["drop_difference"].ci is not None
    assert len(summary["matched_drop_difference"].per_seed) == 2
    for key, field in (("score_under_attack", "score_under_attack_difference"), ("logit_drop", "logit_drop_difference")):
        assert summary[field].per_seed == [e[key]["known"]["difference"] for e in by_seed]
    assert "The endpoints of every persisted seed" in (out / "report.html").read_text(encoding="utf-8")
