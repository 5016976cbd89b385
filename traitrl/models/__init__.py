"""Policies in Hugging Face format: the organism's tokenizer and tiny Llama, pretraining, the
cached build, saving / loading, and batched generation helpers."""

import os

# OpenMP worker threads that spin while waiting steal the cores their peers need: on the shared
# 2-core machine a training step took ~10x longer with one other busy process (bench_pretrain).
# libgomp reads this once, when torch is first imported, so it must be set before that; an
# explicit setting in the environment wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from traitrl.models.build import BUILD_VERSION, build_hash, build_organism, read_build  # noqa: E402
from traitrl.models.generation import continuation_logprobs, generate, option_logprobs  # noqa: E402
from traitrl.models.organism import count_parameters, load_model, new_model, save_model  # noqa: E402
from traitrl.models.tokenizer import CHAT_TEMPLATE, train_tokenizer  # noqa: E402

__all__ = [
    "BUILD_VERSION",
    "CHAT_TEMPLATE",
    "build_hash",
    "build_organism",
    "continuation_logprobs",
    "count_parameters",
    "generate",
    "load_model",
    "new_model",
    "option_logprobs",
    "read_build",
    "save_model",
    "train_tokenizer",
]
