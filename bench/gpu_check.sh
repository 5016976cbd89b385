#!/usr/bin/env bash
# The GPU path in a few minutes, for a lent GPU machine without network (issue 14, Deliver 8):
#   1. the GPU and its bf16 peak;  2. a random ~0.5 B-parameter Qwen2-architecture model built
#   from a config;  3. a few trait-RL GRPO steps with transformers generation, then with vLLM
#   (skipped, saying so, when vllm is not installed);  4. evaluation on CUDA: generation
#   throughput, `traitrl eval` on the held-out suite, and an inspect_ai task through the bridge.
# Every step prints tokens/s and MFU; a failing step is reported and the others still run.
#
#   bash bench/gpu_check.sh            (from the repo root, with a prepared venv: CUDA torch,
#                                       transformers, trl, optionally vllm and inspect_ai)
#   PYTHON=/path/to/python bash bench/gpu_check.sh
#   GPU_CHECK_TINY=1 bash bench/gpu_check.sh   (tiny sizes on a CPU: checks the script itself)
set -uo pipefail
cd "$(dirname "$0")/.."

PY="${PYTHON:-}"
if [ -z "$PY" ]; then
  for c in .venv/bin/python ../main/.venv/bin/python python3; do
    if [ -x "$c" ] || command -v "$c" >/dev/null 2>&1; then PY="$c"; break; fi
  done
fi
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_DATASETS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
TINY=()
LIMIT=300
if [ "${GPU_CHECK_TINY:-0}" = "1" ]; then TINY=(--tiny); LIMIT=600; fi
WORK="$(mktemp -d "${TMPDIR:-/tmp}/gpu_check.XXXXXX")"
MODEL="$WORK/qwen2-random"
FAILED=()

step() {  # step NAME COMMAND...: run with a time limit, report failure, keep going
  local name="$1"; shift
  echo
  echo "== $name"
  local t0=$SECONDS
  local run=(timeout "$LIMIT")
  if declare -F "$1" >/dev/null; then run=(); fi  # a shell function applies the limit itself
  if "${run[@]}" "$@"; then
    echo "-- $name: ok ($((SECONDS - t0))s)"
  else
    local rc=$?
    echo "-- $name: FAILED (exit $rc after $((SECONDS - t0))s)"
    FAILED+=("$name")
  fi
}

echo "== machine"
date -u
(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null) || echo "nvidia-smi: not available"
"$PY" - <<'EOF'
import importlib.util, sys
import torch
print(f"python {sys.version.split()[0]}, torch {torch.__version__} (CUDA {torch.version.cuda}), "
      f"GPUs visible: {torch.cuda.device_count()}")
for name in ("transformers", "trl", "accelerate", "peft", "vllm", "inspect_ai", "deepspeed"):
    if importlib.util.find_spec(name) is None:
        print(f"  {name}: not installed")
    else:
        mod = __import__(name)
        print(f"  {name} {getattr(mod, '__version__', '?')}")
EOF

step "bf16 peak" "$PY" bench/gpu_check.py peak "${TINY[@]}"
step "build a random Qwen2 model" "$PY" bench/gpu_check.py build "$MODEL" "${TINY[@]}"
if [ ! -f "$MODEL/config.json" ]; then
  echo "no model was built: stopping here"; exit 1
fi
step "trait RL, transformers generation" "$PY" bench/gpu_check.py train "$MODEL" --vllm off "${TINY[@]}"
if "$PY" -c "import vllm" >/dev/null 2>&1; then
  step "trait RL, vLLM colocate" "$PY" bench/gpu_check.py train "$MODEL" --vllm on "${TINY[@]}"
else
  echo
  echo "== trait RL, vLLM colocate: SKIPPED (vllm is not installed in this venv)"
fi
step "evaluation generation (load_policy, device auto)" "$PY" bench/gpu_check.py generate "$MODEL" "${TINY[@]}"
eval_suite() {  # the per-eval table goes to eval.log; the summary is printed
  timeout "$LIMIT" "$PY" -m traitrl eval --model "$MODEL" -o "$WORK/results.json" --set evals.n_items=10 --set evals.threads=0 \
    --set policy.dtype=bfloat16 >"$WORK/eval.log" 2>&1
  local rc=$?
  grep "^wrote" "$WORK/eval.log"
  [ $rc -eq 0 ] || tail -20 "$WORK/eval.log"
  return $rc
}
step "traitrl eval on the held-out suite" eval_suite
"$PY" - "$WORK/results.json" <<'EOF'
import json, sys
from pathlib import Path
p = Path(sys.argv[1])
if p.is_file():
    r = json.loads(p.read_text())
    items = [it for e in r["evals"] for it in e["items"]]
    print(f"  {len(r['evals'])} evals, {len(items)} items, {sum(it['score'] is None for it in items)} unscored "
          f"(a random model), sampling {r['meta'].get('sampling')}")
EOF
if "$PY" -c "import inspect_ai" >/dev/null 2>&1; then
  step "inspect_ai task through the bridge (hf/ on the policy's device)" "$PY" -m traitrl eval --model "$MODEL" \
    --no-suite -o "$WORK/inspect.json" --benchmark "inspect:tests/fixtures/inspect_tasks.py@arithmetic" \
    --set evals.sampling.max_new_tokens=32 --set policy.dtype=bfloat16
  "$PY" - "$WORK" <<'EOF'
import sys
from pathlib import Path
from inspect_ai.log import read_eval_log
logs = sorted(Path(sys.argv[1], "inspect.inspect-logs").glob("*.eval"))
if logs:
    log = read_eval_log(str(logs[-1]), header_only=True)
    print(f"  inspect log: model {log.eval.model}, device {log.eval.model_args.get('device')}, status {log.status}")
EOF
else
  echo
  echo "== inspect_ai task through the bridge: SKIPPED (inspect_ai is not installed in this venv)"
fi

echo
if [ ${#FAILED[@]} -eq 0 ]; then
  echo "gpu_check: every step passed (work folder $WORK)"
else
  echo "gpu_check: failed steps: ${FAILED[*]} (work folder $WORK)"
  exit 1
fi
