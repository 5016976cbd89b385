"""Pretraining throughput of the organism, and its model FLOPs utilisation (MFU) on this machine.

For the smoke and default organism sizes we run the real pretraining path (`traitrl.models.
pretrain`: HF Trainer, packed blocks, AdamW, cosine schedule) for a fixed number of steps on a
sample of the real corpus, and report steady-state tokens/s (the first steps, which warm the
allocator, are left out). The configured build time follows as steps x batch x length / rate.

MFU = model FLOP/s / this machine's fp32 matmul rate, measured in the same run with the same
thread count (a large `torch.matmul`, best of several). Model FLOPs per token follow the PaLM
appendix: 6 x N (N = weights used in matmuls; the tied embedding counts once, as the output
head) plus 12 x layers x hidden x context for attention scores and values. Block-diagonal
packing and causality make the real attention work smaller, so this slightly overstates MFU.

The OpenMP wait policy matters more than anything else here when the cores are shared (see
`traitrl/models/__init__.py`); the table header says which one was in effect. Compare with
`OMP_WAIT_POLICY=ACTIVE python bench/bench_pretrain.py`.

Usage: python bench/bench_pretrain.py [--steps 20] [--threads N]
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # what traitrl.models sets; torch reads it on import

import torch  # noqa: E402

from traitrl.config import Config, load_config  # noqa: E402
from traitrl.models.organism import count_parameters, new_model  # noqa: E402
from traitrl.models.pretrain import pretrain  # noqa: E402
from traitrl.models.tokenizer import record_texts, train_tokenizer  # noqa: E402

SIZES = (("smoke", "configs/smoke.yaml"), ("default", "configs/default.yaml"))
BENCH_CONVERSATIONS = 3000  # enough distinct blocks for the steps timed; the rate does not depend on it


def matmul_gflops(threads: int, n: int = 2048, repeats: int = 7) -> float:
    """Best-of fp32 matmul rate in GFLOP/s at `threads` threads."""
    torch.set_num_threads(threads)
    a, b = torch.randn(n, n), torch.randn(n, n)
    for _ in range(2):
        a @ b
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        for _ in range(4):
            a @ b
        best = min(best, (time.perf_counter() - t) / 4)
    return 2 * n**3 / best / 1e9


def flops_per_token(model: torch.nn.Module, context: int) -> float:
    c = model.config
    # the tied embedding is counted once and is used once in a matmul (as the output head)
    return 6 * count_parameters(model) + 12 * c.num_hidden_layers * c.hidden_size * context


def corpus_for(config: Config) -> list[dict]:
    from traitrl.world.corpus import sample_corpus

    small = config.model_copy(update={"corpus": config.corpus.model_copy(update={
        "n_conversations": BENCH_CONVERSATIONS, "n_documents": BENCH_CONVERSATIONS // 10})})
    return sample_corpus(small)


def bench_size(name: str, path: str, steps: int, threads: int | None) -> dict:
    config = load_config(path)
    oc = config.organism
    threads = threads or oc.threads or len(os.sched_getaffinity(0))
    timed = oc.model_copy(update={"steps": steps, "warmup_steps": min(oc.warmup_steps, steps // 4),
                                  "threads": threads})
    records = corpus_for(config)
    tokenizer = train_tokenizer(record_texts(records), oc.vocab_size)
    model = new_model(timed, tokenizer)
    result, _ = pretrain(model, tokenizer, records, timed, show_progress=False)
    rate = result.steady_tokens_per_s
    return {
        "size": name,
        "threads": threads,
        "params": count_parameters(model),
        "shape": f"{oc.hidden_size}x{oc.num_layers}L v{len(tokenizer)}",
        "ms_step": 1000 * oc.batch_size * oc.max_length / rate,
        "tokens_s": rate,
        "gflops": rate * flops_per_token(model, oc.max_length) / 1e9,
        "configured": f"{oc.steps} x {oc.batch_size} x {oc.max_length}",
        "projected_min": oc.steps * oc.batch_size * oc.max_length / rate / 60,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=20, help="optimizer steps timed per size")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch threads for every size (default: each config's organism.threads; 0 = all cores)")
    args = parser.parse_args()
    rows = [bench_size(name, path, args.steps, args.threads) for name, path in SIZES]
    # matmul rate at each thread count used, best of a read before and after: the host may be shared
    peaks = {t: matmul_gflops(t) for t in sorted({r["threads"] for r in rows})}
    print(f"torch {torch.__version__}   OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', '(unset)')}   "
          f"load average {os.getloadavg()[0]:.1f}")
    for t, gf in peaks.items():
        print(f"fp32 matmul rate (2048^3, {t} thread{'s' if t > 1 else ''}): {gf:.1f} GFLOP/s")
    head = (f"{'size':8} {'params':>9} {'shape':>16} {'threads':>7} {'ms/step':>8} {'tokens/s':>9} {'GFLOP/s':>8}"
            f" {'MFU':>6}  {'configured steps x batch x len':>30} {'projected':>10}")
    print(head)
    print("-" * len(head))
    for r in rows:
        print(f"{r['size']:8} {r['params']:>9,} {r['shape']:>16} {r['threads']:>7} {r['ms_step']:>8.0f} "
              f"{r['tokens_s']:>9,.0f} {r['gflops']:>8.1f} {r['gflops'] / peaks[r['threads']]:>6.1%}  "
              f"{r['configured']:>30} {r['projected_min']:>8.1f} min")
    print(f"({args.steps} steps timed per size; projected = configured tokens / steady rate, pretraining only)")


if __name__ == "__main__":
    main()
