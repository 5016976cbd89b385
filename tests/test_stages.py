"""Stage caching: a completed stage is skipped, a changed key or a missing marker reruns it."""

from __future__ import annotations

from traitrl.experiments.stages import StageCache, content_key


def test_stage_runs_once_per_key(tmp_path):
    calls = []
    cache = StageCache(tmp_path)

    def stage():
        calls.append(1)
        return {"path": "x"}

    assert cache.run("a", content_key({"n": 1}), stage) == {"path": "x"}
    assert cache.run("a", content_key({"n": 1}), stage) == {"path": "x"}
    assert len(calls) == 1
    assert StageCache(tmp_path).run("a", content_key({"n": 1}), stage) == {"path": "x"} and len(calls) == 1
    cache.run("a", content_key({"n": 2}), stage)
    assert len(calls) == 2


def test_interrupted_stage_leaves_no_marker(tmp_path):
    cache = StageCache(tmp_path)

    def boom():
        raise KeyboardInterrupt

    try:
        cache.run("b", "k", boom)
    except KeyboardInterrupt:
        pass
    assert cache.lookup("b", "k") is None
    (tmp_path / "stages").mkdir(exist_ok=True)
    (tmp_path / "stages" / "c.json").write_text('{"key": "k", "outp')  # torn marker from a crash
    assert cache.lookup("c", "k") is None
