"""Compute matching with a Qwen-style tokenizer, whose pad `<|endoftext|>` is one of its end tokens:
every rollout batch still decodes max_completion_length tokens, replies still end at their end
token, and two arms with different data generate the same number of tokens."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from tests.helpers.tiny_qwen import build_tiny_qwen  # noqa: E402
from traitrl.config import load_config  # noqa: E402
from traitrl.scenarios.io import write_scenarios  # noqa: E402
from traitrl.scenarios.record import Scenario  # noqa: E402
from traitrl.train.record import token_match  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::FutureWarning", "ignore::UserWarning")
STEPS, BATCH, LENGTH = 2, 8, 16
RUN = [f"steps={STEPS}", "checkpoint_every=2", f"per_device_batch={BATCH}", "num_generations=4",
       f"max_completion_length={LENGTH}", "learning_rate=1e-2", "threads=1", "max_unscored_rate=1"]
REWARD = "tests.helpers.user_rewards:length_reward"


def _row(i: int, split: str, trait: str) -> Scenario:
    return Scenario.model_validate({
        "id": f"{split}-{trait}-{i}", "split": split, "domain": "education", "trait": trait, "grader": REWARD,
        "messages": [{"role": "user", "content": f"question {i}: what is {i} plus {i + 3}?"}],
        "rubric": [{"id": "ok", "description": "a short reply", "points": 1}]})


@pytest.fixture(scope="module")
def setup(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("match")
    model = build_tiny_qwen(root / "model", eos_bias=0.2)
    rows = [_row(i, "train", "verifiable") for i in range(8)] + [_row(i, "train", "truthfulness") for i in range(8)]
    write_scenarios(root / "data" / "train.jsonl", rows)
    write_scenarios(root / "data" / "dev.jsonl", [_row(0, "dev", "verifiable")])
    return model, root / "data"


class RolloutWidths:
    """Records how many tokens each of TRL's rollout `generate` calls decoded."""

    def __init__(self):
        from transformers import TrainerCallback

        widths = self.widths = []

        class Hook(TrainerCallback):
            def on_train_begin(self, args, state, control, model=None, **kw):
                plain = model.generate

                def generate(*a, generation_config=None, **k):
                    out = plain(*a, generation_config=generation_config, **k)
                    widths.append(out.shape[1] - k["input_ids"].shape[1])
                    return out

                model.generate = generate

        self.callback = Hook()


def test_the_tokenizer_pads_with_an_end_token(setup):
    from transformers import AutoTokenizer, GenerationConfig

    model, _ = setup
    tok = AutoTokenizer.from_pretrained(model)
    eos = GenerationConfig.from_pretrained(model).eos_token_id
    assert tok.pad_token == "<|endoftext|>" and tok.pad_token_id in eos and tok.eos_token_id in eos


def test_arms_decode_the_same_tokens_with_an_eos_padded_tokenizer(setup, tmp_path):
    from transformers import GenerationConfig

    from traitrl.train.grpo import train

    model, data = setup
    cfg = load_config("configs/smoke.yaml", [f"train.{a}" for a in RUN])
    records, widths = {}, {}
    for arm in ("baseline", "trait"):
        hook = RolloutWidths()
        records[arm] = train(cfg, model, tmp_path / arm, arm=arm, scenarios_dir=data, show_progress=False,
                             callbacks=[hook.callback])
        widths[arm] = hook.widths
    base, trait = records["baseline"], records["trait"]
    assert trait.mix.trait_rows > 0 == base.mix.trait_rows  # the arms differ in their data
    for arm, rec in records.items():
        assert widths[arm] == [LENGTH] * STEPS, arm  # rollouts ran past the end tokens
        assert rec.fixed_length_rollouts and rec.generated_tokens == STEPS * BATCH * LENGTH
        assert 0 < rec.completion_tokens < rec.generated_tokens  # replies still end at <|endoftext|>
    # the trained model still stops at its own end tokens
    assert GenerationConfig.from_pretrained(tmp_path / "trait" / "model").eos_token_id == \
        GenerationConfig.from_pretrained(model).eos_token_id
    match = token_match({arm: (r.generated_tokens, r.fixed_length_rollouts) for arm, r in records.items()})
    assert match.equal and match.gap == 0.0 and match.note is None


def test_a_gap_between_arms_is_reported():
    match = token_match({"baseline": (408, False), "trait": (400, False)})
    assert not match.equal and match.gap == pytest.approx(8 / 408)
    assert match.note == ("generated tokens differ between arms by 1.96 % (baseline 408, trait 400); "
                          "rollouts were not fixed-length for baseline, trait (vLLM generation, or "
                          "train.fixed_length_rollouts false)")
