"""A small OpenAI-compatible chat-completions server that misbehaves on a seeded schedule.

Tests and `bench/bench_judge.py` start it on 127.0.0.1 with an ephemeral port. It answers
deterministic verdicts (or whatever a `responder` returns) and, per attempt, may inject a fault:
429, 500, a stall past the client's timeout, a malformed body, truncated JSON, or a whole reply
that says nothing (an unparseable verdict). Whether an attempt is faulty is drawn from
`(seed, request body, attempt number)`, not from arrival order, so a run is reproducible however
its requests interleave. It counts what it received, and shuts itself down after `lifetime_s`.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

FAULT_KINDS: tuple[str, ...] = ("429", "500", "stall", "malformed", "truncated", "unparseable")

Responder = Callable[[dict[str, Any]], str]


@dataclass(frozen=True)
class FaultPlan:
    """Each attempt is faulty with probability `rate`; its kind is drawn uniformly from `kinds`."""

    rate: float = 0.0
    kinds: tuple[str, ...] = FAULT_KINDS
    seed: int = 0
    stall_s: float = 2.0

    def __post_init__(self) -> None:
        unknown = set(self.kinds) - set(FAULT_KINDS)
        if unknown or not 0 <= self.rate <= 1:
            raise ValueError(
                f"bad FaultPlan: unknown kinds {sorted(unknown)} or rate {self.rate} outside [0, 1]"
            )

    def draw(self, key: str, attempt: int) -> str | None:
        rng = random.Random(f"{self.seed}:{key}:{attempt}")
        if rng.random() >= self.rate or not self.kinds:
            return None
        return rng.choice(self.kinds)


_CRITERION = re.compile(r"\[[+-]?[\d.]+ points\] (.*?)\n", re.S)


def default_responder(body: dict[str, Any]) -> str:
    """Deterministic judge replies: rubric verdicts (a criterion containing '[met]' or '[unmet]' decides
    itself, others go by a hash of the prompt), 0-100 scores by hash, anything else 'OK'."""
    text = "\n".join(str(m.get("content", "")) for m in body.get("messages", []))
    digest = int(hashlib.sha256(text.encode()).hexdigest(), 16)
    if "criteria_met" in text:
        match = _CRITERION.search(text)
        criterion = match.group(1) if match else ""
        met = "[met]" in criterion or ("[unmet]" not in criterion and digest % 2 == 0)
        return json.dumps({"explanation": "deterministic test verdict", "criteria_met": met})
    if "0 to 100" in text or "0-100" in text:
        return str(digest % 101)
    return "OK"


class FaultServer:
    """Use as a context manager: `with FaultServer(faults=FaultPlan(rate=0.3)) as srv: srv.base_url`."""

    def __init__(
        self,
        *,
        faults: FaultPlan | None = None,
        responder: Responder | None = None,
        latency_s: float = 0.0,
        require_key: str | None = None,
        lifetime_s: float = 300.0,
    ) -> None:
        self.faults = faults or FaultPlan()
        self.responder = responder or default_responder
        self.latency_s = latency_s
        self.require_key = require_key
        self.lifetime_s = lifetime_s
        self._lock = threading.Lock()
        self._attempts: Counter[str] = Counter()  # per request-body key
        self.outcomes: Counter[str] = Counter()  # "ok" or a fault kind, per request
        self.ok_keys: set[str] = set()  # bodies that got a good reply at least once
        self.inflight = 0
        self.max_inflight = 0  # most chat requests being handled at once: checks client concurrency
        self._httpd: ThreadingHTTPServer | None = None
        self._threads: list[threading.Thread] = []
        self._timer: threading.Timer | None = None

    # ---- lifecycle ----

    def start(self) -> FaultServer:
        handler = type("_Handler", (_Handler,), {"server_state": self})
        httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler, bind_and_activate=False)
        httpd.request_queue_size = 256  # the default backlog of 5 stalls bursts of 16 connections
        httpd.daemon_threads = True
        httpd.allow_reuse_address = True
        httpd.server_bind()
        httpd.server_activate()
        self._httpd = httpd
        thread = threading.Thread(
            target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        thread.start()
        self._threads.append(thread)
        self._timer = threading.Timer(self.lifetime_s, self.stop)
        self._timer.daemon = True
        self._timer.start()
        return self

    def stop(self) -> None:
        httpd, self._httpd = self._httpd, None
        if self._timer is not None and self._timer is not threading.current_thread():
            self._timer.cancel()
        if httpd is not None:
            httpd.shutdown()
            httpd.server_close()

    def __enter__(self) -> FaultServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        if self._httpd is None:
            raise RuntimeError("the fault server is not running")
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}/v1"

    # ---- counters ----

    @property
    def requests(self) -> int:
        """Chat-completion requests received so far (every attempt counts)."""
        with self._lock:
            return sum(self.outcomes.values())

    def attempts_for(self, key: str) -> int:
        with self._lock:
            return self._attempts[key]

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "requests": sum(self.outcomes.values()),
                "outcomes": dict(self.outcomes),
                "ok_bodies": len(self.ok_keys),
                "max_inflight": self.max_inflight,
            }

    def _register(self, key: str) -> str | None:
        with self._lock:
            attempt = self._attempts[key]
            self._attempts[key] += 1
            self.inflight += 1
            self.max_inflight = max(self.max_inflight, self.inflight)
        return self.faults.draw(key, attempt)

    def _done(self) -> None:
        with self._lock:
            self.inflight -= 1

    def _record(self, key: str, outcome: str) -> None:
        with self._lock:
            self.outcomes[outcome] += 1
            if outcome == "ok":
                self.ok_keys.add(key)


def body_key(body: dict[str, Any]) -> str:
    """The server's identity of a request: sha256 of its canonical JSON body."""
    return hashlib.sha256(
        json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
    ).hexdigest()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as real servers do
    # Headers and body go out in two writes; with Nagle on, a delayed ACK adds ~40 ms to each reply.
    disable_nagle_algorithm = True
    server_state: FaultServer

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        pass

    def _send(self, status: int, payload: bytes, headers: dict[str, str] | None = None) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (a stall): fine
            self.close_connection = True

    def do_GET(self) -> None:
        if self.path.rstrip("/").endswith("/models"):
            self._send(
                200,
                json.dumps(
                    {"object": "list", "data": [{"id": "fault-judge", "object": "model"}]}
                ).encode(),
            )
        elif self.path == "/health":
            self._send(200, b'{"status":"ok"}')
        else:
            self._send(404, b'{"error":{"message":"not found"}}')

    def do_POST(self) -> None:
        state = self.server_state
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if not self.path.rstrip("/").endswith("/chat/completions"):
            self._send(404, b'{"error":{"message":"not found"}}')
            return
        if (
            state.require_key is not None
            and self.headers.get("Authorization") != f"Bearer {state.require_key}"
        ):
            state._record("unauthorized", "http_401")
            self._send(
                401, b'{"error":{"message":"invalid api key","type":"invalid_request_error"}}'
            )
            return
        try:
            body = json.loads(raw)
        except ValueError:
            self._send(400, b'{"error":{"message":"body is not JSON"}}')
            return
        key = body_key(body)
        fault = state._register(key)
        try:
            if state.latency_s:
                time.sleep(state.latency_s)
            state._record(key, fault or "ok")
            self._answer(state, body, fault)
        finally:
            state._done()

    def _answer(self, state: FaultServer, body: dict[str, Any], fault: str | None) -> None:
        if fault == "429":
            self._send(
                429,
                b'{"error":{"message":"rate limited","type":"rate_limit"}}',
                {"Retry-After": "0"},
            )
        elif fault == "500":
            self._send(500, b'{"error":{"message":"internal error","type":"server_error"}}')
        elif fault == "stall":
            time.sleep(state.faults.stall_s)
            self._send(200, _completion(body, state.responder(body)))
        elif fault == "malformed":
            self._send(200, b"<html><body>502 Bad Gateway</body></html>")
        elif fault == "truncated":
            full = _completion(body, state.responder(body))
            self._send(200, full[: len(full) // 2])
        elif fault == "unparseable":
            self._send(200, _completion(body, "I would need more context before I could say."))
        else:
            self._send(200, _completion(body, state.responder(body)))


def _completion(body: dict[str, Any], content: str) -> bytes:
    prompt_words = sum(len(str(m.get("content", "")).split()) for m in body.get("messages", []))
    return json.dumps(
        {
            "id": "chatcmpl-fault",
            "object": "chat.completion",
            "created": 0,
            "model": body.get("model", "fault-judge"),
            "choices": [
                {
                    "index": 0,
                    "finish_reason": "stop",
                    "message": {"role": "assistant", "content": content},
                }
            ],
            "usage": {
                "prompt_tokens": prompt_words,
                "completion_tokens": len(content.split()),
                "total_tokens": prompt_words + len(content.split()),
            },
        }
    ).encode()
