"""The one policy loader, the one LoRA setup and the one generate-then-grade path.

Fast tests use a tiny random Llama saved by the test; the fine-tuning attack runs on the smoke
organism (marked slow).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from tests.conftest import REPO
from traitrl.config import LoraOptions, PolicyConfig, load_config
from traitrl.errors import UserError
from traitrl.evals.answers import answer_and_grade
from traitrl.graders.base import Grade

CHATML = REPO / "configs" / "scale" / "chatml.jinja"
# PEFT reads transformers' deprecated `is_gradient_checkpointing`; nothing for traitrl to fix
PROJECTIONS = {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"}  # not lm_head
pytestmark = pytest.mark.filterwarnings("ignore:.*is_gradient_checkpointing:FutureWarning")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    """A randomly initialised two-layer Llama with the organism's tokenizer and chat template."""
    from traitrl.config import OrganismConfig
    from traitrl.models.organism import new_model, save_model
    from traitrl.models.tokenizer import train_tokenizer

    texts = [f"the dose of drug {i} is {i * 5} mg, check with a doctor" for i in range(200)]
    tokenizer = train_tokenizer(texts, 300)
    oc = OrganismConfig(vocab_size=300, hidden_size=32, num_layers=2, num_heads=2, intermediate_size=64, max_length=64)
    return save_model(new_model(oc, tokenizer), tokenizer, tmp_path_factory.mktemp("tiny") / "llama")


# -- device ---------------------------------------------------------------------------------------

def test_device_auto_follows_cuda_and_cuda_without_a_gpu_is_refused(monkeypatch):
    import torch

    from traitrl.models.loader import resolve_device, uses_cuda

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto") == torch.device("cpu") and resolve_device("cpu") == torch.device("cpu")
    assert not uses_cuda(None)
    with pytest.raises(UserError, match="policy.device: cuda"):
        resolve_device("cuda")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_device("auto") == torch.device("cuda") and uses_cuda(PolicyConfig())
    assert not uses_cuda(PolicyConfig(device="cpu"))  # asked for the CPU: trainers get use_cpu


def test_policy_device_is_validated_by_the_config():
    with pytest.raises(UserError, match="policy.device"):
        load_config(None, ["policy.device=tpu"])
    assert load_config(None, []).policy.device == "auto"


# -- loading --------------------------------------------------------------------------------------

def test_loader_applies_dtype_template_threads_and_device(tiny, monkeypatch):
    import torch

    from traitrl.models.loader import Policy, load_model, load_policy

    model, tok = load_model(tiny)
    assert next(model.parameters()).dtype == torch.float32 and not model.training and model.device.type == "cpu"
    before = torch.get_num_threads()
    try:
        model, tok = load_model(tiny, PolicyConfig(dtype="bfloat16", chat_template=str(CHATML), device="cpu"), threads=1)
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)
    assert {p.dtype for p in model.parameters()} == {torch.bfloat16}
    assert tok.chat_template == CHATML.read_text(encoding="utf-8")
    cfg = load_config(None, ["policy.dtype=bfloat16", "evals.threads=0", "evals.sampling.max_new_tokens=3"])
    policy = load_policy(tiny, cfg)
    assert isinstance(policy, Policy) and next(policy.model.parameters()).dtype == torch.bfloat16
    assert policy.sampling.max_new_tokens == 3
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(UserError, match="policy.device: cuda"):
        load_model(tiny, PolicyConfig(device="cuda"))


def test_loader_refuses_folders_that_hold_no_model(tmp_path):
    from traitrl.models.loader import load_model

    with pytest.raises(UserError, match="model folder not found"):
        load_model(tmp_path / "missing")
    with pytest.raises(UserError, match="no config.json"):
        load_model(tmp_path)


def test_an_adapter_folder_loads_as_its_base_with_the_adapter_merged(tiny, tmp_path):
    import torch
    from peft import get_peft_model

    from traitrl.models.loader import load_model
    from traitrl.models.lora import lora_config

    base, tok = load_model(tiny)
    peft = get_peft_model(load_model(tiny)[0], lora_config(LoraOptions(enabled=True, target_modules=["all-linear"])))
    torch.manual_seed(1)
    with torch.no_grad():  # LoRA's B starts at zero (a no-op adapter); give it weight
        for name, p in peft.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.5)
    peft.save_pretrained(tmp_path / "adapter")
    assert not (tmp_path / "adapter" / "config.json").exists()
    merged, merged_tok = load_model(tmp_path / "adapter", base=tiny)
    assert type(merged) is type(base) and merged_tok.get_vocab() == tok.get_vocab()
    ids = torch.tensor([tok("the dose of drug 3 is")["input_ids"]])
    with torch.no_grad():
        want, got, plain = (m(input_ids=ids).logits for m in (peft.eval(), merged, base))
    assert torch.allclose(got, want, atol=1e-5) and not torch.allclose(got, plain, atol=1e-3)
    # without `base`, the base the adapter records is used
    assert json.loads((tmp_path / "adapter" / "adapter_config.json").read_text())["base_model_name_or_path"] == str(tiny)
    again, _ = load_model(tmp_path / "adapter")
    assert all(torch.equal(a, b) for a, b in zip(again.state_dict().values(), merged.state_dict().values(), strict=True))


# -- LoRA -----------------------------------------------------------------------------------------

def test_one_lora_setup_for_grpo_and_sft(tiny):
    from peft import get_peft_model

    from traitrl.config import TrainConfig
    from traitrl.models.loader import load_model
    from traitrl.models.lora import lora_config
    from traitrl.train.grpo import peft_config

    assert lora_config(LoraOptions()) is None
    lo = LoraOptions(enabled=True, r=4, alpha=8, target_modules=["all-linear"])
    cfg = lora_config(lo)
    assert cfg.target_modules == "all-linear" and (cfg.r, cfg.lora_alpha) == (4, 8)
    assert peft_config(TrainConfig(lora=lo)).to_dict() == cfg.to_dict()
    named = lora_config(LoraOptions(enabled=True, target_modules=["q_proj", "v_proj"]))
    assert named.target_modules == {"q_proj", "v_proj"}
    with pytest.raises(UserError, match="all-linear"):
        lora_config(LoraOptions(enabled=True, target_modules=["all-linear", "q_proj"]))
    # all-linear matches every projection of the Llama and not the output head
    wrapped = get_peft_model(load_model(tiny)[0], cfg)
    adapted = {n.split(".")[-1] for n, _ in wrapped.named_modules() if hasattr(_, "lora_A")}
    assert adapted == PROJECTIONS


# -- generate, then grade -------------------------------------------------------------------------

class _Policy:
    """Answers with the conversation's last user message reversed, counting its calls."""

    def __init__(self):
        self.calls: list[int] = []

    def generate(self, conversations):
        self.calls.append(len(conversations))
        return [c[-1]["content"][::-1] for c in conversations]


class _Grader:
    """Scores 1.0 when the rubric's word is in the reply, unscored when the reply is 'x'."""

    def grade(self, response, rubric):
        if response == "x":
            return Grade.unscored("no world sentence found")
        return Grade(value=float(rubric[0] in response))


def test_answer_and_grade_keeps_order_chunks_and_never_turns_unscored_into_zero():
    conv = [[{"role": "user", "content": t}] for t in ("ba", "x", "dc", "fe", "hg")]
    tasks = [(conv[0], ["ab"]), (conv[1], ["x"]), (conv[2], None), (conv[3], ["zz"]), (conv[4], ["gh"])]
    policy, seen = _Policy(), []
    answers = answer_and_grade(policy, tasks, _Grader(), progress=seen.append, chunk=2)
    assert [a.response for a in answers] == ["ab", "x", "cd", "ef", "gh"]
    assert [a.value for a in answers] == [1.0, None, None, 0.0, 1.0]
    assert answers[1].grade.reason == "no world sentence found" and answers[2].grade is None
    assert policy.calls == [2, 2, 1] and seen == [2, 2, 1]
    whole = _Policy()
    assert [a.value for a in answer_and_grade(whole, tasks, _Grader(), chunk=None)] == [1.0, None, None, 0.0, 1.0]
    assert whole.calls == [5]


def test_probe_means_are_over_scored_answers_with_the_unscored_share_beside(monkeypatch):
    from traitrl.evals import probe

    class Alternating:
        """Every other reply cannot be scored; the rest are right."""

        def generate(self, conversations):
            return ["x" if i % 2 else "ok" for i in range(len(conversations))]

    class Grader:
        def __init__(self, world):
            pass

        def grade(self, response, rubric):
            return Grade.unscored("unparsed") if response == "x" else Grade(value=1.0)

    monkeypatch.setattr(probe, "WorldGrader", Grader)
    cfg = load_config(REPO / "configs" / "smoke.yaml", [])
    out = probe.run_probe(cfg, Alternating(), n=24)
    assert out["capability_accuracy"] == 1.0  # counting unscored as 0 would give 0.5
    assert set(out["capability"].values()) == {1.0}
    assert all(math.isclose(v, 0.5, abs_tol=0.05) for v in out["capability_unscored"].values())
    assert out["parse_rate"] == 0.5
    fam = next(iter(out["families"].values()))
    assert fam["none"] in (1.0, None) and set(fam["unscored"]) == set(probe.CONDITIONS)


# -- the fine-tuning attack with LoRA all-linear (persistence honours policy:) ---------------------

@pytest.mark.slow
def test_finetune_attack_with_lora_all_linear(smoke_organism, tmp_path):
    import torch

    from traitrl.models.loader import load_model
    from traitrl.persistence.attack_data import bad_advice_dataset
    from traitrl.persistence.common import folder_policy
    from traitrl.persistence.sft import load_dose, prepare_train_dir, train_doses

    cfg = load_config(smoke_organism / "traitrl.yaml", [
        "persistence.finetune.doses=[0,2]", "persistence.finetune.batch_size=4", "persistence.finetune.dataset_size=16",
        "persistence.finetune.lora.enabled=true", "persistence.finetune.lora.target_modules=[all-linear]",
        "persistence.finetune.learning_rate=0.01"])
    fc = cfg.persistence.finetune
    rows = bad_advice_dataset(cfg)
    train_dir = tmp_path / "train"
    prepare_train_dir(train_dir, "k")
    before = torch.get_num_threads()
    try:
        trained = train_doses(smoke_organism, rows, fc, train_dir, policy=cfg.policy, threads=1)
    finally:
        torch.set_num_threads(before)
    assert trained["steps"] == 2
    assert [s for s, _ in trained["loss"]] == [1, 2] and all(math.isfinite(v) and v > 0 for _, v in trained["loss"])
    adapter = json.loads((train_dir / "checkpoint-2" / "adapter_config.json").read_text())
    assert {m.split(".")[-1] for m in adapter["target_modules"]} == PROJECTIONS  # PEFT resolved all-linear
    base, _ = load_model(smoke_organism)
    merged, _ = load_dose(smoke_organism, train_dir, 2, cfg.policy)
    assert type(merged) is type(base)
    ref = base.state_dict()
    changed = {k.split(".")[-2] for k, v in merged.state_dict().items() if not torch.equal(v, ref[k])}
    assert changed == PROJECTIONS
    # the dose models load with the policy section too (it was ignored before)
    bf16 = cfg.model_copy(update={"policy": cfg.policy.model_copy(update={"dtype": "bfloat16"})})
    merged16, _ = load_dose(smoke_organism, train_dir, 2, bf16.policy)
    assert next(merged16.parameters()).dtype == torch.bfloat16
    assert next(folder_policy(smoke_organism, bf16)().model.parameters()).dtype == torch.bfloat16
