"""A user's fine-tuning attack file (`persistence.finetune.file`): chat conversations in JSONL.

Each line is `{"messages": [{"role": ..., "content": ...}, ...]}` (the chat format of TRL, OpenAI
fine-tuning and most SFT datasets), ending with the assistant reply the attack trains on; the
messages before it are the prompt. Rows become TRL prompt-completion conversations, so SFT puts
the loss on the reply only, as for the organism's generated attack. The file is hashed, and a
pinned `persistence.finetune.file_sha256` is checked, before any line is parsed.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from pathlib import Path
from typing import Any

from traitrl.errors import UserError
from traitrl.inputs import decode_utf8

ROLES = ("system", "user", "assistant")


def read_attack_file(path: str | Path, sha256: str | None = None) -> tuple[list[dict[str, Any]], str]:
    """(rows, sha256 of the file): every line a prompt-completion row, or a UserError naming the line."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as e:
        raise UserError(f"persistence.finetune.file: cannot read {path}: {e.strerror or e}") from None
    digest = hashlib.sha256(data).hexdigest()
    if sha256 is not None and digest != sha256:
        raise UserError(f"{path}: sha256 is {digest}, but persistence.finetune.file_sha256 pins {sha256}; "
                        "the file changed since it was pinned")
    rows = []
    for n, line in enumerate(decode_utf8(data, str(path)).splitlines(), start=1):
        if line.strip():
            rows.append(_row(line, f"{path}:{n}", n))
    if not rows:
        raise UserError(f"{path}: no conversations (expected JSONL lines of {{\"messages\": [...]}})")
    return rows, digest


def _row(line: str, where: str, n: int) -> dict[str, Any]:
    try:
        record = json.loads(line)
    except ValueError as e:
        raise UserError(f"{where}: not JSON ({e})") from None
    if not isinstance(record, dict) or not isinstance(record.get("messages"), list):
        raise UserError(f"{where}: expected an object with a \"messages\" list")
    messages = record["messages"]
    for i, m in enumerate(messages):
        if not (isinstance(m, dict) and m.get("role") in ROLES and isinstance(m.get("content"), str)):
            raise UserError(f"{where}: messages[{i}] needs a role ({', '.join(ROLES)}) and a text content")
    if len(messages) < 2 or messages[-1]["role"] != "assistant" or messages[-2]["role"] != "user":
        raise UserError(f"{where}: a conversation must end with a user turn and the assistant reply trained on")
    clean = [{"role": m["role"], "content": m["content"]} for m in messages]
    return {"prompt": clean[:-1], "completion": clean[-1:], "id": str(record.get("id", f"line-{n}")), "line": n}


def file_stats(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """What the attack data holds, for the summary: conversations, turns, reply length."""
    words = [len(r["completion"][0]["content"].split()) for r in rows]
    return {
        "n": len(rows),
        "source": "file",
        "turns": {str(k): v for k, v in sorted(Counter(len(r["prompt"]) + 1 for r in rows).items())},
        "with_system": sum(r["prompt"][0]["role"] == "system" for r in rows),
        "mean_reply_words": round(sum(words) / len(words), 2),
    }
