"""The organism's tokenizer: a byte-level BPE trained on the corpus, with a chat template.

Byte-level BPE never meets an unknown character, so anything a user or an attack types can be
encoded. The tokenizer is wrapped as a `transformers.PreTrainedTokenizerFast`, so the saved
folder works with `AutoTokenizer`, TRL and `transformers serve` without traitrl installed.

Chat format, one special token per role and one end-of-turn token (which is also `eos`, so
`model.generate` and TRL stop at the end of an assistant turn)::

    <|bos|><|system|>...<|end|><|user|>...<|end|><|assistant|>...<|end|>

No newlines or spaces around the markers: they cost tokens and the model gains nothing from them.
The template wraps each assistant turn (content and `<|end|>`) in `{% generation %}` markers,
which `apply_chat_template(..., return_assistant_tokens_mask=True)` and TRL's
`assistant_only_loss` need.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerFast

PAD = "<|pad|>"
BOS = "<|bos|>"
END = "<|end|>"
ROLE_TOKENS = {"system": "<|system|>", "user": "<|user|>", "assistant": "<|assistant|>"}
SPECIAL_TOKENS = [PAD, BOS, END, *ROLE_TOKENS.values()]

CHAT_TEMPLATE = (
    "{{ bos_token }}"
    "{% for message in messages %}"
    "{% if message['role'] not in ['system', 'user', 'assistant'] %}"
    "{{ raise_exception('unsupported role: ' + message['role']) }}"
    "{% endif %}"
    "{{ '<|' + message['role'] + '|>' }}"
    "{% if message['role'] == 'assistant' %}"
    "{% generation %}{{ message['content'] }}{{ eos_token }}{% endgeneration %}"
    "{% else %}"
    "{{ message['content'] }}{{ eos_token }}"
    "{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>{% endif %}"
)


def record_texts(records: Iterable[dict]) -> Iterator[str]:
    """Every piece of text in corpus records (message contents and documents), for BPE training."""
    for r in records:
        if "messages" in r:
            for m in r["messages"]:
                yield m["content"]
        else:
            yield r["text"]


def train_tokenizer(texts: Iterable[str], vocab_size: int) -> PreTrainedTokenizerFast:
    """Train a byte-level BPE of at most `vocab_size` tokens (specials included) on `texts`.

    A small corpus may support fewer merges than asked; use `len(tokenizer)` for the model's
    embedding size, never the configured number.
    """
    tok = Tokenizer(models.BPE())
    # add_prefix_space=False: a reply's first word is encoded as written, as at generation time
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=2,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer)
    return wrap_tokenizer(tok)


def wrap_tokenizer(tok: Tokenizer) -> PreTrainedTokenizerFast:
    """Wrap a trained `tokenizers.Tokenizer` with the special tokens and the chat template."""
    wrapped = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token=BOS,
        eos_token=END,
        pad_token=PAD,
        additional_special_tokens=list(ROLE_TOKENS.values()),
        padding_side="left",  # generation appends to the right, so prompts line up on the left
        model_max_length=1 << 30,
        clean_up_tokenization_spaces=False,
    )
    wrapped.chat_template = CHAT_TEMPLATE
    return wrapped
