"""Benchmark: the confirm phase of one paper row on K seeds, fused against unfused, one device.

The `paper` profile's SRGAN + cGAN row, every epoch count cut to ``--epochs`` (quality metrics
off), runs on K confirmation seeds, each on its own split of a Galaxy10 DECaLS-layout rehearsal
file (``--data``, or ``--n`` rows generated here), twice from empty stage caches:

- unfused: ``evaluate_trial`` per seed, one after another (the confirm phase's trials of one row
  on one device);
- fused: ``galaxybench.trial.group.evaluate_group`` (``confirm.fuse``): the K SRGANs, cGANs and
  classifiers each trained as one batched network.

Both do the same work (no baseline, no quality metrics), so fused images per second over unfused
is the unfused wall over the fused wall: the ratio (goal 3). Before either, one unfused trial on
another seed warms the device up (kernel choice, allocator) and is not counted.

Utilisation: the fused run's FLOPs (``paper_stage_costs.flops_per_image``, counted by
``FlopCounterMode``, times the images each stage saw and its epochs, for every member) over the
fused wall, divided by the device's matrix peak measured in the same run: a bf16 8192^3 matmul on
CUDA (the fp32 one of 2048^3 on a CPU). Each member's test minority F1, fused and unfused, is
printed beside them: they must agree (float tolerance; bf16 on a GPU).

Usage: ``python bench/fused_confirm.py [--data FILE | --n 1000] [--seeds 1,2,3,4,5] [--epochs 1]``
(``--smoke``: the embedded smoke file at tiny sizes on the CPU, the code path only). Writes
reports/bench/gpu_fused_confirm.json on CUDA (fused_confirm.json elsewhere); prints JSON last.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _common import add_smoke_flag, finish, smoke_like_path
from gpu_packing import _sets as packing_sets
from paper_stage_costs import flops_per_image, trial_flops

from galaxybench import load_data, load_profile, results
from galaxybench.sweep.splits import datasets_by_split
from galaxybench.trial import evaluate_trial
from galaxybench.trial.group import evaluate_group

GOAL = 3.0
WARM_SEED = 99  # the warm-up trial's seed and split: not a member's


def _sets(epochs: int, smoke: bool) -> list[str]:
    """The paper row at ``epochs`` per stage (gpu_packing's settings), no early stopping (both
    runs train the same epochs); with ``smoke`` tiny networks: the code path, not the figures."""
    sets = [*packing_sets(epochs), "classifier.patience=0"]
    if smoke:
        sets += ["srgan.depth=1", "srgan.channels=8", "cgan.width=16", "data.hr_size=32"]
    return sets


def matmul_peak(device: torch.device) -> float:
    """TFLOP/s of a large matmul on ``device``: bf16 8192^3 on CUDA, fp32 2048^3 on a CPU."""
    n, dtype = (8192, torch.bfloat16) if device.type == "cuda" else (2048, torch.float32)
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    a @ b  # warm-up
    reps = 20 if device.type == "cuda" else 3
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(reps):
        a @ b
    if device.type == "cuda":
        torch.cuda.synchronize()
    return 2 * n**3 * reps / (time.perf_counter() - start) / 1e12


def _flops(cfg, out: list[results.TrialResult], datas: list) -> float:
    """The row's training and inference FLOPs over every member (the baseline not counted)."""
    per = flops_per_image(cfg)
    total = 0.0
    for result, data in zip(out, datas, strict=True):
        if not result.ok:
            continue
        split = {s: float(len(v)) for s, v in data.splits.items()}
        added = float(result.metrics.get(results.N_SYNTHETIC, 0))
        augmented = result.metrics.get(results.AUGMENTED_CLASSES) or []
        names = list(data.class_names)
        minority = [names.index(n) for n in augmented]
        train_labels = data.labels[data.splits["train"]]
        cgan_train = float(sum(int((train_labels == c).sum()) for c in minority))
        counts = {**split, "synthetic": added, "cgan_train": cgan_train}
        stages = trial_flops(cfg, per, counts)
        total += stages["srgan"] + stages["cgan"] + stages["classifier"]
    return total


def _timed(fn) -> tuple[list[results.TrialResult], float]:
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    start = time.perf_counter()
    out = fn()
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return out, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", help="a Galaxy10 DECaLS-layout file")
    parser.add_argument("--n", type=int, default=1000, help="rows to generate without --data")
    parser.add_argument("--seeds", default="1,2,3,4,5", help="the confirmation seeds (K members)")
    parser.add_argument("--epochs", type=int, default=1, help="epochs of every trained stage")
    add_smoke_flag(parser)
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")][: 3 if args.smoke else None]
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    cfg = load_profile("paper", _sets(args.epochs, args.smoke))
    load_start = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        os.environ.setdefault("GALAXYBENCH_HOME", str(Path(tmp) / "home"))
        path = Path(args.data) if args.data else None
        if path is None:
            from galaxybench.data.rehearsal import write_like

            path = smoke_like_path() if args.smoke else write_like(Path(tmp) / "like.h5", n=args.n)
        base = load_data(str(path), cfg.data)
        datas = datasets_by_split(str(path), cfg.data, [*seeds, WARM_SEED], base)
        members = [cfg.replace(seed=s, **{"data.split_seed": s}) for s in seeds]
        warm = cfg.replace(seed=WARM_SEED, **{"data.split_seed": WARM_SEED})
        evaluate_trial(warm, datas[WARM_SEED], device=device, use_cache=False, baseline=False)
        unfused, unfused_s = _timed(
            lambda: [
                evaluate_trial(
                    c, datas[s], device=device, cache_dir=f"{tmp}/unfused", baseline=False
                )
                for c, s in zip(members, seeds, strict=True)
            ]
        )
        fused, fused_s = _timed(
            lambda: evaluate_group(
                members,
                [datas[s] for s in seeds],
                device=device,
                cache_dir=f"{tmp}/fused",
                baseline=False,
            )
        )
        flops = _flops(cfg, fused, [datas[s] for s in seeds])
    peak = matmul_peak(device)
    effective = flops / fused_s / 1e12
    f1 = {
        s: [u.metrics.get(results.MINORITY_F1), f.metrics.get(results.MINORITY_F1)]
        for s, u, f in zip(seeds, unfused, fused, strict=True)
    }
    uptime = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    finish(
        "gpu_fused_confirm" if device.type == "cuda" else "fused_confirm",
        ratio=unfused_s / fused_s,
        goal=GOAL,
        smoke=args.smoke,
        ratio_meaning="fused over unfused images per second (= unfused wall / fused wall)",
        card=torch.cuda.get_device_name(0) if device.type == "cuda" else "cpu",
        members=len(seeds),
        rows=int(base.info.get("n_read", 0)) if isinstance(base.info, dict) else None,
        epochs_per_stage=args.epochs,
        unfused_seconds=round(unfused_s, 2),
        fused_seconds=round(fused_s, 2),
        fused_stages=fused[0].metrics.get(results.FUSED),
        status_unfused=[r.status for r in unfused],
        status_fused=[r.status for r in fused],
        minority_f1_unfused_fused=f1,
        fused_tflops=round(effective, 3),
        matmul_peak_tflops=round(peak, 2),
        utilisation=round(effective / peak, 4),
        torch_threads=torch.get_num_threads(),
        load_average_start=[round(x, 2) for x in load_start],
        uptime=uptime,
    )


if __name__ == "__main__":
    main()
