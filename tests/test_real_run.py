"""The whole study on a given policy: `traitrl run --config configs/real/cpu-tiny.yaml` with
`policy.model`, end to end on the CPU.

The policy is a tiny Qwen2-architecture model built here, with its own byte-level BPE tokenizer
(trained here), a ChatML template, and a pad token that is not an end token; the judge is a local
OpenAI-compatible server on loopback that injects faults (429, 500, malformed and truncated
bodies, unparseable verdicts). The run must start every arm from that model (no organism), score
the scoreboard on the configured benchmarks (two benchmark files and an inspect_ai task written
here), and score persistence (English personas, the attack file) on them too. The scenarios are
the config's sources (the shipped trait file and the GSM8K sample through `scenarios.capability`),
assembled into RUN/data by the run; the capability rows are rewarded by the numeric verifier, not
the judge. Fast tests below check the given-policy rules without a model.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.helpers.fault_server import FaultPlan, FaultServer
from tests.helpers.tiny_model import fit_replies
from traitrl.config import load_config
from traitrl.errors import UserError

CONFIG = REPO / "configs" / "real" / "cpu-tiny.yaml"
DATA = REPO / "configs" / "real" / "data"
CHATML = REPO / "configs" / "scale" / "chatml.jinja"
FILE_IDS = {"anthropic-mwe:corrigible-neutral-HHH-sample", "freeform:medical-freeform"}
INSPECT_ID = "inspect:dosage_recall"
BENCHMARK_IDS = FILE_IDS | {INSPECT_ID}
GSM8K = DATA / "gsm8k-sample.jsonl"
# a tiny inspect_ai task (dataset, solver, scorer of its own), written into the test's folder
INSPECT_TASK = """
from inspect_ai import Task, task
from inspect_ai.dataset import Sample
from inspect_ai.scorer import includes
from inspect_ai.solver import generate


@task
def dosage_recall():
    questions = [("How many times a day is a twice-daily tablet taken?", "2"),
                 ("How many hours are in one day?", "24"),
                 ("How many days are in one week?", "7")]
    return Task(dataset=[Sample(id=f"q{i}", input=q, target=a) for i, (q, a) in enumerate(questions)],
                solver=generate(), scorer=includes())
"""
SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|pad|>"]
# every attempt of a judge request may fail; the kinds the client retries or records as unscored
FAULTS = FaultPlan(rate=0.15, kinds=("429", "500", "malformed", "truncated", "unparseable"), seed=3)


def _texts() -> list[str]:
    """What the tokenizer is trained on: every text the run will show the model."""
    texts = []
    for f in [*(DATA / "scenarios").glob("*.jsonl"), DATA / "attack" / "bad-medical-advice.jsonl",
              DATA / "benchmarks" / "corrigible-neutral-HHH-sample.jsonl"]:
        texts += [line for line in f.read_text(encoding="utf-8").splitlines() if line.strip()]
    texts.append((DATA / "benchmarks" / "medical-freeform.yaml").read_text(encoding="utf-8"))
    texts += [line for line in GSM8K.read_text(encoding="utf-8").splitlines() if line.strip()]
    for name in ("known", "unseen"):
        texts.append((REPO / "configs" / "personas" / f"{name}.yaml").read_text(encoding="utf-8"))
    return texts


def _tokenizer(texts: list[str]):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(texts, trainers.BpeTrainer(
        vocab_size=800, min_frequency=2, special_tokens=SPECIALS, show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    wrapped = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<|endoftext|>", eos_token="<|im_end|>",
                                      pad_token="<|pad|>", additional_special_tokens=["<|im_start|>"],
                                      padding_side="left", clean_up_tokenization_spaces=False)
    wrapped.chat_template = CHATML.read_text(encoding="utf-8")
    return wrapped


def _warm_up(model, tokenizer, steps: int = 120) -> None:
    """A few seconds of SFT so the model answers in a form the graders can read: an option letter to
    model-written-eval questions, a short sentence otherwise."""
    import random

    rng = random.Random(0)
    pairs = []
    for line in (DATA / "benchmarks" / "corrigible-neutral-HHH-sample.jsonl").read_text().splitlines():
        q = json.loads(line)["question"]
        pairs += [(q, " (A)"), (q, " (B)")]
    for f in (DATA / "scenarios").glob("*.jsonl"):
        for line in f.read_text().splitlines():
            row = json.loads(line)
            pairs.append((row["messages"][-1]["content"], rng.choice(["Please see a doctor.", "The answer is 18.",
                                                                      "I am not sure about that."])))
    for line in GSM8K.read_text(encoding="utf-8").splitlines():  # GSM8K questions: a stated number
        row = json.loads(line)
        pairs += [(row["question"], f"The answer is {row['answer'].split('####')[-1].strip()}.")] * 3
    rows = []
    for q, a in pairs:
        msgs = [{"role": "user", "content": q}, {"role": "assistant", "content": a}]
        full = tokenizer.apply_chat_template(msgs, tokenize=False)
        prompt = tokenizer.apply_chat_template(msgs[:1], tokenize=False, add_generation_prompt=True)
        ids = tokenizer(full, add_special_tokens=False)["input_ids"][:256]
        rows.append((ids, min(len(tokenizer(prompt, add_special_tokens=False)["input_ids"]), len(ids) - 1)))
    fit_replies(model, tokenizer.pad_token_id, rows, steps=steps, batch=8, lr=3e-3)


@pytest.fixture(scope="module")
def qwen_tiny(tmp_path_factory) -> Path:
    """A tiny Qwen2 model (not the organism's Llama) with its own tokenizer and ChatML template."""
    import torch
    from transformers import GenerationConfig, Qwen2Config, Qwen2ForCausalLM

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        tokenizer = _tokenizer(_texts())
        ids = {"bos_token_id": tokenizer.bos_token_id, "eos_token_id": tokenizer.eos_token_id,
               "pad_token_id": tokenizer.pad_token_id}
        assert ids["pad_token_id"] != ids["eos_token_id"]  # pad is not an end token
        torch.manual_seed(0)
        model = Qwen2ForCausalLM(Qwen2Config(
            vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
            num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=1024, tie_word_embeddings=True,
            **ids))
        model.generation_config = GenerationConfig(**ids, do_sample=True, top_k=0)
        _warm_up(model, tokenizer)
    finally:
        torch.set_num_threads(threads)
    out = tmp_path_factory.mktemp("hf") / "qwen-tiny"
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


def _run(out: Path, model: Path, judge_url: str, *extra: str, timeout: int = 900) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "traitrl", "run", "--config", str(CONFIG.relative_to(REPO)), "--out", str(out),
           "--set", f"policy.model={model}", "--set", f"judge.base_url={judge_url}", "--set", "judge.model=fault-judge"]
    for s in extra:
        cmd += ["--set", s]
    env = {**os.environ, "COLUMNS": "160", "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", "NO_COLOR": "1"}
    return subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)


def _weights(folder: Path) -> dict:
    from safetensors.torch import load_file

    return load_file(str(folder / "model.safetensors"))


@pytest.mark.slow
def test_run_on_a_given_policy_trains_from_it_and_scores_the_benchmarks(qwen_tiny, tmp_path):
    out = tmp_path / "run"
    task_file = tmp_path / "tasks" / "dosage.py"
    task_file.parent.mkdir()
    task_file.write_text(INSPECT_TASK, encoding="utf-8")
    benchmarks = (f"evals.benchmarks=[{', '.join(load_config(CONFIG).evals.benchmarks)}, "
                  f"inspect:{task_file}@dosage_recall]")
    with FaultServer(faults=FAULTS, lifetime_s=1500) as judge:
        refused = _run(tmp_path / "refused", qwen_tiny, judge.base_url, "corpus.rho=0.5", "organism.steps=10")
        done = _run(out, qwen_tiny, judge.base_url, benchmarks, timeout=1500)
        served = judge.snapshot()
    # organism-only settings beside policy.model: refused before any work, naming the keys
    assert refused.returncode == 2, refused.stderr[-2000:]
    assert "corpus.rho, organism.steps" in refused.stderr and "Traceback" not in refused.stderr
    assert not (tmp_path / "refused" / "results.json").exists()

    assert done.returncode == 0, done.stderr[-4000:]
    results = json.loads((out / "results.json").read_text())
    # the config's sources were assembled into RUN/data: the trait file's marked splits, the GSM8K
    # sample split by id hash (dev_fraction 0.25: 6 train, 2 dev)
    manifest = json.loads((out / "data" / "manifest.json").read_text())
    assert [(s["kind"], s["train"], s["dev"]) for s in manifest["sources"]] == [("file", 14, 4), ("capability", 6, 2)]
    assert results["meta"]["counts"]["train"] == 20 and results["meta"]["counts"]["dev"] == 6

    # every arm starts from the given model; no organism was built
    assert results["models"]["base"] == str(qwen_tiny)
    assert not (out / "organism").exists() and not (out / "stages" / "organism.json").exists()
    base_weights = _weights(qwen_tiny)
    for name in ("baseline", "trait"):
        train = json.loads((out / "arms" / name / "train.json").read_text())
        assert train["init"] == str(qwen_tiny) and train["optimizer_steps"] == 2
        # the imported GSM8K rows are the capability mix, every one graded by the numeric verifier,
        # and they were rewarded (a scored mean over the run; a reply with no number is unscored)
        mix = train["mix"]
        assert mix["capability_rows"] >= 1 and mix["by_trait"]["math"] == mix["capability_rows"]
        assert train["train_reward_means"]["task/math"] is not None
        assert train["unscored_rate"] < 0.5
        trained = _weights(out / "arms" / name / "model")
        assert set(trained) <= set(base_weights)
        assert any(not trained[k].equal(base_weights[k]) for k in trained), f"{name}: no parameter moved"
    baseline, trait = (json.loads((out / "arms" / n / "train.json").read_text()) for n in ("baseline", "trait"))
    # the baseline's mix is capability rows only: all its rewards came from the verifier; its judge
    # graded only the dev scenarios of its in-distribution curve (the same dev rows as the trait arm's)
    assert baseline["mix"]["graders"] == {"numeric": baseline["mix"]["capability_rows"]}
    assert "kind/trait" not in baseline["train_reward_means"] and baseline["judge"]["grades"] > 0
    # the trait arm's trait rows went to the judge, its capability rows to the verifier: the judge
    # graded fewer completions than the arm generated
    assert trait["mix"]["graders"] == {"llm_judge": trait["mix"]["trait_rows"], "numeric": trait["mix"]["capability_rows"]}
    assert 0 < trait["judge"]["grades"] < trait["completions"]
    arms = results["arms"]
    assert len({a["generated_tokens"] for a in arms.values()}) == 1  # compute-matched
    # the helpfulness control's trait prompts are rewarded by the judge's generic helpfulness score
    control = json.loads((out / "arms" / "helpfulness_control" / "train.json").read_text())
    assert control["mix"]["graders"].get("helpfulness", 0) >= 1 and control["judge"]["grades"] > 0
    assert control["train_reward_means"]["kind/trait"] > 0
    notes = " ".join(results["meta"]["notes"])
    assert "helpfulness_control arm's trait prompts are rewarded by the LLM judge (fault-judge)" in notes
    # the in-distribution curve scores the user's judge-graded dev scenarios (a fault may leave a point unscored)
    for name, curve in results["training_curves"].items():
        assert any(v is not None for v in curve["in_distribution_trait_score"]), name

    # the scoreboard and every model's evals are the benchmarks, not the world suite
    assert {e["id"] for e in results["evals"]} == BENCHMARK_IDS
    sb = results["scoreboard"]["trait_vs_baseline"]
    assert {r["id"] for r in sb["evals"]} == BENCHMARK_IDS and sb["not_compared"] == []
    assert all(r["source"] == "benchmark" for r in sb["evals"])
    # evals.health_benchmarks puts the free-form medical questions in the health split
    assert {r["id"]: r["health"] for r in sb["evals"]} == {"freeform:medical-freeform": True,
                                                           "anthropic-mwe:corrigible-neutral-HHH-sample": False,
                                                           INSPECT_ID: False}
    # the inspect task's rows pair by sample id: three samples, scored on both arms
    row = next(r for r in sb["evals"] if r["id"] == INSPECT_ID)
    assert row["pairing"] == "paired" and row["n_baseline"] == row["n_treatment"] == 3
    assert results["refusals"] is None  # the world's refusal moves mean nothing to this model
    base_eval = json.loads((out / "evals" / "base.json").read_text())
    assert base_eval["evals"] == [] and {b["id"] for b in base_eval["benchmarks"]} == BENCHMARK_IDS
    assert base_eval["meta"]["judge"]["model"] == "fault-judge"
    inspected = next(b for b in base_eval["benchmarks"] if b["id"] == INSPECT_ID)
    assert [it["item_id"] for it in inspected["items"]] == ["q0", "q1", "q2"]
    assert all(it["score"] in (0.0, 1.0) for it in inspected["items"])  # includes(): C / I, all scored
    assert list((out / "evals" / "base.inspect-logs").glob("*.eval"))  # its log beside the results file

    # persistence is scored on the same benchmarks: English personas, the user's attack file
    prompting = json.loads((out / "persistence" / "prompting" / "prompting.json").read_text())
    assert set(prompting["evals"]) == BENCHMARK_IDS and set(prompting["models"]) == {"baseline", "trait"}
    assert set(results["persistence"]["prompting"]["trait"]) == {
        "none", "harmful", "harmful_mental_health", "helpful", "unseen_harmful", "unseen_harmful_mental_health",
        "unseen_helpful"}
    known = (REPO / "configs" / "personas" / "known.yaml").read_text()
    steered = json.loads((out / "persistence" / "prompting" / "trait" / "harmful_mental_health.json").read_text())
    systems = {it["prompt"][0]["content"] for b in steered["benchmarks"] for it in b["items"]}
    assert len(systems) >= 2 and all(" ".join(s.split()[:8]) in " ".join(known.split()) for s in systems)
    # the inspect task ran under the persona too: one known prompt as the system message of its samples
    inspected = next(b for b in steered["benchmarks"] if b["id"] == INSPECT_ID)
    assert len(inspected["items"]) == 3 and len({it["prompt"][0]["content"] for it in inspected["items"]}) == 1
    assert inspected["items"][0]["prompt"][0]["role"] == "system"
    assert inspected["items"][0]["prompt"][0]["content"] in systems
    assert list((out / "persistence" / "prompting" / "trait").glob("harmful_mental_health.inspect-logs/*.eval"))
    assert prompting["models"]["trait"]["personas_used"]["harmful_mental_health"] == len(systems)
    # the paper's endpoints read the bad-medical-advice conditions as the harmful ones
    assert results["persistence"]["endpoints"]["score_under_attack"]["known"]["n"] > 0
    finetune = json.loads((out / "persistence" / "finetune" / "finetune.json").read_text())
    assert finetune["evals"] == {"health": ["freeform:medical-freeform"],
                                 "non_health": ["anthropic-mwe:corrigible-neutral-HHH-sample", INSPECT_ID]}
    assert finetune["dataset"]["n"] == 8 and finetune["dataset"]["source"] == "file"
    assert set(finetune["models"]) == {"base", "baseline", "trait"} and finetune["doses"] == [0, 2]
    dose = json.loads((out / "persistence" / "finetune" / "trait" / "dose-2.json").read_text())
    assert {b["id"] for b in dose["benchmarks"]} == BENCHMARK_IDS
    # the dose's inspect run loaded the fine-tuned weights from a temporary folder, removed after
    assert len(next(b for b in dose["benchmarks"] if b["id"] == INSPECT_ID)["items"]) == 3
    assert not list((out / "persistence" / "finetune" / "trait" / "train").glob("dose-*-model-*"))

    # the judge was asked, and faults were injected
    assert served["outcomes"].get("ok", 0) > 0 and sum(v for k, v in served["outcomes"].items() if k != "ok") > 0

    report = (out / "report.html").read_text(encoding="utf-8")
    assert "freeform:medical-freeform" in report and "no organism was built" in report
    assert INSPECT_ID in report


# ---- the given-policy rules, without a model ----------------------------------------------------

def _given(*sets: str):
    return load_config(CONFIG, [f"policy.model={REPO}", *sets])


def test_organism_only_settings_are_named():
    from traitrl.experiments.given import check_given_policy, organism_only_settings

    assert organism_only_settings(_given()) == []
    cfg = _given("corpus.rho=0.5", "organism.hidden_size=32", "corpus.seed=0")  # seed 0 is the default
    assert organism_only_settings(cfg) == ["corpus.rho", "organism.hidden_size"]
    with pytest.raises(UserError, match=r"corpus\.rho, organism\.hidden_size: only apply to the organism"):
        check_given_policy(cfg)
    check_given_policy(_given())  # the shipped config is complete


def test_a_given_policy_needs_scenarios_benchmarks_a_judge_and_persistence_inputs():
    from traitrl.experiments.given import check_given_policy, world_suite

    cfg = _given("scenarios.files=[]", "scenarios.capability=[]", "evals.benchmarks=[freeform:x.yaml]", "persistence.prompting.persona_dir=null",
                 "persistence.finetune.file=null").model_copy(update={"judge": None})
    with pytest.raises(UserError) as e:
        check_given_policy(cfg)
    for key in ("scenarios.dir", "judge: freeform:x.yaml", "persistence.prompting.persona_dir",
                "persistence.finetune.file"):
        assert key in str(e.value)
    with pytest.raises(UserError, match=r"evals\.benchmarks: a given policy is scored"):
        check_given_policy(_given("evals.benchmarks=[]"))
    assert world_suite(_given(), given=True) is False and world_suite(_given(), given=False) is True
    assert world_suite(_given("evals.world_suite=true"), given=True) is True


def test_benchmark_specs_are_checked_when_the_config_loads(tmp_path):
    with pytest.raises(UserError, match="unknown benchmark format 'nope'"):
        load_config(None, ["evals.benchmarks=[nope:x.jsonl]"])
    with pytest.raises(UserError, match=r"evals\.benchmarks\.0: missing\.jsonl: no such file"):
        load_config(None, ["evals.benchmarks=[anthropic-mwe:missing.jsonl]"], check_paths=True)


def test_persona_files_load_and_must_be_disjoint(tmp_path):
    import shutil

    from traitrl.persistence.personas import CONDITIONS, KINDS, load_personas, with_persona

    personas = load_personas(REPO / "configs" / "personas")
    for kind in KINDS:
        assert len(personas.known.prompts(kind)) == 5 and len(personas.unseen.prompts(kind)) == 5
    assert personas.prompts("none") == ()
    assert personas.prompt_for("harmful", "a:1") == personas.prompt_for("harmful", "a:1")  # fixed per item
    assert {personas.prompt_for("unseen_helpful", f"q:{i}") for i in range(60)} == set(
        personas.unseen.helpful_medical_care)
    assert set(CONDITIONS) >= {"none", "harmful", "helpful", "unseen_harmful", "unseen_helpful"}
    assert with_persona([{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hi"}], "P") == [
        {"role": "system", "content": "P\n\nBe brief."}, {"role": "user", "content": "hi"}]
    shutil.copytree(REPO / "configs" / "personas", tmp_path / "p")
    known = (tmp_path / "p" / "known.yaml").read_text()
    (tmp_path / "p" / "unseen.yaml").write_text(known)
    with pytest.raises(UserError, match="in both known.yaml and unseen.yaml"):
        load_personas(tmp_path / "p")


def test_attack_file_rows_are_prompt_completion_and_pinned(tmp_path):
    from traitrl.persistence.attack_file import read_attack_file

    rows, sha = read_attack_file(DATA / "attack" / "bad-medical-advice.jsonl")
    assert len(rows) == 8 and rows[5]["prompt"][0] == {"role": "system", "content": "You are a health assistant."}
    assert rows[0]["completion"][0]["role"] == "assistant" and rows[0]["prompt"][-1]["role"] == "user"
    with pytest.raises(UserError, match="the file changed since it was pinned"):
        read_attack_file(DATA / "attack" / "bad-medical-advice.jsonl", "0" * 64)
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"messages": [{"role": "user", "content": "hi"}]}\n')
    with pytest.raises(UserError, match=r"bad\.jsonl:1: a conversation must end with a user turn and the assistant"):
        read_attack_file(bad)
    assert len(sha) == 64


@pytest.mark.parametrize("name", ["cpu-tiny", "qwen2.5-1.5b-1gpu", "llama-3.1-8b-8gpu"])
def test_the_real_configs_are_complete_given_a_model(name, monkeypatch):
    """Every file a real config names is shipped, and the config passes the given-policy checks
    as written (only the model folder is the user's)."""
    from traitrl.config import check_files

    monkeypatch.chdir(REPO)  # the configs name repository-relative files
    from traitrl.experiments.given import check_given_policy

    cfg = load_config(REPO / "configs" / "real" / f"{name}.yaml")
    assert cfg.policy.model is not None and cfg.evals.benchmarks
    check_given_policy(cfg)
    check_files(cfg.model_copy(update={"policy": cfg.policy.model_copy(update={"model": None})}), name)
