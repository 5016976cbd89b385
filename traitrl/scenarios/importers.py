"""Standard RL datasets from local JSONL files -> capability rows of the RL mix, graded by a verifier.

`import_rows(FORMAT, PATH)` reads a file once, hashes those bytes (a pinned sha256 is checked
before anything is parsed, like the benchmark files) and turns every line into a `Scenario`
whose `world.answer` holds the reference answer for the `numeric` verifier:

- `gsm8k`: `{"question": ..., "answer": "...reasoning...\\n#### 72"}` (Cobbe et al., 2021);
- `math`: `{"problem": ..., "solution": "...\\boxed{...}..."}` (Hendrycks et al., 2021), with an
  optional `answer` field taking precedence, and `level` / `type` kept as metadata.

Every problem is a `UserError` naming the file and line: an import gives every row or none.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from traitrl import taxonomy
from traitrl.errors import UserError
from traitrl.graders.registry import NUMERIC
from traitrl.graders.verifiers import last_boxed
from traitrl.inputs import check_nesting, decode_utf8, read_input
from traitrl.scenarios.record import Scenario

_HEX64 = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class RowFormat:
    """How one format's line becomes (prompt, reference answer, metadata)."""

    name: str
    prompt_field: str
    description: str
    read: Callable[[Mapping[str, Any]], tuple[str | None, dict[str, Any]]]


def _gsm8k(row: Mapping[str, Any]) -> tuple[str | None, dict[str, Any]]:
    answer = _text(row, "answer")
    hashes = re.findall(r"####\s*([^\n]*)", answer)
    return (hashes[-1].strip() or None) if hashes else None, {}


def _math(row: Mapping[str, Any]) -> tuple[str | None, dict[str, Any]]:
    given = row.get("answer")
    answer = str(given).strip() if isinstance(given, str | int | float) and str(given).strip() else None
    if answer is None:
        answer = last_boxed(_text(row, "solution"))
    meta = {k: row[k] for k in ("level", "type", "subject") if isinstance(row.get(k), str | int)}
    return answer, meta


FORMATS: dict[str, RowFormat] = {
    "gsm8k": RowFormat("gsm8k", "question", "GSM8K JSONL: question, answer ending in '#### N'", _gsm8k),
    "math": RowFormat("math", "problem", "MATH JSONL: problem, solution with \\boxed{answer}", _math),
}


def _text(row: Mapping[str, Any], key: str) -> str:
    value = row.get(key)
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{key}: missing or not a non-empty string")
    return value


@dataclass(frozen=True)
class ImportedRows:
    """The rows of one imported file, and the hash of the exact bytes they came from."""

    format: str
    path: str
    sha256: str
    rows: list[Scenario]


def import_rows(fmt: str, path: str | Path, *, sha256: str | None = None, split: str = "train",
                domain: str = "education", instruction: str = "", limit: int | None = None) -> ImportedRows:
    """Every line of `path` as a capability row graded by the numeric verifier; `instruction` is
    appended to each question (e.g. how to state the final answer)."""
    spec = FORMATS.get(fmt)
    if spec is None:
        raise UserError(f"unknown import format {fmt!r}; allowed: {', '.join(FORMATS)}")
    if domain not in taxonomy.DOMAINS:
        raise UserError(f"domain {domain!r}: unknown; allowed: {', '.join(taxonomy.DOMAINS)}")
    if split not in ("train", "dev"):
        raise UserError(f"split {split!r}: imported rows are train or dev rows")
    shown = str(path)
    data = read_input(path, shown, spec.description)
    digest = hashlib.sha256(data).hexdigest()
    if sha256 is not None:
        if not _HEX64.match(sha256.lower()):
            raise UserError(f"--sha256 {sha256!r}: expected 64 hexadecimal characters")
        if digest != sha256.lower():
            raise UserError(f"{shown}: sha256 is {digest}, but {sha256.lower()} was pinned; the file changed "
                            "since it was pinned (re-pin it only if the change is intended)")
    stem = Path(path).stem
    rows: list[Scenario] = []
    for lineno, line in enumerate(decode_utf8(data, shown).split("\n"), start=1):
        if not line.strip():
            continue
        if limit is not None and len(rows) >= limit:
            break
        where = f"{shown}:{lineno}"
        try:
            record = json.loads(line)
        except json.JSONDecodeError as e:
            raise UserError(f"{where}: broken JSON: {e.msg} at column {e.colno}") from None
        except RecursionError:
            raise UserError(f"{where}: nested too deeply to read") from None
        check_nesting(record, where)
        if not isinstance(record, dict):
            raise UserError(f"{where}: expected a JSON object, got {type(record).__name__}")
        try:
            question = _text(record, spec.prompt_field)
            answer, meta = spec.read(record)
        except ValueError as e:
            raise UserError(f"{where}: {e} (expected {spec.description})") from None
        if answer is None:
            raise UserError(f"{where}: no final answer in the reference (expected {spec.description})")
        rows.append(_row(spec, where, f"{stem}-{lineno}", question, answer, meta, split, domain, instruction))
    if not rows:
        raise UserError(f"{shown}: no rows in file (expected {spec.description})")
    return ImportedRows(fmt, shown, digest, rows)


def _row(spec: RowFormat, where: str, row_id: str, question: str, answer: str, meta: dict[str, Any],
         split: str, domain: str, instruction: str) -> Scenario:
    content = f"{question.strip()}\n\n{instruction.strip()}" if instruction.strip() else question.strip()
    try:
        return Scenario.model_validate({
            "id": row_id, "split": split, "domain": domain, "trait": "math", "grader": NUMERIC,
            "messages": [{"role": "user", "content": content}],
            "rubric": [{"id": "correct", "description": f"the final answer equals {answer}", "points": 1}],
            "world": {"answer": answer, "source": f"{spec.name}:{where}", **meta},
        })
    except ValidationError as e:
        first = e.errors()[0]
        loc = ".".join(str(p) for p in first["loc"]) or "row"
        raise UserError(f"{where}: {loc}: {first['msg']}") from None


__all__ = ["FORMATS", "ImportedRows", "import_rows"]
