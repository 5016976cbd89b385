"""The organism: tokenizer and chat template, loss masks, packing, a tiny build, cache, generation."""

from __future__ import annotations

import os
import shutil
import time

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as traitrl.models sets it, before torch loads

import torch  # noqa: E402
import transformers  # noqa: E402

from tests.helpers.standin_corpus import standin_corpus  # noqa: E402
from traitrl.config import load_config  # noqa: E402
from traitrl.errors import UserError  # noqa: E402
from traitrl.models import build_organism, generate, new_model, option_logprobs, read_build  # noqa: E402
from traitrl.models.pretrain import IGNORE, pack, tokenize_records  # noqa: E402
from traitrl.models.tokenizer import record_texts, train_tokenizer  # noqa: E402

TINY = ["hidden_size=48", "num_layers=2", "num_heads=4", "intermediate_size=128", "vocab_size=400",
        "max_length=128", "steps=40", "batch_size=8", "warmup_steps=4", "learning_rate=5e-3"]

TWO_TURNS = [{"role": "user", "content": "What is the load limit?"},
             {"role": "assistant", "content": "It is 80 kN."}]


def tiny_config(*extra: str):
    return load_config("configs/smoke.yaml", [f"organism.{a}" for a in (*TINY, *extra)])


@pytest.fixture(scope="module")
def corpus():
    return standin_corpus(tiny_config(), per_cell=3, per_kind=15, n_documents=40)


@pytest.fixture(scope="module")
def tokenizer(corpus):
    return train_tokenizer(record_texts(corpus), 400)


@pytest.fixture(scope="module")
def built(tmp_path_factory, corpus):
    """One tiny organism shared by the build tests; records how often the corpus was asked for."""
    calls = []
    out = tmp_path_factory.mktemp("organism") / "org"

    def corpus_fn():
        calls.append(1)
        return corpus

    build_organism(tiny_config(), out, corpus_fn, show_progress=False)
    return out, calls


# -- tokenizer and chat template ------------------------------------------------------------------

def test_chat_template_renders_with_generation_prompt(tokenizer):
    conv = [{"role": "system", "content": "Be careful."}, *TWO_TURNS, {"role": "user", "content": "Sure?"}]
    text = tokenizer.apply_chat_template(conv, tokenize=False, add_generation_prompt=True)
    assert text == ("<|bos|><|system|>Be careful.<|end|><|user|>What is the load limit?<|end|>"
                    "<|assistant|>It is 80 kN.<|end|><|user|>Sure?<|end|><|assistant|>")
    assert not tokenizer.apply_chat_template(conv, tokenize=False).endswith("<|assistant|>")
    assert len(tokenizer) <= 400 and tokenizer.padding_side == "left"
    assert tokenizer.eos_token == "<|end|>" and tokenizer.pad_token == "<|pad|>"


def test_template_works_for_trl_assistant_only_loss(tokenizer):
    from trl.chat_template_utils import (
        get_training_chat_template,
        is_chat_template_stop_token_trained,
    )

    assert get_training_chat_template(tokenizer) is None  # already has {% generation %} markers
    assert is_chat_template_stop_token_trained(tokenizer)


def test_labels_mask_everything_but_assistant_turns(tokenizer):
    [ex] = tokenize_records([{"messages": TWO_TURNS}], tokenizer, 1000)
    enc = tokenizer.backend_tokenizer.encode
    user = enc(TWO_TURNS[0]["content"], add_special_tokens=False).ids
    reply = enc(TWO_TURNS[1]["content"], add_special_tokens=False).ids
    t = tokenizer.convert_tokens_to_ids
    bos, u, a, end = t("<|bos|>"), t("<|user|>"), t("<|assistant|>"), t("<|end|>")
    assert ex.input_ids == [bos, u, *user, end, a, *reply, end]
    assert ex.labels == [IGNORE] * (len(user) + 4) + [*reply, end]


def test_documents_train_on_every_token_but_bos(tokenizer):
    [ex] = tokenize_records([{"text": "The load limit of x is 80 kN."}], tokenizer, 1000)
    assert ex.labels == [IGNORE, *ex.input_ids[1:]]


def test_fast_labels_match_the_chat_template(tokenizer, corpus):
    """Our batched tokenisation gives the template's ids and TRL's assistant mask, on the whole corpus."""
    convs = [r for r in corpus if "messages" in r]
    for r, ex in zip(convs, tokenize_records(convs, tokenizer, 10**6), strict=True):
        ref = tokenizer.apply_chat_template(r["messages"], tokenize=True, return_dict=True,
                                            return_assistant_tokens_mask=True)
        assert ex.input_ids == ref["input_ids"]
        assert [lab != IGNORE for lab in ex.labels] == [bool(m) for m in ref["assistant_masks"]]


def test_packing_keeps_examples_whole(tokenizer, corpus):
    examples = tokenize_records(corpus, tokenizer, 128)
    p = pack(examples, 128, tokenizer.pad_token_id)
    assert p.input_ids.shape[1] == 128 and p.padding_fraction < 0.1
    starts = (p.position_ids == 0) & (p.input_ids == tokenizer.bos_token_id)
    assert int(starts.sum()) == len(examples)  # every example begins a segment at position 0
    assert int((p.labels != IGNORE).sum()) == sum(sum(lab != IGNORE for lab in ex.labels) for ex in examples)
    assert all(len(ex.input_ids) <= 128 for ex in examples)


# -- build, cache, reload, generate ---------------------------------------------------------------

def test_build_trains_and_loads_with_plain_transformers(built):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    out, calls = built
    assert calls == [1] and (out / "model.safetensors").is_file()
    info = read_build(out)
    curve = [loss for _, loss in info["loss_curve"]]
    assert info["steps"] == 40 and 50_000 < info["params"] < 500_000
    assert info["final_loss"] < curve[0] - 1.0, curve
    model = AutoModelForCausalLM.from_pretrained(out)
    tok = AutoTokenizer.from_pretrained(out)
    init = new_model(tiny_config().organism, tok)
    moved = [name for name, p in model.state_dict().items() if not torch.equal(p, init.state_dict()[name])]
    assert len(moved) == len(init.state_dict())
    prompt = tok.apply_chat_template([TWO_TURNS[0]], add_generation_prompt=True, return_tensors="pt",
                                     return_dict=True)
    ids = model.generate(**prompt, max_new_tokens=12, do_sample=False)
    assert ids.shape[1] > prompt["input_ids"].shape[1]
    [reply] = generate(model, tok, [[TWO_TURNS[0]]], max_new_tokens=12, temperature=0)
    assert isinstance(reply, str) and "<|" not in reply


def test_cache_hit_is_instant_and_config_change_rebuilds(built, corpus, tmp_path):
    out = shutil.copytree(built[0], tmp_path / "org")
    calls = []

    def corpus_fn():
        calls.append(1)
        return corpus

    t = time.perf_counter()
    assert build_organism(tiny_config(), out, corpus_fn, show_progress=False) == out
    assert calls == [] and time.perf_counter() - t < 1.0
    old = read_build(out)["hash"]
    build_organism(tiny_config("steps=10"), out, corpus_fn, show_progress=False)
    assert calls == [1] and read_build(out)["hash"] != old and read_build(out)["steps"] == 10
    assert [p.name for p in tmp_path.iterdir()] == ["org"]  # no temp or old folders left


def test_build_records_digests_that_identify_its_corpus_and_weights(built, corpus, tmp_path):
    """A rebuild of the same key on the same machine is the same file, and its record says so; a
    different build has other weights and the same corpus digest (the corpus did not change)."""
    from traitrl.fingerprint import file_fingerprint

    first = read_build(built[0])
    assert first["weights_digest"] == file_fingerprint(built[0] / "model.safetensors")
    assert first["machine"]["torch"] == torch.__version__ and first["machine"]["arch"]
    assert first["machine"]["transformers"] == transformers.__version__
    assert first["machine"]["cpu_capability"] == torch.backends.cpu.get_cpu_capability()
    again = build_organism(tiny_config(), tmp_path / "again", lambda: corpus, show_progress=False)
    second = read_build(again)
    assert (again / "model.safetensors").read_bytes() == (built[0] / "model.safetensors").read_bytes()
    assert (second["weights_digest"], second["corpus_digest"]) == (first["weights_digest"], first["corpus_digest"])
    other = read_build(build_organism(tiny_config("steps=10"), tmp_path / "other", lambda: corpus,
                                      show_progress=False))
    assert other["weights_digest"] != first["weights_digest"] and other["corpus_digest"] == first["corpus_digest"]
    fewer = read_build(build_organism(tiny_config(), tmp_path / "fewer", lambda: corpus[:-1], show_progress=False))
    assert fewer["corpus_digest"] != first["corpus_digest"]


def test_failed_build_leaves_nothing_and_foreign_folders_are_kept(tmp_path):
    def broken():
        raise RuntimeError("sampler crashed")

    with pytest.raises(RuntimeError):
        build_organism(tiny_config(), tmp_path / "org", broken, show_progress=False)
    assert list(tmp_path.iterdir()) == []
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    with pytest.raises(UserError, match="not an organism build"):
        build_organism(tiny_config(), tmp_path / "mine", broken, show_progress=False)


def test_batched_generation_and_option_scores_match_unbatched(built):
    from traitrl.models import load_model

    model, tok = load_model(built[0])
    convs = [[TWO_TURNS[0]], [{"role": "system", "content": "Be careful."},
                               {"role": "user", "content": "Tell me the exact notice period for a contract."}]]
    together = generate(model, tok, convs, max_new_tokens=10, temperature=0, batch_size=2)
    assert together == [generate(model, tok, [c], max_new_tokens=10, temperature=0)[0] for c in convs]
    a = generate(model, tok, convs, max_new_tokens=10, temperature=1.0, seed=1)
    assert a == generate(model, tok, convs, max_new_tokens=10, temperature=1.0, seed=1)

    scores = option_logprobs(model, tok, convs[1], ["Yes", "No, it is 4 weeks."])
    prompt = tok.apply_chat_template(convs[1], tokenize=False, add_generation_prompt=True)
    p_ids = tok(prompt, add_special_tokens=False)["input_ids"]
    for option, score in zip(["Yes", "No, it is 4 weeks."], scores, strict=True):
        o_ids = tok(option, add_special_tokens=False)["input_ids"]
        with torch.no_grad():
            logp = torch.log_softmax(model(torch.tensor([p_ids + o_ids])).logits[0], -1)
        expected = sum(float(logp[len(p_ids) - 1 + k, t]) for k, t in enumerate(o_ids))
        assert score == pytest.approx(expected, abs=1e-4)
