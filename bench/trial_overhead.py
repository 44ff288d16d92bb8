"""Benchmark: classifier training throughput inside evaluate_trial vs a bare PyTorch loop.

Same model (the paper's CNN), same optimizer, batch size, epochs and data (the embedded set at the
`default` profile's HR), same per-epoch validation pass, in the same run. The trial's figure is its
`classify` stage time with caching off; the bare loop keeps float tensors in memory and does
nothing else. ratio = trial images/s / bare images/s (goal >= 0.9).

Usage: ``python bench/trial_overhead.py [--epochs 4] [--repeats 2] [--smoke]``
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
import torch.nn.functional as F
from _common import add_smoke_flag, finish, smoke_data_path

from galaxybench.config import load_profile
from galaxybench.data import load_data
from galaxybench.images import bicubic_x2
from galaxybench.stages.classify_cnn import PaperCNN
from galaxybench.trial import evaluate_trial


def bare_loop(cfg, x: np.ndarray, y: np.ndarray, xv: np.ndarray, num_classes: int) -> float:
    """A plain training loop on the same data; returns seconds.

    It uses channels_last like the trial, so the ratio measures the trial's overhead (uint8
    slicing and conversion, seeded batching, validation scoring, best-epoch copies), not the
    memory format.
    """
    torch.manual_seed(0)
    model = PaperCNN(num_classes, x.shape[-1], cfg.classifier.dense_units)
    model = model.to(memory_format=torch.channels_last)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.classifier.lr)
    xt = (torch.from_numpy(x).float() / 127.5 - 1).contiguous(memory_format=torch.channels_last)
    yt = torch.from_numpy(y).long()
    xvt = (torch.from_numpy(xv).float() / 127.5 - 1).contiguous(memory_format=torch.channels_last)
    bs = cfg.classifier.batch_size
    start = time.perf_counter()
    for _ in range(cfg.classifier.epochs):
        model.train()
        for idx in torch.randperm(len(xt)).split(bs):
            loss = F.cross_entropy(model(xt[idx]), yt[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
        model.eval()
        with torch.inference_mode():
            for i in range(0, len(xvt), 512):
                model(xvt[i : i + 512]).argmax(1)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=2)
    add_smoke_flag(parser)
    args = parser.parse_args()
    if args.smoke:
        args.epochs, args.repeats = 1, 1
    profile = "smoke" if args.smoke else "default"
    cfg = load_profile(profile, [f"classifier.epochs={args.epochs}", "metrics.enabled=false"])
    data = load_data(str(smoke_data_path()) if args.smoke else None, cfg.data)
    train, val = data.subset("train"), data.subset("val")
    cpu = torch.device("cpu")
    x, xv = bicubic_x2(train.lr, cpu), bicubic_x2(val.lr, cpu)
    images = len(train) * args.epochs
    trial_s, bare_s = [], []
    for _ in range(args.repeats):  # interleaved, best of each, against machine noise
        result = evaluate_trial(cfg, data, device="cpu", baseline=False, use_cache=False)
        trial_s.append(result.metrics["stage_seconds"]["classify"])
        bare_s.append(bare_loop(cfg, x, train.labels, xv, data.num_classes))
    trial_ips, bare_ips = images / min(trial_s), images / min(bare_s)
    finish(
        "trial_overhead",
        ratio=trial_ips / bare_ips,
        goal=0.9,
        smoke=args.smoke,
        trial_images_per_s=round(trial_ips, 1),
        bare_images_per_s=round(bare_ips, 1),
        train_images=len(train),
        epochs=args.epochs,
        batch_size=cfg.classifier.batch_size,
        hr_size=cfg.data.hr_size,
        trial_seconds=trial_s,
        bare_seconds=bare_s,
    )


if __name__ == "__main__":
    main()
