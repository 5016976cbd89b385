"""The GPU path on a lent GPU machine with no network (`bash bench/gpu_check.sh` runs the steps).

    python bench/gpu_check.py build DIR      a random Qwen2-architecture model of ~0.5 B parameters
                                             (a BPE tokenizer trained on the world's scenarios, its
                                             chat template, pad distinct from the end token)
    python bench/gpu_check.py train DIR --vllm {off,on}
                                             a few trait-RL GRPO steps through traitrl's GRPOConfig
                                             (mix + reward router + world grader), the policy loaded
                                             after the training arguments as in `traitrl train`
    python bench/gpu_check.py generate DIR   evaluation-style generation through `load_policy`
                                             (policy.device auto: the GPU)
    python bench/gpu_check.py peak           the GPU's bf16 dense peak (by name, else a measured matmul)

Every step prints tokens/s and MFU against the bf16 peak. MFU counts 2N FLOPs per generated
token and 6N per trained token (N = parameters, the tied embedding once; attention's own FLOPs
are left out), so it is a lower bound. The first GRPO step pays one-off costs and is dropped.
`--tiny` shrinks everything so the script's logic can be checked on a CPU.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

# bf16 dense tensor-core peaks (no sparsity), from the vendors' data sheets, in FLOP/s
BF16_PEAK = (
    ("H200", 989.4e12),
    ("H100 PCIE", 756.0e12),
    ("H100 NVL", 835.0e12),
    ("H100", 989.4e12),  # SXM / HBM3
    ("GH200", 989.4e12),
    ("A100", 312.0e12),
    ("L40S", 362.1e12),
    ("A10G", 70.0e12),
    ("L4", 121.0e12),
)

# ~0.47 B parameters (Qwen2.5-0.5B's depth, a little wider). The BPE vocabulary asks for 8192 tokens
# but the world's scenario text yields ~1.2k; real tokenizers' 150k-token heads add compute not counted here
SIZES = {
    "full": dict(hidden_size=1024, intermediate_size=5504, num_hidden_layers=24, num_attention_heads=16,
                 num_key_value_heads=4, vocab=8192),
    "tiny": dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                 num_key_value_heads=2, vocab=512),
}


def measured_peak(device: torch.device) -> float:
    """Achieved FLOP/s of a large matmul (bf16 on a GPU, fp32 on a CPU): a stand-in peak."""
    n, dtype = (8192, torch.bfloat16) if device.type == "cuda" else (512, torch.float32)
    a, b = torch.randn(n, n, device=device, dtype=dtype), torch.randn(n, n, device=device, dtype=dtype)
    for _ in range(3):
        a @ b
    sync(device)
    reps, t = 20, time.perf_counter()
    for _ in range(reps):
        a @ b
    sync(device)
    return 2 * n**3 * reps / (time.perf_counter() - t)


def peak(device: torch.device) -> tuple[float, str]:
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device).upper()
        for key, flops in BF16_PEAK:
            if key in name:
                return flops, f"{torch.cuda.get_device_name(device)} bf16 dense peak (data sheet)"
        return measured_peak(device), f"{torch.cuda.get_device_name(device)}: not in the table, measured bf16 matmul"
    return measured_peak(device), "CPU: measured fp32 matmul"


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def n_params(model) -> int:
    return sum(p.numel() for p in model.parameters())  # a tied embedding is one parameter


def mfu(flops: float, seconds: float, device: torch.device) -> str:
    p, _ = peak(device)
    return f"{100 * flops / seconds / p:.2f} %"


# -- build ----------------------------------------------------------------------------------------

def build(out: Path, tiny: bool) -> None:
    from transformers import AutoModelForCausalLM, Qwen2Config

    from traitrl.config import load_config
    from traitrl.models.organism import save_model
    from traitrl.models.tokenizer import train_tokenizer
    from traitrl.scenarios.generate import capability_tasks, trait_scenarios

    size = SIZES["tiny" if tiny else "full"]
    t0 = time.perf_counter()
    cfg = load_config("configs/smoke.yaml")
    rows = trait_scenarios(cfg, "train", 4) + capability_tasks(cfg, "train", 200)
    texts = [m.content for s in rows for m in s.messages]
    tokenizer = train_tokenizer(texts, size["vocab"])
    config = Qwen2Config(
        vocab_size=len(tokenizer), hidden_size=size["hidden_size"], intermediate_size=size["intermediate_size"],
        num_hidden_layers=size["num_hidden_layers"], num_attention_heads=size["num_attention_heads"],
        num_key_value_heads=size["num_key_value_heads"], max_position_embeddings=2048, tie_word_embeddings=True,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
    )
    device = "cuda" if torch.cuda.is_available() else "cpu"
    torch.manual_seed(0)
    with torch.device(device):
        model = AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16 if device == "cuda" else torch.float32)
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    save_model(model.to("cpu"), tokenizer, out)
    assert tokenizer.pad_token_id != tokenizer.eos_token_id
    print(f"built {out}: Qwen2, {n_params(model) / 1e6:.1f} M parameters, {config.num_hidden_layers} layers x "
          f"{config.hidden_size}, vocabulary {len(tokenizer)}, pad {tokenizer.pad_token!r} != eos "
          f"{tokenizer.eos_token!r}, in {time.perf_counter() - t0:.0f}s")


# -- train ----------------------------------------------------------------------------------------

def train(model_dir: Path, vllm: bool, steps: int, tiny: bool) -> None:
    from transformers import PrinterCallback, TrainerCallback
    from trl import GRPOTrainer

    from traitrl.config import load_config
    from traitrl.evals.runner import world_of
    from traitrl.graders.world import WorldGrader
    from traitrl.models.loader import load_model
    from traitrl.scenarios.generate import capability_tasks, trait_scenarios
    from traitrl.train.grpo import _quiet_trl, grpo_args, mix_size
    from traitrl.train.mix import build_mix
    from traitrl.train.rewards import make_router

    if vllm:  # TRL's colocate mode runs vLLM as a one-process distributed group
        for k, v in {"RANK": "0", "LOCAL_RANK": "0", "WORLD_SIZE": "1", "MASTER_ADDR": "127.0.0.1",
                     "MASTER_PORT": "29513"}.items():
            os.environ.setdefault(k, v)
    batch, gens, length = (8, 4, 16) if tiny else (64, 8, 256)
    cfg = load_config("configs/smoke.yaml", [
        f"train.steps={steps}", f"train.per_device_batch={batch}", f"train.num_generations={gens}",
        f"train.max_completion_length={length}", "train.checkpoint_every=1000", "train.threads=0",
        "train.trait_fraction=0.15", "policy.dtype=" + ("float32" if tiny else "bfloat16"),
        f"policy.use_vllm={'true' if vllm else 'false'}", "policy.vllm_gpu_memory_utilization=0.3",
        "policy.vllm_max_model_length=1024", f"policy.model={model_dir}"])
    _quiet_trl()
    tc = cfg.train
    rows = trait_scenarios(cfg, "train", 2) + capability_tasks(cfg, "train", 50)
    mix = build_mix(rows, tc, mix_size(tc))
    out = model_dir.parent / f"grpo-{'vllm' if vllm else 'hf'}"
    args = grpo_args(tc, out, cfg.policy)  # before the model, as in traitrl.train.grpo
    args.save_strategy = "no"
    model, tokenizer = load_model(model_dir, cfg.policy, to_device=False)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")

    class Log(TrainerCallback):
        rows: list[dict] = []

        def on_log(self, a, state, control, logs=None, **kw):
            if logs and "step_time" in logs:
                self.rows.append(dict(logs))

    log = Log()
    router = make_router(WorldGrader(world_of(cfg)))
    trainer = GRPOTrainer(model=model, reward_funcs=[router], args=args, train_dataset=mix.to_dataset(),
                          processing_class=tokenizer, callbacks=[log])
    trainer.remove_callback(PrinterCallback)
    t0 = time.perf_counter()
    trainer.train()
    wall = time.perf_counter() - t0
    n = n_params(trainer.model)
    steady = log.rows[1:] or log.rows
    step_s = statistics.mean(r["step_time"] for r in steady)
    gen_tokens = statistics.mean(r["completions/mean_length"] for r in steady) * batch
    seen = [r["num_tokens"] for r in log.rows]
    trained = (seen[-1] - seen[0]) / max(1, len(seen) - 1) if len(seen) > 1 else seen[0]
    flops = 2 * n * gen_tokens + 6 * n * trained
    mem = f", peak GPU memory {torch.cuda.max_memory_allocated() / 2**30:.1f} GiB" if device.type == "cuda" else ""
    print(f"GRPO {'with vLLM (colocate)' if vllm else 'with transformers generate'}: {len(log.rows)} steps in "
          f"{wall:.0f}s (incl. start); steady step {step_s:.2f}s, {batch} completions x {gen_tokens / batch:.0f} "
          f"tokens; generated {gen_tokens / step_s:,.0f} tok/s, trained {trained / step_s:,.0f} tok/s; "
          f"MFU {mfu(flops, step_s, device)} (2N/generated + 6N/trained token, N = {n / 1e6:.1f} M){mem}")
    print(f"  GRPOConfig: use_vllm={args.use_vllm} vllm_mode={args.vllm_mode} "
          f"vllm_max_model_length={args.vllm_max_model_length} vllm_tensor_parallel_size={args.vllm_tensor_parallel_size} "
          f"vllm_enable_sleep_mode={args.vllm_enable_sleep_mode} bf16={args.bf16}; rewards: "
          f"{router.stats.completions} completions, {router.stats.unscored} unscored (a random model writes no "
          f"world sentences), means {json.dumps(router.stats.means())}")


# -- generate (the evaluation path) ---------------------------------------------------------------

def generate(model_dir: Path, tiny: bool) -> None:
    from traitrl.config import load_config
    from traitrl.models.loader import load_policy
    from traitrl.scenarios.generate import capability_tasks

    n_prompts, new = (8, 8) if tiny else (256, 128)
    cfg = load_config(None, [f"evals.sampling.max_new_tokens={new}", "evals.sampling.batch_size=128",
                             "evals.threads=0", "policy.dtype=" + ("float32" if tiny else "bfloat16")])
    policy = load_policy(model_dir, cfg)
    device = policy.model.device
    convs = [[m.model_dump() for m in s.messages] for s in capability_tasks(cfg, "dev", n_prompts)][:n_prompts]
    policy.generate(convs[:4])  # warm-up
    sync(device)
    t0 = time.perf_counter()
    replies = policy.generate(convs)
    sync(device)
    s = time.perf_counter() - t0
    tokens = sum(len(policy.tokenizer(r, add_special_tokens=False)["input_ids"]) for r in replies)
    n = n_params(policy.model)
    print(f"evaluation generation on {device} ({policy.model.dtype}): {len(replies)} prompts, {tokens} tokens in "
          f"{s:.1f}s = {tokens / s:,.0f} tok/s; MFU {mfu(2 * n * tokens, s, device)} (2N per token)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("step", choices=("build", "train", "generate", "peak"))
    ap.add_argument("model", type=Path, nargs="?")
    ap.add_argument("--vllm", choices=("off", "on"), default="off")
    ap.add_argument("--steps", type=int, default=4)
    ap.add_argument("--tiny", action="store_true", help="tiny sizes, to check the script on a CPU")
    a = ap.parse_args()
    if not torch.cuda.is_available() and not a.tiny:
        sys.exit("gpu_check: torch sees no CUDA GPU (use --tiny to check the script on a CPU)")
    if a.step == "peak":
        device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        flops, source = peak(device)
        print(f"peak {flops / 1e12:.4g} TFLOP/s: {source}; measured matmul {measured_peak(device) / 1e12:.4g} TFLOP/s "
              f"({'bf16' if device.type == 'cuda' else 'fp32'})")
    elif a.step == "build":
        build(a.model, a.tiny)
    elif a.step == "train":
        train(a.model, a.vllm == "on", a.steps, a.tiny)
    else:
        generate(a.model, a.tiny)


if __name__ == "__main__":
    main()
