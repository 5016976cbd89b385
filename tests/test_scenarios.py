"""Scenario generation, the record, and scenario file validation."""

from __future__ import annotations

import json

import pytest

from tests.conftest import run_cli
from traitrl import taxonomy
from traitrl.config import load_config
from traitrl.errors import UserError
from traitrl.scenarios.generate import generate
from traitrl.scenarios.io import read_scenarios, to_dataset, write_scenarios

SMOKE = "configs/smoke.yaml"


def test_generate_covers_every_cell_and_round_trips(tmp_path):
    cfg = load_config(SMOKE)
    splits = generate(cfg, tmp_path)
    train = read_scenarios(tmp_path / "train.jsonl")
    assert [s.id for s in train] == [s.id for s in splits["train"]]
    cells = {(s.trait, s.domain) for s in train if not s.is_capability}
    assert cells == {(t, d) for t in taxonomy.TRAITS for d in taxonomy.TRAIN_DOMAINS}
    kinds = {s.trait for s in train if s.is_capability}
    assert kinds == set(taxonomy.CAPABILITY_KINDS)
    assert {s.pressure for s in train} == set(taxonomy.PRESSURES)
    assert any(sum(m.role == "assistant" for m in s.messages) for s in train), "multi-turn scenarios exist"
    dev = read_scenarios(tmp_path / "dev.jsonl")
    assert not {s.id for s in dev} & {s.id for s in train}
    ds = to_dataset(train)
    assert ds.num_rows == len(train) and "prompt" in ds.column_names and "rubric" in ds.column_names


def test_same_seed_byte_identical_other_seed_different(tmp_path):
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    generate(load_config(SMOKE), a)
    generate(load_config(SMOKE), b)
    generate(load_config(SMOKE, ["scenarios.seed=7"]), c)
    for name in ("train.jsonl", "dev.jsonl"):
        assert (a / name).read_bytes() == (b / name).read_bytes()
        assert (a / name).read_bytes() != (c / name).read_bytes()
    texts_a = {s.messages[-1].content for s in read_scenarios(a / "train.jsonl")}
    texts_c = {s.messages[-1].content for s in read_scenarios(c / "train.jsonl")}
    assert len(texts_a ^ texts_c) > len(texts_a) // 2, "another seed gives different items"


def _good_row(tmp_path):
    generate(load_config(SMOKE), tmp_path / "g")
    return json.loads((tmp_path / "g" / "train.jsonl").read_text().splitlines()[0])


@pytest.mark.parametrize(
    "mutate, expected",
    [
        (lambda r: r.update(domain=7), "domain"),
        (lambda r: r.pop("rubric"), "rubric: Field required"),
        (lambda r: r.update(colour="blue"), "colour: unknown field"),
        (lambda r: r.update(trait="bravery"), "trait"),
        (lambda r: r["rubric"][0].update(points="many"), "rubric.0.points"),
        (lambda r: r["messages"].append({"role": "assistant", "content": "x"}), "last message must be the user"),
        (lambda r: r.update(schema_version=99), "schema_version"),
        (lambda r: r.update(grader="gpt_judge"), "grader: Value error, unknown grader 'gpt_judge'; allowed: world, capability, llm_judge"),
    ],
)
def test_malformed_records_name_file_line_and_field(tmp_path, mutate, expected):
    row = _good_row(tmp_path)
    bad = json.loads(json.dumps(row))
    mutate(bad)
    bad["id"] = "other"
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps(row) + "\n" + json.dumps(bad) + "\n")
    with pytest.raises(UserError, match=rf"bad.jsonl:2: .*{expected}"):
        read_scenarios(path)


def test_broken_json_and_duplicates_and_empty(tmp_path):
    row = _good_row(tmp_path)
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps(row) + "\n" + json.dumps(row)[:-5] + "\n")
    with pytest.raises(UserError, match=r"bad.jsonl:2: broken JSON"):
        read_scenarios(path)
    path.write_text(json.dumps(row) + "\n" + json.dumps(row) + "\n")
    with pytest.raises(UserError, match=r"bad.jsonl:2: id: duplicate"):
        read_scenarios(path)
    path.write_text("\n")
    with pytest.raises(UserError, match="no scenarios"):
        read_scenarios(path)


def test_validate_command_exit_codes(tmp_path):
    generate(load_config(SMOKE), tmp_path)
    ok = run_cli("scenarios", "validate", str(tmp_path / "train.jsonl"))
    assert ok.returncode == 0 and "ok" in ok.stdout
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "x"}\n')
    res = run_cli("scenarios", "validate", str(bad))
    assert res.returncode == 2
    assert "bad.jsonl:1:" in res.stderr and "Traceback" not in res.stderr
    row = json.loads((tmp_path / "train.jsonl").read_text().splitlines()[0])
    bad.write_text(json.dumps(row) + "\n" + json.dumps(row | {"id": "y", "grader": "regexp"}) + "\n")
    res = run_cli("scenarios", "validate", str(bad))
    assert res.returncode == 2
    assert "bad.jsonl:2: grader" in res.stderr and "unknown grader 'regexp'" in res.stderr
    assert "world, capability, llm_judge" in " ".join(res.stderr.split())


def test_atomic_write_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "out.jsonl"

    def rows():
        yield from read_scenarios_rows()
        raise RuntimeError("interrupted")

    def read_scenarios_rows():
        generate(load_config(SMOKE), tmp_path / "src")
        return read_scenarios(tmp_path / "src" / "dev.jsonl")

    with pytest.raises(RuntimeError):
        write_scenarios(target, rows())
    assert not target.exists()
    assert not list(tmp_path.glob(".out.jsonl.*")), "no temporary file left behind"


def test_grader_registry_routes_every_name_to_its_backend():
    from traitrl.graders.registry import GRADERS, local_graders, register_grader
    from traitrl.train.rewards import make_router

    def world(prompts, completions, **kw):
        return [0.25] * len(completions)

    def judge(prompts, completions, **kw):
        return [0.75] * len(completions)

    assert local_graders() == ("world", "capability", "helpfulness", "numeric", "choice", "regex")
    assert GRADERS["llm_judge"].needs_judge
    router = make_router(world, judge)
    assert set(router.graders) == set(GRADERS) - {"helpfulness"}  # helpfulness needs the world grader's world
    out = router([[]] * 3, ["a", "b", "c"], grader=["capability", "llm_judge", "world"], trait=["arithmetic", "truthfulness", "truthfulness"])
    assert out == [0.25, 0.75, 0.25]
    # no judge, no llm_judge route; a world grader without a world (this stub) has no helpfulness route
    assert set(make_router(world).graders) == {"world", "capability", "numeric", "choice", "regex"}
    with pytest.raises(UserError, match="configure a `judge:` section to grade llm_judge rows"):
        make_router(world).check({"llm_judge"})
    with pytest.raises(ValueError, match="'world' is already registered"):
        register_grader("world")(lambda b: b.world)
