"""Importing GSM8K- and MATH-style JSONL into capability rows graded by the numeric verifier:
the reference answers, sha256 pinning, file:line errors and the `scenarios import` command."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from tests.conftest import run_cli
from traitrl.errors import UserError
from traitrl.graders.verifiers import NumericVerifier
from traitrl.scenarios.importers import import_rows
from traitrl.scenarios.io import read_scenarios, to_dataset
from traitrl.train.rewards import make_router

FIXTURES = Path(__file__).parent / "fixtures"
GSM8K = FIXTURES / "gsm8k_test_10.jsonl"  # the first 10 lines of the GSM8K test set
MATH = FIXTURES / "math_style_3.jsonl"
GSM8K_ANSWERS = ["18", "3", "70000", "540", "20", "64", "260", "160", "45", "460"]


def test_gsm8k_rows_carry_the_reference_answer_and_the_file_hash():
    imported = import_rows("gsm8k", GSM8K)
    assert imported.sha256 == hashlib.sha256(GSM8K.read_bytes()).hexdigest()
    assert [r.world["answer"] for r in imported.rows] == GSM8K_ANSWERS
    first = imported.rows[0]
    assert first.id == "gsm8k_test_10-1" and first.grader == "numeric" and first.trait == "math"
    assert first.split == "train" and first.is_capability
    assert first.messages[-1].content.startswith("Janet\u2019s ducks lay 16 eggs per day.")
    assert first.world["source"] == f"gsm8k:{GSM8K}:1"
    with_hint = import_rows("gsm8k", GSM8K, instruction="End with 'The answer is N.'", limit=2, split="dev")
    assert len(with_hint.rows) == 2 and with_hint.rows[1].split == "dev"
    assert with_hint.rows[1].messages[-1].content.endswith("\n\nEnd with 'The answer is N.'")


def test_math_rows_take_the_last_boxed_answer():
    rows = import_rows("math", MATH).rows
    assert [r.world["answer"] for r in rows] == ["\\frac{3}{4}", "12", "\\frac{\\sqrt{3}}{2}"]
    assert rows[2].world["type"] == "Precalculus" and rows[2].world["level"] == "Level 2"
    v = NumericVerifier()
    assert [v.grade(reply, r.world).value for reply, r in zip(
        ["so it is $\\boxed{0.75}$", "The answer is 13.", "\\boxed{\\dfrac{\\sqrt{3}}{2}}"], rows, strict=True)] == [1.0, 0.0, 1.0]


def test_imported_rows_are_graded_through_the_training_dataset():
    """The dataset the trainer builds carries `world` to the verifier: right, wrong, unscored."""
    rows = import_rows("gsm8k", GSM8K, limit=3).rows
    ds = to_dataset(rows).select_columns(["prompt", "grader", "trait", "world"])
    router = make_router(lambda prompts, completions, **kw: [0.0] * len(completions))
    out = router(ds["prompt"], ["#### 18", "The answer is 4.", "I cannot tell."], grader=ds["grader"],
                 trait=ds["trait"], world=ds["world"])
    assert out == [1.0, 0.0, None]


def test_sha256_pinning_and_errors_name_file_and_line(tmp_path):
    digest = hashlib.sha256(GSM8K.read_bytes()).hexdigest()
    assert len(import_rows("gsm8k", GSM8K, sha256=digest.upper()).rows) == 10
    with pytest.raises(UserError, match=f"sha256 is {digest}, but {'0' * 64} was pinned"):
        import_rows("gsm8k", GSM8K, sha256="0" * 64)
    bad = tmp_path / "bad.jsonl"
    good = GSM8K.read_text().splitlines()[0]
    for text, message in [
        (good + "\n{not json\n", r"bad.jsonl:2: broken JSON"),
        (good + "\n" + json.dumps({"question": "q", "answer": "no final line"}) + "\n", "bad.jsonl:2: no final answer"),
        (json.dumps({"question": "", "answer": "#### 1"}) + "\n", "bad.jsonl:1: question: missing"),
        ("[1, 2]\n", "bad.jsonl:1: expected a JSON object, got list"),
        ("\n\n", "no rows in file"),
    ]:
        bad.write_text(text)
        with pytest.raises(UserError, match=message):
            import_rows("gsm8k", bad)
    with pytest.raises(UserError, match="unknown import format 'svamp'; allowed: gsm8k, math"):
        import_rows("svamp", GSM8K)
    with pytest.raises(UserError, match="file not found"):
        import_rows("math", tmp_path / "absent.jsonl")
    with pytest.raises(UserError, match="domain 'maths': unknown"):
        import_rows("math", MATH, domain="maths")


def test_import_command_writes_a_valid_scenario_file(tmp_path):
    out = tmp_path / "gsm8k.jsonl"
    res = run_cli("scenarios", "import", "--format", "gsm8k", "--file", str(GSM8K), "--out", str(out))
    assert res.returncode == 0, res.stderr
    assert "10 gsm8k rows" in res.stdout and hashlib.sha256(GSM8K.read_bytes()).hexdigest() in res.stdout
    assert [s.world["answer"] for s in read_scenarios(out)] == GSM8K_ANSWERS
    bad = tmp_path / "bad.jsonl"
    bad.write_text(GSM8K.read_text().splitlines()[0] + "\n{\n")
    res = run_cli("scenarios", "import", "--format", "gsm8k", "--file", str(bad), "--out", str(tmp_path / "x.jsonl"))
    assert res.returncode == 2 and "bad.jsonl:2: broken JSON" in res.stderr and "Traceback" not in res.stderr
    assert not (tmp_path / "x.jsonl").exists()
    res = run_cli("scenarios", "import", "--format", "gsm8k", "--file", str(GSM8K), "--out", str(out),
                  "--sha256", "f" * 64)
    assert res.returncode == 2 and "was pinned" in res.stderr
