#!/usr/bin/env bash
# Every GPU measurement in one command, sized for a short lease (BUDGET seconds in all, default
# 540; each step gets its own limit or what is left of the budget, whichever is smaller):
#   1. the card's name and memory;
#   2. one rehearsal file of ROWS rows (Galaxy10 DECaLS layout), shared by the steps below;
#   3. the gpu-marked tests (CPU and CUDA agree; an epoch of each stage never waits on the GPU;
#      CUDA-graphed GAN steps train what eager ones train; a fused group agrees with its unfused
#      trials at bf16 tolerance);
#   4. bench/fused_confirm.py: one paper row on 5 seeds, fused and unfused (gpu_fused_confirm);
#   5. bench/gpu_step_ceiling.py: the paper's SRGAN, cGAN and classifier steps alone at batch
#      16/64/256, eager and graphed (the trainer's own CUDA graph, what trials use, and
#      torch.compile's reduce-overhead): the ceiling a trial's stage is measured against, and
#      which graphed form is faster;
#   6. one paper trial, every stage 1 epoch, timed per stage (bench/paper_stage_costs.py);
#   7. bench/gpu_default_sweep.py: the default sweep with trials packed 8 to the card;
#   8. trials per hour at 1, 2 and 4 trials per GPU (bench/gpu_packing.py).
# The script goes on when a step fails; records go to reports/bench/ (gpu_*.json, the card
# named) and, when $OUT is set, are copied there too.
# Usage: bash bench/gpu_checks.sh [ROWS] [BUDGET]   (defaults: 1000 rows, 540 s)
set -uo pipefail
cd "$(dirname "$0")/.."
rows="${1:-1000}"
budget="${2:-540}"
out=reports/bench
mkdir -p "$out"
py=$(command -v python3 || command -v python)
"$py" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 'gpu_checks: no CUDA device')" || exit 1
export RAY_AUTH_MODE=disabled
data=$(mktemp -d)/like.h5
status=0
step() {  # step SECONDS NAME COMMAND...: run with a limit, keep its log, note a failure
    local limit=$1 name=$2
    shift 2
    local left=$((budget - SECONDS))
    if [ "$left" -lt 30 ]; then
        echo "== $name: skipped (${left}s of the budget left)" | tee "$out/gpu_$name.log"
        status=1
        return
    fi
    [ "$limit" -le "$left" ] || limit=$left
    echo "== $name (limit ${limit}s)"
    local start=$SECONDS
    timeout "$limit" "$@" > "$out/gpu_$name.log" 2>&1
    local rc=$?
    tail -n 3 "$out/gpu_$name.log"
    echo "== $name: exit $rc after $((SECONDS - start)) s"
    [ "$rc" -eq 0 ] || status=1
}
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$out/gpu_card.txt"
step 60 data "$py" -c "from pathlib import Path; from galaxybench.data.rehearsal import write_like; write_like(Path('$data'), n=$rows)"
step 90 tests "$py" -m pytest -m gpu -q -p no:cacheprovider tests/test_gpu.py tests/test_gpu_sync.py tests/test_graphs.py tests/test_group.py
step 150 fused_confirm "$py" bench/fused_confirm.py --data "$data"
step 100 step_ceiling "$py" bench/gpu_step_ceiling.py
step 80 paper_trial "$py" bench/paper_stage_costs.py --data "$data"
step 150 default_sweep "$py" bench/gpu_default_sweep.py
step 60 packing "$py" bench/gpu_packing.py --data "$data" --epochs 1
rm -rf "$(dirname "$data")"
if [ -n "${OUT:-}" ]; then
    cp "$out"/gpu_*.json "$out"/paper_stage_costs.json "$OUT"/ 2>/dev/null || true
    tar czf "$OUT/gpu_logs.tgz" "$out"/gpu_*.log "$out"/gpu_card.txt 2>/dev/null || true
fi
exit "$status"
