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

from galaxybench.config import MINORITY_FRACTION
from galaxybench.errors import InputError
from galaxybench.io import strict_json_dumps

SYNTH_WARN_BYTES = 1_000_000_000  # data synth says so before writing more pixels than this


REMAP_HELP = (
    "use a file whose labels are not 0..K-1 with every class present: 'auto' maps "
    "the sorted labels present to 0..K-1; '2,5,8' maps 2->0, 5->1, 8->2 and refuses "
    "other labels (config key data.remap_labels)"
)


def add_remap_labels_option(parser: argparse.ArgumentParser, overrides_dest: str) -> None:
    """``--remap-labels SPEC``: sets config key ``data.remap_labels`` through the override list.

    One dotted key, so it flows through ``--set``, the cache key and provenance like any other.
    """

    class _Remap(argparse.Action):
        def __call__(self, parser, namespace, values, option_string=None):  # type: ignore[no-untyped-def]
            items = list(getattr(namespace, overrides_dest, None) or [])  # never the shared default
            items.append(f"data.remap_labels={json.dumps(str(values))}")  # quoted: always a string
            setattr(namespace, overrides_dest, items)

    parser.add_argument("--remap-labels", action=_Remap, metavar="auto|L1,L2,...", help=REMAP_HELP)


DEFAULT_SYNTH_NAME = "Galaxy10_synthetic.h5"


def check_new_file(path: Path, flag: str, *, force: bool, example: str) -> None:
    """Refuse, in one line, a user-named output that is a folder, or a file without ``--force``.

    ``example`` is a file name to suggest inside a folder the user gave by mistake.
    """
    if path.is_dir():
        raise InputError(f"{flag} {path} is a directory; give a file name such as {path / example}")
    if (path.exists() or path.is_symlink()) and not force:
        raise InputError(f"{flag} {path} already exists; add --force to overwrite it")


def _synth_size(args: argparse.Namespace) -> None:
    """Note on stderr before writing more than SYNTH_WARN_BYTES of pixels."""
    from galaxybench.data import synthetic

    if args.like:
        n, side = (17_736 if args.n is None else max(args.n, 0)), 256
    else:
        n, side = int(synthetic.class_counts(args.scale).sum()), args.size
    size_bytes = n * side * side * 3
    if size_bytes > SYNTH_WARN_BYTES:
        print(
            f"galaxybench: note: writing {n} images of {side} px: about "
            f"{size_bytes / 1e9:.1f} GB of pixels",
            file=sys.stderr,
        )


def _synth_write(args: argparse.Namespace, out: Path) -> Path:
    from galaxybench.data import synthetic

    if args.like:  # the real file's layout (rehearsal); --scale/--size do not apply
        from galaxybench.data.rehearsal import write_like

        return write_like(out, args.like, n=args.n, seed=args.seed, progress=sys.stderr.isatty())
    return synthetic.write_synthetic(
        out, scale=args.scale, size=args.size, seed=args.seed, progress=sys.stderr.isatty()
    )


def _synth(args: argparse.Namespace) -> int:
    import tempfile

    from galaxybench.data import synthetic

    # Defaults are the embedded set's (seconds to write), never the full 3.5 GB DECaLS size.
    args.scale = synthetic.EMBEDDED_SCALE if args.scale is None else args.scale
    args.size = synthetic.EMBEDDED_SIZE if args.size is None else args.size
    if not args.like:
        synthetic.check_keeps_minority(args.scale)
    # --preview alone writes the preview only; the HDF5 file then lives in a temp folder.
    keep = args.out is not None or not args.preview
    out = Path(args.out or DEFAULT_SYNTH_NAME)
    if keep:
        check_new_file(out, "--out", force=args.force, example=DEFAULT_SYNTH_NAME)
    if args.preview:
        check_new_file(Path(args.preview), "--preview", force=args.force, example="preview.png")
    _synth_size(args)
    with tempfile.TemporaryDirectory(prefix="galaxybench-synth-") as tmp:
        written = _synth_write(args, out if keep else Path(tmp) / DEFAULT_SYNTH_NAME)
        if keep:
            print(f"wrote {written}")
        if args.preview:
            print(f"wrote {synthetic.write_preview(written, Path(args.preview))}")
    return 0


def _info_table(facts: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.markup import escape  # names and paths come from the file: never rich markup
    from rich.table import Table

    console = Console()
    console.print(f"[bold]{escape(facts['path'])}[/bold]")
    console.print(
        f"shape {tuple(facts['shape'])} {facts['dtype']}, native size "
        f"{facts['native_size']} px, {facts['num_images']} images, "
        f"{facts['num_classes']} classes"
    )
    minority = set(facts["minority_classes"])
    table = Table("id", "class", "count", "scoring minority")
    for c in facts["classes"]:
        flag = "yes" if c["name"] in minority else ""
        table.add_row(str(c["id"]), escape(c["name"]), str(c["count"]), flag)
    console.print(table)
    ratio = facts["imbalance_ratio"]
    console.print(
        f"imbalance ratio (largest / smallest): {'inf' if ratio is None else f'{ratio:.2f}'}"
    )
    dup = facts["duplicates"]
    console.print(
        "duplicates: no ra/dec in the file"
        if dup is None
        else f"duplicates: {dup['groups']} objects seen more than once, {dup['conflicting']} "
        f"with disagreeing labels; {dup['dropped']} rows dropped before splitting"
    )
    console.print(
        f"scoring minority set (< {facts['minority_fraction']} x largest): "
        f"{escape(', '.join(facts['minority_classes'])) or 'none'}"
    )
    if facts.get("remap"):
        console.print(
            "labels remapped (file -> class id): "
            + ", ".join(f"{k}->{v}" for k, v in facts["remap"].items())
        )
    console.print(f"sha256 {facts['fingerprint']}")


def _info(args: argparse.Namespace) -> int:
    from galaxybench.data.galaxy10 import inspect, resolve_data

    path, _ = resolve_data(args.data)
    facts = inspect(
        path,
        minority_fraction=args.minority_fraction,
        remap_labels=args.remap_labels,
        progress=not args.json and sys.stderr.isatty(),
    )
    if args.json:
        print(strict_json_dumps(facts, indent=2))
    else:
        _info_table(facts)
    return 0


def _prepare(args: argparse.Namespace) -> int:
    from galaxybench.config import load_profile
    from galaxybench.data.galaxy10 import load_data

    cfg = load_profile(args.profile, args.set)
    data = load_data(args.data, cfg.data, progress=sys.stderr.isatty())
    sizes = ", ".join(f"{s} {len(v)}" for s, v in data.splits.items())
    print(
        f"{data.source}: {len(data.labels)} images at HR {data.hr_size} px "
        f"({data.info['n_duplicates_dropped']} duplicates dropped); {sizes}; "
        f"fingerprint {data.fingerprint}"
    )
    return 0


def _download(args: argparse.Namespace) -> int:
    from galaxybench.data.download import download

    path = download(
        args.name, args.dest, url=args.url, sha256=args.sha256, progress=sys.stderr.isatty()
    )
    print(f"downloaded and verified {path}")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``data synth|info|prepare|download`` to the top-level parser."""
    data = subparsers.add_parser("data", help="make, inspect, prepare and download Galaxy10 data")
    sub = data.add_subparsers(dest="data_command", metavar="ACTION", required=True)

    synth = sub.add_parser("synth", help="write a synthetic Galaxy10-format HDF5 file")
    synth.add_argument(
        "--out",
        default=None,
        help=f"output HDF5 file, never overwritten without --force (default: {DEFAULT_SYNTH_NAME} "
        "in the current folder; with --preview alone, no HDF5 file is kept)",
    )
    synth.add_argument(
        "--force", action="store_true", help="overwrite an existing --out or --preview file"
    )
    synth.add_argument(
        "--scale",
        type=float,
        default=None,
        help="fraction of the DECaLS class counts, 1.0 = 17,736 images; at least 0.007, below "
        "which no class is a minority (default: the embedded set's, about 2,660 images)",
    )
    synth.add_argument(
        "--size",
        type=int,
        default=None,
        help="image side in pixels (default: the embedded set's, 64; Galaxy10 DECaLS is 256)",
    )
    synth.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    synth.add_argument(
        "--like",
        choices=["galaxy10-decals"],
        default=None,
        help="imitate a real file's layout: shape, class counts, row order, gzip "
        "chunks (--scale/--size do not apply)",
    )
    synth.add_argument(
        "--n", type=int, default=None, help="with --like: rows (default: the real file's 17,736)"
    )
    synth.add_argument(
        "--preview",
        metavar="PNG",
        help="also write a grid of examples per class; without --out, only this PNG is written",
    )
    synth.set_defaults(func=_synth)

    info = sub.add_parser("info", help="shape, classes, duplicates, minority set, fingerprint")
    info.add_argument(
        "data", metavar="PATH_OR_NAME", help="a file, galaxy10-decals, galaxy10-sdss or embedded"
    )
    info.add_argument("--json", action="store_true", help="print the facts as JSON on stdout")
    info.add_argument(
        "--minority-fraction",
        type=float,
        default=MINORITY_FRACTION,
        help="scoring minority set: classes below this x the largest (docs/protocol.md)",
    )
    info.add_argument("--remap-labels", default="", metavar="auto|L1,L2,...", help=REMAP_HELP)
    info.set_defaults(func=_info)

    prep = sub.add_parser("prepare", help="validate, dedupe, resize and split into the cache")
    prep.add_argument(
        "data",
        metavar="PATH_OR_NAME",
        nargs="?",
        default=None,
        help="a file, galaxy10-decals, galaxy10-sdss or embedded (default: the "
        "downloaded Galaxy10 file, else the embedded set)",
    )
    prep.add_argument(
        "--profile",
        default="default",
        help="built-in profile or YAML file whose data.* settings are used",
    )
    prep.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config key, e.g. --set data.hr_size=64 (repeatable)",
    )
    add_remap_labels_option(prep, "set")
    prep.set_defaults(func=_prepare)

    down = sub.add_parser("download", help="download and verify a Galaxy10 file (resumable)")
    down.add_argument(
        "name", choices=["galaxy10-decals", "galaxy10-sdss"], help="which Galaxy10 file"
    )
    down.add_argument("--dest", help="folder (default: $GALAXYBENCH_HOME/data)")
    down.add_argument("--url", help="a mirror URL instead of the official one")
    down.add_argument(
        "--sha256",
        metavar="HEX",
        help="expected SHA256 of the file, overriding the known one (for a mirror "
        "that serves another version); the download is verified against it",
    )
    down.set_defaults(func=_download)
