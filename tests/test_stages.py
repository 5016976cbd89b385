"""The stage layer: keys are derived from what a stage declares, a completed stage is skipped, a
changed input reruns it, and an interrupted stage leaves no marker."""

from __future__ import annotations

import pytest

from traitrl.config import load_config
from traitrl.experiments.cache import StageCache, code_fingerprint, digest
from traitrl.experiments.stage import STAGES, Runner, StageResult, call, derive_key, stage


class Counted(StageResult):
    value: int


CALLS: list[int] = []


@stage("test_counted", version=1, config=("train.steps",), code=("traitrl.taxonomy",), result=Counted)
def counted(ctx, *, n: int, upstream: Counted | None = None, dest: str = "x") -> Counted:
    CALLS.append(n)
    return Counted(value=n + ctx.config.train.steps + (upstream.value if upstream else 0))


def test_key_follows_declared_inputs_only():
    spec = STAGES["test_counted"]
    cfg = load_config(None)
    key = derive_key(spec, cfg, {"n": 1})
    assert derive_key(spec, cfg, {"n": 1}) == key
    assert derive_key(spec, cfg, {"n": 2}) != key
    assert derive_key(spec, load_config(None, ["train.steps=7"]), {"n": 1}) != key  # a declared section
    assert derive_key(spec, load_config(None, ["evals.n_items=7"]), {"n": 1}) == key  # an undeclared one
    assert derive_key(spec, cfg, {"n": 1, "dest": "elsewhere"}) == key  # where outputs go is not what they are
    up = Counted(value=1, key="abc")
    assert derive_key(spec, cfg, {"n": 1, "upstream": up}) != derive_key(spec, cfg, {"n": 1, "upstream": up.model_copy(update={"key": "abd"})})
    with pytest.raises(ValueError, match="no key"):
        derive_key(spec, cfg, {"n": 1, "upstream": Counted(value=1)})


def test_code_fingerprint_changes_with_source(tmp_path, monkeypatch):
    pkg = tmp_path / "fpkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("x = 1\n")
    (pkg / "mod.py").write_text("y = 2\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    before = code_fingerprint("fpkg")
    code_fingerprint.cache_clear()
    (pkg / "mod.py").write_text("y = 3\n")
    assert code_fingerprint("fpkg") != before
    code_fingerprint.cache_clear()


def test_runner_runs_each_key_once_and_call_gives_the_same_key(tmp_path):
    cfg = load_config(None)
    CALLS.clear()
    run = Runner(cfg, tmp_path)
    a = run(counted, "a", n=1)
    assert a.value == 1 + cfg.train.steps and a.key
    assert run(counted, "a", n=1) == a
    assert Runner(cfg, tmp_path)(counted, "a", n=1) == a  # a new process finds the marker
    assert CALLS == [1]
    b = run(counted, "b", n=2, upstream=a)
    assert b.value == 2 + cfg.train.steps + a.value
    assert call(counted, cfg, tmp_path, n=2, upstream=a).key == b.key
    run(counted, "a", n=5)
    assert CALLS == [1, 2, 2, 5]


def test_interrupted_stage_leaves_no_marker(tmp_path):
    cache = StageCache(tmp_path)

    def boom():
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        cache.run("b", "k", boom)
    assert cache.lookup("b", "k") is None
    (tmp_path / "stages").mkdir(exist_ok=True)
    (tmp_path / "stages" / "c.json").write_text('{"key": "k", "outp')  # torn marker from a crash
    assert cache.lookup("c", "k") is None
    assert digest({"a": 1}) == digest({"a": 1}) != digest({"a": 2})


def test_stage_names_are_unique():
    with pytest.raises(ValueError, match="defined twice"):
        stage("test_counted", version=1, config=(), code=(), result=Counted)(lambda ctx: Counted(value=0))


class Written(StageResult):
    file: str


@stage("test_written", version=1, config=("train.steps",), code=("traitrl.taxonomy",), result=Written)
def written(ctx, *, n: int, dest: str | None = None) -> Written:
    CALLS.append(n)
    path = ctx.path(dest or "nowhere.json")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"{n}\n")
    (path.parent / f"{path.stem}.tool-logs").mkdir(exist_ok=True)
    (path.parent / f"{path.stem}.tool-logs" / "log.txt").write_text("log\n")
    return Written(file=dest or "nowhere.json")


def test_a_peer_folders_completed_stage_is_adopted_not_rerun(tmp_path):
    from traitrl.atomic import write_text

    cfg = load_config(None)
    CALLS.clear()
    first, second = tmp_path / "cells" / "a", tmp_path / "cells" / "b"
    a = Runner(cfg, first, peers=(first, second))(written, "w", n=1, dest="evals/x.json")
    b_run = Runner(cfg, second, peers=(first, second))
    b = b_run(written, "w", n=1, dest="evals/x.json")
    assert CALLS == [1] and b == a  # adopted: the same result, the function never ran again
    assert (second / "evals/x.json").read_text() == "1\n"
    assert (second / "evals/x.json").stat().st_ino == (first / "evals/x.json").stat().st_ino  # linked, not copied
    assert (second / "evals/x.tool-logs/log.txt").is_file()  # with the logs beside the file
    assert b_run.cache.shared == ["w"]
    assert StageCache(second).lookup("w", b.key)["shared_from"] == "a"
    # an atomic rewrite in one folder replaces its link and leaves the peer's file alone
    write_text(second / "evals/x.json", "changed\n")
    assert (first / "evals/x.json").read_text() == "1\n"
    # another key, or the same label in a folder with no peers, runs
    b_run(written, "w", n=2, dest="evals/x.json")
    Runner(cfg, tmp_path / "alone")(written, "w", n=1, dest="evals/x.json")
    assert CALLS == [1, 2, 1]
    # a peer marker whose outputs went elsewhere is not adopted without a dest
    Runner(cfg, tmp_path / "c", peers=(first,))(written, "w", n=1)
    assert CALLS == [1, 2, 1, 1]


def test_an_arm_without_trait_rows_has_one_config_whatever_the_trait_settings():
    from traitrl.train.arms import arm_config

    def cfg(*sets):
        return load_config(None, list(sets)).train

    base = arm_config(cfg("train.trait_fraction=0.05"), "baseline")
    assert arm_config(cfg("train.trait_fraction=0.2"), "baseline") == base
    assert arm_config(cfg("train.include_traits=[universal_fairness, truthfulness]"), "baseline") == base
    assert arm_config(cfg("train.trait_fraction=0.05"), "trait") != arm_config(cfg("train.trait_fraction=0.2"), "trait")
    assert arm_config(cfg("train.include_traits=[universal_fairness]"), "trait").include_traits == ["universal_fairness"]
    assert base.trait_fraction == 0 and base.arm == "baseline"
