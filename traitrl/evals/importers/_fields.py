"""Field checks for raw benchmark records, and the error log that turns them into `UserError`s.

Public benchmark files are hand-edited and passed around, so every check names the field and
what was expected; the log adds `FILE:LINE` and reports several problems at once so a user can fix
a file in one pass. Hand-written checks (not pydantic) because a union such as "string or list of
strings" should read as one sentence, not as one error per union member.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from traitrl.errors import UserError
from traitrl.inputs import MAX_DEPTH, check_nesting

MAX_REPORTED = 10


class FieldError(Exception):
    """One problem with one field of one record. `line` overrides the record's line when the
    format knows a more precise one (YAML nodes do)."""

    def __init__(self, field: str, problem: str, line: int | None = None) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem
        self.line = line


class ErrorLog:
    """Collects `FILE:LINE: field: problem` messages; `raise_if_any` raises them as one UserError,
    so loading either returns every item or raises (never half a benchmark)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.messages: list[str] = []

    def add(self, line: int | None, field: str, problem: str) -> None:
        where = f"{self.path}:{line}" if line is not None else self.path
        self.messages.append(f"{where}: {field}: {problem}")

    def add_error(self, line: int | None, err: FieldError) -> None:
        self.add(err.line if err.line is not None else line, err.field, err.problem)

    def raise_if_any(self) -> None:
        if not self.messages:
            return
        shown = self.messages[:MAX_REPORTED]
        more = len(self.messages) - len(shown)
        if more:
            shown.append(f"... and {more} more problem(s) in {self.path}")
        raise UserError("\n".join(shown))


def type_name(value: Any) -> str:
    """The JSON/YAML name of a value's type, as a user reading the file would call it."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list | tuple):
        return "list"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def require(record: Mapping[str, Any], key: str, prefix: str = "") -> Any:
    if key not in record:
        raise FieldError(prefix + key, "missing required field")
    return record[key]


def as_str(value: Any, field: str, *, nonempty: bool = True) -> str:
    if not isinstance(value, str):
        raise FieldError(field, f"expected a string, got {type_name(value)}")
    if nonempty and not value.strip():
        raise FieldError(field, "expected a non-empty string")
    return value


def as_str_tuple(value: Any, field: str, *, allow_single: bool = False) -> tuple[str, ...]:
    """A list of non-empty strings; with `allow_single`, a lone string counts as a list of one."""
    if allow_single and isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        expected = "a string or a list of strings" if allow_single else "a list of strings"
        raise FieldError(field, f"expected {expected}, got {type_name(value)}")
    for i, v in enumerate(value):
        as_str(v, f"{field}[{i}]")
    return tuple(value)


def as_number(value: Any, field: str) -> float:
    # bool is an int subclass in Python; `true` as a point value is a mistake, not 1.
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise FieldError(field, f"expected a number, got {type_name(value)}")
    return float(value)


def as_int(value: Any, field: str, *, minimum: int, maximum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise FieldError(field, f"expected an integer, got {type_name(value)}")
    if not minimum <= value <= maximum:
        raise FieldError(field, f"expected an integer from {minimum} to {maximum}, got {value}")
    return value


def as_object(value: Any, field: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise FieldError(field, f"expected an object (key: value), got {type_name(value)}")
    return value


def check_typos(record: Mapping[str, Any], known: Iterable[str], prefix: str = "") -> None:
    """Extra fields are kept as metadata, but one that looks like a misspelt known field is
    refused: `samples_per_paraphrases: 100` must not silently mean 1 sample."""
    known = list(known)
    for key in record:
        if key in known or not isinstance(key, str):
            continue
        close = difflib.get_close_matches(key, known, n=1, cutoff=0.8)
        if close and close[0] not in record:
            raise FieldError(prefix + key, f"unknown field; did you mean {close[0]!r}?")


def reject_unknown(record: Mapping[str, Any], known: Iterable[str], prefix: str = "") -> None:
    known = list(known)
    for key in record:
        if key not in known:
            raise FieldError(prefix + str(key), f"unknown field; allowed: {', '.join(known)}")


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    for key, value in pairs:
        if key in seen:
            raise ValueError(f"duplicate key {key!r}")
        seen[key] = value
    return seen


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def iter_jsonl(text: str, log: ErrorLog) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield (line number, object) for each non-blank line; log lines that are not JSON objects.

    Splits on "\\n" only: `str.splitlines` would also split on U+2028 inside JSON strings.
    """
    for lineno, raw in enumerate(text.split("\n"), start=1):
        line = raw.rstrip("\r")
        if not line.strip():
            continue
        try:
            record = json.loads(
                line, object_pairs_hook=_no_duplicates, parse_constant=_no_constants
            )
        except json.JSONDecodeError as e:
            log.add(lineno, "json", f"invalid JSON at column {e.colno}: {e.msg}")
            continue
        except ValueError as e:
            log.add(lineno, "json", str(e))
            continue
        except RecursionError:
            log.add(lineno, "json", "nested too deeply to read")
            continue
        try:
            check_nesting(record, "")
        except UserError:
            log.add(lineno, "record", f"nested more than {MAX_DEPTH} levels deep")
            continue
        if not isinstance(record, dict):
            log.add(lineno, "record", f"expected a JSON object, got {type_name(record)}")
            continue
        yield lineno, record
