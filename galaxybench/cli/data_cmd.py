"""``galaxybench data``: synth, info, prepare and download Galaxy10-format files.

Usage::

    galaxybench data synth --out tiny.h5 --scale 0.02 --size 64 --preview tiny.png
    galaxybench data info galaxy10-decals --json
    galaxybench data prepare tiny.h5 --profile smoke
    galaxybench data download galaxy10-sdss --dest ./data
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any


def _synth(args: argparse.Namespace) -> int:
    from galaxybench.data import synthetic

    out = synthetic.write_synthetic(Path(args.out), scale=args.scale, size=args.size,
                                    seed=args.seed, progress=sys.stderr.isatty())
    print(f"wrote {out}")
    if args.preview:
        print(f"wrote {synthetic.write_preview(out, Path(args.preview))}")
    return 0


def _info_table(facts: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    console.print(f"[bold]{facts['path']}[/bold]")
    console.print(f"shape {tuple(facts['shape'])} {facts['dtype']}, native size "
                  f"{facts['native_size']} px, {facts['num_images']} images, "
                  f"{facts['num_classes']} classes")
    minority = set(facts["minority_classes"])
    table = Table("id", "class", "count", "scoring minority")
    for c in facts["classes"]:
        flag = "yes" if c["name"] in minority else ""
        table.add_row(str(c["id"]), c["name"], str(c["count"]), flag)
    console.print(table)
    ratio = facts["imbalance_ratio"]
    console.print(f"imbalance ratio (largest / smallest): "
                  f"{'inf' if ratio is None else f'{ratio:.2f}'}")
    dup = facts["duplicates"]
    console.print("duplicates: no ra/dec in the file" if dup is None else
                  f"duplicates: {dup['groups']} objects seen more than once, {dup['conflicting']} "
                  f"with disagreeing labels; {dup['dropped']} rows dropped before splitting")
    console.print(f"scoring minority set (< {facts['minority_fraction']} x largest): "
                  f"{', '.join(facts['minority_classes']) or 'none'}")
    console.print(f"sha256 {facts['fingerprint']}")


def _info(args: argparse.Namespace) -> int:
    from galaxybench.data.galaxy10 import inspect, resolve_data

    path, _ = resolve_data(args.data)
    facts = inspect(path, minority_fraction=args.minority_fraction,
                    progress=not args.json and sys.stderr.isatty())
    if args.json:
        print(json.dumps(facts, indent=2))
    else:
        _info_table(facts)
    return 0


def _prepare(args: argparse.Namespace) -> int:
    from galaxybench.config import load_profile
    from galaxybench.data.galaxy10 import load_data

    cfg = load_profile(args.profile, args.set)
    data = load_data(args.data, cfg.data, progress=sys.stderr.isatty())
    sizes = ", ".join(f"{s} {len(v)}" for s, v in data.splits.items())
    print(f"{data.source}: {len(data.labels)} images at HR {data.hr_size} px "
          f"({data.info['n_duplicates_dropped']} duplicates dropped); {sizes}; "
          f"fingerprint {data.fingerprint}")
    return 0


def _download(args: argparse.Namespace) -> int:
    from galaxybench.data.download import download

    path = download(args.name, args.dest, url=args.url, progress=sys.stderr.isatty())
    print(f"downloaded and verified {path}")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``data synth|info|prepare|download`` to the top-level parser."""
    data = subparsers.add_parser("data", help="make, inspect, prepare and download Galaxy10 data")
    sub = data.add_subparsers(dest="data_command", metavar="ACTION", required=True)

    synth = sub.add_parser("synth", help="write a synthetic Galaxy10-format HDF5 file")
    synth.add_argument("--out", default="Galaxy10_synthetic.h5", help="output HDF5 path")
    synth.add_argument("--scale", type=float, default=1.0, help="1.0 = 17,736 images")
    synth.add_argument("--size", type=int, default=256, help="image side in pixels")
    synth.add_argument("--seed", type=int, default=0)
    synth.add_argument("--preview", metavar="PNG", help="also write a grid of examples per class")
    synth.set_defaults(func=_synth)

    info = sub.add_parser("info", help="shape, classes, duplicates, minority set, fingerprint")
    info.add_argument("data", metavar="PATH_OR_NAME",
                      help="a file, galaxy10-decals, galaxy10-sdss or embedded")
    info.add_argument("--json", action="store_true", help="print the facts as JSON on stdout")
    info.add_argument("--minority-fraction", type=float, default=0.66,
                      help="scoring minority set: classes below this x the largest (DESIGN 1.6)")
    info.set_defaults(func=_info)

    prep = sub.add_parser("prepare", help="validate, dedupe, resize and split into the cache")
    prep.add_argument("data", metavar="PATH_OR_NAME", nargs="?", default=None)
    prep.add_argument("--profile", default="default", help="config profile (data.* is used)")
    prep.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    prep.set_defaults(func=_prepare)

    down = sub.add_parser("download", help="download and verify a Galaxy10 file (resumable)")
    down.add_argument("name", choices=["galaxy10-decals", "galaxy10-sdss"])
    down.add_argument("--dest", help="folder (default: $GALAXYBENCH_HOME/data)")
    down.add_argument("--url", help="a mirror URL instead of the official one")
    down.set_defaults(func=_download)
