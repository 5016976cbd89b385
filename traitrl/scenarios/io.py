"""Scenario files: JSONL on disk (atomic writes, all-or-nothing validated reads) and HF datasets."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path

from pydantic import ValidationError

from traitrl.atomic import write_jsonl
from traitrl.errors import UserError
from traitrl.inputs import check_nesting, read_text
from traitrl.scenarios.record import Scenario


def _describe(err: ValidationError) -> str:
    first = err.errors()[0]
    loc = ".".join(str(p) for p in first["loc"]) or "(record)"
    msg = first["msg"]
    if first["type"] == "extra_forbidden":
        msg = "unknown field"
    return f"{loc}: {msg}" + (f" (and {err.error_count() - 1} more)" if err.error_count() > 1 else "")


def read_scenarios(path: str | os.PathLike[str]) -> list[Scenario]:
    """Read and validate every line; the first problem raises `UserError` as `FILE:LINE: field: problem`."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: no such file")
    return parse_scenarios(read_text(path, "scenario file"), str(path))


def parse_scenarios(text: str, path: str) -> list[Scenario]:
    """`read_scenarios` on text already read (and hashed) from `path`, the name errors show."""
    scenarios: list[Scenario] = []
    seen: dict[str, int] = {}
    for lineno, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            # NaN, Infinity and 1e999 are not numbers a rubric can add up
            row = json.loads(line, parse_constant=_not_finite, parse_float=_finite_float)
        except json.JSONDecodeError as e:
            raise UserError(f"{path}:{lineno}: broken JSON: {e.msg} at column {e.colno}") from None
        except (ValueError, RecursionError) as e:
            problem = "nested too deeply to read" if isinstance(e, RecursionError) else str(e)
            raise UserError(f"{path}:{lineno}: {problem}") from None
        check_nesting(row, f"{path}:{lineno}")
        if not isinstance(row, dict):
            raise UserError(f"{path}:{lineno}: expected a JSON object, got {type(row).__name__}")
        try:
            scenario = Scenario.model_validate(row)
        except ValidationError as e:
            raise UserError(f"{path}:{lineno}: {_describe(e)}") from None
        if scenario.id in seen:
            raise UserError(f"{path}:{lineno}: id: duplicate id {scenario.id!r} (first on line {seen[scenario.id]})")
        seen[scenario.id] = lineno
        scenarios.append(scenario)
    if not scenarios:
        raise UserError(f"{path}: no scenarios in file")
    return scenarios


def _not_finite(name: str) -> float:
    raise ValueError(f"{name} is not a finite number")


def _finite_float(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise ValueError(f"{text} is not a finite number")
    return value


def write_scenarios(path: str | os.PathLike[str], scenarios: Iterable[Scenario]) -> int:
    return write_jsonl(path, (s.to_row() for s in scenarios))


def to_dataset(scenarios: list[Scenario]):
    """A Hugging Face `datasets.Dataset` with a conversational `prompt` column (TRL's format)
    plus every scenario field, so reward functions receive `rubric`, `trait`, ... as kwargs."""
    from datasets import Dataset

    rows = []
    for s in scenarios:
        row = s.to_row()
        row["prompt"] = s.prompt()
        row["world"] = json.dumps(row.get("world", {}), sort_keys=True)
        rows.append(row)
    return Dataset.from_list(rows)
