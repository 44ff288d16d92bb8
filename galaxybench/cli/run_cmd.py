"""``galaxybench run``: one full trial from the command line.

Usage: ``galaxybench run --profile smoke --set rebalance.method=cgan --out runs/one --json``
"""

from __future__ import annotations

import argparse
import csv
import io
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from galaxybench import results
from galaxybench.errors import GalaxybenchError, InputError
from galaxybench.io import atomic_write_text, strict_json_dumps


def config_keys_epilog() -> str:
    """Every config key, one line per section: what ``--set`` and profiles accept."""
    import textwrap

    from galaxybench.config import flat_keys

    sections: dict[str, list[str]] = {}
    for key in flat_keys():
        section, _, name = key.rpartition(".")
        sections.setdefault(section, []).append(name)
    lines = ["config keys (--set cgan.lr=1.0e-4; a profile nests them: cgan: {lr: 1.0e-4}):"]
    for section, names in sorted(sections.items(), key=lambda item: not item[0]):
        head = f"  {section or 'top level'}: "
        lines.append(
            textwrap.fill(
                ", ".join(names), 98, initial_indent=head, subsequent_indent=" " * len(head)
            )
        )
    return "\n".join(lines)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "run",
        help="run one full augment-then-classify trial",
        description="Run one full augment-then-classify trial and score it: its test scores are "
        "printed one per line (--json: the whole metrics object on stdout).",
        epilog=config_keys_epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--data",
        metavar="PATH_OR_NAME",
        default=None,
        help="Galaxy10-format file or name (default: downloaded Galaxy10, else embedded)",
    )
    p.add_argument("--profile", default="default", help="built-in profile or YAML file")
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config key, e.g. --set cgan.lr=1.0e-4 (repeatable)",
    )
    from galaxybench.cli.data_cmd import add_remap_labels_option  # -> data.remap_labels

    add_remap_labels_option(p, "overrides")
    p.add_argument("--seed", type=int, default=None, help="trial seed (config key `seed`)")
    p.add_argument(
        "--out",
        type=Path,
        default=None,
        help="write metrics.json, predictions.csv and figures into this folder; files of an "
        "earlier run there are not overwritten without --force",
    )
    p.add_argument("--force", action="store_true", help="overwrite an earlier run's files in --out")
    p.add_argument(
        "--cache",
        type=Path,
        default=None,
        help="stage cache directory (default: ~/.cache/galaxybench/stage_cache)",
    )
    p.add_argument("--no-cache", action="store_true", help="train every stage anew")
    p.add_argument("--device", default=None, help="torch device (default: cuda if available)")
    p.add_argument("--json", action="store_true", help="print the metrics object on stdout")
    p.set_defaults(func=run_command)


def _write_predictions(path: Path, predictions: dict[str, list[int]]) -> None:
    """predictions.csv, written whole through ``galaxybench.io`` (mkstemp, then rename)."""
    text = io.StringIO(newline="")
    writer = csv.writer(text)
    writer.writerow(["index", "label", "prediction"])
    writer.writerows(
        zip(predictions["index"], predictions["label"], predictions["prediction"], strict=True)
    )
    atomic_write_text(path, text.getvalue())


def check_out(out: Path | None, *, force: bool) -> None:
    """Refuse, in one line, an ``--out`` that is a file or holds files this run would overwrite."""
    if out is None:
        return
    if out.exists() and not out.is_dir():
        raise InputError(f"--out {out} is a file; give a folder for metrics.json and the figures")
    if force or not out.is_dir():
        return
    names = ("metrics.json", "predictions.csv", "sr_strip.png", "real_vs_synthetic_*.png")
    taken = sorted({p.name for pattern in names for p in out.glob(pattern)})
    if taken:
        raise InputError(
            f"--out {out} already holds {', '.join(taken[:3])}{' ...' if len(taken) > 3 else ''} "
            "from an earlier run; add --force to overwrite them, or give a new folder"
        )


def check_device(device: str | None) -> None:
    """Refuse, with one line, a ``--device`` torch cannot parse or this machine does not have."""
    if device is None:
        return
    import torch

    try:
        dev = torch.device(device)
    except (RuntimeError, ValueError):
        raise InputError(
            f"--device {device!r} is not a device: use cpu, cuda, cuda:N or mps"
        ) from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            build = "built without CUDA" if torch.version.cuda is None else "no GPU is visible"
            raise InputError(
                f"--device {device} requested but CUDA is not available (torch "
                f"{torch.__version__}: {build}); use --device cpu"
            )
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise InputError(
                f"--device {device}: this machine has {torch.cuda.device_count()} CUDA device(s)"
            )
    elif dev.type == "mps":
        if not torch.backends.mps.is_available():
            raise InputError(f"--device {device} requested but MPS is not available")
    elif dev.type != "cpu":
        raise InputError(f"--device {device!r} is not supported: use cpu, cuda, cuda:N or mps")


def _summary(result: results.TrialResult) -> str:
    m = result.metrics
    lines = [
        f"minority F1 {m[results.MINORITY_F1]:.4f}  (delta vs baseline "
        f"{m.get(results.MINORITY_F1_DELTA, float('nan')):+.4f})",
        f"macro F1 {m[results.MACRO_F1]:.4f}  accuracy {m[results.ACCURACY]:.4f}  "
        f"balanced accuracy {m[results.BALANCED_ACCURACY]:.4f}  best epoch {m[results.BEST_EPOCH]}",
        f"minority classes: {', '.join(m[results.MINORITY_CLASSES])}",
        f"augmented classes: {', '.join(m[results.AUGMENTED_CLASSES]) or 'none'} "
        f"({m[results.N_SYNTHETIC]} images added)",
    ]
    if m.get(results.PSNR_BICUBIC) is not None:
        srgan = m.get(results.PSNR_SRGAN)
        lines.append(
            f"PSNR bicubic {m[results.PSNR_BICUBIC]:.2f} dB"
            + (f", SRGAN {srgan:.2f} dB" if srgan is not None else "")
        )
    if m.get(results.FID_DOMAIN) is not None:
        lines.append(f"domain FID {m[results.FID_DOMAIN]:.2f}")
    hits = [k for k, v in result.cache_hits.items() if v]
    seconds = ", ".join(f"{k} {v:.1f} s" for k, v in (m.get(results.STAGE_SECONDS) or {}).items())
    lines.append(f"stage times: {seconds or 'n/a'}; cache hits: {', '.join(hits) or 'none'}")
    return "\n".join(lines)


def _write_outputs(out: Path, result: results.TrialResult, figures: Path) -> None:
    """metrics.json, predictions.csv and the figures, each written whole (temp + rename)."""
    out.mkdir(parents=True, exist_ok=True)
    results.write_json(out / "metrics.json", result.to_dict())
    _write_predictions(out / "predictions.csv", result.predictions)
    for png in figures.glob("*.png"):
        shutil.move(str(png), out / png.name)


def _failure_json(exc: Exception, stage: str | None) -> str:
    """The ``--json`` object of a trial that raised: status failed, the one-line reason, stage."""
    from galaxybench.cli import _os_error_line

    if isinstance(exc, OSError):
        reason = _os_error_line(exc)
    elif isinstance(exc, GalaxybenchError):
        reason = str(exc)
    else:
        reason = f"{type(exc).__name__}: {exc}"
    return strict_json_dumps(
        {results.STATUS: results.STATUS_FAILED, results.REASON: reason, "stage": stage}
    )


def run_command(args: argparse.Namespace) -> int:
    """``run``; with ``--json`` a trial that raised still prints its JSON (the exit code is the
    error's, given by the CLI's handler)."""
    state: dict[str, Any] = {}
    try:
        return _run(args, state)
    except Exception as exc:
        if args.json:
            print(_failure_json(exc, getattr(state.get("progress"), "current", None)), flush=True)
        raise


def _run(args: argparse.Namespace, state: dict[str, Any]) -> int:
    from galaxybench.cli.progress import TrialProgress
    from galaxybench.config import apply_overrides, load_profile, profile_keys
    from galaxybench.data import load_data, resolve_data
    from galaxybench.paths import stage_cache_dir
    from galaxybench.protocol import inert_settings
    from galaxybench.trial import evaluate_trial

    check_device(args.device)  # before the data are read
    check_out(args.out, force=args.force)
    cfg = load_profile(args.profile, args.overrides)
    if args.seed is not None:
        cfg = apply_overrides(cfg, [f"seed={args.seed}"])
    for line in inert_settings(cfg, profile_keys(args.profile, args.overrides)):
        print(f"warning: {line}", file=sys.stderr)
    path, description = resolve_data(args.data)
    print(f"data: {description}", file=sys.stderr)
    data = load_data(str(path), cfg.data, progress=True)
    with tempfile.TemporaryDirectory() as figures, TrialProgress(cfg) as progress:
        state["progress"] = progress  # its current stage names where a failure happened
        result = evaluate_trial(
            cfg,
            data,
            report=progress.epoch,
            device=args.device,
            cache_dir=args.cache or stage_cache_dir(),
            use_cache=not args.no_cache,
            on_stage=progress.stage,
            artifacts_dir=figures if args.out else None,
        )
        if result.status == results.STATUS_DIVERGED:
            if args.json:
                diverged = {**result.to_dict(), "stage": progress.current}
                print(strict_json_dumps(diverged, default=results.json_default))
            print(f"galaxybench: trial diverged: {result.reason}", file=sys.stderr)
            return 3
        if args.out:
            from galaxybench.report.trial_figures import render_samples

            render_samples(Path(figures))  # the trial saved arrays; draw them as PNGs
            _write_outputs(args.out, result, Path(figures))
    if args.json:
        print(strict_json_dumps(result.to_dict(), default=results.json_default))
    else:
        print(_summary(result))
        if args.out:
            print(f"wrote {args.out}/metrics.json, predictions.csv and figures")
    return 0
