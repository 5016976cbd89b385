"""The run report: results.json schema, figures, CSVs, the HTML page, and `traitrl report`."""

from __future__ import annotations

import base64
import json
import re
import shutil
import subprocess
from html import unescape
from pathlib import Path

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from tests.helpers.synthetic import make_partial_results, make_synthetic_results
from traitrl.commands.report import report_command
from traitrl.errors import UserError
from traitrl.evals.results import EvalResult, EvalResults, ItemRecord
from traitrl.evals.scoreboard import read_scoreboard_csv
from traitrl.report import (
    build_report,
    collect_environment,
    eval_scores,
    load_run_results,
    save_run_results,
)
from traitrl.report.names import label
from traitrl.report.schema import RunResults, parse_run_results
from traitrl.report.sections import TITLES
from traitrl.report.summary import findings, transfer_rows
from traitrl.train.arms import COMPARISONS, PAPER_ARMS

SECTIONS = ("summary", "scoreboard", "training", "transfer", "prompting", "finetuning", "evals",
            "arms", "timings", "environment")
FIGURES = ("scoreboard", "training_curves", "prompting", "finetuning")
# the alt text of each figure in the page, by figure key
ALTS = {"scoreboard": "scoreboard forest plot", "training_curves": "training curves",
        "prompting": "adversarial-prompting bars", "finetuning": "fine-tuning dose-response curves"}
CHROMIUM = Path("/usr/bin/chromium")


def write_run(tmp_path: Path, data: dict, name: str = "run") -> Path:
    run = tmp_path / name
    run.mkdir(parents=True, exist_ok=True)
    (run / "results.json").write_text(json.dumps(data), encoding="utf-8")
    return run


def figures_in(html: str) -> dict[str, tuple[bytes, str]]:
    """alt text -> (PNG, caption) of every figure embedded in the page."""
    found = re.findall(r'<figure><img src="data:image/png;base64,([^"]+)" alt="([^"]+)">'
                       r"(?:<figcaption>(.*?)</figcaption>)?</figure>", html)
    return {alt: (base64.b64decode(png), cap) for png, alt, cap in found}


def section_of(html: str, sid: str) -> str:
    start = html.index(f'<section id="{sid}">')
    return html[start:html.index("</section>", start)]


def rows_of(fragment: str) -> list[list[str]]:
    """The body rows of the HTML tables in `fragment`, each cell as plain text."""
    rows = re.findall(r"<tr>(.*?)</tr>", fragment.split("<tbody>", 1)[-1])
    return [[unescape(re.sub(r"<[^>]+>", "", c)).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", r)]
            for r in rows]


@pytest.fixture(scope="module")
def real_run(tiny_run, tmp_path_factory) -> tuple[Path, dict, str]:
    """The report built from a real (tiny) `traitrl run`'s results.json."""
    data = json.loads(tiny_run.read_text(encoding="utf-8"))
    run = write_run(tmp_path_factory.mktemp("real"), data)
    return run, data, build_report(run).read_text(encoding="utf-8")


# ---- schema ----


@pytest.mark.slow
def test_real_run_results_validate_and_round_trip(tiny_run):
    res = load_run_results(tiny_run)
    assert RunResults.model_validate_json(res.to_json()) == res
    assert set(res.arms) == set(PAPER_ARMS) and set(res.models) == {"base", *PAPER_ARMS}
    assert set(res.scoreboard.available()) == {key for key, _ in COMPARISONS}
    assert res.refusals is not None and set(res.refusals.non_refused) == {key for key, _ in COMPARISONS}
    assert set(res.refusals.rates) == {"base", *PAPER_ARMS}
    assert res.meta.seeds == [0] and res.timings.total_s > 0


def test_real_run_matched_start_is_a_pair_of_rl_checkpoints_closest_on_the_curves(tiny_run):
    """Endpoint 3 of a real run: one RL checkpoint per arm (never step 0), the pair whose curve
    scores in results.json are closest, with those scores recorded beside its drops."""
    res = load_run_results(tiny_run)
    curves, m = res.training_curves, res.persistence.endpoints.matched_start
    series = {arm: dict(zip(c.steps, c.out_of_distribution_score, strict=True))
              for arm, c in curves.items()}
    trait, control = series["trait"], series[res.persistence.endpoints.reference]
    gaps = {(t, b): abs(trait[t] - control[b]) for t in trait for b in control
            if t > 0 and b > 0 and trait[t] is not None and control[b] is not None}
    assert m.step > 0 and m.baseline_step > 0
    assert gaps[(m.step, m.baseline_step)] == min(gaps.values())
    assert (m.trait_curve_score, m.baseline_curve_score) == (trait[m.step], control[m.baseline_step])
    assert set(m.drop) == {"known", "unseen"} and all(e.n > 0 for e in m.drop.values())


def test_every_section_is_optional():
    res = RunResults.model_validate({})
    assert res.scoreboard.available() == {} and res.persistence.prompting is None
    RunResults.model_validate(make_partial_results())


@pytest.mark.parametrize(
    ("patch", "where"),
    [
        ({"schema_version": 2}, "schema_version"),
        ({"scoreboards": {}}, "scoreboards"),  # a typo must not silently drop a section
        ({"training_curves": {"trait": {"steps": [0, 1], "in_distribution_trait_score": [0.1],
                                        "out_of_distribution_score": [0.1, 0.2]}}},
         "training_curves.trait"),
        ({"persistence": {"finetuning": {"doses": [0, 1], "models": {
            "trait": {"health": [{"value": 0.5}], "non_health": [{"value": 0.5}] * 2}}}}},
         "persistence.finetuning"),
        ({"timings": {"evals_s": "slow"}}, "timings.evals_s"),
        ({"evals": [{"id": "a", "family": "f", "metric": "m", "n": 1}] * 2}, "appears more than once"),
    ],
)
def test_invalid_results_name_the_problem(patch, where):
    with pytest.raises(UserError, match="results.json") as e:
        parse_run_results({"schema_version": 1, **patch}, "runs/x/results.json")
    assert where in str(e.value)


def test_missing_or_broken_results_file(tmp_path):
    with pytest.raises(UserError, match=re.escape(str(tmp_path / "results.json"))):
        build_report(tmp_path)
    (tmp_path / "results.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(UserError, match="not valid JSON"):
        build_report(tmp_path)
    (tmp_path / "results.json").write_text("[]", encoding="utf-8")
    with pytest.raises(UserError, match="expected a JSON object"):
        load_run_results(tmp_path / "results.json")
    assert not (tmp_path / "report.html").exists()


def test_eval_scores_from_eval_results_and_save(tmp_path):
    def results(model: str, scores: list[float | None]) -> EvalResults:
        items = [ItemRecord(item_id=f"i{k}", score=x) for k, x in enumerate(scores)]
        ev = EvalResult.from_items(id="welfare.distress.health", family="welfare", domains=["health"],
                                   format="freeform", metric="aligned_score", items=items)
        return EvalResults(model=model, evals=[ev])

    evals = eval_scores({"base": results("base", [1, 0, None, 0]), "trait": results("trait", [1, 1, 1, 0])})
    assert len(evals) == 1 and evals[0].health and evals[0].n == 4
    assert evals[0].scores["base"].value == pytest.approx(1 / 3) and evals[0].scores["base"].n == 3
    assert evals[0].scores["trait"].value == 0.75
    res = RunResults(evals=evals, environment=collect_environment(probe_torch=False))
    save_run_results(tmp_path / "results.json", res)
    assert load_run_results(tmp_path / "results.json") == res


def test_collect_environment():
    env = collect_environment(probe_torch=False)
    assert env.python and env.cpu_count and env.cpu_count >= 1
    assert {"torch", "transformers", "trl", "peft"} <= set(env.packages)
    assert env.packages["traitrl"]


# ---- the report of a real run ----


def _has_values(xs) -> bool:
    return any(x is not None for x in xs)


@pytest.mark.slow
def test_every_figure_and_section_has_data_behind_it(real_run):
    """A figure is embedded exactly where results.json has data for it; a section without data
    says so, and one with data never does."""
    run, data, html = real_run
    curves = data["training_curves"].values()
    prompting = data["persistence"]["prompting"] or {}
    has = {
        "scoreboard": any(sb["evals"] or sb["uninformative"] for sb in data["scoreboard"].values() if sb),
        "training_curves": any(c["steps"] and (_has_values(c["in_distribution_trait_score"])
                                               or _has_values(c["out_of_distribution_score"])) for c in curves),
        "prompting": any(v and v["value"] is not None for s in prompting.values() for v in s.values()),
        "finetuning": bool((data["persistence"]["finetuning"] or {}).get("models")),
    }
    assert all(has.values())  # the tiny run computes every figure; each must then be shown
    figs = figures_in(html)
    assert set(figs) == {ALTS[k] for k, v in has.items() if v}
    for key in FIGURES:
        assert (run / "plots" / f"{key}.png").read_bytes() == figs[ALTS[key]][0]
    for sid in SECTIONS:
        assert f'<section id="{sid}">' in html
    assert "Not available" not in html  # every section of this run has its data
    assert "http://" not in html and "https://" not in html and "<script" not in html
    assert not re.findall(r'(?:src|href)="(?!data:|#)', html)  # only data URIs and anchors


@pytest.mark.slow
def test_no_caption_promises_a_ci_the_results_lack(real_run):
    _, data, html = real_run
    ci_in = {
        "scoreboard": True,  # every scoreboard row carries its CI (a required field)
        "training_curves": any(c[k] for c in data["training_curves"].values()
                               for k in ("in_distribution_ci", "out_of_distribution_ci")),
        "prompting": any(v and v["ci"] for s in data["persistence"]["prompting"].values() for v in s.values()),
        "finetuning": any(p and p["ci"] for m in data["persistence"]["finetuning"]["models"].values()
                          for part in m.values() for p in part),
    }
    # a real run records no CIs on its training curves, and does on persistence (when the pipeline
    # starts recording curve CIs, this line changes and the loop below checks the new caption)
    assert ci_in == {"scoreboard": True, "training_curves": False, "prompting": True, "finetuning": True}
    figs = figures_in(html)
    for key, with_ci in ci_in.items():
        caption = figs[ALTS[key]][1]
        assert ("95 % CI" in caption) == with_ci, (key, caption)
        if not with_ci:
            assert "band" not in caption and "CI" not in caption and "error bar" not in caption
    evals_with_ci = any(s["ci"] for e in data["evals"] for s in e["scores"].values())
    assert ("95 % CI" in section_of(html, "evals")) == evals_with_ci


@pytest.mark.slow
def test_scoreboard_numbers_in_the_page_equal_the_results(real_run):
    run, data, html = real_run
    sbs = data["scoreboard"]
    table = {r[0]: r[1:] for r in rows_of(section_of(html, "scoreboard").split("<details>")[0])}
    assert set(table) == {TITLES[k] for k in sbs}
    for key, sb in sbs.items():
        def counts(c: dict) -> str:
            return f"{c['improved']} / {c['no_change']} / {c['regressed']} of {c['n']}"

        group = {"held_out": "held out from RL (headline)", "all": "all"}[sb["headline_group"]]
        assert table[TITLES[key]] == [
            group, f"{sb['improved']} of {sb['n']}", str(sb["no_change"]), str(sb["regressed"]),
            f"{sb['holm']['improved']} / {sb['holm']['regressed']}", f"{sb['bh']['improved']} / {sb['bh']['regressed']}",
            str(len(sb["not_compared"])), counts(sb["health"]), counts(sb["non_health"]),
        ]
        assert sb["n"] == len(sb["evals"]) and sb["n"] + len(sb["not_compared"]) > sb["n"] > 0
        rows = read_scoreboard_csv(run / f"scoreboard_{key}.csv")
        assert [r.id for r in rows] == [r["id"] for r in sb["evals"] + sb["uninformative"]]
    # every per-eval row of the trait comparison shows its own delta and p-value
    detail = section_of(html, "scoreboard").split("<details>")[1]
    shown = {r[0]: r for r in rows_of(detail)}
    for r in sbs["trait_vs_baseline"]["evals"]:
        assert shown[r["id"]][5].startswith(f"{r['delta']:+.3f}") and shown[r["id"]][6] == f"{r['p_value']:.4f}"
    sb = sbs["trait_vs_baseline"]
    which = "evaluations held out from RL" if sb["headline_group"] == "held_out" else "held-out evaluations"
    head = (f"Trait RL improved {sb['improved']} of {sb['n']} {which} versus the compute-matched baseline "
            f"(Holm: {sb['holm']['improved']}, Benjamini–Hochberg: {sb['bh']['improved']}), and regressed "
            f"{sb['regressed']} (Holm: {sb['holm']['regressed']}, BH: {sb['bh']['regressed']}).")
    assert head in html and html.index(head) < html.index('id="scoreboard"')
    summary = unescape(section_of(html, "summary"))
    assert sb["not_compared"] and f"{len(sb['not_compared'])} could not be compared: " in summary
    assert all(n["reason"] in summary for n in sb["not_compared"])


@pytest.mark.slow
def test_arms_and_header_show_what_the_run_recorded(real_run):
    _, data, html = real_run
    arms = {r[0]: r for r in rows_of(section_of(html, "arms").split("<h3>")[0])}
    for key, a in data["arms"].items():
        row = arms[label(key)]
        # arm, seed, trait data from, trait share, optimizer steps, generated tokens, wall time
        assert row[1] == str(a["seed"]) and a["arm"] == key
        assert row[4:6] == [f"{a['optimizer_steps']:,}", f"{a['generated_tokens']:,}"]
        assert row[3] == f"{100 * a['trait_fraction']:.0f} %"
        # the domains the arm's trait rows came from, as recorded; no trait data for the control
        assert row[2] == (", ".join(a["trait_domains"]) if a["trait_domains"] else "no trait data")
    assert data["arms"]["health_only"]["trait_domains"] == ["health"]
    assert "health" not in data["arms"]["no_health_science"]["trait_domains"]
    steps = {a["optimizer_steps"] for a in data["arms"].values()}
    assert f"the {len(data['arms'])} arms ran {steps.pop()} optimizer steps each" in section_of(html, "arms")
    assert data["meta"]["traitrl_version"] and f"traitrl {data['meta']['traitrl_version']}</div>" in html


@pytest.mark.slow
def test_csvs_beside_the_report(real_run):
    run, data, _ = real_run
    lines = (run / "evals.csv").read_text().splitlines()
    assert len(lines) == 1 + len(data["evals"]) and lines[0].startswith("id,family,domains")
    arms = (run / "arms.csv").read_text().splitlines()
    assert arms[0].startswith("key,arm,seed,") and [r.split(",")[0] for r in arms[1:]] == list(data["arms"])
    curves = (run / "training_curves.csv").read_text().splitlines()
    assert len(curves) == 1 + sum(len(c["steps"]) for c in data["training_curves"].values())
    for name in ("prompting.csv", "finetuning.csv"):
        assert len((run / name).read_text().splitlines()) > 1


@pytest.mark.slow
def test_rebuild_is_deterministic(real_run, tmp_path):
    run, data, html = real_run
    again = write_run(tmp_path, data)
    assert build_report(again).read_text(encoding="utf-8") == html
    for name in FIGURES:
        assert (again / "plots" / f"{name}.png").read_bytes() == (run / "plots" / f"{name}.png").read_bytes()


def _two_seeds(data: dict) -> dict:
    """A real run's results as the pipeline will record two seeds: one arms entry per (arm, seed),
    keyed by a string the report must not parse, with `arm` and `seed` set."""
    data = json.loads(json.dumps(data))
    arms, curves = {}, {}
    for arm, stats in data["arms"].items():
        for seed in (0, 1):
            key = f"{arm}#{seed}"
            arms[key] = {**stats, "arm": arm, "seed": seed}
            c = dict(data["training_curves"][arm])
            if arm == "trait":  # distinct, known scores per seed
                n = len(c["steps"])
                c["in_distribution_trait_score"] = [0.1 * (seed + 1) * (k + 1) for k in range(n)]
                c["out_of_distribution_score"] = [0.2 + 0.1 * seed + 0.05 * k for k in range(n)]
            curves[key] = c
    data["arms"], data["training_curves"] = arms, curves
    data["meta"]["seeds"] = [0, 1]
    return data


@pytest.mark.slow
def test_several_seeds_per_arm(real_run, tmp_path):
    _, data, _ = real_run
    multi = _two_seeds(data)
    run = write_run(tmp_path, multi)
    html = build_report(run).read_text(encoding="utf-8")
    res = RunResults.model_validate(multi)
    arms = rows_of(section_of(html, "arms").split("<h3>")[0])
    assert [r[:2] for r in arms] == [[label(a), str(s)] for a in data["arms"] for s in (0, 1)]
    final = section_of(html, "arms").split("<h3>Final values</h3>")[1]
    assert re.findall(r"<th class=num>(.*?)</th>", final)[:2] == ["baseline · seed 0", "baseline · seed 1"]
    k = len(data["arms"])
    assert f"the {k} arms ({2 * k} trained models, 2 seeds) ran" in html
    assert "one line per seed" in figures_in(html)[ALTS["training_curves"]][1]
    n = len(data["training_curves"]["trait"]["steps"])
    first = (0.1 + 0.2) / 2, (0.2 + 0.3) / 2
    last = (0.1 * n + 0.2 * n) / 2, (0.2 + 0.05 * (n - 1) + 0.3 + 0.05 * (n - 1)) / 2
    sentence = next(t for topic, t in findings(res) if topic == "Generalization")
    assert sentence.startswith(f"over training, the trait arm's in-distribution trait score went from "
                               f"{first[0]:.2f} to {last[0]:.2f} and its out-of-distribution aggregate "
                               f"from {first[1]:.2f} to {last[1]:.2f} (mean of 2 seeds)")
    csv_rows = (run / "arms.csv").read_text().splitlines()[1:]
    assert [r.split(",")[:3] for r in csv_rows[:2]] == [["baseline#0", "baseline", "0"], ["baseline#1", "baseline", "1"]]
    assert "seeds 0, 1" in html


@pytest.mark.slow
def test_recorded_trait_domains_drive_the_transfer_table(real_run):
    _, data, _ = real_run
    data = json.loads(json.dumps(data))
    # what the pipeline should record: the domains of the trait rows each arm's mix drew
    domains = {"baseline": [], "trait": ["business", "economics", "education", "engineering", "science"],
               "health_only": ["health"], "no_health_science": ["economics", "education", "law"]}
    for arm, ds in domains.items():
        data["arms"][arm]["trait_domains"] = ds
    rows = {r.arm: r for r in transfer_rows(RunResults.model_validate(data))}
    assert rows["health_only"].trait_data == "health" and rows["health_only"].held_out == "non_health"
    assert rows["no_health_science"].held_out == "health"
    # this trait arm drew no health scenario, so the health evals are held out for it too
    assert rows["trait"].held_out == "health" and rows["trait"].trait_data.startswith("business, ")


# ---- edge cases the smoke run does not reach (synthetic results) ----


def test_curve_cis_are_drawn_and_captioned_when_recorded(tmp_path):
    """A run that records curve CIs gets bands and a caption saying so; without them, neither."""
    data = make_synthetic_results()
    with_ci = build_report(write_run(tmp_path, data, "ci")).read_text(encoding="utf-8")
    for c in data["training_curves"].values():
        c["in_distribution_ci"] = c["out_of_distribution_ci"] = None
    without = build_report(write_run(tmp_path, data, "no-ci")).read_text(encoding="utf-8")
    png_ci, cap_ci = figures_in(with_ci)[ALTS["training_curves"]]
    png, cap = figures_in(without)[ALTS["training_curves"]]
    assert "shaded bands 95 % CIs" in cap_ci and "CI" not in cap and "band" not in cap
    assert png != png_ci


def test_findings_match_the_scoreboards():
    """Significant verdicts (no smoke run has any) reach the transfer sentences with their counts."""
    res = RunResults.model_validate(make_synthetic_results(seed=3))
    text = " ".join(s for _, s in findings(res))
    ho = res.scoreboard.health_only_vs_baseline.non_health
    nhs = res.scoreboard.no_health_science_vs_baseline.health
    assert ho.improved > 0 and nhs.improved > 0
    assert (f"health only vs baseline, on the non-health evaluations its trait data left out: improved "
            f"{ho.improved} of {ho.n}, regressed {ho.regressed}.") in text
    assert (f"no health/science vs baseline, on the health evaluations its trait data left out: "
            f"improved {nhs.improved} of {nhs.n}, regressed {nhs.regressed}.") in text
    rows = {r.arm: r for r in transfer_rows(res)}
    assert rows["health_only"].held_out == "non_health" and rows["health_only"].trait_data == "health"
    assert rows["no_health_science"].held_out == "health" and rows["trait"].held_out is None


def test_partial_run_renders_missing_sections(tmp_path):
    run = write_run(tmp_path, make_synthetic_results())
    build_report(run)
    (run / "results.json").write_text(json.dumps(make_partial_results()), encoding="utf-8")
    html = build_report(run).read_text(encoding="utf-8")
    sb = make_partial_results()["scoreboard"]["trait_vs_baseline"]
    assert f"Trait RL improved {sb['improved']} of {sb['n']}" in html
    for what in ("training curves", "adversarial-prompting results", "harmful fine-tuning results",
                 "stage timings", "environment record"):
        assert f"Not available in this run: {what}" in html
    for sid in SECTIONS:
        assert f'<section id="{sid}">' in html
    assert set(figures_in(html)) == {ALTS["scoreboard"]}
    # a rebuild leaves no stale figure or CSV from the fuller build before it
    assert sorted(p.name for p in (run / "plots").iterdir()) == ["scoreboard.png"]
    assert not (run / "scoreboard_health_only_vs_baseline.csv").exists()
    assert not (run / "prompting.csv").exists() and (run / "scoreboard_trait_vs_baseline.csv").exists()


def test_unscored_persona_sets_are_left_out(tmp_path):
    """Prompting without the unseen personas: one panel, and the caption says what is missing."""
    data = make_partial_results()
    data["persistence"] = {"prompting": {m: {"none": {"value": 0.5}, "harmful": {"value": 0.3},
                                             "helpful": {"value": 0.6}} for m in ("baseline", "trait")}}
    html = build_report(write_run(tmp_path, data)).read_text(encoding="utf-8")
    cap = figures_in(html)[ALTS["prompting"]][1]
    assert "unseen personas were not scored" in cap and "CI" not in cap
    assert "harmful steering moved baseline -0.20, trait RL -0.20" in html


def test_empty_results_still_render(tmp_path):
    run = write_run(tmp_path, {"schema_version": 1}, name="empty-run")
    html = build_report(run).read_text(encoding="utf-8")
    assert "scoreboard is not available in this run" in html
    assert html.count("Not available in this run") >= 8
    assert figures_in(html) == {}
    assert "<h1>empty-run</h1>" in html  # the folder names the run when meta does not


def test_text_from_results_is_escaped(tmp_path):
    data = make_partial_results()
    data["meta"]["notes"] = ["<img src=x onerror=alert(1)>"]
    data["models"]["trait"] = "models/<trait>"
    html = build_report(write_run(tmp_path, data)).read_text(encoding="utf-8")
    assert "<img src=x" not in html and "&lt;img src=x" in html
    assert "models/&lt;trait&gt;" in html


def test_report_command(tmp_path):
    app = typer.Typer()
    app.command()(report_command)
    run = write_run(tmp_path, make_partial_results())
    result = CliRunner().invoke(app, [str(run)])
    assert result.exit_code == 0, result.output
    assert "Trait RL improved" in result.output and (run / "report.html").is_file()
    bad = CliRunner().invoke(app, [str(tmp_path / "nope")])
    assert isinstance(bad.exception, UserError) and "not found" in str(bad.exception)


# ---- in a real browser ----


def screenshot(html: Path, png: Path, profile: Path, height: int = 4000) -> None:
    cmd = [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
           "--no-first-run", "--disable-background-networking", "--disable-component-update",
           "--disable-sync", f"--user-data-dir={profile}", f"--screenshot={png}",
           f"--window-size=1280,{height}", html.resolve().as_uri()]
    subprocess.run(cmd, check=True, capture_output=True, timeout=180)


@pytest.mark.slow
@pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed")
def test_report_renders_in_headless_chromium(real_run, tmp_path):
    from matplotlib.image import imread

    run, _, _ = real_run
    png = tmp_path / "report.png"
    screenshot(Path(shutil.copy(run / "report.html", tmp_path / "report.html")), png, tmp_path / "profile")
    assert png.stat().st_size > 10_000
    img = imread(png)[..., :3]
    assert img.shape[:2] == (4000, 1280)
    assert img.std() > 0.05  # not a blank page
    assert len(np.unique((img[::8, ::8] * 255).astype(np.uint8).reshape(-1, 3), axis=0)) > 50
    # the page's own styling rendered: the dark header band (#1d2733) at the top
    assert np.allclose(img[20, 20], np.array([0x1D, 0x27, 0x33]) / 255, atol=0.03)
    # and the embedded figures loaded: the forest plot's no-change grey (#8a8a8a) markers appear
    grey = np.all(np.abs(img - np.array([0x8A, 0x8A, 0x8A]) / 255) < 0.03, axis=-1)
    assert grey.sum() > 50


def test_null_runs_stand_beside_the_claims(tiny_run, tmp_path):
    """RUN/nulls/NAME/results.json are read when present; each row's numbers are that run's own,
    and the verdict applies the reading rule of docs/organism.md §4a."""
    data = json.loads(tiny_run.read_text(encoding="utf-8"))
    run = write_run(tmp_path, data)
    assert "No null run in this folder" in section_of(build_report(run).read_text(encoding="utf-8"), "nulls")
    null = json.loads(json.dumps(data))
    sb = null["scoreboard"]["trait_vs_baseline"]
    held = sb["groups"][sb["headline_group"]]
    held["bh"]["improved"], held["bh"]["regressed"], held["improved"] = 0, 0, 0  # a null that stays at the bound
    write_run(run / "nulls", null, "rho0")
    write_run(run / "nulls", data, "tau0")
    html = build_report(run).read_text(encoding="utf-8")
    part = section_of(html, "nulls")
    rows = [r for r in rows_of(part) if r]
    main_held = data["scoreboard"]["trait_vs_baseline"]["groups"][sb["headline_group"]]
    gen, persist = rows[:2], rows[2:]
    assert [r[0] for r in gen] == ["default run", "null (ρ = 0)"]
    assert gen[0][1].startswith(f"{main_held['improved']} of {main_held['n']}")
    assert gen[1][1].startswith(f"0 of {held['n']}") and gen[1][-1] == "as predicted"
    bound = -(-5 * held["n"] // 100)
    assert f"bound {bound}" in gen[1][1]
    assert (gen[0][-1] == "as predicted") == (main_held["bh"]["improved"] > bound)
    assert [r[0].split(" (trait@")[0] for r in persist] == ["default run", "null (τ = 0)"]
    ends = data["persistence"]["endpoints"]
    known = ends["matched_start"]["drop"]["known"]
    assert persist[0][1].startswith(f"{known['difference']:+.3f}")
    # a match at step 0 is the pre-RL organism against the baseline: it does not measure trait RL
    at0 = json.loads(json.dumps(data))
    at0["persistence"]["endpoints"]["matched_start"]["step"] = 0
    run0 = write_run(tmp_path / "at0", at0)
    write_run(run0 / "nulls", data, "tau0")
    rows0 = [r for r in rows_of(section_of(build_report(run0).read_text(encoding="utf-8"), "nulls")) if r]
    default0 = next(r for r in rows0 if r[0].startswith("default run"))
    assert "trait@0" in default0[0] and default0[-1] == "not measured"
    # the endpoints table in the prompting section shows every endpoint of the run
    prompting = section_of(html, "prompting")
    assert "logit-scale drop" in prompting and f"{ends['logit_drop']['known']['difference']:+.3f}" in prompting
