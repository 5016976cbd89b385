"""User-facing errors: one clear message, exit code 2, nothing written."""

from __future__ import annotations


class UserError(Exception):
    """A problem with what the user gave us (a config, a file, an option).

    The CLI prints the message alone (no traceback) and exits with code 2.
    """

    exit_code = 2


def describe_validation(err, limit: int = 10) -> str:
    """A pydantic ValidationError as indented `key.path: message` lines, at most `limit` of them."""
    lines = []
    for e in err.errors()[:limit]:
        loc = ".".join(str(p) for p in e["loc"]) or "(top level)"
        lines.append(f"  {loc}: {e['msg']}")
    if err.error_count() > limit:
        lines.append(f"  ... and {err.error_count() - limit} more")
    return "\n".join(lines)


def read_json_file(path, what: str):
    """Decode a JSON file; an unreadable file or bad JSON is a `UserError` naming the file."""
    import json
    from pathlib import Path

    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise UserError(f"cannot read {what} {path}: {e.strerror or e}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise UserError(f"{path} is not valid JSON (line {e.lineno}, column {e.colno}: {e.msg})") from None
