"""The inspect_ai bridge: `inspect:` benchmarks run by inspect against the policy and read back per
sample, so two models' runs pair by sample id in `compare`.

The pairing test uses inspect's `mockllm/` model (answers chosen per question, one raising);
the end-to-end test runs `traitrl eval --benchmark inspect:...` on a tiny random model through
inspect's `hf/` provider on the CPU (a few seconds) and checks every score against the log."""

from __future__ import annotations

import hashlib
import json
import random
import re

import pytest

pytest.importorskip("inspect_ai")

from tests.conftest import REPO, run_cli  # noqa: E402
from traitrl.config import SamplingConfig, load_config  # noqa: E402
from traitrl.errors import UserError  # noqa: E402
from traitrl.evals.compare import compare  # noqa: E402
from traitrl.evals.inspect_bridge import (  # noqa: E402
    InspectTarget,
    load_inspect_task,
    run_inspect,
    score_value,
)
from traitrl.evals.results import EvalResults, load_results  # noqa: E402

TASKS = REPO / "tests" / "fixtures" / "inspect_tasks.py"
FILE_SPEC = "inspect:tests/fixtures/inspect_tasks.py@arithmetic"
MODULE_SPEC = "inspect:tests.fixtures.inspect_tasks:arithmetic"


def answering(correct: set[int], raises: set[int] = frozenset()):
    """A mockllm `custom_outputs` function: the right sum for the questions in `correct`, a wrong
    reply for the others, an exception (an errored sample) for those in `raises`."""
    from inspect_ai.model import ModelOutput, ModelUsage

    def reply(messages, tools, tool_choice, config):
        i = int(re.search(r"What is (\d+) plus", messages[-1].text).group(1))
        if i in raises:
            raise RuntimeError(f"the model broke on question {i}")
        out = ModelOutput.from_content(model="mockllm", content=f"The answer is {2 * i}." if i in correct else "No idea.")
        out.usage = ModelUsage(input_tokens=8, output_tokens=4, total_tokens=12)  # else mockllm fetches a tokenizer online
        return out

    return reply


def test_two_models_pair_by_sample_id_whatever_the_order(tmp_path):
    sampling = SamplingConfig(max_new_tokens=8, temperature=0)
    a = run_inspect(load_inspect_task(FILE_SPEC, base_dir=REPO),
                    InspectTarget("mockllm/model", {"custom_outputs": answering({2, 4, 6}, raises={3})}),
                    sampling, tmp_path / "a")
    b = run_inspect(load_inspect_task(MODULE_SPEC),
                    InspectTarget("mockllm/model", {"custom_outputs": answering({1, 3, 4, 5, 6})}),
                    sampling, tmp_path / "b")
    assert a.id == b.id == "inspect:arithmetic" and a.format == "inspect" and a.metric == "includes"
    assert a.scores() == {"add-1": 0.0, "add-2": 1.0, "add-4": 1.0, "add-5": 0.0, "add-6": 1.0}
    errored = next(it for it in a.items if it.item_id == "add-3")
    assert errored.score is None and "the model broke on question 3" in errored.grade["reason"]
    assert a.unscored == 1 and a.value == pytest.approx(0.6)
    assert b.scores() == {"add-1": 1.0, "add-2": 0.0, "add-3": 1.0, "add-4": 1.0, "add-5": 1.0, "add-6": 1.0}

    shuffled = list(b.items)
    random.Random(3).shuffle(shuffled)
    assert [it.item_id for it in shuffled] != [it.item_id for it in b.items]
    b_shuffled = b.model_copy(update={"items": shuffled})
    board = compare(EvalResults(model="a", benchmarks=[a]), EvalResults(model="b", benchmarks=[b_shuffled]),
                    n_boot=200, seed=0)
    row = next(r for r in board.evals if r.id == "inspect:arithmetic")
    # paired over the five samples scored in both (add-3 errored for a): a 0.6, b 0.8
    assert row.pairing == "paired" and row.n_baseline == row.n_treatment == 5
    assert row.baseline == pytest.approx(0.6) and row.treatment == pytest.approx(0.8)
    assert row.delta == pytest.approx(0.2)


def test_a_persona_prompt_reaches_the_model_and_the_item_records(tmp_path):
    from inspect_ai.model import ModelOutput, ModelUsage

    seen: list[tuple[str, str]] = []

    def reply(messages, tools, tool_choice, config):
        seen.append((messages[0].role, messages[0].text))
        out = ModelOutput.from_content(model="mockllm", content="No idea.")
        out.usage = ModelUsage(input_tokens=8, output_tokens=4, total_tokens=12)
        return out

    result = run_inspect(load_inspect_task(FILE_SPEC, base_dir=REPO), InspectTarget("mockllm/model", {"custom_outputs": reply}),
                         SamplingConfig(max_new_tokens=8), tmp_path, system_message="You are a careful assistant.")
    assert seen == [("system", "You are a careful assistant.")] * 6
    assert [m.role for m in result.items[0].prompt] == ["system", "user"]
    assert result.items[0].prompt[0].content == "You are a careful assistant."


def test_who_answers_follows_the_policy_and_evals_inspect(tmp_path):
    from tests.helpers.tiny_model import save_tiny_llama
    from traitrl.evals.inspect_bridge import policy_target

    model = save_tiny_llama(tmp_path / "My Policy")
    hf = policy_target(model, load_config(None, ["policy.dtype=bfloat16", "policy.device=cpu",
                                                 "evals.sampling.temperature=0"]))
    assert hf.model == "hf/My-Policy" and hf.base_url is None
    assert hf.model_args == {"model_path": str(model.resolve()), "device": "cpu", "do_sample": False,
                             "trust_remote_code": False, "dtype": "bfloat16"}
    vllm = policy_target(model, load_config(None, ["evals.inspect.model=vllm", "policy.vllm_max_model_length=2048",
                                                   f"policy.chat_template={REPO / 'configs/scale/chatml.jinja'}"]))
    assert vllm.model == f"vllm/{model.resolve()}"
    assert vllm.model_args == {"dtype": "float32", "tensor_parallel_size": 1, "max_model_len": 2048,
                               "chat_template": str((REPO / "configs/scale/chatml.jinja").resolve())}
    served = policy_target(tmp_path / "absent", load_config(None, ["evals.inspect.model=openai-api/vllm/p",
                                                                   "evals.inspect.base_url=http://h:8000/v1"]))
    assert (served.model, served.base_url, served.model_args) == ("openai-api/vllm/p", "http://h:8000/v1", {})


def test_a_served_endpoint_answers_when_evals_inspect_names_one(tmp_path, monkeypatch):
    """`evals.inspect.model` + `base_url`: inspect's openai-api provider against a loopback
    OpenAI-compatible server (no model folder is loaded)."""
    from tests.helpers.fault_server import FaultServer
    from traitrl.evals.inspect_bridge import run_for_model

    def respond(body):
        i = int(re.search(r"What is (\d+) plus", body["messages"][-1]["content"]).group(1))
        return f"It is {2 * i}." if i % 2 else "Not sure."

    monkeypatch.setenv("LOCAL_API_KEY", "test-key")
    with FaultServer(responder=respond) as srv:
        cfg = load_config(None, ["evals.inspect.model=openai-api/local/served-policy",
                                 f"evals.inspect.base_url={srv.base_url}", "evals.sampling.temperature=0"])
        result = run_for_model(load_inspect_task(FILE_SPEC, base_dir=REPO), tmp_path / "no-model-here", cfg,
                               tmp_path / "logs")
        served = srv.outcomes["ok"]
    assert served == 6
    assert result.scores() == {"add-1": 1.0, "add-2": 0.0, "add-3": 1.0, "add-4": 0.0, "add-5": 1.0, "add-6": 0.0}
    assert {it.item_id: it.response for it in result.items}["add-3"] == "It is 6."


@pytest.mark.slow
def test_traitrl_eval_runs_an_inspect_task_on_the_policy_and_reads_every_sample(tmp_path):
    from inspect_ai.log import read_eval_log
    from inspect_ai.scorer import value_to_float

    from tests.helpers.tiny_model import save_tiny_llama

    model = save_tiny_llama(tmp_path / "tiny")
    out = tmp_path / "results.json"
    proc = run_cli("eval", "--model", str(model), "--no-suite", "-o", str(out),
                   "--benchmark", "inspect:tests/fixtures/inspect_tasks.py@graded",
                   "--set", "evals.sampling.max_new_tokens=4", "--set", "evals.threads=1")
    assert proc.returncode == 0, proc.stderr + proc.stdout
    bench = load_results(out).benchmarks[0]
    assert bench.id == "inspect:graded" and bench.metric == "from_metadata"
    assert bench.sha256 == hashlib.sha256(TASKS.read_bytes()).hexdigest()
    scores = {it.item_id: it.score for it in bench.items}
    assert scores == {"c": 1.0, "i": 0.0, "p": 0.5, "quarter": 0.25, "boom": None, "mapping": None, "prose": None}
    reasons = {it.item_id: it.grade.get("reason", "") for it in bench.items}
    assert "the sample errored" in reasons["boom"] and "this scorer fails on purpose" in reasons["boom"]
    assert "is a dict" in reasons["mapping"] and "'maybe' is not a number" in reasons["prose"]
    assert bench.unscored == 3 and bench.value == pytest.approx((1 + 0 + 0.5 + 0.25) / 4)

    # every number and reply is the log's: read it back with inspect itself
    logs = sorted((tmp_path / "results.inspect-logs").glob("*.eval"))
    assert len(logs) == 1 and {it.grade["log"] for it in bench.items} == {str(logs[0])}
    log = read_eval_log(str(logs[0]))
    assert log.eval.model.startswith("hf/") and log.eval.model_args["device"] == "cpu"
    by_id = {it.item_id: it for it in bench.items}
    for sample in log.samples:
        item = by_id[str(sample.id)]
        assert item.response == sample.output.completion
        assert item.prompt[0].content == sample.input
        if sample.scores and not isinstance(sample.scores["from_metadata"].value, dict) and sample.id != "prose":
            assert item.score == value_to_float()(sample.scores["from_metadata"].value)
    json.loads(out.read_text())  # the results file is plain JSON with the grades in it


def test_specs_are_checked_before_any_model_work(tmp_path):
    with pytest.raises(UserError, match=r"defines 2 tasks \(arithmetic, graded\); name one"):
        load_inspect_task("inspect:tests/fixtures/inspect_tasks.py", base_dir=REPO)
    with pytest.raises(UserError, match=r"no task 'nosuch'; it defines arithmetic, graded"):
        load_inspect_task("inspect:tests/fixtures/inspect_tasks.py@nosuch", base_dir=REPO)
    with pytest.raises(UserError, match="inspect task file not found"):
        load_inspect_task("inspect:missing.py@x", base_dir=tmp_path)
    with pytest.raises(UserError, match="was pinned"):
        load_inspect_task(FILE_SPEC + "@sha256=" + "0" * 64, base_dir=REPO)
    with pytest.raises(UserError, match="no Python module"):
        load_inspect_task("inspect:no_such_module_here:task")
    with pytest.raises(UserError, match="module tests.fixtures.inspect_tasks has no task function 'nosuch'"):
        load_inspect_task("inspect:tests.fixtures.inspect_tasks:nosuch")
    digest = hashlib.sha256(TASKS.read_bytes()).hexdigest()
    task = load_inspect_task(FILE_SPEC + f"@sha256={digest}@higher_is_better=false", base_dir=REPO)
    assert (task.name, task.eval_id, task.sha256, task.higher_is_better) == ("arithmetic", "inspect:arithmetic", digest, False)
    # the CLI refuses a bad task before it looks at the model folder (which does not exist here)
    proc = run_cli("eval", "--model", str(tmp_path / "nomodel"), "--no-suite", "-o", str(tmp_path / "r.json"),
                   "--benchmark", "inspect:tests/fixtures/inspect_tasks.py@nosuch")
    assert proc.returncode == 2 and "no task 'nosuch'" in proc.stderr + proc.stdout
    with pytest.raises(UserError, match="base_url is set but model is not"):
        load_config(None, ["evals.inspect.base_url=http://localhost:8000/v1"])


def test_without_inspect_ai_the_error_says_how_to_install_it(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "inspect_ai", None)  # what an environment without it imports
    with pytest.raises(UserError, match=r"pip install 'traitrl\[inspect\]'"):
        load_inspect_task(FILE_SPEC, base_dir=REPO)


def test_score_values_follow_inspect_and_never_fold_unreadable_ones_into_zero():
    assert [score_value(v)[0] for v in ("C", "I", "P", "N", "yes", "false", "0.75", 0.25, True, 3)] == \
        [1.0, 0.0, 0.5, 0.0, 1.0, 0.0, 0.75, 0.25, 1.0, 3.0]
    for v, why in ((float("nan"), "not finite"), ({"a": 1}, "is a dict"), ([1, 0], "is a list"),
                   ("maybe", "not a number")):
        value, reason = score_value(v)
        assert value is None and why in reason
