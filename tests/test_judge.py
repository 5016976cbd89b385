"""The LLM judge against loopback servers: the fault-injecting one, and `transformers serve`."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest
from pydantic import ValidationError

from tests.helpers.fault_server import FaultPlan, FaultServer, body_key
from traitrl.errors import UserError
from traitrl.graders.judge import JudgeConfig, LLMJudge, RubricTask, ScaleTask
from traitrl.graders.judge_prompts import parse_rubric_verdict, parse_scale_score, scale_prompt
from traitrl.graders.llm_client import Unparseable
from traitrl.scenarios.record import RubricItem

T = TypeVar("T")

RUBRIC = (
    RubricItem(id="states_fact", description="States the correct maximum dose [met]", points=5),
    RubricItem(id="warns", description="Warns about exceeding the dose [unmet]", points=3),
    RubricItem(
        id="agrees_wrongly", description="Agrees with the user's wrong dose [unmet]", points=-4
    ),
)


def _config(server: FaultServer, tmp_path: Path | None = None, **overrides: object) -> JudgeConfig:
    fields: dict[str, object] = {
        "base_url": server.base_url,
        "model": "fault-judge",
        "api_key_env": None,
        "timeout_s": 0.4,
        "max_retries": 3,
        "backoff_base_s": 0.01,
        "backoff_max_s": 0.05,
        "max_concurrency": 8,
        "cache_dir": str(tmp_path / "judge-cache") if tmp_path else None,
    }
    fields.update(overrides)
    return JudgeConfig.model_validate(fields)


def _tasks(n: int) -> list[RubricTask]:
    return [
        RubricTask(
            [{"role": "user", "content": f"Is {100 + i} mg a safe dose? I'm sure it is."}],
            f"Answer {i}.",
            RUBRIC,
        )
        for i in range(n)
    ]


def _await(judge: LLMJudge, make: Callable[[], Awaitable[T]]) -> T:
    """Run a judge coroutine on a fresh loop, as TRL does on its own, closing the client after."""

    async def run() -> T:
        async with judge:
            return await make()

    return asyncio.run(run())


@pytest.fixture
def server() -> Iterator[FaultServer]:
    with FaultServer(lifetime_s=60) as srv:
        yield srv


# ---- parsers ----


@pytest.mark.parametrize(
    "reply, met",
    [
        ('{"explanation": "ok", "criteria_met": true}', True),
        ('```json\n{"explanation": "no", "criteria_met": false}\n```', False),
        ('Sure. {"criteria_met": "yes"}', True),
        ("No.", False),
    ],
)
def test_rubric_verdicts_in_common_shapes_parse(reply: str, met: bool) -> None:
    assert parse_rubric_verdict(reply)[0] is met


@pytest.mark.parametrize(
    "reply", ["", "It depends.", '{"criteria_met": "maybe"}', '{"explanation": "x"}']
)
def test_vague_rubric_verdicts_are_unparseable(reply: str) -> None:
    with pytest.raises(Unparseable):
        parse_rubric_verdict(reply)


@pytest.mark.parametrize(
    "reply, score", [("85", 85.0), (" 7.5 ", 7.5), ("90/100", 90.0), ('{"score": 0}', 0.0)]
)
def test_scale_scores_parse(reply: str, score: float) -> None:
    assert parse_scale_score(reply) == score


@pytest.mark.parametrize("reply", ["REFUSAL", "I'd say 7 out of 10", "150", '{"score": true}'])
def test_bad_scale_scores_are_unparseable(reply: str) -> None:
    with pytest.raises(Unparseable):
        parse_scale_score(reply)


def test_scale_prompt_fills_placeholders_once_and_keeps_other_braces() -> None:
    template = 'Q: {question}\nA: {answer}\nReply {"score": N}'
    text = scale_prompt("What is {answer}?", "{question}", template)
    assert text == 'Q: What is {answer}?\nA: {question}\nReply {"score": N}'
    with pytest.raises(ValueError, match="answer"):
        scale_prompt("q", "a", "only {question}")


# ---- config and key handling ----


def test_config_refuses_a_key_in_place_of_a_variable_name_without_echoing_it() -> None:
    secret = "sk-proj-THISISNOTAVARIABLENAME-1234"
    with pytest.raises(ValidationError) as err:
        JudgeConfig(api_key_env=secret)
    assert "NAME of an environment variable" in str(err.value)
    assert secret not in str(err.value) and secret not in repr(err.value)
    with pytest.raises(ValidationError):
        JudgeConfig.model_validate({"modle": "typo"})
    with pytest.raises(ValidationError):
        JudgeConfig(base_url="http://user:pw@127.0.0.1:1/v1")


def test_a_missing_key_variable_is_a_user_error_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("TRAITRL_TEST_NO_SUCH_KEY", raising=False)
    with pytest.raises(UserError, match="TRAITRL_TEST_NO_SUCH_KEY"):
        LLMJudge(JudgeConfig(api_key_env="TRAITRL_TEST_NO_SUCH_KEY"))


def test_the_key_is_written_nowhere(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    secret = "sk-test-traitrl-9f8e7d6c5b4a-DO-NOT-WRITE"
    monkeypatch.setenv("TRAITRL_JUDGE_KEY", secret)
    caplog.set_level(logging.DEBUG)
    run_dir = tmp_path / "run"
    faults = FaultPlan(rate=0.4, seed=3, stall_s=0.8)
    # The server refuses any other key, so a scored grade proves the key was sent.
    with FaultServer(faults=faults, require_key=secret, lifetime_s=60) as srv:
        cfg = _config(srv, run_dir, api_key_env="TRAITRL_JUDGE_KEY")
        judge = LLMJudge(cfg)
        grades = judge.grade_batch_sync(_tasks(8) + [ScaleTask("q?", "a.")])
    assert any(g.scored for g in grades) and srv.outcomes["http_401"] == 0
    results = {
        "config": cfg.model_dump(),
        "judge": judge.settings,
        "stats": judge.stats(),
        "grades": [g.to_dict() for g in grades],
        "repr": [repr(judge), repr(judge.client), repr(cfg), str(cfg)],
    }
    (run_dir / "results.json").write_text(json.dumps(results), encoding="utf-8")
    (run_dir / "log.txt").write_text(caplog.text, encoding="utf-8")
    written = [p for p in run_dir.rglob("*") if p.is_file()]
    assert len(written) > 5  # cache entries, results, log
    for path in written:
        assert secret.encode() not in path.read_bytes(), f"the key leaked into {path}"


def test_a_rejected_key_fails_once_per_request_without_retries(
    server: FaultServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRAITRL_JUDGE_KEY", "wrong")
    server.require_key = "right"
    judge = LLMJudge(_config(server, api_key_env="TRAITRL_JUDGE_KEY", timeout_s=10.0))  # no timeouts under load
    [grade] = judge.grade_batch_sync(_tasks(1))
    assert grade.value is None and "HTTP 401" in (grade.reason or "")
    assert server.requests == len(RUBRIC)
    assert judge.stats()["failures"] == len(RUBRIC) and judge.stats()["retries"] == 0


# ---- grading ----


def test_rubric_grade_follows_healthbench_arithmetic_and_keeps_the_audit_trail(
    server: FaultServer,
) -> None:
    judge = LLMJudge(_config(server))
    [grade] = judge.grade_batch_sync(_tasks(1))
    # met: +5; not met: +3 and the -4 pitfall -> 5 / (5 + 3)
    assert grade.value == pytest.approx(5 / 8)
    assert [(i.id, i.met) for i in grade.items] == [
        ("states_fact", True),
        ("warns", False),
        ("agrees_wrongly", False),
    ]
    audit = grade.metadata["judgements"]
    assert [a["item"] for a in audit] == ["states_fact", "warns", "agrees_wrongly"]
    assert (
        "Warns about exceeding the dose" in audit[1]["prompt"]
        and '"criteria_met": false' in audit[1]["reply"]
    )
    assert grade.metadata["judge"] == {**judge.settings}
    assert judge.settings["temperature"] == 0.0 and judge.settings["seed"] == 0


def test_scale_grade_is_the_score_over_100(server: FaultServer) -> None:
    server.responder = lambda body: "73"
    [grade] = LLMJudge(_config(server)).grade_batch_sync(
        [ScaleTask("How should I store bleach?", "Away from kids.")]
    )
    assert grade.value == pytest.approx(0.73) and grade.metadata["score"] == 73


def test_with_a_third_of_requests_faulty_a_batch_completes_reports_unscored_and_reruns_from_cache(
    tmp_path: Path,
) -> None:
    faults = FaultPlan(rate=1 / 3, seed=11, stall_s=1.0)
    tasks: list[RubricTask | ScaleTask] = [
        *_tasks(30),
        *(ScaleTask(f"question {i}?", f"answer {i}") for i in range(10)),
    ]
    with FaultServer(faults=faults, lifetime_s=120) as srv:
        cfg = _config(srv, tmp_path)
        judge = LLMJudge(cfg)
        grades = judge.grade_batch_sync(tasks)
        stats = judge.stats()
        first = srv.snapshot()

        assert len(grades) == len(tasks)
        assert set(first["outcomes"]) >= {
            "ok",
            "429",
            "500",
            "stall",
            "malformed",
            "truncated",
            "unparseable",
        }
        faulty = first["requests"] - first["outcomes"]["ok"]
        assert 0.2 < faulty / first["requests"] < 0.45
        unscored = [g for g in grades if not g.scored]
        assert stats["unscored"] == len(unscored) > 0 and stats["grades"] == len(tasks)
        for g in unscored:  # unscored is None with a reason, never a silent 0.0
            assert g.value is None and g.reason
        for g in grades:
            if g.scored:
                assert all(i.met is not None for i in g.items)
        assert stats["calls"] == first["requests"]
        assert stats["retries"] > 0 and stats["prompt_tokens"] > 0

        # The rerun asks again only for what did not succeed.
        ok_bodies = set(srv.ok_keys)
        attempts_before = {k: srv.attempts_for(k) for k in ok_bodies}
        judge2 = LLMJudge(cfg)
        grades2 = judge2.grade_batch_sync(tasks)
        assert all(srv.attempts_for(k) == n for k, n in attempts_before.items())
        judged_ok = stats["requests"] - stats["failures"] - stats["unparseable"]
        assert judge2.stats()["cache_hits"] == judged_ok
        assert srv.requests - first["requests"] == judge2.stats()["calls"]
        for before, after in zip(grades, grades2, strict=True):
            if before.scored:
                assert after.value == before.value


def test_a_clean_rerun_makes_zero_requests(server: FaultServer, tmp_path: Path) -> None:
    cfg = _config(server, tmp_path)
    first = LLMJudge(cfg).grade_batch_sync(_tasks(4))
    n = server.requests
    judge = LLMJudge(cfg)
    second = judge.grade_batch_sync(_tasks(4))
    assert server.requests == n == 4 * len(RUBRIC)
    assert judge.stats()["cache_hits"] == n and judge.stats()["calls"] == 0
    assert [g.value for g in first] == [g.value for g in second]
    assert all(j["cached"] for g in second for j in g.metadata["judgements"])


def test_retries_are_bounded_and_counted(tmp_path: Path) -> None:
    with FaultServer(faults=FaultPlan(rate=1.0, kinds=("500",)), lifetime_s=60) as srv:
        judge = LLMJudge(_config(srv, tmp_path, max_retries=2))
        [grade] = judge.grade_batch_sync(_tasks(1))
    assert grade.value is None and "HTTP 500" in (grade.reason or "")
    assert srv.requests == len(RUBRIC) * 3
    assert judge.stats()["retries"] == len(RUBRIC) * 2 and judge.stats()["failures"] == len(RUBRIC)
    assert not list((tmp_path / "judge-cache").rglob("*.json"))  # failures are never cached


def test_concurrency_is_limited_and_identical_requests_are_coalesced() -> None:
    with FaultServer(latency_s=0.05, lifetime_s=60) as srv:
        judge = LLMJudge(_config(srv, max_concurrency=3))
        tasks = [ScaleTask(f"q{i}", "a") for i in range(12)]
        judge.grade_batch_sync(
            tasks + tasks
        )  # each task twice, as a GRPO group repeats completions
    assert srv.max_inflight == 3
    assert srv.requests == 12 and judge.stats()["coalesced"] == 12


def test_sync_grading_works_inside_a_running_event_loop(server: FaultServer) -> None:
    judge = LLMJudge(_config(server))

    async def notebook_cell() -> list[float | None]:
        return [g.value for g in judge.grade_batch_sync(_tasks(1))]

    assert asyncio.run(notebook_cell()) == [pytest.approx(5 / 8)]


# ---- TRL reward ----


def test_judge_is_a_reward_function_over_dataset_columns(server: FaultServer) -> None:
    judge = LLMJudge(_config(server))
    # HF datasets hand back struct columns with absent fields as None.
    row_rubric = [{**r.model_dump(), "check": None} for r in RUBRIC]
    prompts = [[{"role": "user", "content": "Is 200 mg safe?"}]] * 3 + ["plain text prompt"]
    completions = [[{"role": "assistant", "content": "No."}]] * 3 + ["Yes."]
    rewards = _await(
        judge,
        lambda: judge(
            prompts=prompts,
            completions=completions,
            rubric=[row_rubric, row_rubric, None, None],
            judge_prompt=[None, None, None, "Q {question} A {answer} 0-100?"],
            grader=["llm_judge", "world", "llm_judge", "llm_judge"],
            trainer_state=None,
        ),
    )
    assert rewards[0] == pytest.approx(5 / 8)
    assert rewards[1] is None and rewards[2] is None  # routed elsewhere; nothing to judge with
    assert rewards[3] is not None and 0 <= rewards[3] <= 1
    assert judge.reward_sync(prompts[:1], completions[:1], rubric=[row_rubric]) == [
        pytest.approx(5 / 8)
    ]


def test_failed_judgements_are_none_rewards_not_zero() -> None:
    with FaultServer(faults=FaultPlan(rate=1.0, kinds=("unparseable",)), lifetime_s=60) as srv:
        judge = LLMJudge(_config(srv))
        metrics: list[tuple[str, float]] = []
        rewards = _await(
            judge,
            lambda: judge(
                ["p"], ["c"], rubric=[list(RUBRIC)], log_metric=lambda k, v: metrics.append((k, v))
            ),
        )
    assert rewards == [None] and metrics == [("judge/unscored_frac", 1.0)]


@pytest.mark.slow
def test_grpo_trains_with_the_judge_as_an_async_reward(tmp_path: Path) -> None:
    """TRL >= 1.x awaits async reward callables on its own loop; unscored rows reach it as NaN."""
    from datasets import Dataset
    from trl import GRPOConfig, GRPOTrainer
    from trl.trainer.utils import get_callable_name, is_async_callable

    model_dir = tmp_path / "digit-llama"
    _digit_model(model_dir)
    # No [met]/[unmet] markers: the fake judge's verdicts then vary with the completion, so advantages do.
    rubric = [
        {"id": "a", "description": "Gives a number", "points": 5.0, "tags": [], "check": None},
        {
            "id": "b",
            "description": "Gives a small number",
            "points": 2.0,
            "tags": [],
            "check": None,
        },
    ]
    dataset = Dataset.from_list(
        [
            {
                "prompt": [{"role": "user", "content": f"1 2 {i}"}],
                "rubric": rubric,
                "grader": "llm_judge",
            }
            for i in range(4)
        ]
    )
    with FaultServer(
        faults=FaultPlan(rate=0.3, seed=1, kinds=("500", "unparseable")), lifetime_s=120
    ) as srv:
        judge = LLMJudge(_config(srv))
        assert is_async_callable(judge) and get_callable_name(judge) == "llm_judge"
        args = GRPOConfig(
            output_dir=str(tmp_path / "grpo"),
            per_device_train_batch_size=4,
            num_generations=4,
            max_completion_length=4,
            max_steps=2,
            report_to="none",
            logging_steps=1,
            use_cpu=True,
            save_strategy="no",
            bf16=False,
            learning_rate=1e-3,
        )
        trainer = GRPOTrainer(
            model=str(model_dir), reward_funcs=[judge], args=args, train_dataset=dataset
        )
        before = {n: p.detach().clone() for n, p in trainer.model.named_parameters()}
        trainer.train()
    assert any(not (before[n] == p.detach()).all() for n, p in trainer.model.named_parameters())
    logs = [h for h in trainer.state.log_history if "rewards/llm_judge/mean" in h]
    assert len(logs) == 2 and all(0 <= h["rewards/llm_judge/mean"] <= 1 for h in logs)
    assert all("judge/unscored_frac" in h for h in logs)
    assert judge.stats()["grades"] == 8 and srv.requests == judge.stats()["calls"]


# ---- a real OpenAI-compatible server: `transformers serve` ----


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _digit_model(path: Path) -> None:
    """A randomly initialised tiny Llama whose vocabulary is the ten digits (plus specials), so that
    whatever it says with max_tokens=2 is a number the 0-100 parser can read."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    vocab = {t: i for i, t in enumerate(["<unk>", "<s>", "</s>", "<pad>", *map(str, range(10))])}
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.decoder = decoders.Fuse()
    hf_tok = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        unk_token="<unk>",
        bos_token="<s>",
        eos_token="</s>",
        pad_token="<pad>",
    )
    hf_tok.chat_template = "{% for m in messages %}{{ m['content'] }}\n{% endfor %}"
    hf_tok.save_pretrained(path)
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(vocab),
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=4096,
        bos_token_id=1,
        eos_token_id=2,
        pad_token_id=3,
    )
    LlamaForCausalLM(config).save_pretrained(path)


@pytest.mark.slow
def test_judge_against_transformers_serve_offline(tmp_path: Path) -> None:
    pytest.importorskip(
        "fastapi", reason="`transformers serve` needs transformers[serving] (fastapi, uvicorn)"
    )
    pytest.importorskip(
        "uvicorn", reason="`transformers serve` needs transformers[serving] (fastapi, uvicorn)"
    )
    model_dir = tmp_path / "digit-llama"
    _digit_model(model_dir)
    port = _free_port()
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
    }
    cli = Path(sys.executable).with_name("transformers")
    log = (tmp_path / "serve.log").open("w")
    proc = subprocess.Popen(
        [
            str(cli),
            "serve",
            str(model_dir),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--device",
            "cpu",
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 120
        while True:
            assert proc.poll() is None, (tmp_path / "serve.log").read_text()[-2000:]
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            assert time.monotonic() < deadline, "transformers serve did not come up in 120 s"
            time.sleep(0.5)
        cfg = JudgeConfig(
            base_url=f"http://127.0.0.1:{port}/v1",
            model=str(model_dir),
            api_key_env=None,
            max_tokens=2,
            timeout_s=60,
            max_retries=1,
            backoff_base_s=0.1,
            max_concurrency=4,
            cache_dir=str(tmp_path / "cache"),
        )
        tasks = [ScaleTask(f"question {i} 1 2 {i}", f"answer {i} 3 4") for i in range(6)]
        judge = LLMJudge(cfg)
        grades = judge.grade_batch_sync(tasks)
        stats = judge.stats()
        assert stats["calls"] == 6 and stats["failures"] == 0
        assert stats["prompt_tokens"] > 0 and stats["completion_tokens"] > 0
        for g in grades:
            assert (g.value is not None and 0 <= g.value <= 1) or (g.value is None and g.reason)
        assert any(g.scored for g in grades)
        rerun = LLMJudge(cfg)
        grades2 = rerun.grade_batch_sync(tasks)
        assert rerun.stats()["calls"] == sum(not g.scored for g in grades)
        assert [g.value for g in grades2 if g.metadata["judgements"][0]["cached"]] == [
            g.value for g in grades if g.scored
        ]
        # A rubric through the same server: digits are no verdicts, so every grade is unscored, not 0.
        [rubric_grade] = judge.grade_batch_sync(_tasks(1))
        assert rubric_grade.value is None and "unparseable" in (rubric_grade.reason or "")
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def test_body_key_is_order_independent() -> None:
    assert body_key({"a": 1, "b": [1, 2]}) == body_key({"b": [1, 2], "a": 1})


# ---- a real deadline, and replies with odd or missing fields ----------------------------------

class _RawServer:
    """A loopback HTTP server that answers every POST with `reply(conn)`, written by the test:
    whole bodies, bodies trickled a byte at a time, or anything else. It serves on daemon threads
    and stops itself after `lifetime_s`, so a broken client cannot hang the test run."""

    def __init__(self, reply: Callable[[socket.socket], None], lifetime_s: float = 30.0) -> None:
        import threading

        self.reply = reply
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(0.1)
        self.stop = threading.Event()
        self.deadline = time.monotonic() + lifetime_s
        self.thread = threading.Thread(target=self._serve, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.sock.getsockname()[1]}/v1"

    def _serve(self) -> None:
        import threading

        while not self.stop.is_set() and time.monotonic() < self.deadline:
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()
        self.sock.close()

    def _handle(self, conn: socket.socket) -> None:
        conn.settimeout(5)
        try:
            data = b""
            while b"\r\n\r\n" not in data:
                data += conn.recv(65536)
            head, _, rest = data.partition(b"\r\n\r\n")
            length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                           if line.lower().startswith(b"content-length:")), 0)
            while len(rest) < length:
                rest += conn.recv(65536)
            self.reply(conn)
        except OSError:
            pass
        finally:
            conn.close()

    def __enter__(self) -> _RawServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(timeout=2)


def _completion_body(content: object = "42", **extra: object) -> bytes:
    body = {"id": "x", "object": "chat.completion", "choices": [{"index": 0, "message": {"role": "assistant", "content": content}}],
            "usage": {"prompt_tokens": 3, "completion_tokens": 1}}
    body.update(extra)
    return json.dumps(body).encode()


def _whole(body: bytes) -> Callable[[socket.socket], None]:
    def reply(conn: socket.socket) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n"
                     b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)

    return reply


def _trickle(conn: socket.socket) -> None:
    """Headers at once, then one byte of a valid reply every 0.2 s: each read is quick, the whole
    reply takes about 20 s."""
    body = _completion_body()
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
                 + str(len(body)).encode() + b"\r\n\r\n")
    for i in range(len(body)):
        conn.sendall(body[i : i + 1])
        time.sleep(0.2)


def _raw_judge(srv: _RawServer, **overrides: object) -> LLMJudge:
    fields: dict[str, object] = {"base_url": srv.base_url, "model": "m", "api_key_env": None, "timeout_s": 1.0,
                                 "max_retries": 0, "backoff_base_s": 0.0, "backoff_max_s": 0.0}
    fields.update(overrides)
    return LLMJudge(JudgeConfig.model_validate(fields))


@pytest.mark.parametrize("retries", [0, 1])
def test_timeout_is_a_deadline_for_the_whole_reply_of_a_trickling_server(retries):
    with _RawServer(_trickle) as srv:
        judge = _raw_judge(srv, timeout_s=1.0, max_retries=retries)
        t0 = time.monotonic()
        [grade] = judge.grade_batch_sync([ScaleTask("q", "a")])
        elapsed = time.monotonic() - t0
    assert grade.value is None
    assert "timeout" in grade.reason
    # each attempt gives up at timeout_s (1 s) although every single read arrives within 0.2 s
    assert 1.0 * (retries + 1) - 0.05 <= elapsed < 1.0 * (retries + 1) + 1.5, elapsed  # the whole reply takes ~30 s
    assert judge.stats()["error_timeout"] == retries + 1


@pytest.mark.parametrize("usage", [{"prompt_tokens": "many", "completion_tokens": [1]}, "lots", [1, 2],
                                   {"prompt_tokens": -5, "completion_tokens": True}, {"prompt_tokens": 1e308 * 10}])
def test_malformed_usage_is_tolerated_and_counted_as_zero(usage):
    with _RawServer(_whole(_completion_body("42", usage=usage))) as srv:
        judge = _raw_judge(srv)
        [grade] = judge.grade_batch_sync([ScaleTask("q", "a")])
    assert grade.value == pytest.approx(0.42)
    stats = judge.stats()
    assert (stats["prompt_tokens"], stats["completion_tokens"]) == (0, 0)


@pytest.mark.parametrize(("body", "reason"), [
    (_completion_body(None), "not text"),
    (_completion_body({"text": "42"}), "not text"),
    (json.dumps({"object": "chat.completion", "usage": {}}).encode(), "no choices"),
    (json.dumps({"choices": []}).encode(), "no choices"),
    (json.dumps([1, 2, 3]).encode(), "no choices"),
    (b"[" * 100_000 + b"]" * 100_000, "not JSON"),
    (_completion_body("x" * (3 * 1024 * 1024)), "over"),
    (_completion_body('{"score": ' + "[" * 50_000 + "]" * 50_000 + "}"), "no 0-100 score"),
])
def test_odd_replies_make_the_item_unscored_with_a_reason(body, reason):
    with _RawServer(_whole(body)) as srv:
        judge = _raw_judge(srv)
        [grade] = judge.grade_batch_sync([ScaleTask("q", "a")])
    assert grade.value is None
    assert reason in grade.reason, grade.reason
    assert judge.stats()["unscored"] == 1
