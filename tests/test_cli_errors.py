"""One-line errors: bad ``--device`` values, OSError (disk full, permission), MemoryError,
unknown config keys (with the likely key and where the key came from) and files that are not what
a command reads (binary YAML, a file given as a folder).

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


# ---- unknown keys: one line with the likely key, named where it came from -----------------------


def test_unknown_set_key_suggests_the_key_in_one_short_line(capsys):
    assert main(["run", "--profile", "smoke", "--set", "cgan.learning_rate=1e-4"]) == 2
    line = _one_line(capsys)
    assert "unknown config key 'cgan.learning_rate' in --set; did you mean 'cgan.lr'?" in line
    assert "galaxybench run --help" in line and "classifier.dense_units" not in line
    assert len(line) < 160


def test_a_non_number_in_set_gets_no_yaml_hint(capsys):
    assert main(["run", "--profile", "smoke", "--set", "cgan.lr=abc"]) == 2
    line = _one_line(capsys)
    assert "'cgan.lr' must be a number, got 'abc'" in line and "YAML" not in line


def test_run_help_lists_every_config_key(capsys):
    from galaxybench.config import flat_keys

    with pytest.raises(SystemExit):
        main(["run", "--help"])
    out = capsys.readouterr().out
    section = out[out.index("config keys") :]
    for key in flat_keys():
        assert key.rpartition(".")[2] in section, key


def test_a_profile_file_typo_names_the_file_and_the_likely_key(tmp_path: Path, capsys):
    (tmp_path / "mine.yaml").write_text("cgan:\n  learning_rate: 1e-4\n")
    assert main(["run", "--profile", str(tmp_path / "mine.yaml")]) == 2
    line = _one_line(capsys)
    assert "mine.yaml: unknown config key 'cgan.learning_rate'; did you mean 'cgan.lr'?" in line


def test_a_profile_file_takes_1e_minus_4_and_refuses_words(tmp_path: Path):
    from galaxybench.config import load_profile
    from galaxybench.errors import ConfigError

    (tmp_path / "p.yaml").write_text("cgan:\n  lr: 1e-4\n  betas: [5e-1, 0.9]\n")
    cfg = load_profile(str(tmp_path / "p.yaml"))
    assert cfg.cgan.lr == 1e-4 and cfg.cgan.betas == (0.5, 0.9)
    (tmp_path / "p.yaml").write_text("cgan:\n  lr: fast\n")
    with pytest.raises(ConfigError, match=r"^p.yaml: config key 'cgan.lr' must be a number"):
        load_profile(str(tmp_path / "p.yaml"))


def test_the_python_api_names_its_keyword_arguments_not_set():
    import galaxybench as gb
    from galaxybench.errors import ConfigError

    with pytest.raises(ConfigError) as err:
        gb.sweep("smoke", cgan__learning_rate=1e-4)
    message = str(err.value)
    assert "'cgan__learning_rate' in the keyword arguments of galaxybench.sweep()" in message
    assert "did you mean 'cgan__lr'?" in message and "--set" not in message
    with pytest.raises(ConfigError, match=r"did you mean 'num_samples'\?"):
        gb.sweep("smoke", num_sample=2)
    with pytest.raises(ConfigError) as err:
        gb.sweep("smoke", srgan__depth=2)  # searched by the smoke space
    assert "galaxybench.sweep()" in str(err.value) and "--set" not in str(err.value)


# ---- files that are not what the command reads: one line, exit 2 --------------------------------


def _binary(path: Path) -> Path:
    path.write_bytes(b"\x89HDF\r\n\x1a\n\x00\x00\xff\xfe\xe9\x80" * 64)
    return path


@pytest.mark.parametrize("name", ["space.h5", "space.yaml"])
@pytest.mark.parametrize("command", ["sweep", "ablate"])
def test_a_binary_space_file_is_one_line_exit_2(command, name, tmp_path: Path, capsys):
    path = _binary(tmp_path / name)
    assert main([command, "--space", str(path), "--storage", str(tmp_path / "exp")]) == 2
    line = _one_line(capsys)
    assert f"{name} is not a search space: it is binary" in line
    assert not (tmp_path / "exp").exists()


def test_a_binary_space_file_named_without_a_folder_is_read(tmp_path: Path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    _binary(tmp_path / "space.h5")
    assert main(["sweep", "--space", "space.h5"]) == 2
    assert "space.h5 is not a search space" in _one_line(capsys)


def test_a_binary_or_non_mapping_profile_is_one_line_exit_2(tmp_path: Path, capsys):
    assert main(["run", "--profile", str(_binary(tmp_path / "p.h5"))]) == 2
    assert "p.h5 is not a profile: it is binary" in _one_line(capsys)
    (tmp_path / "list.yaml").write_text("- 1\n- 2\n")
    assert main(["run", "--profile", str(tmp_path / "list.yaml")]) == 2
    assert "list.yaml: a config must be a mapping" in _one_line(capsys)


def test_report_on_a_file_says_it_is_a_file(tmp_path: Path, capsys):
    path = _binary(tmp_path / "results.h5")
    assert main(["report", str(path)]) == 2
    line = _one_line(capsys)
    assert f"{path} is a file, not an experiment directory; pass the folder a sweep wrote" in line
    (tmp_path / "exp").mkdir()
    (tmp_path / "exp" / "sweep.yaml").write_text("space: {}\n")
    assert main(["report", str(tmp_path / "exp" / "sweep.yaml")]) == 2
    assert f"pass its folder {tmp_path / 'exp'}" in _one_line(capsys)


def test_report_on_a_binary_results_file_is_one_line(tmp_path: Path, capsys):
    (tmp_path / "exp" / "results").mkdir(parents=True)
    _binary(tmp_path / "exp" / "results" / "confirm.jsonl")
    assert main(["report", str(tmp_path / "exp"), "--out", str(tmp_path / "r")]) == 2
    assert "confirm.jsonl: not a text file" in _one_line(capsys)


@pytest.mark.parametrize("command", ["leaderboard", "publish"])
def test_reports_folder_that_is_a_file_says_so(command, tmp_path: Path, capsys):
    path = _binary(tmp_path / "reports")
    assert main([command, "--reports", str(path)]) == 2
    assert f"{path} is a file, not a reports folder" in _one_line(capsys)


def test_sweep_whose_experiment_path_is_a_file_is_one_line(tmp_path: Path, capsys):
    _binary(tmp_path / "taken")
    argv = ["sweep", "--space", "smoke", "--name", "taken", "--storage", str(tmp_path)]
    assert main(argv) == 2
    assert "taken is a file, not an experiment directory" in _one_line(capsys)


def test_run_out_that_is_a_file_is_refused_before_the_trial(tmp_path: Path, capsys):
    path = _binary(tmp_path / "out")
    before = path.read_bytes()
    assert main(["run", "--profile", "smoke", "--out", str(path)]) == 2
    assert "--out" in _one_line(capsys) and path.read_bytes() == before


@pytest.mark.parametrize("text", ["- 1\n", "a: 1\n", None])
def test_resume_on_a_damaged_sweep_yaml_is_one_line(text, tmp_path: Path, capsys):
    (tmp_path / "exp").mkdir()
    sweep_yaml = tmp_path / "exp" / "sweep.yaml"
    _binary(sweep_yaml) if text is None else sweep_yaml.write_text(text)
    assert main(["sweep", "--resume", "--name", "exp", "--storage", str(tmp_path)]) == 2
    assert str(sweep_yaml) in _one_line(capsys)


def test_tabulate_out_that_is_a_directory_is_refused_before_the_table(tmp_path: Path, capsys):
    assert main(["tabulate", "--space", "smoke", "--out", str(tmp_path)]) == 2
    assert f"--out {tmp_path} is a directory" in _one_line(capsys)
