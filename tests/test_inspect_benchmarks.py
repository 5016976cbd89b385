"""inspect_ai tasks in `evals.benchmarks`: checked when the config loads and before a run (naming
`evals.benchmarks.N`), content-pinned in stage keys, scored by the evaluate stage and the
persistence suite like benchmark files, and picked up by `traitrl eval` / `traitrl persist` from the
config when no --benchmark is given.

inspect answers through its `mockllm/` model (a reply function per test, no network, no weights);
the model folders are a tiny random Llama where one must exist."""

from __future__ import annotations

import hashlib
import re
import shutil
from contextlib import nullcontext
from pathlib import Path

import pytest

pytest.importorskip("inspect_ai")

from tests.conftest import REPO, run_cli  # noqa: E402
from traitrl.config import load_config  # noqa: E402
from traitrl.errors import UserError  # noqa: E402
from traitrl.evals import inspect_bridge  # noqa: E402
from traitrl.evals.inspect_bridge import InspectTarget  # noqa: E402
from traitrl.persistence.benchmark_suite import BenchmarkSuite, load_suite  # noqa: E402

TASKS = REPO / "tests" / "fixtures" / "inspect_tasks.py"
MWE = "anthropic-mwe:configs/real/data/benchmarks/corrigible-neutral-HHH-sample.jsonl"


@pytest.fixture
def tasks(tmp_path, monkeypatch) -> Path:
    """A copy of the fixture task file in a scratch working directory (relative specs resolve here)."""
    (tmp_path / "tasks").mkdir()
    shutil.copy(TASKS, tmp_path / "tasks" / "mine.py")
    monkeypatch.chdir(tmp_path)
    return tmp_path / "tasks" / "mine.py"


class Mock:
    """inspect's mockllm answering `What is N plus N?` right for even N, recording each request's
    system message; installed as the model every `inspect:` benchmark runs against."""

    def __init__(self, monkeypatch):
        self.systems: list[str | None] = []
        monkeypatch.setattr(inspect_bridge, "policy_target",
                            lambda model_dir, config: InspectTarget("mockllm/model", {"custom_outputs": self.reply}))

    def reply(self, messages, tools, tool_choice, config):
        from inspect_ai.model import ModelOutput, ModelUsage

        self.systems.append(messages[0].text if messages[0].role == "system" else None)
        i = int(re.search(r"What is (\d+) plus", messages[-1].text).group(1))
        out = ModelOutput.from_content(model="mockllm", content=f"It is {2 * i}." if i % 2 == 0 else "No idea.")
        out.usage = ModelUsage(input_tokens=8, output_tokens=4, total_tokens=12)  # else mockllm fetches a tokenizer
        return out


# -- the config ---------------------------------------------------------------------------------


def test_inspect_entries_load_beside_files_and_bad_syntax_names_the_entry():
    cfg = load_config(None, [f"evals.benchmarks=[{MWE}, inspect:t.py@arithmetic, inspect:pkg.mod:task]"])
    assert cfg.evals.benchmarks[1:] == ["inspect:t.py@arithmetic", "inspect:pkg.mod:task"]
    with pytest.raises(UserError, match=r"evals\.benchmarks\.1: .*expected a \.py task file"):
        load_config(None, [f"evals.benchmarks=[{MWE}, inspect:t.txt]"])
    with pytest.raises(UserError, match=r"evals\.benchmarks\.0: .*sha256 must be 64 hexadecimal"):
        load_config(None, ["evals.benchmarks=[inspect:t.py@arithmetic@sha256=abc]"])


def test_a_missing_task_file_or_unknown_task_is_named_before_a_run(tasks, monkeypatch):
    ok = "inspect:tasks/mine.py@arithmetic"
    assert load_config(None, [f"evals.benchmarks=[{ok}]"], check_paths=True).evals.benchmarks == [ok]
    with pytest.raises(UserError) as e:
        load_config(None, [f"evals.benchmarks=[{ok}, inspect:tasks/gone.py@x, inspect:tasks/mine.py@nope]"],
                    check_paths=True)
    text = str(e.value)
    assert "evals.benchmarks.1: tasks/gone.py: inspect task file not found" in text
    assert "evals.benchmarks.2: tasks/mine.py: no task 'nope'; it defines arithmetic, graded" in text
    assert "evals.benchmarks.0" not in text
    (tasks.parent.parent / "elsewhere").mkdir()
    monkeypatch.chdir(tasks.parent.parent / "elsewhere")  # relative paths are from the working directory, like files
    with pytest.raises(UserError, match=r"evals\.benchmarks\.0: tasks/mine\.py: inspect task file not found"):
        load_config(None, [f"evals.benchmarks=[{ok}]"], check_paths=True)


def test_traitrl_run_refuses_an_unknown_task_with_exit_2_before_any_work(tmp_path):
    done = run_cli("run", "--out", str(tmp_path / "run"), "--set",
                   f"evals.benchmarks=[inspect:{TASKS}@nope]")
    assert done.returncode == 2, done.stderr
    assert "evals.benchmarks.0:" in done.stderr and "no task 'nope'" in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "run").exists()


def test_a_given_policy_may_be_scored_on_inspect_tasks_alone():
    from traitrl.experiments.given import check_given_policy

    cfg = load_config(REPO / "configs" / "real" / "cpu-tiny.yaml",
                      [f"policy.model={REPO}", f"evals.benchmarks=[inspect:{TASKS}@arithmetic]",
                       "run.arms=[baseline,trait]"])  # the helpfulness control needs the judge
    check_given_policy(cfg.model_copy(update={"judge": None}))  # no judge needed for an inspect task


# -- pins and stage keys ------------------------------------------------------------------------


def test_pinned_specs_name_the_task_file_contents_and_an_edit_changes_the_stage_key(tasks, tmp_path):
    from tests.helpers.tiny_model import save_tiny_llama
    from traitrl.experiments.stage import STAGES, derive_key
    from traitrl.experiments.stages import given_model

    spec = "inspect:tasks/mine.py@arithmetic@scorer=includes"
    loaded = load_suite([MWE.replace("configs/", f"{REPO}/configs/"), spec])
    pinned = loaded.pinned
    digest = hashlib.sha256(tasks.read_bytes()).hexdigest()
    assert pinned[1] == f"inspect:tasks/mine.py@arithmetic@scorer=includes@sha256={digest}"
    assert pinned[0].startswith("anthropic-mwe:") and "@sha256=" in pinned[0]
    assert load_suite(pinned).pinned == pinned  # a pinned spec loads the same task
    cfg = load_config(None)
    base = given_model(save_tiny_llama(tmp_path / "m"))
    key = derive_key(STAGES["evaluate"], cfg, {"model": base, "benchmarks": pinned, "suite": False})

    tasks.write_text(tasks.read_text() + "\n# edited\n")
    repinned = load_suite([MWE.replace("configs/", f"{REPO}/configs/"), spec]).pinned
    assert repinned[0] == pinned[0] and repinned[1] != pinned[1]
    assert derive_key(STAGES["evaluate"], cfg, {"model": base, "benchmarks": repinned, "suite": False}) != key
    with pytest.raises(UserError, match="the task file changed since it was pinned"):
        load_suite(pinned)


# -- the evaluate stage and the persistence suite -------------------------------------------------


def test_the_evaluate_stage_scores_an_inspect_entry_under_a_persona(tasks, tmp_path, monkeypatch):
    from tests.helpers.tiny_model import save_tiny_llama
    from traitrl.evals.results import load_results
    from traitrl.evals.runner import persona_prompt
    from traitrl.experiments import stages
    from traitrl.experiments.stage import call

    mock = Mock(monkeypatch)
    cfg = load_config(None, ["evals.sampling.max_new_tokens=4", "evals.health_benchmarks=[inspect:arithmetic]"])
    base = stages.given_model(save_tiny_llama(tmp_path / "m"))
    spec = load_suite(["inspect:tasks/mine.py@arithmetic"]).pinned[0]
    run = call(stages.evaluate, cfg, tmp_path, model=base, dest="evals/m.json", persona="known_harmful",
               benchmarks=[spec], suite=False, max_items=4, show_progress=False)
    results = load_results(tmp_path / run.file)
    assert results.evals == [] and [b.id for b in results.benchmarks] == ["inspect:arithmetic"]
    bench = results.benchmarks[0]
    # max_items keeps the first four samples; even questions answered right
    assert bench.scores() == {"add-1": 0.0, "add-2": 1.0, "add-3": 0.0, "add-4": 1.0}
    assert bench.domains == ["health"]  # evals.health_benchmarks applies to inspect ids too
    assert mock.systems == [persona_prompt("known_harmful", "inspect:arithmetic")] * 4
    assert bench.items[0].prompt[0].content == mock.systems[0]
    assert list((tmp_path / "evals" / "m.inspect-logs").glob("*.eval"))
    assert run.pooled == pytest.approx(0.5)


def test_the_persistence_suite_runs_inspect_tasks_on_the_folder_with_the_persona(tasks, tmp_path, monkeypatch):
    mock = Mock(monkeypatch)
    cfg = load_config(None, ["evals.sampling.max_new_tokens=4"])
    suite = BenchmarkSuite(cfg, load_suite(["inspect:tasks/mine.py@arithmetic"]), n_items=3)
    assert suite.ids == ["inspect:arithmetic"] and suite.health_ids() == [] and suite.largest() == 3
    folders: list[str] = []

    def folder():
        folders.append("opened")
        return nullcontext(tmp_path / "no-weights-needed")

    def policy():
        raise AssertionError("no benchmark file: the policy is never loaded")

    advanced: list[int] = []
    path = tmp_path / "cond" / "harmful.json"
    res = suite.evaluate(policy, "m", lambda item_id: f"persona for {item_id}", path, "k1", advanced.append,
                         folder=folder)
    assert [b.id for b in res.benchmarks] == ["inspect:arithmetic"]
    assert res.benchmarks[0].scores() == {"add-1": 0.0, "add-2": 1.0, "add-3": 0.0}
    assert mock.systems == ["persona for inspect:arithmetic"] * 3 and advanced == [3] and folders == ["opened"]
    assert list((tmp_path / "cond" / "harmful.inspect-logs").glob("*.eval"))
    # cached under its key: nothing runs again; another key reruns
    suite.evaluate(policy, "m", lambda item_id: None, path, "k1", advanced.append, folder=folder)
    assert len(mock.systems) == 3 and folders == ["opened"]
    suite.evaluate(policy, "m", lambda item_id: None, path, "k2", advanced.append, folder=folder)
    assert mock.systems[3:] == [None] * 3
    with pytest.raises(ValueError, match="need the model's folder"):
        suite.evaluate(policy, "m", lambda item_id: None, path, "k3", advanced.append)


def test_the_suite_key_holds_the_task_pin_and_who_answers(tasks):
    spec = ["inspect:tasks/mine.py@arithmetic"]
    a = BenchmarkSuite(load_config(None), load_suite(spec)).key()
    served = load_config(None, ["evals.inspect.model=openai-api/vllm/p", "evals.inspect.base_url=http://h:1/v1"])
    assert BenchmarkSuite(served, load_suite(spec)).key() != a
    assert any("@sha256=" in str(part) for part in a)
    files_only = BenchmarkSuite(load_config(None), load_suite([MWE.replace("configs/", f"{REPO}/configs/")])).key()
    assert len(files_only) == 4  # a suite without tasks keeps the key it had


def test_a_later_dose_is_saved_as_a_plain_folder_for_inspect_and_removed_after(tmp_path):
    from tests.helpers.tiny_model import save_tiny_llama
    from traitrl.models.loader import load_policy
    from traitrl.persistence.common import LazyPolicy, ModelRef
    from traitrl.persistence.finetune import _dose_folder

    model = save_tiny_llama(tmp_path / "m")
    cfg = load_config(None)
    loads: list[int] = []
    policy = LazyPolicy(lambda: loads.append(1) or load_policy(model, cfg))
    ref, train_dir = ModelRef("m", model), tmp_path / "train"
    train_dir.mkdir()
    with _dose_folder(ref, train_dir, 0, policy)() as folder:
        assert folder == model and loads == []  # dose 0 is the model itself, nothing loaded
    with _dose_folder(ref, train_dir, 2, policy)() as folder:
        assert folder.parent == train_dir and (folder / "config.json").is_file()
        assert (folder / "tokenizer.json").is_file() and loads == [1]
        from safetensors.torch import load_file

        saved, original = load_file(str(folder / "model.safetensors")), load_file(str(model / "model.safetensors"))
        assert set(saved) == set(original) and all(saved[k].equal(original[k]) for k in saved)
    assert not folder.exists() and list(train_dir.iterdir()) == []


# -- traitrl eval and traitrl persist take the config's benchmarks --------------------------------


def test_traitrl_eval_scores_the_configs_benchmarks_without_benchmark_flags(tasks, tmp_path, monkeypatch):
    from tests.helpers.tiny_model import save_tiny_llama
    from traitrl.commands.evaluate import eval_command
    from traitrl.evals.results import load_results

    Mock(monkeypatch)
    model = save_tiny_llama(tmp_path / "m")
    config = tmp_path / "c.yaml"
    config.write_text("evals:\n  benchmarks: [inspect:tasks/mine.py@arithmetic]\n  sampling: {max_new_tokens: 4}\n")
    eval_command(model=model, out=tmp_path / "r.json", config=config, set_=None, benchmark=None, persona="none",
                 suite=False, sensitivity=False, list_=False)
    assert [b.id for b in load_results(tmp_path / "r.json").benchmarks] == ["inspect:arithmetic"]
    # --benchmark replaces the config's list
    eval_command(model=model, out=tmp_path / "r2.json", config=config, set_=None,
                 benchmark=["inspect:tasks/mine.py@graded"], persona="none", suite=False, sensitivity=False,
                 list_=False)
    assert [b.id for b in load_results(tmp_path / "r2.json").benchmarks] == ["inspect:graded"]


def test_traitrl_persist_takes_the_configs_benchmarks_and_their_inputs(tasks, tmp_path, monkeypatch):
    from traitrl.commands import persist
    from traitrl.experiments import stage
    from traitrl.persistence.personas import load_personas

    spec = "inspect:tasks/mine.py@arithmetic"
    cfg = load_config(None, [f"evals.benchmarks=[{spec}]", f"persistence.prompting.persona_dir={REPO}/configs/personas",
                             f"persistence.finetune.file={REPO}/configs/real/data/attack/bad-medical-advice.jsonl"])
    pinned = load_suite([spec]).pinned
    prompting = persist.benchmark_inputs(cfg, "prompting", cfg.evals.benchmarks)
    assert prompting == {"benchmarks": pinned,
                         "personas": load_personas(REPO / "configs" / "personas").model_dump(mode="json")}
    finetune = persist.benchmark_inputs(cfg, "finetune", cfg.evals.benchmarks)
    assert finetune["benchmarks"] == pinned and len(finetune["attack_sha256"]) == 64
    assert persist.benchmark_inputs(cfg, "prompting", []) == {}  # no benchmarks: the world suite
    bare = load_config(None, [f"evals.benchmarks=[{spec}]"])
    with pytest.raises(UserError, match=r"persistence\.prompting\.persona_dir: .*--set evals\.benchmarks=\[\]"):
        persist.benchmark_inputs(bare, "prompting", bare.evals.benchmarks)
    with pytest.raises(UserError, match=r"persistence\.finetune\.file"):
        persist.benchmark_inputs(bare, "finetune", bare.evals.benchmarks)

    # the command passes them to the stage: the config's list, or --benchmark instead
    from tests.helpers.tiny_model import save_tiny_llama

    model = save_tiny_llama(tmp_path / "m")
    config = tmp_path / "c.yaml"
    config.write_text(cfg.to_yaml())
    seen: list[dict] = []

    class Done:
        summary = "summary"

    monkeypatch.setattr(stage, "call", lambda fn, cfg, root, **inputs: seen.append(inputs) or Done())
    assert persist._run(None, "prompting", [str(model)], config, None, tmp_path / "p1") == "summary"
    assert seen[-1]["benchmarks"] == pinned and "personas" in seen[-1]
    other = "inspect:tasks/mine.py@graded"
    persist._run(None, "finetune", [str(model)], config, None, tmp_path / "p2", [other])
    assert seen[-1]["benchmarks"] == load_suite([other]).pinned and "attack_sha256" in seen[-1]
