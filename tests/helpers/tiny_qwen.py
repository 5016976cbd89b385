"""A tiny random Qwen2-architecture model with its own byte-level BPE tokenizer and ChatML template,
padded like Qwen2.5-Instruct: the pad token `<|endoftext|>` is one of the end tokens
(generation_config.eos_token_id = [<|im_end|>, <|endoftext|>]).

`eos_bias` makes the model write `<|endoftext|>` often (each step with probability of about
`eos_bias`), so rollouts that stopped at the end token would stop early.
"""

from __future__ import annotations

import math
from pathlib import Path

from tests.conftest import REPO

CHATML = (REPO / "configs" / "scale" / "chatml.jinja").read_text()
SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
TEXTS = [f"question {i}: what is {i} plus {i + 3}? the answer is {2 * i + 3}. a cat sat on a mat." for i in range(300)]


def build_tiny_qwen(folder: Path, *, eos_bias: float = 0.15, seed: int = 0) -> Path:
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast, Qwen2Config, Qwen2ForCausalLM

    torch.manual_seed(seed)
    raw = Tokenizer(models.BPE())
    raw.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    raw.decoder = decoders.ByteLevel()
    raw.train_from_iterator(TEXTS, trainers.BpeTrainer(vocab_size=320, special_tokens=SPECIALS,
                                                       initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    tok = PreTrainedTokenizerFast(tokenizer_object=raw, eos_token="<|im_end|>", pad_token="<|endoftext|>",
                                  chat_template=CHATML)
    end, pad = tok.convert_tokens_to_ids("<|im_end|>"), tok.convert_tokens_to_ids("<|endoftext|>")
    config = Qwen2Config(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=256,
                         tie_word_embeddings=False, bos_token_id=None, eos_token_id=end, pad_token_id=pad)
    model = Qwen2ForCausalLM(config)
    with torch.no_grad():
        # every residual stream points along dimension 0, and only <|endoftext|> reads it: its logit
        # is then about L, with L chosen so that it is sampled with probability ~eos_bias per step
        model.model.embed_tokens.weight[:, 0] = 10.0
        model.lm_head.weight[:, 0] = 0.0
        h0 = 10.0 / math.sqrt((100.0 + (config.hidden_size - 1) * 0.02**2) / config.hidden_size)
        target = math.log(eos_bias / (1 - eos_bias) * len(tok))
        model.lm_head.weight[pad, 0] = target / h0
    model.generation_config.eos_token_id = [end, pad]  # Qwen2.5-Instruct's generation_config.json
    model.generation_config.pad_token_id = pad
    model.generation_config.bos_token_id = None
    model.save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder
