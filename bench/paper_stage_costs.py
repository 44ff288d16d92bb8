"""Benchmark: a `paper` trial with every epoch count cut to 1; per-stage cost, FLOPs, projection.

Runs one `paper` trial (HR 128, depth-8 SRGAN, cGAN, classifier; upscale.method=srgan,
rebalance.method=cgan) through the public ``galaxybench.evaluate_trial`` on a Galaxy10
DECaLS-layout rehearsal file (``--data``, or one of ``--n`` rows generated here), with
srgan.pretrain_epochs, srgan.epochs, cgan.epochs and classifier.epochs set to 1 and quality
metrics off (their Inception weights are not downloaded). It records each stage's wall seconds
and training seconds (one epoch each) and the peak RSS while each stage ran.

FLOPs: ``torch.utils.flop_counter.FlopCounterMode`` counts one training step (forward and
backward of the real networks, batch 16) and one inference pass per image for every network.
Those, times the images each stage sees at full scale (17,736 rows; split and synthetic counts
scaled from the measured trial) and the paper's epochs, give one full paper trial's FLOPs and a
whole paper sweep's (the search settings, top-k and seeds of the `paper` search space, read from
it: 48 search trials on its ASHA ladder, then the top 3 on 5 seeds, plus one cached baseline per
seed).

Rates are measured, never assumed: each stage's TFLOP/s in the measured trial is that stage's
FLOPs at the trial's own image counts and epochs over its compute seconds, and the time of a full
paper trial and sweep follows from those rates on the device that ran it. The table keeps one row
per device measured (a new run replaces its own device's row and keeps the others); a card that
has no row has not been measured. Beside the trial, the SRGAN step alone at the paper's batch of
16 (``bench/gpu_step_ceiling.py``'s measurement, eager) is timed in the same run on the same
device: the ratio is the trial's SRGAN rate over that ceiling (goal 0.8: a trial should lose
little to host synchronisation, copies and Python between steps).

Usage: ``python bench/paper_stage_costs.py --data rehearsal.h5`` or ``--n 240``;
``--flops-only`` skips the trial; ``--reuse-measured reports/bench/paper_stage_costs.json``
keeps that file's measured trial and recomputes the projection (after a change of the space);
``--smoke`` is ``--flops-only`` without writing into reports/bench.
Writes reports/bench/paper_stage_costs.json and reports/bench/paper_stage_costs.md (the README
table); prints one JSON object last.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import REPORTS, add_smoke_flag, device_name, finish, reports_dir

FULL_N = 17_736
BATCH = 16
SETS = [
    "upscale.method=srgan",
    "rebalance.method=cgan",
    "srgan.pretrain_epochs=1",
    "srgan.epochs=1",
    "cgan.epochs=1",
    "classifier.epochs=1",
    "metrics.enabled=false",
]
# Dense bf16 tensor-core peaks from the vendors' data sheets (no sparsity), TFLOP/s, by a word of
# the name torch reports: only to say what fraction of its peak a measured card reached.
PEAK_BY_WORD = {"A100": 312.0, "H100": 989.0, "H200": 989.0, "L4": 121.0}
TRAINED = ("srgan", "cgan", "classifier")
CEILING_GOAL = 0.8


def paper_search() -> dict:
    """The paper space's search settings the sweep projection uses (read, not restated)."""
    from galaxybench.sweep.space import load_search_space

    space = load_search_space("paper")
    confirm = len(space.confirm_seeds)
    return {
        "ladder": tuple(space.search.ladder) or (1.0,),
        "reduction": space.search.reduction_factor,
        "trials": space.search.num_samples,
        "confirm_runs": space.top_k * confirm,
        "seeds": confirm + 1,  # one cached baseline classifier per confirmation seed + search
    }


def _step_flops(fn) -> float:
    with FlopCounterMode(display=False) as counter:
        fn()
    return float(counter.get_total_flops())


def flops_per_image(cfg, depth: int | None = None) -> dict[str, float]:
    """FLOPs per image of each network's training step (fwd+bwd) and inference (fwd)."""
    from galaxybench.stages.classify_cnn import PaperCNN
    from galaxybench.stages.rebalance_cgan_nets import Discriminator as CD
    from galaxybench.stages.rebalance_cgan_nets import Generator as CG
    from galaxybench.stages.upscale_srgan_nets import Discriminator, Generator

    hr, lr_side, s, c = cfg.data.hr_size, cfg.data.hr_size // 2, cfg.srgan, cfg.cgan
    with torch.device("meta"):  # shapes only: counting FLOPs computes nothing
        gen = Generator(depth or s.depth, s.channels, s.bicubic_skip)
        disc = Discriminator(hr, s.channels)
        lr_x, hr_x = torch.randn(BATCH, 3, lr_side, lr_side), torch.randn(BATCH, 3, hr, hr)
        cnn = PaperCNN(10, hr, cfg.classifier.dense_units)
    # The cGAN D's per-class minibatch stddev reads values (.item()): real, small CPU tensors.
    cgen, cdisc = CG(10, c.latent_dim, c.width, lr_side), CD(10, c.width, lr_side)
    z, y = torch.randn(BATCH, c.latent_dim), torch.randint(0, 10, (BATCH,))

    def gan_step():  # D on real and fake, then G through D (Ledig et al. 2017)
        fake = gen(lr_x)
        (disc(hr_x).mean() + disc(fake.detach()).mean()).backward()
        (disc(fake).mean() + (fake - hr_x).square().mean()).backward()

    def cgan_step():
        fake = cgen(z, y)
        (
            cdisc(torch.randn(BATCH, 3, lr_side, lr_side), y).mean()
            + cdisc(fake.detach(), y).mean()
        ).backward()
        cdisc(fake, y).mean().backward()

    with torch.no_grad():
        infer = {
            "srgan_infer": _step_flops(lambda: gen(lr_x)),
            "cgan_sample": _step_flops(lambda: cgen(z, y)),
            "classifier_infer": _step_flops(lambda: cnn(hr_x)),
        }
    train = {
        "srgan_pretrain_step": _step_flops(lambda: gen(lr_x).square().mean().backward()),
        "srgan_gan_step": _step_flops(gan_step),
        "cgan_step": _step_flops(cgan_step),
        "classifier_step": _step_flops(lambda: cnn(hr_x).logsumexp(1).mean().backward()),
    }
    return {k: v / BATCH for k, v in {**train, **infer}.items()}


def trial_flops(cfg, per: dict[str, float], n: dict[str, float]) -> dict[str, float]:
    """FLOPs of one full trial by stage, for image counts `n` (train, val, test, synthetic,
    cgan_train) and the epochs of `cfg`; the baseline classifier is counted apart."""
    s, c, k = cfg.srgan, cfg.cgan, cfg.classifier
    upscaled = n["train"] + n["val"] + n["test"] + n["synthetic"]
    classify_train = (n["train"] + n["synthetic"]) * k.epochs * per["classifier_step"]
    classify_eval = (n["val"] * k.epochs + n["test"]) * per["classifier_infer"]
    return {
        "srgan": n["train"]
        * (s.pretrain_epochs * per["srgan_pretrain_step"] + s.epochs * per["srgan_gan_step"])
        + upscaled * per["srgan_infer"],
        "cgan": n["cgan_train"] * c.epochs * per["cgan_step"] + n["synthetic"] * per["cgan_sample"],
        "classifier": classify_train + classify_eval,
        "baseline": n["train"] * k.epochs * per["classifier_step"] + classify_eval,
    }


def sweep_trial_equivalents(p: dict) -> tuple[float, float]:
    """(search trials' cost in full trials on the ASHA ladder of ``paper_search()``, confirmation
    runs). Promotions continue from the cached shorter run, so rung r costs (f_r - f_{r-1}) per
    trial reaching it, and 1/reduction of the trials reach the next rung."""
    alive, cost, previous = float(p["trials"]), 0.0, 0.0
    for fraction in p["ladder"]:
        cost += alive * (fraction - previous)
        alive, previous = alive / p["reduction"], fraction
    return cost, float(p["confirm_runs"])


def measured_rates(measured: dict | None) -> dict[str, float] | None:
    """TFLOP/s per trained stage in the measured trial: the stage's FLOPs at the trial's own
    image counts and epochs over its compute seconds (the classifier's include the baseline's).
    None without a measured trial."""
    comp = (measured or {}).get("compute_seconds") or {}
    if not all(comp.get(stage) for stage in TRAINED):
        return None
    from galaxybench import load_profile

    full = measured.get("epochs") == "paper profile"
    cfg = load_profile("paper", SETS[:2] if full else SETS)
    flops = trial_flops(cfg, flops_per_image(cfg), _counts(measured, cfg, scale=False))
    flops["classifier"] += flops.pop("baseline")
    return {stage: flops[stage] / comp[stage] / 1e12 for stage in TRAINED}


def fused_ratio(device: str) -> float | None:
    """Fused over unfused confirm-phase images per second on ``device``, from
    ``bench/fused_confirm.py``'s record of that card (None: not measured there)."""
    import json

    path = REPORTS / "gpu_fused_confirm.json"
    if not path.is_file():
        return None
    record = json.loads(path.read_text())
    same = record.get("card") == device and not record.get("smoke")
    return float(record["ratio"]) if same and record.get("ratio") else None


def device_row(device: str, rates: dict[str, float], proj: dict) -> dict:
    """A full paper trial and sweep at ``rates`` (TFLOP/s per stage) on ``device``; with a
    measured fused ratio on that card, the sweep with its baseline and confirm phases fused."""
    by_stage = dict(proj["trial_flops_by_stage"])
    trial_s = sum(by_stage[stage] / (rates[stage] * 1e12) for stage in TRAINED)
    trial_s += by_stage["baseline"] / (rates["classifier"] * 1e12)
    mean_rate = proj["trial_flops"] / trial_s  # FLOP/s over a whole trial's mix of stages
    peak = next((v for word, v in PEAK_BY_WORD.items() if word in device), None)
    ratio = fused_ratio(device)
    fused = None
    if ratio:  # the search stays unfused; confirmation runs and baselines run `ratio` faster
        search = proj["search_flops"]
        fused = (search + (proj["sweep_flops"] - search) / ratio) / mean_rate / 3600
    return {
        "device": device,
        "tflops_by_stage": {k: round(v, 4) for k, v in rates.items()},
        "trial_hours": trial_s / 3600,
        "sweep_device_hours": proj["sweep_flops"] / mean_rate / 3600,
        "fused_confirm_ratio": ratio,
        "sweep_device_hours_fused": fused,
        "fraction_of_bf16_peak": round(mean_rate / (peak * 1e12), 4) if peak else None,
    }


def srgan_ceiling(device: str) -> float | None:
    """The paper SRGAN's adversarial step alone at batch 16 (eager), TFLOP/s on ``device``; the
    CPU takes a few steps only (about half a minute each at the paper's size)."""
    from gpu_step_ceiling import measure

    from galaxybench import load_profile

    steps = 20 if device.startswith("cuda") else 2
    rate, flops = measure("srgan", BATCH, steps, torch.device(device), False, load_profile("paper"))
    return rate * flops / 1e12


def _table(rows: list[dict], proj: dict) -> str:
    lines = [
        "| device | TFLOP/s SRGAN / cGAN / classifier (in the trial) | one paper trial "
        "| whole paper sweep | the same, confirmation seeds fused |",
        "|---|---:|---:|---:|---:|",
    ]
    for row in rows:
        r = row["tflops_by_stage"]
        hours = row["trial_hours"]
        trial = f"{hours * 60:.1f} min" if hours < 2 else f"{hours:.1f} h"
        fused = row.get("sweep_device_hours_fused")
        fused_text = (
            f"{fused:,.0f} device-hours ({row['fused_confirm_ratio']:.2f}x on confirm)"
            if fused
            else "not measured on this device"
        )
        lines.append(
            f"| {row['device']} | {r['srgan']:.3g} / {r['cgan']:.3g} / {r['classifier']:.3g} | "
            f"{trial} | {row['sweep_device_hours']:,.0f} device-hours | {fused_text} |"
        )
    return "\n".join(lines)


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def measured_trial(data_path: Path, *, full: bool = False) -> dict:
    """One paper trial (every epoch count cut to 1, or the profile's own with ``full``): wall and
    compute seconds and peak RSS per stage, image counts."""
    from galaxybench import evaluate_trial, load_data, load_profile

    cfg = load_profile("paper", [*SETS[:2], "metrics.enabled=false"] if full else SETS)
    data = load_data(str(data_path), cfg.data)
    stage, peaks, stop = ["load"], {}, threading.Event()

    def sample() -> None:
        while not stop.is_set():
            peaks[stage[0]] = max(peaks.get(stage[0], 0.0), _rss_mb())
            time.sleep(0.01)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    t0 = time.perf_counter()
    result = evaluate_trial(cfg, data, use_cache=False, on_stage=lambda s: stage.__setitem__(0, s))
    seconds = time.perf_counter() - t0
    stop.set()
    sampler.join()
    m = result.metrics
    split = {s: len(v) for s, v in data.splits.items()}
    augmented = [data.class_names.index(name) for name in m.get("augmented_classes") or []]
    train_labels = data.labels[data.splits["train"]]
    cgan_share = float(np.isin(train_labels, augmented).mean()) if augmented else 0.0
    return {
        "status": result.status,
        "n_rows": int(data.info["n_read"]),
        "seconds": round(seconds, 1),
        "stage_seconds": m.get("stage_seconds"),
        "compute_seconds": m.get("compute_seconds"),
        "stage_peak_rss_mb": {k: round(v, 1) for k, v in peaks.items()},
        "n_synthetic": int(m.get("n_synthetic", 0)),
        "augmented_classes": m.get("augmented_classes"),
        "split_counts": split,
        "cgan_train_share": round(cgan_share, 4),
        "torch_threads": torch.get_num_threads(),
        "epochs": "paper profile" if full else "1 per stage",
        "device": "cuda" if torch.cuda.is_available() else "cpu",
        "device_name": device_name(),
    }


def _counts(measured: dict | None, cfg, *, scale: bool = True) -> dict[str, float]:
    """Images per stage at full scale: scaled from the measured trial, else nominal shares
    (``scale=False``: the measured trial's own counts)."""
    if measured is None:  # 65/15/20 split, ~2,400 synthetic images for ~1,500 cGAN images
        n = FULL_N - 2 * 59 - 20
        return {
            "train": 0.65 * n,
            "val": 0.15 * n,
            "test": 0.2 * n,
            "synthetic": 2400.0,
            "cgan_train": 1500.0,
        }
    f = FULL_N / measured["n_rows"] if scale else 1.0
    sc = measured["split_counts"]
    minority_share = measured.get("cgan_train_share", 0.13)
    return {
        "train": sc["train"] * f,
        "val": sc["val"] * f,
        "test": sc["test"] * f,
        "synthetic": measured["n_synthetic"] * f,
        "cgan_train": minority_share * sc["train"] * f,
    }


def projection(cfg, counts: dict[str, float]) -> dict:
    per8 = flops_per_image(cfg)
    trial = trial_flops(cfg, per8, counts)
    one = trial["srgan"] + trial["cgan"] + trial["classifier"] + trial["baseline"]
    # The sweep draws srgan.depth from {4, 8, 16}: average the SRGAN cost over the three.
    srgan_mean = (
        sum(trial_flops(cfg, flops_per_image(cfg, d), counts)["srgan"] for d in (4, 8, 16)) / 3
    )
    search = paper_search()
    search_eq, confirm = sweep_trial_equivalents(search)
    own = trial["cgan"] + trial["classifier"] + srgan_mean
    sweep = (search_eq + confirm) * own + search["seeds"] * trial["baseline"]
    return {
        "search_flops": search_eq * own,
        "flops_per_image": per8,
        "trial_flops_by_stage": trial,
        "trial_flops": one,
        "sweep_flops": sweep,
        "search_trial_equivalents": round(search_eq, 2),
        "confirmation_runs": confirm,
        "image_counts_full_scale": counts,
        "assumptions": {
            "batch": BATCH,
            "epochs": "the paper profile's: SRGAN 10 pretrain + 100 adversarial, cGAN 100, "
            "classifier 10",
            "sweep": f"{search['trials']} search trials on the ASHA ladder "
            f"{[round(f, 4) for f in search['ladder']]} (reduction {search['reduction']}, "
            f"promotions continue cached runs), {int(confirm)} confirmation runs (top-k x "
            "confirmation seeds), one cached baseline classifier per seed; SRGAN depth "
            "averaged over {4, 8, 16}",
            "not_counted": "data preparation and quality metrics (Inception); a trial's "
            "rates include its copies and Python overhead",
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", help="a Galaxy10 DECaLS-layout file")
    parser.add_argument("--n", type=int, default=240, help="rows to generate without --data")
    parser.add_argument("--flops-only", action="store_true", help="skip the measured trial")
    parser.add_argument(
        "--full",
        action="store_true",
        help="run the trial at the paper profile's own epochs (a GPU check of the projection)",
    )
    parser.add_argument(
        "--reuse-measured",
        metavar="JSON",
        help="take the measured trial from this earlier output instead of running it",
    )
    add_smoke_flag(parser)
    args = parser.parse_args()
    args.flops_only = args.flops_only or args.smoke  # a CPU paper trial takes minutes
    from galaxybench import load_profile

    cfg = load_profile("paper", SETS[:2])
    load_start = os.getloadavg()
    measured = None
    if args.reuse_measured:
        import json

        earlier = json.loads(Path(args.reuse_measured).read_text())
        measured = earlier["measured"]
        measured["reused_from"] = args.reuse_measured
        measured.setdefault("load_average_at_measurement", earlier.get("load_average_start"))
    elif not args.flops_only:
        with tempfile.TemporaryDirectory() as tmp:
            os.environ.setdefault("GALAXYBENCH_HOME", str(Path(tmp) / "home"))
            path = Path(args.data) if args.data else None
            if path is None:
                from galaxybench.data.rehearsal import write_like

                path = write_like(Path(tmp) / "like.h5", n=args.n)
            measured = measured_trial(path, full=args.full)
    proj = projection(cfg, _counts(measured, cfg))
    rates = measured_rates(measured)
    rows = _earlier_rows()
    ceiling = None
    if rates is not None:
        device = measured.get("device_name") or f"cpu ({measured.get('torch_threads')} threads)"
        if "srgan_ceiling_tflops" not in measured and not args.reuse_measured:
            measured["srgan_ceiling_tflops"] = srgan_ceiling(measured.get("device", "cpu"))
        ceiling = measured.get("srgan_ceiling_tflops")
        rows = [r for r in rows if r["device"] != device] + [device_row(device, rates, proj)]
    md = (
        f"FLOPs counted with FlopCounterMode: one paper trial = {proj['trial_flops'] / 1e15:.0f} "
        f"PFLOP, the paper sweep = {proj['sweep_flops'] / 1e15:.0f} PFLOP "
        f"({proj['search_trial_equivalents']} search-trial equivalents + "
        f"{int(proj['confirmation_runs'])} confirmation runs). Times at the rates each device "
        "reached in a measured trial; a device without a row has not been measured.\n\n"
        + _table(rows, proj)
        + "\n"
    )
    folder = reports_dir(args.smoke)
    if folder is not None:
        (folder / "paper_stage_costs.md").write_text(md)
    print(md)
    uptime = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    srgan_rate = rates["srgan"] if rates else None
    finish(
        "paper_stage_costs",
        ratio=srgan_rate / ceiling if srgan_rate and ceiling else 0.0,
        goal=CEILING_GOAL,
        smoke=args.smoke,
        ratio_meaning=(
            "the trial's SRGAN TFLOP/s over the SRGAN step alone at batch 16 (eager), both "
            "measured in this run on this device; 0.0: no trial measured in this run"
        ),
        measured=measured,
        projection=proj,
        devices=rows,
        cpus=os.cpu_count(),
        load_average_start=[round(x, 2) for x in load_start],
        uptime=uptime,
    )


def _earlier_rows() -> list[dict]:
    """The device rows of the record already in the reports folder (other devices kept)."""
    import json

    path = REPORTS / "paper_stage_costs.json"
    try:
        return list(json.loads(path.read_text()).get("devices") or [])
    except (OSError, ValueError):
        return []


if __name__ == "__main__":
    main()
