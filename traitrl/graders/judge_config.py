"""The `judge:` config section, kept apart from the client so loading a config needs no `openai`."""

from __future__ import annotations

import re
import typing
from typing import Any, Literal
from urllib.parse import parse_qsl, urlsplit, urlunsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from traitrl.errors import looks_like_secret

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_SECRET_PARAM = re.compile(r"key|token|secret|sig|passw|auth", re.I)


def _wants_number(annotation: Any) -> bool:
    """True for int / float fields (optional or in a list), where a YAML `true` is a mistake, not 1."""
    args = typing.get_args(annotation)
    if not args:
        return annotation in (int, float)
    return bool not in args and any(_wants_number(a) for a in args)


class StrictNumbers(BaseModel):
    """A base for config models: `true` where a number belongs is refused, not read as 1."""

    @field_validator("*", mode="before")
    @classmethod
    def _no_booleans_as_numbers(cls, v: Any, info: ValidationInfo) -> Any:
        field = cls.model_fields.get(info.field_name or "")
        values = v if isinstance(v, list) else [v]
        if field is not None and any(isinstance(x, bool) for x in values) and _wants_number(field.annotation):
            raise ValueError("expected a number, got a boolean (true/false)")
        return v


class JudgeConfig(StrictNumbers):
    """The `judge:` section of a config: where the judge lives and how deterministically it is asked."""

    # hide_input_in_errors: a key pasted into `api_key_env` by mistake must not be echoed back.
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True, allow_inf_nan=False)

    base_url: str = Field(
        default="https://api.openai.com/v1",
        description="OpenAI-compatible endpoint, e.g. http://127.0.0.1:8000/v1 for vLLM or `transformers serve`.",
    )
    model: str = Field(default="gpt-4.1", description="judge model name as the endpoint knows it")
    api_key_env: str | None = Field(
        default="OPENAI_API_KEY",
        description="NAME of the environment variable holding the API key (never the key itself); "
        "null for a local server without authentication.",
    )
    max_concurrency: int = Field(default=8, ge=1, le=1024, description="requests in flight at once")
    timeout_s: float = Field(default=60.0, gt=0, description="wall-clock deadline in seconds for one attempt, from sending the request to the last byte of the reply (a server trickling bytes is cut off at it); each retry gets its own")
    max_retries: int = Field(
        default=4,
        ge=0,
        le=20,
        description="extra tries after a 429, 5xx, timeout, connection error or malformed reply",
    )
    backoff_base_s: float = Field(
        default=1.0, ge=0, description="first retry waits up to this long (then doubles)"
    )
    backoff_max_s: float = Field(
        default=30.0, ge=0, description="cap on one retry's wait, in seconds"
    )
    cache_dir: str | None = Field(
        default=None,
        description="directory of the on-disk reply cache shared by rewards and evals; null = no cache",
    )
    temperature: float = Field(
        default=0.0, ge=0, le=2, description="sampling temperature; 0 for reproducible verdicts"
    )
    seed: int | None = Field(
        default=0, description="sampling seed sent to the endpoint (part of the cache key)"
    )
    max_tokens: int = Field(default=512, ge=1, description="most tokens in one judge reply")
    max_tokens_field: Literal["max_tokens", "max_completion_tokens"] = Field(
        default="max_tokens",
        description="request field that carries max_tokens; OpenAI's reasoning models accept only max_completion_tokens",
    )

    @field_validator("api_key_env")
    @classmethod
    def _is_a_name(cls, v: str | None) -> str | None:
        if v is not None and (not _ENV_NAME.match(v) or looks_like_secret(v)):
            raise ValueError(
                "must be the NAME of an environment variable (like OPENAI_API_KEY), not the key itself; "
                "export the key in that variable"
            )
        return v

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, v: str) -> str:
        parts = urlsplit(v)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError("must be an http(s) URL such as http://127.0.0.1:8000/v1")
        if "@" in parts.netloc or looks_like_secret(v):
            raise ValueError(
                "must not carry credentials; put the key in the variable named by api_key_env"
            )
        if any(_SECRET_PARAM.search(name) for name, _ in parse_qsl(parts.query, keep_blank_values=True)):
            raise ValueError(
                "must not carry a key in its query string; put the key in the variable named by api_key_env"
            )
        return v

    def settings(self) -> dict[str, Any]:
        """What decides a verdict, recorded beside every grade (no key, no URL query string)."""
        p = urlsplit(self.base_url)
        return {
            "endpoint": urlunsplit((p.scheme, p.netloc, p.path, "", "")),
            "model": self.model,
            "temperature": self.temperature,
            "seed": self.seed,
            "max_tokens": self.max_tokens,
        }
