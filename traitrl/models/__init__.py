"""Policies in Hugging Face format: the organism's tokenizer and tiny Llama, pretraining, the
cached build, saving / loading, and batched generation helpers."""

# OMP_WAIT_POLICY is set in traitrl/__init__.py, before torch is first imported.
from traitrl.models.build import BUILD_VERSION, build_hash, build_organism, read_build
from traitrl.models.generation import continuation_logprobs, generate, option_logprobs
from traitrl.models.organism import count_parameters, load_model, new_model, save_model
from traitrl.models.tokenizer import CHAT_TEMPLATE, train_tokenizer

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
