"""A given policy's scenarios assembled from its sources: the user's files, GSM8K/MATH imports and
the LLM generator (on a loopback fake), de-duplicated, split by a hash of each id, written with a
manifest; the config's errors; and the assembly as a cached stage of `traitrl run`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO, run_cli
from tests.helpers.fault_server import FaultPlan, FaultServer
from tests.test_llm_generator import _responder
from traitrl.config import load_config
from traitrl.errors import UserError
from traitrl.scenarios.assemble import assemble, check_assembly_folder, hash_split, read_manifest
from traitrl.scenarios.io import read_scenarios

GSM8K = REPO / "configs" / "real" / "data" / "gsm8k-sample.jsonl"
TRAIT_FILE = REPO / "configs" / "real" / "data" / "scenarios" / "trait-scenarios.jsonl"
QUESTION_1 = json.loads(GSM8K.read_text(encoding="utf-8").splitlines()[0])["question"]


def _row(row_id: str, content: str, split: str = "train", trait: str = "truthfulness") -> dict[str, Any]:
    return {"id": row_id, "split": split, "domain": "health", "trait": trait, "grader": "llm_judge",
            "messages": [{"role": "user", "content": content}],
            "rubric": [{"id": "good", "description": "answers well", "points": 1}]}


def _write(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def _cfg(*sets: str):
    return load_config(None, list(sets))


def _ids(folder: Path, split: str) -> list[str]:
    return [s.id for s in read_scenarios(folder / f"{split}.jsonl")]


# ---- the dev split ----

def test_the_hash_split_is_deterministic_and_near_the_fraction():
    # worked out once from sha256: of the sample's eight ids, only the last falls below 0.15
    assert [hash_split(f"gsm8k-sample-{i}", 0.15) for i in range(1, 9)] == ["train"] * 7 + ["dev"]
    assert [hash_split(f"gsm8k-sample-{i}", 0.25) for i in range(1, 9)].count("dev") == 2
    dev = sum(hash_split(f"row-{i}", 0.15) == "dev" for i in range(4000))
    assert 540 <= dev <= 660  # 600 expected; a split that ignored the fraction would miss by far
    # a larger fraction only adds rows to dev: a row's split moves one way as the fraction grows
    assert all(hash_split(f"row-{i}", 0.3) == "dev" for i in range(500) if hash_split(f"row-{i}", 0.15) == "dev")


def test_assembly_is_deterministic_and_the_splits_are_disjoint(tmp_path):
    mine = _write(tmp_path / "mine.jsonl", [_row(f"m{i}", f"question number {i} about doses") for i in range(40)])
    cfg = _cfg(f"scenarios.files=[{mine}]", f"scenarios.capability=[gsm8k:{GSM8K}]", "scenarios.dev_fraction=0.25")
    assemble(cfg, tmp_path / "a")
    assemble(cfg, tmp_path / "b")
    for name in ("train.jsonl", "dev.jsonl", "manifest.json"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    train, dev = _ids(tmp_path / "a", "train"), _ids(tmp_path / "a", "dev")
    assert not set(train) & set(dev) and len(train) + len(dev) == 48
    # the file's rows are all train rows, so (file_splits auto) the hash decides theirs too
    assert dev == [i for i in [*(f"m{k}" for k in range(40)), *(f"gsm8k-sample-{k}" for k in range(1, 9))]
                   if hash_split(i, 0.25) == "dev"]
    assert all(s.split == "dev" for s in read_scenarios(tmp_path / "a" / "dev.jsonl"))
    # marked: a file's own marks win over the hash
    marked = assemble(cfg.model_copy(update={"scenarios": cfg.scenarios.model_copy(update={"file_splits": "marked"})}),
                      tmp_path / "c")[1]
    assert (marked.sources[0].train, marked.sources[0].dev) == (40, 0)


def test_a_file_with_dev_rows_keeps_its_marks(tmp_path):
    cfg = _cfg(f"scenarios.files=[{TRAIT_FILE}]", f"scenarios.capability=[gsm8k:{GSM8K}]", "scenarios.dev_fraction=0.25")
    splits, manifest = assemble(cfg, tmp_path / "out")
    shipped = [json.loads(line) for line in TRAIT_FILE.read_text(encoding="utf-8").splitlines()]
    assert [s.id for s in splits["dev"]] == [r["id"] for r in shipped if r["split"] == "dev"] + [
        "gsm8k-sample-6", "gsm8k-sample-8"]
    assert [(s.split, s.train, s.dev) for s in manifest.sources] == [("marked", 14, 4), ("hash", 6, 2)]
    assert {s.grader for s in splits["train"] if s.trait == "math"} == {"numeric"}


# ---- de-duplication and pins ----

def test_the_first_listed_source_wins_a_duplicate_prompt(tmp_path):
    # the same GSM8K question, in other case and spacing, as the user's own row: the file is listed first
    mine = _write(tmp_path / "mine.jsonl", [_row("mine-0", "  " + QUESTION_1.upper().replace(" ", "   ") + "\n"),
                                            _row("mine-1", "something else entirely", split="dev")])
    cfg = _cfg(f"scenarios.files=[{mine}]", f"scenarios.capability=[gsm8k:{GSM8K}]")
    splits, manifest = assemble(cfg, tmp_path / "out")
    assert [d.model_dump() for d in manifest.duplicates] == [
        {"id": "gsm8k-sample-1", "source": f"gsm8k:{GSM8K}", "kept_id": "mine-0", "kept_source": str(mine)}]
    assert [(s.rows, s.kept) for s in manifest.sources] == [(2, 2), (8, 7)]
    rows = [s.id for s in splits["train"] + splits["dev"]]
    assert "gsm8k-sample-1" not in rows and "mine-0" in rows and len(rows) == 9
    assert read_manifest(tmp_path / "out") == manifest


def test_two_different_rows_with_one_id_are_refused(tmp_path):
    a = _write(tmp_path / "a.jsonl", [_row("same", "first prompt", split="dev"), _row("x", "x prompt")])
    b = _write(tmp_path / "b.jsonl", [_row("same", "second prompt")])
    with pytest.raises(UserError, match=r"row id 'same' is also a different row of .*a\.jsonl"):
        assemble(_cfg(f"scenarios.files=[{a}, {b}]"), tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_a_pinned_sha256_refuses_a_changed_file(tmp_path):
    import hashlib

    good = hashlib.sha256(GSM8K.read_bytes()).hexdigest()
    with pytest.raises(UserError, match="was pinned; the file changed"):
        assemble(_cfg(f"scenarios.capability=[gsm8k:{GSM8K}@sha256={'0' * 64}]"), tmp_path / "bad")
    mine = _write(tmp_path / "mine.jsonl", [_row("m", "a prompt", split="dev"), _row("n", "another")])
    with pytest.raises(UserError, match=r"scenarios\.files: .*mine\.jsonl: sha256 is .* was pinned"):
        assemble(_cfg(f"scenarios.files=[{mine}@sha256={'a' * 64}]"), tmp_path / "bad")
    assert not (tmp_path / "bad").exists()  # nothing written
    _, manifest = assemble(_cfg(f"scenarios.capability=[gsm8k:{GSM8K}@sha256={good}]", "scenarios.dev_fraction=0.25"),
                           tmp_path / "ok")
    assert manifest.sources[0].sha256 == good


# ---- the LLM generator as a source, on a loopback fake ----

def test_assemble_command_generates_with_the_configured_token_limit(tmp_path):
    asked: list[dict[str, Any]] = []

    def responder(body: dict[str, Any]) -> str:
        asked.append(body)
        return _responder(body)

    mine = _write(tmp_path / "mine.jsonl", [_row("mine-0", "my own dev question", split="dev")])
    with FaultServer(faults=FaultPlan(rate=0.0), responder=responder, lifetime_s=120) as srv:
        sets = [f"judge.base_url={srv.base_url}", "judge.model=gen", "judge.api_key_env=null",
                f"judge.cache_dir={tmp_path / 'cache'}", "scenarios.traits=[truthfulness, risk_awareness]",
                "scenarios.domains=[health, science]", "scenarios.pressures=[incentive, user_insistence]",
                "scenarios.llm={per_cell: 1, max_tokens: 777, limit: 6}", f"scenarios.files=[{mine}]",
                f"scenarios.capability=[gsm8k:{GSM8K}]", "scenarios.dev_fraction=0.3"]
        done = run_cli("scenarios", "assemble", "--out", str(tmp_path / "out"), *(x for s in sets for x in ("--set", s)))
        assert done.returncode == 0, done.stderr[-2000:]
        n = len(asked)
        # generate-llm takes its completion-token limit from the same config key
        gen = run_cli("scenarios", "generate-llm", "--out", str(tmp_path / "llm.jsonl"), "--limit", "1",
                      *(x for s in [*sets[:3], "scenarios.llm={max_tokens: 333}"] for x in ("--set", s)))
        assert gen.returncode == 0, gen.stderr[-2000:]
    assert n == 6 and {b["max_tokens"] for b in asked[:n]} == {777}
    assert {b["max_tokens"] for b in asked[n:]} == {333}
    manifest = read_manifest(tmp_path / "out")
    llm = manifest.sources[-1]
    assert (llm.kind, llm.sha256, llm.rows) == ("llm", None, 6)
    assert llm.generation["requested"] == 6 and llm.generation["settings"]["max_tokens"] == 777
    rows = read_scenarios(tmp_path / "out" / "train.jsonl") + read_scenarios(tmp_path / "out" / "dev.jsonl")
    generated = [s for s in rows if s.world.get("generator") == "llm"]
    assert len(generated) == 6 and all(s.split == hash_split(s.id, 0.3) for s in generated)
    assert "truthfulness" in done.stdout and "math" in done.stdout and "llm" in done.stdout
    # an output folder holding something else is refused; the same folder again is fine
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    with pytest.raises(UserError, match=r"holds notes\.txt, which an assembly does not write"):
        check_assembly_folder(tmp_path / "other")
    (tmp_path / "made").mkdir()
    (tmp_path / "made" / "train.jsonl").write_text("")
    with pytest.raises(UserError, match=r"holds train\.jsonl but no manifest\.json"):
        check_assembly_folder(tmp_path / "made")
    assert check_assembly_folder(tmp_path / "out") == tmp_path / "out"


# ---- the config ----

def test_config_errors_name_the_key(tmp_path):
    def error(*sets: str) -> str:
        with pytest.raises(UserError) as e:
            load_config(None, list(sets))
        return str(e.value)

    assert "scenarios: Value error, scenarios.dir and scenarios.files are exclusive" in error(
        "scenarios.dir=x", "scenarios.files=[a.jsonl]")
    assert "scenarios.capability.0: Value error, 'nope:x.jsonl': unknown format 'nope'; allowed: gsm8k, math" in error(
        "scenarios.capability=[nope:x.jsonl]")
    assert "scenarios.capability.0: Value error, 'gsm8k:x@sha256=12': sha256 must be 64 hexadecimal" in error(
        "scenarios.capability=[gsm8k:x@sha256=12]")
    assert "scenarios.files.0: Value error, 'x.jsonl@size=3': unknown option 'size'" in error(
        "scenarios.files=[x.jsonl@size=3]")
    assert "scenarios.llm: generating scenarios asks the judge: endpoint" in error("scenarios.llm={per_cell: 2}")
    assert "scenarios.llm.max_tokens: Input should be greater than or equal to 1" in error(
        "scenarios.llm={max_tokens: 0}", "judge.model=m")
    assert "scenarios.dev_fraction: Input should be less than 1" in error("scenarios.dev_fraction=1")
    assert "scenarios.files: Value error, an entry is listed twice" in error("scenarios.files=[a.jsonl, a.jsonl]")
    # off: a null section, or enabled false (no judge needed)
    assert load_config(None, ["scenarios.llm={enabled: false}"]).scenarios.llm.enabled is False
    with pytest.raises(UserError, match=r"scenarios\.files\.0: .*missing\.jsonl: no such file"):
        load_config(None, [f"scenarios.files=[{tmp_path / 'missing.jsonl'}]"], check_paths=True)


def test_a_given_policy_accepts_sources_instead_of_a_folder():
    from traitrl.experiments.given import check_given_policy

    real = REPO / "configs" / "real" / "cpu-tiny.yaml"
    cfg = load_config(real, [f"policy.model={REPO}"])
    assert cfg.scenarios.dir is None and cfg.scenarios.files
    check_given_policy(cfg)
    with pytest.raises(UserError, match=r"scenarios\.dir or scenarios\.files / capability / llm"):
        check_given_policy(load_config(real, [f"policy.model={REPO}", "scenarios.files=[]", "scenarios.capability=[]"]))


def test_empty_splits_and_eval_rows_are_refused(tmp_path):
    one = _write(tmp_path / "one.jsonl", [_row("only", "a single train row")])
    with pytest.raises(UserError, match="the assembled dev split is empty"):
        assemble(_cfg(f"scenarios.files=[{one}]", "scenarios.file_splits=marked"), tmp_path / "out")
    evals = _write(tmp_path / "eval.jsonl", [_row("e", "an eval row", split="eval")])
    with pytest.raises(UserError, match="row 'e' is a eval row; the RL data takes train and dev rows only"):
        assemble(_cfg(f"scenarios.files=[{evals}]"), tmp_path / "out")


# ---- the cached stage ----

def test_the_stage_reuses_its_cache_and_reruns_after_a_source_edit(tmp_path):
    from traitrl.experiments import stages
    from traitrl.experiments.stage import Runner, derive_key

    mine = _write(tmp_path / "mine.jsonl", [_row("m0", "first", split="dev"), _row("m1", "second")])
    cfg = _cfg(f"scenarios.files=[{mine}]", f"scenarios.capability=[gsm8k:{GSM8K}]")
    run_dir = tmp_path / "run"

    def assembled():
        runner = Runner(cfg, run_dir)
        data = runner(stages.assemble_scenarios, "assemble_scenarios", dest="data", **stages.assembly_inputs(cfg))
        return data, runner.cache.ran

    first, ran = assembled()
    assert ran == ["assemble_scenarios"] and first.counts == {"train": 8, "dev": 2}
    assert (run_dir / "data" / "manifest.json").is_file()
    again, ran = assembled()
    assert ran == [] and again == first  # the marker matched: nothing was read or written again
    _write(mine, [_row("m0", "first", split="dev"), _row("m1", "second"), _row("m2", "third")])
    edited, ran = assembled()
    assert ran == ["assemble_scenarios"] and edited.key != first.key and edited.counts == {"train": 9, "dev": 2}
    assert "m2" in _ids(run_dir / "data", "train")
    # what depends on it (an arm) gets a new key too
    arm = {"base": None, "arm": "trait", "seed": 0, "name": "trait"}
    assert derive_key(stages.train_arm.spec, cfg, {**arm, "data": first}) != derive_key(
        stages.train_arm.spec, cfg, {**arm, "data": edited})
    # the judge settings that decide generation are part of the key; off, they are not
    judged = _cfg(f"scenarios.files=[{mine}]", "judge.model=a", "scenarios.llm={limit: 2}")
    other = _cfg(f"scenarios.files=[{mine}]", "judge.model=b", "scenarios.llm={limit: 2}")
    assert stages.assembly_inputs(judged)["generator"]["model"] == "a"
    assert derive_key(stages.assemble_scenarios.spec, judged, stages.assembly_inputs(judged)) != derive_key(
        stages.assemble_scenarios.spec, other, stages.assembly_inputs(other))
    assert stages.assembly_inputs(cfg)["generator"] is None
