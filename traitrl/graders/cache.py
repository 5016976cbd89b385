"""The on-disk LLM response cache shared by RL rewards and evaluations.

A cache entry is keyed by the sha256 of a frozen `ChatRequest` (judge model, sampling
parameters, messages) in the spirit of safety-tooling's hashable request models. The endpoint
URL and the API key are *not* part of the key: the same model queried through a proxy, or with a
rotated key, gives the same judgement, and keys must never reach the disk.

Layout: one JSON file per entry, `<cache_dir>/<key[:2]>/<key>.json`, each written atomically,
so concurrent writers in one process (or several processes) can at worst write the same bytes
twice. Only replies that were received whole *and* parsed are stored; a failure is never cached,
so a rerun retries exactly what failed.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from traitrl.atomic import write_json

CACHE_SCHEMA_VERSION = 1


class CachedMessage(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    role: str
    content: str


class ChatRequest(BaseModel):
    """Everything that determines a deterministic chat completion, and nothing else."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    model: str
    messages: tuple[CachedMessage, ...]
    temperature: float
    seed: int | None
    max_tokens: int | None
    # Bumped when a prompt family changes meaning without its text changing.
    purpose: str = Field(
        default="judge", description="what the reply is used for, e.g. 'rubric_item'"
    )

    def key(self) -> str:
        canonical = json.dumps(
            self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"), ensure_ascii=False
        )
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()

    def openai_messages(self) -> list[dict[str, str]]:
        return [{"role": m.role, "content": m.content} for m in self.messages]


class CacheEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    schema_version: int = CACHE_SCHEMA_VERSION
    key: str
    request: ChatRequest
    reply: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    created: float = Field(default_factory=time.time)


class ResponseCache:
    """A directory of cached replies. Reads that fail (a truncated or foreign file) are misses."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    def __repr__(self) -> str:
        return f"ResponseCache({str(self.root)!r})"

    def _path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.json"

    def get(self, request: ChatRequest) -> CacheEntry | None:
        key = request.key()
        path = self._path(key)
        try:
            entry = CacheEntry.model_validate_json(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        # A hash collision is astronomically unlikely; a hand-edited file is not.
        if (
            entry.key != key
            or entry.request != request
            or entry.schema_version != CACHE_SCHEMA_VERSION
        ):
            return None
        return entry

    def put(
        self,
        request: ChatRequest,
        reply: str,
        *,
        prompt_tokens: int = 0,
        completion_tokens: int = 0,
    ) -> None:
        entry = CacheEntry(
            key=request.key(),
            request=request,
            reply=reply,
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
        )
        write_json(self._path(entry.key), entry.model_dump(mode="json"))

    def __len__(self) -> int:
        return sum(1 for _ in self.root.glob("*/*.json")) if self.root.exists() else 0

    def stats(self) -> dict[str, Any]:
        return {"dir": str(self.root), "entries": len(self)}
