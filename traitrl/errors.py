"""User-facing errors: one clear message, exit code 2, nothing written."""

from __future__ import annotations

import re


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
    """Decode a JSON file; an unreadable, undecodable, too deeply nested or bad JSON file is a
    `UserError` naming the file."""
    from traitrl.inputs import load_json, read_text

    return load_json(read_text(path, what), str(path))


# ---- secrets: never echoed, whatever is wrong with them ----

_SECRET_KEY_NAME = re.compile(
    r"(?:^|[._])(?:\w*api_?key\w*|\w*token|\w*secret\w*|\w*passw\w*|auth\w*|\w*credential\w*|headers?|cookies?|\w*url)(?:$|[._])",
    re.I)
_KNOWN_KEY = re.compile(r"\b(?:sk|pk|rk|ghp|gho|ghs|ghu|github_pat|xox[abpr]|hf|glpat|AKIA|AIza)[-_][A-Za-z0-9_\-]{8,}|\bBearer\s+\S+", re.I)
_LONG_TOKEN = re.compile(r"[A-Za-z0-9_\-+=]{32,}")
_URL_USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.\-]*://)[^/\s@'\"]+@")
REDACTED = "<redacted>"


def is_secret_key(name: str) -> bool:
    """A config key whose value may carry a credential (the key variable, URLs, headers)."""
    return bool(_SECRET_KEY_NAME.search(name))


def _high_entropy(token: str) -> bool:
    # a long run mixing lower case, upper case and digits; plain hex digests and snake_case names are not keys
    return min(sum(map(str.islower, token)), sum(map(str.isupper, token)), sum(map(str.isdigit, token))) >= 4


def looks_like_secret(value: object) -> bool:
    """True for a string that reads like an API key, a bearer token or a URL with credentials."""
    if not isinstance(value, str):
        return False
    if _KNOWN_KEY.search(value) or _URL_USERINFO.search(value):
        return True
    return any(_high_entropy(m.group()) for m in _LONG_TOKEN.finditer(value))


def redact(text: str) -> str:
    """`text` with every key-like token and URL credential replaced by <redacted>."""
    text = _URL_USERINFO.sub(lambda m: f"{m.group('scheme')}{REDACTED}@", text)
    text = _KNOWN_KEY.sub(REDACTED, text)
    return _LONG_TOKEN.sub(lambda m: REDACTED if _high_entropy(m.group()) else m.group(), text)
