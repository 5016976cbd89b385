"""`build_organism`: corpus -> tokenizer -> tiny Llama -> pretraining -> a model folder, cached.

The folder is keyed by a hash of the config sections that decide the organism (world, corpus,
organism) and the source of the code that builds it (the world and the model code), so a code
change rebuilds with nothing to bump by hand.
`build.json` is written last and the folder is moved into place only when complete, so a killed
build never looks finished and the next call starts over. It records content digests of the
corpus and of the weights, and the machine, so two builds of one key can be compared byte for
byte after the fact (a 2,000-step build can differ where its key does not).
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch

from traitrl.atomic import write_json
from traitrl.config import Config
from traitrl.console import err_console
from traitrl.errors import UserError
from traitrl.fingerprint import digest, file_fingerprint
from traitrl.models.organism import count_parameters, new_model, save_model
from traitrl.models.pretrain import pretrain
from traitrl.models.tokenizer import record_texts, train_tokenizer

BUILD_FILE = "build.json"
HASH_SECTIONS = ("world", "corpus", "organism")


def build_hash(config: Config) -> str:
    """What a build depends on (without a stage key): the deciding config sections and the code."""
    from traitrl.fingerprint import code_fingerprint

    return digest([code_fingerprint(p) for p in ("traitrl.world", "traitrl.models", "traitrl.taxonomy")],
                  config.hash(*HASH_SECTIONS))


def read_build(out_dir: str | os.PathLike[str]) -> dict | None:
    """The build record of a complete organism folder, or None."""
    path = Path(out_dir) / BUILD_FILE
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def build_organism(config: Config, out_dir: str | os.PathLike[str], corpus_fn: Callable[[], list[dict]],
                   show_progress: bool = True, key: str | None = None) -> Path:
    """Build the organism into `out_dir` unless a build with the same key is already there.

    `key` is the organism stage's derived key (config sections and code); without one, the
    config sections and the code's source make it (`build_hash`).
    `corpus_fn` is called only when a build is needed (sampling the corpus takes time too).
    A folder holding something other than an organism build is never overwritten.
    """
    out = Path(out_dir)
    key = key or build_hash(config)
    existing = read_build(out)
    if existing is not None and existing.get("hash") == key:
        return out
    if out.exists() and existing is None and any(out.iterdir()):
        raise UserError(f"{out}: exists and is not an organism build (no {BUILD_FILE}); refusing to overwrite it")

    oc = config.organism
    start = time.perf_counter()
    out.parent.mkdir(parents=True, exist_ok=True)
    _remove_abandoned(out)
    tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.building-{os.getpid()}-"))
    tmp.chmod(0o755)  # mkdtemp makes it private; the finished folder is an ordinary one
    try:
        records = corpus_fn()
        if not records:
            raise UserError("the pretraining corpus is empty")
        tokenizer = train_tokenizer(record_texts(records), oc.vocab_size)
        model = new_model(oc, tokenizer)
        result, packed = pretrain(model, tokenizer, records, oc, show_progress=show_progress)
        save_model(model, tokenizer, tmp)
        write_json(tmp / BUILD_FILE, {
            "hash": key,
            "corpus_digest": digest(records),
            "weights_digest": file_fingerprint(tmp / "model.safetensors"),
            "machine": _machine(),
            "config": config.model_dump(mode="json"),
            "params": count_parameters(model),
            "vocab_size": len(tokenizer),
            "corpus_records": len(records),
            "blocks": int(packed.input_ids.shape[0]),
            "epochs": round(result.steps * oc.batch_size / max(1, packed.input_ids.shape[0]), 3),
            "truncated_examples": packed.n_truncated,
            "padding_fraction": round(packed.padding_fraction, 4),
            "supervised_fraction": round(packed.supervised_fraction, 4),
            "steps": result.steps,
            "tokens_seen": result.tokens_seen,
            "train_s": round(result.wall_s, 2),
            "tokens_per_s": round(result.tokens_per_s, 1),
            "steady_tokens_per_s": round(result.steady_tokens_per_s, 1),
            "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", ""),
            "threads": torch.get_num_threads(),
            "wall_s": round(time.perf_counter() - start, 2),
            "final_loss": result.final_loss,
            "loss_curve": [[s, round(v, 5)] for s, v in result.loss_curve],
        })
        _replace_dir(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if show_progress:
        err_console.print(f"organism built in {time.perf_counter() - start:.0f} s -> {out}")
    return out


def _machine() -> dict[str, str]:
    """What a build ran on: CPU model, architecture, the vector instructions torch's kernels use,
    and the versions of the libraries that compute it (a build's floating point can depend on each;
    only torch is pinned)."""
    from importlib.metadata import version

    cpu = platform.processor()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), cpu)
    except OSError:
        pass
    return {"cpu": cpu, "arch": platform.machine(), "cpu_capability": torch.backends.cpu.get_cpu_capability(),
            "torch": torch.__version__,
            **{lib: version(lib) for lib in ("transformers", "tokenizers", "numpy")}}


def _remove_abandoned(out: Path) -> None:
    """Delete temporary build folders of processes that are gone (killed, so no cleanup ran)."""
    for tmp in out.parent.glob(f".{out.name}.building-*-*"):
        pid = tmp.name.removeprefix(f".{out.name}.building-").split("-")[0]
        if not pid.isdigit():
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            shutil.rmtree(tmp, ignore_errors=True)
        except PermissionError:  # alive, someone else's
            pass


def _replace_dir(src: Path, dst: Path) -> None:
    """Move the finished build into place. An old build is first renamed aside, so `dst` is at
    every moment either absent, the old complete build, or the new complete build."""
    old = None
    if dst.exists():
        old = dst.with_name(f".{dst.name}.old-{os.getpid()}")
        os.replace(dst, old)
    os.replace(src, dst)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
