"""The paper's training steps alone: images per second and TFLOP/s per stage and batch size.

Each stage's own epoch code (the SRGAN's adversarial steps, the cGAN's steps, the classifier's
epoch) runs at the `paper` profile's network sizes on random images already on the device, at
batch 16 (the paper's GAN batch), 64 and 256, after one warm-up epoch, timed between two device
synchronisations. The FLOPs of one step are counted by ``torch.utils.flop_counter``. That rate is
the ceiling a real trial's stage can reach at that batch size: a trial that reads the GPU inside
its steps, copies indices per step or waits on data falls below it. On CUDA each GAN step also
runs in the two graphed forms the issue asked to compare: the whole step captured as one CUDA
graph by the trainer itself (``graph``: ``stages/_graphs.py``, what trials use on CUDA; SRGAN
and cGAN, not the classifier, whose last batch is ragged) and the networks compiled with
``torch.compile(mode="reduce-overhead")`` (``compile``) when that compiles. The ratio is the
faster graphed form over eager SRGAN images per second at batch 16 (goal >= 1); ``faster`` names
it.

Usage: python bench/gpu_step_ceiling.py [--device cuda] [--batches 16,64,256] [--steps 20]
       python bench/gpu_step_ceiling.py --smoke     # tiny sizes on the CPU: the code path only
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _common import add_smoke_flag, finish

from galaxybench.config import Config, load_profile
from galaxybench.data.arrays import SplitArrays
from galaxybench.stages import _common, _graphs, classify_cnn, rebalance_cgan, upscale_srgan

MODES = ("eager", "graph", "compile")


def _data(n: int, hr: int, classes: int = 4) -> SplitArrays:
    rng = np.random.default_rng(0)
    hr_images = rng.integers(0, 256, (n, 3, hr, hr), dtype=np.uint8)
    lr = hr_images.reshape(n, 3, hr // 2, 2, hr // 2, 2).mean((3, 5)).astype(np.uint8)
    labels = np.arange(n, dtype=np.int64) % classes
    return SplitArrays(lr, hr_images, labels, np.arange(n, dtype=np.int64))


@contextlib.contextmanager
def _graphs_switch(on: bool) -> Iterator[None]:
    """Trainers built inside graph their steps (on CUDA) or not: they read the switch then."""
    saved = os.environ.get(_graphs.GRAPHS_ENV)
    os.environ[_graphs.GRAPHS_ENV] = "1" if on else "0"
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop(_graphs.GRAPHS_ENV)
        else:
            os.environ[_graphs.GRAPHS_ENV] = saved


def _srgan(cfg: Config, data: SplitArrays, device: torch.device, mode: str) -> Callable:
    with _graphs_switch(mode == "graph"):
        trainer = upscale_srgan._Trainer(cfg, data, seed=0, device=device)
    if mode == "compile":
        trainer.gen = torch.compile(trainer.gen, mode="reduce-overhead")
        trainer.disc = torch.compile(trainer.disc, mode="reduce-overhead")
    return trainer.adversarial_steps


def _cgan(cfg: Config, data: SplitArrays, device: torch.device, mode: str) -> Callable:
    images, labels, ids = rebalance_cgan._training_images(data, sorted(set(data.labels)), device)
    with _graphs_switch(mode == "graph"):
        run = rebalance_cgan._Training(cfg, len(ids), int(images.shape[-1]), seed=0, device=device)
    if mode == "compile":
        run.gen = torch.compile(run.gen, mode="reduce-overhead")
        run.disc = torch.compile(run.disc, mode="reduce-overhead")
    return lambda: run.epoch_steps(images, labels)


def _classifier(cfg: Config, data: SplitArrays, device: torch.device, mode: str) -> Callable | None:
    if mode != "eager":
        return None  # the classifier's last batch is ragged: measured eager only
    classes = int(data.labels.max()) + 1
    model = classify_cnn.PaperCNN(classes, data.hr.shape[-1], cfg.classifier.dense_units)
    model = model.to(device).to(memory_format=torch.channels_last)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.classifier.lr)
    x = _common.to_tensor_uint8(data.hr, device)
    y = torch.as_tensor(data.labels, device=device)
    gen = _common.seeded_generator(0)
    loss = torch.nn.CrossEntropyLoss()
    b = cfg.classifier.batch_size
    return lambda: classify_cnn._train_steps(model, opt, loss, lambda t, g: t, x, y, b, gen, device)


STAGES = {"srgan": _srgan, "cgan": _cgan, "classifier": _classifier}
BATCH_KEY = {"srgan": "srgan.batch_size", "cgan": "cgan.batch_size"}


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def measure(stage: str, batch: int, steps: int, device: torch.device, mode: str, cfg: Config):
    """(images per second, FLOPs per image) of ``steps`` steps at ``batch``; None if n/a."""
    key = BATCH_KEY.get(stage, "classifier.batch_size")
    cfg = cfg.replace(**{key: batch})
    epoch = STAGES[stage](cfg, _data(batch * steps, cfg.data.hr_size), device, mode)
    if epoch is None:
        return None
    one = STAGES[stage](cfg, _data(batch, cfg.data.hr_size), device, "eager")
    with FlopCounterMode(display=False) as counter:
        one()
    epoch()  # warm-up: kernel selection, allocator, graph capture
    _sync(device)
    start = time.perf_counter()
    epoch()
    _sync(device)
    seconds = time.perf_counter() - start
    return batch * steps / seconds, counter.get_total_flops() / batch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--batches", default="16,64,256")
    parser.add_argument("--steps", type=int, default=20)
    add_smoke_flag(parser)
    args = parser.parse_args()
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        sys.exit("gpu_step_ceiling: no CUDA device")
    cfg = load_profile("paper")
    batches, steps = [int(b) for b in args.batches.split(",")], args.steps
    if args.smoke:
        cfg = cfg.replace(
            **{"data.hr_size": 16, "srgan.depth": 1, "srgan.channels": 8, "cgan.width": 8}
        )
        batches, steps = [4], 2
    rows = []
    for stage in STAGES:
        for batch in batches:
            for mode in MODES if device.type == "cuda" else ("eager",):
                try:
                    got = measure(stage, batch, steps, device, mode, cfg)
                except Exception as exc:  # a compile failure is a finding, not a crash
                    error = str(exc).splitlines()[0][:300] if str(exc) else type(exc).__name__
                    rows.append({"stage": stage, "batch": batch, "mode": mode, "error": error})
                    continue
                if got is None:
                    continue
                rate, flops = got
                rows.append(
                    {
                        "stage": stage,
                        "batch": batch,
                        "mode": mode,
                        "images_per_s": round(rate, 1),
                        "tflops": round(rate * flops / 1e12, 3),
                        "gflop_per_image": round(flops / 1e9, 6),
                    }
                )
                print(rows[-1], flush=True)

    def rate(mode: str) -> float | None:
        b0 = batches[0]
        hits = [r for r in rows if (r["stage"], r["batch"], r["mode"]) == ("srgan", b0, mode)]
        return hits[0].get("images_per_s") if hits else None

    eager = rate("eager")
    graphed = {m: rate(m) for m in ("graph", "compile") if rate(m)}
    faster = max(graphed, key=graphed.get) if graphed else None
    finish(
        "gpu_step_ceiling",
        ratio=(graphed[faster] / eager) if (faster and eager) else 1.0,
        goal=1.0,
        smoke=args.smoke,
        ratio_meaning=(
            f"SRGAN images/s at batch {batches[0]}, the faster graphed form over eager "
            "(1.0: no graphs)"
        ),
        faster=faster,
        card=torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        profile="paper" + (" (smoke sizes)" if args.smoke else ""),
        steps_per_epoch=steps,
        rows=rows,
    )


if __name__ == "__main__":
    main()
