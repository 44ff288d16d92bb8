"""One-line errors: bad ``--device`` values, OSError (disk full, permission) and MemoryError.

Each error is one line on stderr with its exit status; ``--debug`` shows the traceback instead.

Usage: ``pytest tests/test_cli_errors.py``.
"""

from __future__ import annotations

import errno
from pathlib import Path

import pytest
import torch

from galaxybench.cli import EXIT_ENVIRONMENT, main


def _one_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert "Traceback" not in err[0]
    return err[0]


@pytest.mark.parametrize("device", ["bogus", "cuda:x", "meta"])
def test_bad_device_is_one_line_exit_2(device, capsys, tmp_path: Path):
    out = str(tmp_path / "o")
    assert main(["run", "--profile", "smoke", "--device", device, "--out", out]) == 2
    assert "--device" in _one_line(capsys)
    assert not (tmp_path / "o").exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_cuda_without_cuda_says_so(capsys):
    assert main(["run", "--profile", "smoke", "--device", "cuda"]) == 2
    line = _one_line(capsys)
    assert "CUDA is not available" in line and "--device cpu" in line


def _raising(exc: BaseException):
    def synth(*args, **kwargs):
        raise exc

    return synth


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (
            OSError(errno.ENOSPC, "No space left on device", "/shared/exp/results/search.jsonl"),
            "No space left on device (ENOSPC): /shared/exp/results/search.jsonl",
        ),
        (
            PermissionError(errno.EACCES, "Permission denied", "/data/x.h5"),
            "Permission denied (EACCES): /data/x.h5",
        ),
        (MemoryError(), "out of memory (MemoryError)"),
    ],
)
def test_os_and_memory_errors_are_one_line_and_debug_shows_the_traceback(
    exc, expected, monkeypatch, tmp_path: Path, capsys
):
    from galaxybench.data import synthetic

    monkeypatch.setattr(synthetic, "write_synthetic", _raising(exc))
    argv = ["data", "synth", "--scale", "0.007", "--size", "8", "--out", str(tmp_path / "x.h5")]
    assert main(argv) == EXIT_ENVIRONMENT
    assert _one_line(capsys).startswith(f"galaxybench: error: {expected}")
    with pytest.raises(type(exc)):
        main(["--debug", *argv])
