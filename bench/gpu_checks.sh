#!/usr/bin/env bash
# Every GPU measurement in one command, sized for a short lease (about 8 minutes on one card):
#   1. the card's name and memory;
#   2. the gpu-marked tests (CPU and CUDA agree; an epoch of each stage never waits on the GPU);
#   3. bench/gpu_step_ceiling.py: the paper's SRGAN, cGAN and classifier steps alone at batch
#      16/64/256, eager and graphed (the ceiling a trial's stage is measured against);
#   4. one paper trial, every stage 1 epoch, on ROWS rehearsal rows, timed per stage
#      (bench/paper_stage_costs.py --full);
#   5. trials per hour at 1, 2 and 4 trials per GPU (bench/gpu_packing.py).
# Each step has its own time limit and the script goes on when one fails; records go to
# reports/bench/ (gpu_*.json, the card named) and, when $OUT is set, are copied there too.
# Usage: bash bench/gpu_checks.sh [ROWS]   (ROWS: rehearsal rows, default 2000)
set -uo pipefail
cd "$(dirname "$0")/.."
rows="${1:-2000}"
out=reports/bench
mkdir -p "$out"
py=$(command -v python3 || command -v python)
"$py" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 'gpu_checks: no CUDA device')" || exit 1
export RAY_AUTH_MODE=disabled
status=0
step() {  # step SECONDS NAME COMMAND...: run with a limit, keep its log, note a failure
    local limit=$1 name=$2
    shift 2
    echo "== $name (limit ${limit}s)"
    local start=$SECONDS
    timeout "$limit" "$@" > "$out/gpu_$name.log" 2>&1
    local rc=$?
    tail -n 3 "$out/gpu_$name.log"
    echo "== $name: exit $rc after $((SECONDS - start)) s"
    [ "$rc" -eq 0 ] || status=1
}
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$out/gpu_card.txt"
step 120 tests "$py" -m pytest -m gpu -q -p no:cacheprovider tests/test_gpu.py tests/test_gpu_sync.py
step 150 step_ceiling "$py" bench/gpu_step_ceiling.py
step 150 paper_trial "$py" bench/paper_stage_costs.py --n "$rows" --full
step 90 packing "$py" bench/gpu_packing.py --n "$rows" --epochs 1
if [ -n "${OUT:-}" ]; then
    cp "$out"/gpu_* "$out"/paper_stage_costs.json "$OUT"/ 2>/dev/null || true
fi
exit "$status"
