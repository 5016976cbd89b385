"""One chat-completions client for every LLM call traitrl makes: judges and the scenario generator.

It wraps the official async `openai` client and adds what a judge needs and the SDK leaves out:
a concurrency limit, bounded retries that we count ourselves (the SDK's own retries are off),
an on-disk cache of *parsed* replies, coalescing of identical in-flight requests (GRPO groups
often repeat a completion), and call/token accounting. A request that still fails after its
retries, or whose reply cannot be parsed, comes back as a `ChatOutcome` with `value=None` and a
reason: the caller turns it into an unscored grade, never into a zero.

The API key is read from the environment variable *named* by `JudgeConfig.api_key_env` when a
client is built, and handed straight to the SDK; traitrl keeps no copy of it.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import random
import threading
import weakref
from collections import Counter
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import openai

from traitrl.errors import UserError
from traitrl.graders.cache import CachedMessage, ChatRequest, ResponseCache
from traitrl.graders.judge_config import JudgeConfig

T = TypeVar("T")

# Statuses worth another try: request timeout, conflict, rate limit, and server errors.
_RETRY_STATUSES = frozenset({408, 409, 429})
# Servers without authentication (a local vLLM or `transformers serve`) still need a non-empty key.
_NO_AUTH_PLACEHOLDER = "EMPTY"
# The most bytes read of one reply: a judge verdict is a few hundred, a generated scenario a few
# thousand; a server sending more is broken or hostile, and is not held in memory.
MAX_REPLY_BYTES = 2 * 1024 * 1024


class Unparseable(ValueError):
    """Raised by a reply parser: the reply arrived whole but says nothing usable."""


@dataclass(frozen=True)
class ChatOutcome(Generic[T]):
    """One logical request: the parsed value, or None with the reason it failed."""

    value: T | None
    reply: str | None
    reason: str | None
    cached: bool
    attempts: int
    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def ok(self) -> bool:
        return self.reason is None


class _Transient(Exception):
    """A failure worth retrying (429, 5xx, timeout, connection error, malformed body)."""

    def __init__(self, kind: str, detail: str, retry_after: float | None = None) -> None:
        super().__init__(f"{kind}: {detail}")
        self.kind = kind
        self.retry_after = retry_after


class _Fatal(Exception):
    """A failure another try will not fix (400, 401, 404, ...)."""

    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(f"{kind}: {detail}")
        self.kind = kind


@dataclass
class _LoopState:
    """Objects bound to one event loop: the SDK client, the semaphore, in-flight requests."""

    client: openai.AsyncOpenAI
    semaphore: asyncio.Semaphore
    inflight: dict[str, asyncio.Future[ChatOutcome[Any]]]


class ChatClient:
    """Cached, retried, rate-limited chat completions against an OpenAI-compatible endpoint."""

    def __init__(self, config: JudgeConfig, *, rng: random.Random | None = None) -> None:
        self.config = config
        self.cache = ResponseCache(config.cache_dir) if config.cache_dir else None
        self._rng = rng or random.Random()
        self._counts: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._loops: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopState] = (
            weakref.WeakKeyDictionary()
        )
        self._check_key_present()

    def __repr__(self) -> str:
        return f"ChatClient(model={self.config.model!r}, endpoint={self.config.settings()['endpoint']!r})"

    # ---- the key ----

    def _check_key_present(self) -> None:
        """Fail before any work starts when the named variable is unset (the message names it, never a value)."""
        name = self.config.api_key_env
        if name is not None and not os.environ.get(name):
            raise UserError(
                f"judge.api_key_env names the environment variable {name!r}, which is not set; "
                f"export it, or set judge.api_key_env: null for a local server without authentication"
            )

    def _new_sdk_client(self) -> openai.AsyncOpenAI:
        name = self.config.api_key_env
        key = os.environ.get(name, "") if name else _NO_AUTH_PLACEHOLDER
        if not key:
            raise UserError(
                f"the environment variable {name!r} named by judge.api_key_env is not set"
            )
        # max_retries=0: retries are ours, so each one is counted and backed off with jitter.
        return openai.AsyncOpenAI(
            api_key=key, base_url=self.config.base_url, timeout=self.config.timeout_s, max_retries=0
        )

    def _state(self) -> _LoopState:
        # The SDK's connection pool and asyncio primitives belong to one loop; TRL runs async
        # rewards on its own daemon loop while the sync wrapper makes fresh ones.
        loop = asyncio.get_running_loop()
        state = self._loops.get(loop)
        if state is None:
            state = _LoopState(
                self._new_sdk_client(), asyncio.Semaphore(self.config.max_concurrency), {}
            )
            self._loops[loop] = state
        return state

    async def aclose(self) -> None:
        """Close the SDK client of the running loop (the sync wrapper does this for its own loops)."""
        loop = asyncio.get_running_loop()
        state = self._loops.pop(loop, None)
        if state is not None:
            await state.client.close()

    # ---- accounting ----

    def _count(self, **deltas: int) -> None:
        with self._lock:
            self._counts.update(deltas)

    def stats(self) -> dict[str, int]:
        """Counters for results files: requests, calls (HTTP attempts), cache hits, tokens, failures."""
        keys = (
            "requests",
            "calls",
            "cache_hits",
            "coalesced",
            "retries",
            "failures",
            "unparseable",
            "prompt_tokens",
            "completion_tokens",
        )
        with self._lock:
            out = {k: self._counts.get(k, 0) for k in keys}
            out.update({k: v for k, v in sorted(self._counts.items()) if k.startswith("error_")})
        return out

    # ---- requests ----

    def request(
        self,
        messages: Sequence[dict[str, str]],
        *,
        purpose: str,
        max_tokens: int | None = None,
        temperature: float | None = None,
    ) -> ChatRequest:
        return ChatRequest(
            model=self.config.model,
            messages=tuple(CachedMessage(role=m["role"], content=m["content"]) for m in messages),
            temperature=self.config.temperature if temperature is None else temperature,
            seed=self.config.seed,
            max_tokens=max_tokens or self.config.max_tokens,
            purpose=purpose,
        )

    async def complete(self, request: ChatRequest, parse: Callable[[str], T]) -> ChatOutcome[T]:
        """Answer one request from the cache, or from the endpoint with retries; never raises for
        endpoint trouble. `parse` raises `Unparseable` for a reply that says nothing usable."""
        self._count(requests=1)
        cached = self._from_cache(request, parse)
        if cached is not None:
            return cached
        state = self._state()
        key = request.key()
        pending = state.inflight.get(key)
        if pending is not None:
            self._count(coalesced=1)
            return await asyncio.shield(pending)
        future: asyncio.Future[ChatOutcome[Any]] = asyncio.get_running_loop().create_future()
        state.inflight[key] = future
        try:
            outcome = await self._fetch(state, request, parse)
            future.set_result(outcome)
            return outcome
        except asyncio.CancelledError:
            future.cancel()
            raise
        except BaseException as exc:  # a bug: let waiters see it too
            future.set_exception(exc)
            future.exception()  # mark retrieved: no "never retrieved" warning when nobody waits
            raise
        finally:
            state.inflight.pop(key, None)

    def _from_cache(self, request: ChatRequest, parse: Callable[[str], T]) -> ChatOutcome[T] | None:
        if self.cache is None:
            return None
        entry = self.cache.get(request)
        if entry is None:
            return None
        try:
            value = parse(entry.reply)
        except Unparseable:  # a parser changed since the entry was written: ask again
            return None
        self._count(cache_hits=1)
        return ChatOutcome(
            value, entry.reply, None, True, 0, entry.prompt_tokens, entry.completion_tokens
        )

    async def _fetch(
        self, state: _LoopState, request: ChatRequest, parse: Callable[[str], T]
    ) -> ChatOutcome[T]:
        attempts = 0
        last: _Transient | None = None
        for attempt in range(self.config.max_retries + 1):
            if attempt:
                self._count(retries=1)
                await asyncio.sleep(self._backoff(attempt, last))
            attempts += 1
            try:
                async with state.semaphore:
                    self._count(calls=1)
                    # timeout_s bounds the whole attempt, not each read: a server that trickles a
                    # byte at a time would otherwise hold a request for as long as it likes
                    reply, ptok, ctok = await asyncio.wait_for(
                        self._call_once(state.client, request), self.config.timeout_s
                    )
            except TimeoutError:
                self._count(error_timeout=1)
                last = _Transient("timeout", f"no whole reply within {self.config.timeout_s:g}s")
                continue
            except _Transient as exc:
                self._count(**{f"error_{exc.kind}": 1})
                last = exc
                continue
            except _Fatal as exc:
                self._count(failures=1, **{f"error_{exc.kind}": 1})
                return ChatOutcome(None, None, f"request failed: {exc}", False, attempts)
            self._count(prompt_tokens=ptok, completion_tokens=ctok)
            try:
                value = parse(reply)
            except Unparseable as exc:
                # Whole but unusable: at temperature 0 asking again gives the same reply.
                self._count(unparseable=1)
                return ChatOutcome(
                    None, reply, f"unparseable reply: {exc}", False, attempts, ptok, ctok
                )
            if self.cache is not None:  # off the loop: an atomic write fsyncs
                await asyncio.to_thread(
                    self.cache.put, request, reply, prompt_tokens=ptok, completion_tokens=ctok
                )
            return ChatOutcome(value, reply, None, False, attempts, ptok, ctok)
        self._count(failures=1)
        return ChatOutcome(
            None, None, f"request failed after {attempts} tries; last error {last}", False, attempts
        )

    def _backoff(self, attempt: int, last: _Transient | None) -> float:
        """Exponential backoff with full jitter; a server's Retry-After is honoured up to the cap."""
        cap = self.config.backoff_max_s
        delay = self._rng.uniform(0, min(cap, self.config.backoff_base_s * 2 ** (attempt - 1)))
        if last is not None and last.retry_after is not None:
            delay = max(delay, min(cap, last.retry_after))
        return delay

    async def _call_once(
        self, client: openai.AsyncOpenAI, request: ChatRequest
    ) -> tuple[str, int, int]:
        """One HTTP attempt. We read the raw body ourselves: the SDK does not validate a 200's body,
        and a malformed or truncated one must be a retryable failure, not a crash or an empty verdict."""
        kwargs: dict[str, Any] = {
            "model": request.model,
            "messages": request.openai_messages(),
            "temperature": request.temperature,
            self.config.max_tokens_field: request.max_tokens,
        }
        if request.seed is not None:
            kwargs["seed"] = request.seed
        try:
            async with client.chat.completions.with_streaming_response.create(**kwargs) as raw:
                try:
                    body = await _read_capped(raw)
                except _Fatal:
                    raise
                except Exception as exc:  # the HTTP library's own read errors (a reset mid-body)
                    raise _Transient("connection", type(exc).__name__) from None
        except openai.APIStatusError as exc:
            status = exc.status_code
            detail = f"HTTP {status}"
            if status in _RETRY_STATUSES or status >= 500:
                raise _Transient(f"http_{status}", detail, _retry_after(exc)) from None
            raise _Fatal(f"http_{status}", detail) from None
        except openai.APITimeoutError:
            raise _Transient("timeout", f"no reply within {self.config.timeout_s:g}s") from None
        except openai.APIConnectionError as exc:
            raise _Transient("connection", type(exc.__cause__ or exc).__name__) from None
        return _parse_body(body)


async def _read_capped(raw: Any, cap: int = MAX_REPLY_BYTES) -> str:
    """The body of a streamed response, refused (not retried: the same request gets the same
    answer) once it passes `cap` bytes, before the rest is read."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in raw.iter_bytes():
        size += len(chunk)
        if size > cap:
            raise _Fatal("too_large", f"reply is over {cap:,} bytes")
        chunks.append(chunk)
    return b"".join(chunks).decode("utf-8", errors="replace")


def _retry_after(exc: openai.APIStatusError) -> float | None:
    value = exc.response.headers.get("retry-after")
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def _parse_body(body: str) -> tuple[str, int, int]:
    """The assistant text and token usage of a chat.completion body, or `_Transient('malformed')`."""
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        raise _Transient("malformed", f"body is not JSON ({len(body)} chars)") from None
    try:
        content = data["choices"][0]["message"]["content"]
    except (KeyError, IndexError, TypeError):
        raise _Transient("malformed", "body has no choices[0].message.content") from None
    if not isinstance(content, str):
        # a whole, well-formed reply without text (null content, a tool call): asking again at
        # temperature 0 gets the same, so the item is unscored with this reason
        raise _Fatal("no_text", f"choices[0].message.content is {type(content).__name__}, not text")
    usage = data.get("usage") if isinstance(data, dict) else None
    usage = usage if isinstance(usage, dict) else {}
    return content, _token_count(usage.get("prompt_tokens")), _token_count(usage.get("completion_tokens"))


def _token_count(value: Any) -> int:
    """A usage count as reported, or 0 when the server sent something that is not a count."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
        return 0
    return int(value)


def run_sync(coro_factory: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run a coroutine from synchronous code, also when the caller already runs a loop (a notebook):
    then it runs on a fresh loop in a worker thread."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro_factory())
    box: dict[str, Any] = {}

    def worker() -> None:
        try:
            box["value"] = asyncio.run(coro_factory())
        except BaseException as exc:
            box["error"] = exc

    thread = threading.Thread(target=worker, name="traitrl-judge-sync")
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    return box["value"]
