"""What the user gets back: one line instead of NaN, strict JSON, files never overwritten.

Usage: ``pytest tests/test_user_outputs.py``.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys

import numpy as np
import pytest
from conftest import write_galaxy10_h5

BALANCED = (20,) * 10


def _run(*args: str, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "galaxybench", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=600,
    )


def _no_constants(name: str) -> None:
    raise ValueError(f"not strict JSON: {name}")


def test_run_on_data_without_a_minority_class_is_one_line(tmp_path) -> None:
    data = write_galaxy10_h5(tmp_path / "balanced.h5", counts=BALANCED, size=16, duplicates=0)
    proc = _run("run", "--profile", "smoke", "--data", str(data), "--json", "--no-cache")
    assert proc.returncode == 2, proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("galaxybench: error: no scoring-minority class in")
    assert "eval.minority_fraction" in last and "Traceback" not in proc.stderr
    assert "nan" not in proc.stdout.lower()


def test_json_the_user_reads_holds_null_never_nan(tmp_path, capsys) -> None:
    from galaxybench import results
    from galaxybench.cli.sweep_cmd import _print_summary

    summary = {"rows": {"cgan": math.nan}, "best": {"score": np.float64("inf")}}
    _print_summary(summary, True)
    printed = json.loads(capsys.readouterr().out, parse_constant=_no_constants)
    assert printed == {"rows": {"cgan": None}, "best": {"score": None}}
    results.write_json(tmp_path / "metrics.json", {"minority_f1": np.float32("nan")})
    text = (tmp_path / "metrics.json").read_text()
    assert json.loads(text, parse_constant=_no_constants) == {"minority_f1": None}


def test_run_out_never_overwrites_an_earlier_run_without_force(tmp_path) -> None:
    from galaxybench.cli.run_cmd import check_out
    from galaxybench.errors import InputError

    out = tmp_path / "run"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    check_out(out, force=False)  # a folder of other files: nothing of theirs is overwritten
    (out / "metrics.json").write_text('{"minority_f1": 0.5}')
    proc = _run("run", "--profile", "smoke", "--out", str(out))
    assert proc.returncode == 2
    last = proc.stderr.strip().splitlines()[-1]
    assert "already holds metrics.json" in last and "--force" in last
    assert (out / "metrics.json").read_text() == '{"minority_f1": 0.5}'
    check_out(out, force=True)
    with pytest.raises(InputError, match="is a file"):
        check_out(out / "notes.txt", force=True)
