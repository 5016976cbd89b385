"""Eval runner generation speed against plain `model.generate` loops, in one run.

Three ways to answer the same eval prompts with the same model and sampling settings:
  runner   — traitrl.models.generation.generate (length-sorted batches, KV cache, stop at <|end|>)
  bare     — a plain batched `model.generate` loop over the prompts in their given order
  single   — one prompt at a time (timed on a subset, reported per token)
Generated tokens are counted up to the end-of-turn token. Targets (issue): runner >= 0.8x bare,
and >= 5x single. Beside them, the machine's fp32 matmul rate on one thread, measured in the same
run, and the share of it the runner reaches (2 x parameters FLOPs per generated token: the
forward pass of the weights; attention over the short contexts adds a few percent).

    python bench/bench_eval.py [MODEL_DIR] [--n 512]
"""

from __future__ import annotations

import argparse
import time

import torch

from traitrl.commands.common import resolve_config
from traitrl.evals.probe import probe_items
from traitrl.models.generation import generate, render_prompts, stop_token_ids
from traitrl.models.organism import load_model


def _count(tokenizer, texts: list[str]) -> int:
    return sum(len(tokenizer(t, add_special_tokens=False)["input_ids"]) + 1 for t in texts)


@torch.inference_mode()
def bare_loop(model, tokenizer, convs, max_new_tokens: int, batch_size: int, single: bool = False) -> int:
    prompts = render_prompts(tokenizer, convs)
    stops = stop_token_ids(model, tokenizer)
    pad = tokenizer.pad_token_id
    tokens = 0
    step = 1 if single else batch_size
    torch.manual_seed(0)
    for start in range(0, len(prompts), step):
        rows = prompts[start:start + step]
        width = max(map(len, rows))
        ids = torch.full((len(rows), width), pad, dtype=torch.long)
        mask = torch.zeros_like(ids)
        for i, r in enumerate(rows):
            ids[i, width - len(r):] = torch.tensor(r)
            mask[i, width - len(r):] = 1
        out = model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=max_new_tokens, do_sample=True,
                             top_k=0, eos_token_id=stops, pad_token_id=pad)
        for row in out[:, width:].tolist():
            tokens += next((k + 1 for k, t in enumerate(row) if t in stops), len(row))
    return tokens


def matmul_peak(n: int = 1024, seconds: float = 2.0) -> float:
    """fp32 FLOP/s of a square matmul on this thread (the best of repeated timed runs)."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    torch.mm(a, b)
    best, t_end = 0.0, time.perf_counter() + seconds
    while time.perf_counter() < t_end:
        t0 = time.perf_counter()
        torch.mm(a, b)
        best = max(best, 2 * n**3 / (time.perf_counter() - t0))
    return best


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("model", nargs="?", default="runs/default/organism")
    ap.add_argument("--n", type=int, default=512)
    ap.add_argument("--single", type=int, default=48, help="prompts timed one at a time")
    ap.add_argument("--batch", type=int, default=None, help="batch size (default: evals.sampling.batch_size)")
    args = ap.parse_args()
    torch.set_num_threads(1)
    cfg = resolve_config(None, None, __import__("pathlib").Path(args.model))
    model, tok = load_model(args.model)
    s = cfg.evals.sampling
    if args.batch:
        s = s.model_copy(update={"batch_size": args.batch})
    convs = [it.prompt() for it in probe_items(cfg, args.n)]

    t0 = time.perf_counter()
    texts = generate(model, tok, convs, max_new_tokens=s.max_new_tokens, temperature=1.0, seed=0, batch_size=s.batch_size)
    runner_s = time.perf_counter() - t0
    runner_rate = _count(tok, texts) / runner_s
    prompt_tokens = sum(map(len, render_prompts(tok, convs)))
    t0 = time.perf_counter()
    bare_rate = bare_loop(model, tok, convs, s.max_new_tokens, s.batch_size) / (time.perf_counter() - t0)
    t0 = time.perf_counter()
    single_rate = bare_loop(model, tok, convs[:args.single], s.max_new_tokens, 1, single=True) / (time.perf_counter() - t0)

    print(f"model {args.model}, {len(convs)} prompts, batch {s.batch_size}, {s.max_new_tokens} new tokens max, 1 thread")
    print(f"{'runner':8s} {runner_rate:9.0f} tokens/s")
    print(f"{'bare':8s} {bare_rate:9.0f} tokens/s")
    print(f"{'single':8s} {single_rate:9.0f} tokens/s")
    print(f"runner / bare   = {runner_rate / bare_rate:.2f}x (target >= 0.8)")
    print(f"runner / single = {runner_rate / single_rate:.1f}x (target >= 5)")
    peak = matmul_peak()
    flops_per_token = 2 * sum(p.numel() for p in model.parameters())
    print(f"fp32 matmul peak (1 thread, same run): {peak / 1e9:.1f} GFLOP/s; runner at "
          f"{runner_rate * flops_per_token / 1e9:.2f} GFLOP/s = {runner_rate * flops_per_token / peak:.1%} of it "
          f"({flops_per_token / 1e6:.1f} MFLOP per token)")
    # the prompts' forward pass (prefill) is work too: counted, the share of the peak the runner uses
    work = (prompt_tokens + runner_rate * runner_s) * flops_per_token
    print(f"with the {prompt_tokens / len(convs):.0f}-token prompts' prefill counted: {work / runner_s / 1e9:.2f} GFLOP/s "
          f"= {work / runner_s / peak:.1%} of the peak")


if __name__ == "__main__":
    main()
