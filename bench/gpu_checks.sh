#!/usr/bin/env bash
# Every GPU measurement in one command, on a CUDA machine with the project installed:
#   the card's name; the gpu-marked tests; trials per hour at 1, 2 and 4 paper trials per GPU
#   (bench/gpu_packing.py); one full paper trial timed per stage and checked against the FLOP
#   projection (bench/paper_stage_costs.py --full). Figures go to reports/bench/ with the card named.
# Usage: bash bench/gpu_checks.sh [ROWS]   (ROWS: rehearsal rows, default 17736 = full scale)
set -euo pipefail
cd "$(dirname "$0")/.."
rows="${1:-17736}"
out=reports/bench
mkdir -p "$out"
python -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 'gpu_checks: no CUDA device')"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$out/gpu_card.txt"
RAY_AUTH_MODE=disabled python -m pytest -m gpu -q -p no:cacheprovider 2>&1 | tee "$out/gpu_tests.txt"
python bench/gpu_packing.py --n "$rows" --epochs 1 | tail -1
python bench/paper_stage_costs.py --n "$rows" --full | tail -1
