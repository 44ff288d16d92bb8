"""Build one experiment's report directory from its stored results (never trains).

Usage: ``build_report("runs/default")`` -> ``reports/default/`` with leaderboard.md,
leaderboard.csv, trials.csv, provenance.json, index.html and figures/*.png.

The report is written into a temporary sibling directory and renamed into place, so a reader
never sees a half-written report and a failed build leaves the previous one untouched.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd

from galaxybench import paths, results
from galaxybench.errors import InputError
from galaxybench.io import dir_mode
from galaxybench.report import display, html, markdown, tables
from galaxybench.report.experiment import Experiment, load_experiment
from galaxybench.report.figures import ReportFigure, write_figures
from galaxybench.report.headline import Headline, data_name, headline
from galaxybench.report.search import SearchSummary, compute_note, search_summary

log = logging.getLogger(__name__)

GENERATOR = "galaxybench"


def _distinct(values: list[Any]) -> list[Any]:
    return list(dict.fromkeys(v for v in values if v is not None))


_ABS_PATH = re.compile(r"(?<![\w.~-])/(?:[^\s/:'\",]+/)*([^\s/:'\",]+)")


def strip_paths(obj: Any, root: Path | None = None) -> Any:
    """``obj`` with every absolute path made relative to ``root`` or cut to its basename.

    A published report must not reveal the machine's directory layout (home directories, temp
    folders): paths inside the experiment become relative to it, every other one its basename.
    """
    if isinstance(obj, dict):
        return {k: strip_paths(v, root) for k, v in obj.items()}
    if isinstance(obj, list):
        return [strip_paths(v, root) for v in obj]
    if not isinstance(obj, str) or "/" not in obj:
        return obj
    prefix = str(root.resolve()) if root is not None else None

    def repl(m: re.Match[str]) -> str:
        path = m.group(0)
        if prefix and (path == prefix or path.startswith(prefix + "/")):
            return path[len(prefix) + 1 :] or "."
        return m.group(1)

    return _ABS_PATH.sub(repl, obj)


def provenance(exp: Experiment, generated_at: str) -> dict[str, Any]:
    """What produced the results: versions, data, split seed, sweep YAML, revision, hardware.

    Absolute paths are stripped (see ``strip_paths``); ``generator`` marks the directory as a
    galaxybench report, which is what lets a later ``report --out`` replace it.
    """
    recs = exp.records
    prov = [r.get("provenance") or {} for r in recs]
    versions = next((p["versions"] for p in prov if p.get("versions")), {})
    sweep_data = exp.sweep.get("data")
    base = exp.sweep.get("resolved_base_config")
    split_seeds = _distinct([r["config"].get("data.split_seed") for r in recs])
    if not split_seeds and isinstance(base, dict):  # trials that failed before recording config
        split_seeds = _distinct([base.get("data.split_seed")])
    return strip_paths(
        {
            "generator": GENERATOR,
            "experiment": exp.name,
            "experiment_dir": exp.name,
            "generated_at": generated_at,
            # As given (--data), else the file the sweep resolved (the embedded set, a download):
            # a report always names its data.
            "data_source": sweep_data
            if isinstance(sweep_data, str)
            else exp.sweep.get("data_path"),
            "data_fingerprints": _distinct([r.get("data_fingerprint") for r in recs]),
            "split_seeds": split_seeds,
            "seeds": {
                phase: _distinct([r.get("seed") for r in exp.phase(phase)])
                for phase in results.PHASES
            },
            "versions": versions,
            "git_revisions": _distinct([p.get("git_revision") for p in prov]),
            "hardware": _distinct([p.get("device") for p in prov]),
            "platforms": _distinct([p.get("platform") for p in prov]),
            "sweep_yaml": exp.sweep_text,
            "summary": exp.summary,
            "report": {
                "versions": results.package_versions(),
                "git_revision": results.git_revision(),
            },
        },
        exp.path,
    )


def _markdown(
    exp: Experiment,
    board: pd.DataFrame,
    ablation: pd.DataFrame,
    per_class: pd.DataFrame,
    search: SearchSummary,
    head: Headline,
) -> str:
    md = markdown.md_table
    parts = [
        f"# Leaderboard: {markdown.inline(exp.name)}\n",
        *(f"{markdown.inline(line)}\n" for line in head.lines()),
        "Confirmed runs only; ranked by mean minority-F1 gain over the baseline "
        f"(paired by seed and split). Intervals: {display.interval_note(board)}.\n",
        md(display.display_leaderboard(board)),
        "### All columns\n",
        md(display.display_details(board)),
        "## Ablations\n",
        f"Intervals: {display.interval_note(ablation)}.\n",
        md(display.display_ablation(ablation)),
        f"## Per-class F1: baseline vs {markdown.inline(per_class.attrs.get('best_row'))}\n",
        md(display.display_per_class(per_class)),
        "## Search\n",
        md(display.display_frame(search.counts)),
        f"Best validation minority F1: {display.number(search.best_val)} "
        f"(trial {markdown.inline(search.best_trial or display.DASH)})\n",
        f"{compute_note(exp)}\n",
        "### Failed and diverged trials\n",
        md(display.display_frame(search.failures)),
        "### Parameter importance\n",
        md(display.display_frame(search.importance))
        if not search.importance.empty
        else f"{markdown.inline(search.note)}\n",
    ]
    return "\n".join(parts)


def _folded(summary: str, *parts: str) -> str:
    return f"<details><summary>{html.esc(summary)}</summary>\n" + "\n".join(parts) + "\n</details>"


def _html(
    exp: Experiment,
    board: pd.DataFrame,
    ablation: pd.DataFrame,
    per_class: pd.DataFrame,
    search: SearchSummary,
    figures: list[ReportFigure],
    prov: dict[str, Any],
    head: Headline,
) -> str:
    best_cfg = "\n".join(f"{k}: {v}" for k, v in sorted(search.best_config.items()))
    importance = (
        html.table(display.display_frame(search.importance), "importance")
        if not search.importance.empty
        else html.paragraph(search.note, "note")
    )
    group = {
        kind: [html.figure(f.path, f.caption) for f in figures if f.kind == kind]
        for kind in ("result", "search", "sample")
    }
    lead = [html.paragraph(head.search, "note")] if head.search else []
    lead += [
        html.paragraph(head.finding, "finding"),
        html.paragraph(head.headroom),
        *([html.paragraph(head.captured)] if head.captured else []),
        html.paragraph(head.data, "data"),
    ]
    sections = [
        html.section("Finding", *lead, section_id="finding"),
        html.section(
            "Leaderboard",
            html.paragraph(
                "Confirmed runs only, ranked by mean minority-F1 gain over the baseline (paired by "
                f"seed and split). Intervals: {display.interval_note(board)}."
            ),
            html.table(display.display_leaderboard(board), "leaderboard"),
            _folded(
                "All columns: settings, secondary metrics, FID, compute",
                html.table(display.display_details(board), "details"),
            ),
            section_id="board",
        ),
        html.section(
            "Ablations",
            html.paragraph(f"Intervals: {display.interval_note(ablation)}."),
            html.table(display.display_ablation(ablation), "ablation"),
        ),
        html.section(
            f"Per-class F1: baseline vs {per_class.attrs.get('best_row')}",
            html.table(display.display_per_class(per_class), "per-class"),
            *group["result"],
        ),
        html.section(
            "Samples (one strip per row)",
            *group["sample"] or [html.paragraph("No trial wrote sample images.", "note")],
        ),
        html.section(
            "Search",
            html.table(display.display_frame(search.counts), "counts"),
            html.paragraph(
                f"Best validation minority F1: "
                f"{display.number(search.best_val)} (trial "
                f"{search.best_trial or display.DASH})"
            ),
            html.paragraph(compute_note(exp)),
            html.preformatted(best_cfg) if best_cfg else "",
            "<h3>Failed and diverged trials</h3>",
            html.table(display.display_frame(search.failures), "failures"),
            "<h3>Parameter importance</h3>",
            importance,
            *group["search"],
        ),
        html.section(
            "Configuration and provenance",
            _folded(
                "Provenance",
                html.preformatted(
                    json.dumps(
                        {k: v for k, v in prov.items() if k != "sweep_yaml"}, indent=2, default=str
                    )
                ),
            ),
            _folded(
                "Resolved sweep",
                html.preformatted(strip_paths(exp.sweep_text, exp.path) or "(no sweep.yaml)"),
            ),
            section_id="provenance",
        ),
    ]
    return html.page(
        f"galaxybench report: {exp.name}",
        sections,
        subtitle=f"generated {prov['generated_at']} from experiment {exp.name}",
    )


def _write(exp: Experiment, tmp: Path) -> None:
    board = tables.leaderboard_table(exp)
    ablation = tables.ablation_table(board)
    per_class = tables.per_class_table(exp, board)
    search = search_summary(exp)
    generated_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
    head = headline(exp, board)
    prov = provenance(exp, generated_at)
    prov["data"] = strip_paths(data_name(exp))
    prov["headline"] = strip_paths(head.to_dict(), exp.path)
    figures = write_figures(exp, board, per_class, tmp / "figures")
    board.to_csv(tmp / "leaderboard.csv", index=False)
    tables.trials_table(exp).to_csv(tmp / "trials.csv", index=False)
    (tmp / "leaderboard.md").write_text(
        _markdown(exp, board, ablation, per_class, search, head), encoding="utf-8"
    )
    results.write_json(tmp / "provenance.json", prov)
    (tmp / "index.html").write_text(
        _html(exp, board, ablation, per_class, search, figures, prov, head), encoding="utf-8"
    )


# What build_report writes into a report directory; nothing else there is ever touched.
REPORT_FILES = (
    "figures",
    "leaderboard.csv",
    "trials.csv",
    "leaderboard.md",
    "provenance.json",
    "index.html",
)


def is_report_dir(path: Path) -> bool:
    """True when ``path`` holds a galaxybench report: its provenance.json says it wrote it.

    Reports written before the ``generator`` field existed are recognised by the keys only this
    writer put together (experiment, generated_at, data_fingerprints) beside a leaderboard.csv.
    """
    try:
        prov = json.loads((path / "provenance.json").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return False
    if not isinstance(prov, dict):
        return False
    if prov.get("generator") == GENERATOR:
        return True
    legacy = {"experiment", "generated_at", "data_fingerprints"} <= prov.keys()
    return legacy and (path / "leaderboard.csv").is_file()


def _check_out(out: Path) -> None:
    """Refuse an output path that is not empty, absent, or an earlier galaxybench report."""
    if not out.exists() and not out.is_symlink():
        return
    if not out.is_dir() or out.is_symlink():
        raise InputError(f"--out {out}: exists and is not a directory; choose a new directory")
    if any(out.iterdir()) and not is_report_dir(out):
        raise InputError(
            f"--out {out}: directory is not empty and holds no galaxybench report; "
            "choose an empty or new directory (nothing was changed)"
        )


def _install(tmp: Path, out: Path) -> None:
    """Move the finished report from ``tmp`` into ``out``, touching only the report's own files.

    A new or empty ``out`` is replaced whole (one rename). Into an earlier report each file is
    swapped with ``os.replace`` (atomic per file) and the figures folder by rename, so a reader
    sees an old or a new file, never a half-written one, and foreign files in ``out`` stay.
    """
    if not out.exists():
        tmp.rename(out)
        return
    if not any(out.iterdir()):
        out.rmdir()
        tmp.rename(out)
        return
    suffix = tmp.name.rsplit("-", 1)[-1]
    for name in REPORT_FILES:  # index.html last: it is what a reader opens
        src, dst = tmp / name, out / name
        if not src.exists():
            continue
        if src.is_dir():
            old = out / f".{name}.old-{suffix}"
            if dst.is_dir() and not dst.is_symlink():
                dst.rename(old)
            elif dst.exists() or dst.is_symlink():
                dst.unlink()
            src.rename(dst)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(src, dst)
    shutil.rmtree(tmp, ignore_errors=True)


def build_report(experiment_dir: str | Path, out_dir: str | Path | None = None) -> Path:
    """Write the report of ``experiment_dir`` to ``out_dir`` (default: the project's
    ``reports/<name>``, ``galaxybench.paths.reports_dir``).

    ``out_dir`` must be new, empty, or an earlier galaxybench report (its provenance.json names
    the generator); anything else is refused before anything is written.

    Returns:
        The report directory. It replaces any previous report there only once complete.

    Raises:
        InputError: missing or empty experiment directory, malformed results, no confirmed
            result, or an ``out_dir`` that holds something other than a report.
    """
    exp = load_experiment(experiment_dir)
    out = Path(out_dir) if out_dir is not None else paths.reports_dir() / exp.name
    _check_out(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    try:
        tmp.chmod(dir_mode())  # mkdtemp makes it private; the umask decides, as for mkdir
        _write(exp, tmp)
        _check_out(out)  # again: another writer may have filled it meanwhile
        _install(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    log.info("report of %s written to %s", exp.name, out)
    return out
