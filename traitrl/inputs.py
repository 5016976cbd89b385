"""Reading files a user hands us: UTF-8 or a clear error, bounded nesting, no duplicate YAML keys.

Every problem is a `UserError` (exit 2) naming the file, and the line where one is known, never a
traceback: a config, a scenario file or a benchmark file may be hand-edited, truncated, saved in
another encoding, or built to hurt (thousands of brackets deep, a billion laughs of YAML aliases).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import yaml

from traitrl.errors import UserError, redact

MAX_DEPTH = 64  # no traitrl file needs more than a dozen levels
MAX_NODES = 2_000_000  # values after YAML aliases are expanded


def decode_utf8(data: bytes, shown: str) -> str:
    """`data` as text (a byte-order mark tolerated), or UserError naming the file and line."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        raise UserError(f"{shown}:{line}: not valid UTF-8 ({e.reason} at byte {e.start}); save the file as UTF-8") from None


def read_input(path: str | os.PathLike[str], shown: str, expected: str) -> bytes:
    """The bytes of a user's input file; `shown` names it in errors (a path, or `key: path`),
    `expected` says what belongs there ("a JSONL file", "a file in gsm8k format")."""
    try:
        return Path(path).read_bytes()
    except FileNotFoundError:
        raise UserError(f"{shown}: file not found (expected {expected})") from None
    except IsADirectoryError:
        raise UserError(f"{shown}: is a directory (expected {expected})") from None
    except OSError as e:
        raise UserError(f"{shown}: cannot read: {e.strerror}") from None


def read_text(path: str | os.PathLike[str], what: str = "file") -> str:
    """The text of a UTF-8 file, or UserError naming it (missing, a folder, unreadable, not UTF-8)."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except IsADirectoryError:
        raise UserError(f"cannot read {what} {path}: it is a folder") from None
    except OSError as e:
        raise UserError(f"cannot read {what} {path}: {e.strerror or e}") from None
    return decode_utf8(data, str(path))


def check_nesting(obj: Any, shown: str, limit: int = MAX_DEPTH) -> None:
    """Refuse values nested deeper than `limit`, or with more than MAX_NODES values once shared
    (aliased) parts are counted every time they are used."""
    sizes: dict[int, tuple[int, int]] = {}  # id -> (depth, size), for containers seen already

    def walk(node: Any, level: int) -> tuple[int, int]:
        if not isinstance(node, dict | list):
            return 0, 1
        if level > limit:
            raise UserError(f"{shown}: nested more than {limit} levels deep")
        known = sizes.get(id(node))
        if known is not None:
            return known
        children = node.values() if isinstance(node, dict) else node
        depth, size = 0, 1
        for child in children:
            d, n = walk(child, level + 1)
            depth, size = max(depth, d), size + n
            if size > MAX_NODES:
                raise UserError(f"{shown}: more than {MAX_NODES:,} values (YAML aliases expanded)")
        sizes[id(node)] = (depth + 1, size)
        return depth + 1, size

    walk(obj, 1)


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses a key given twice in one mapping (PyYAML keeps the last silently,
    so a duplicated `train:` section would drop the first without a word)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=True)
            line = key_node.start_mark.line + 1
            try:
                first = seen.get(key)
            except TypeError:  # an unhashable key: SafeLoader reports it below
                continue
            if first is not None:
                raise _DuplicateKey(f"duplicate key {key!r} (first on line {first})", line)
            seen[key] = line
        return super().construct_mapping(node, deep=deep)


class _DuplicateKey(Exception):
    def __init__(self, message: str, line: int) -> None:
        super().__init__(message)
        self.line = line


def load_yaml(text: str, shown: str) -> Any:
    """Parse YAML strictly (safe types only, no duplicate keys, bounded nesting)."""
    try:
        data = yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - a SafeLoader subclass
    except _DuplicateKey as e:
        raise UserError(redact(f"{shown}:{e.line}: {e}")) from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f":{mark.line + 1}" if mark else ""
        # a YAML problem may quote the text it stopped at (an alias name, a token): never a key
        raise UserError(redact(f"{shown}{where}: not valid YAML: {getattr(e, 'problem', None) or e}")) from None
    except RecursionError:
        raise UserError(f"{shown}: nested too deeply to read") from None
    check_nesting(data, shown)
    return data


def load_json(text: str, shown: str) -> Any:
    """Parse JSON with bounded nesting; bad JSON names the line and column."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise UserError(f"{shown}:{e.lineno}: not valid JSON (column {e.colno}: {e.msg})") from None
    except RecursionError:
        raise UserError(f"{shown}: nested too deeply to read") from None
    check_nesting(data, shown)
    return data


def parse_yaml_value(raw: str, shown: str) -> Any:
    """A `--set` value read as YAML (numbers, booleans, lists), or the raw string when it is not
    YAML; duplicate keys and deep nesting are refused as in files."""
    try:
        value = yaml.load(raw, Loader=_StrictLoader)  # noqa: S506 - a SafeLoader subclass
    except _DuplicateKey as e:
        raise UserError(f"{shown}: {e}") from None
    except yaml.YAMLError:
        return raw
    except RecursionError:
        raise UserError(f"{shown}: nested too deeply to read") from None
    check_nesting(value, shown)
    return value
