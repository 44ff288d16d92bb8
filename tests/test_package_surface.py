"""Import-time behaviour and public surfaces: ``import galaxybench`` runs no subpackage, importing
the Ray backend changes no environment variable, ``galaxybench.sweep`` is callable however it was
reached, and every package's ``__all__`` names what it exports.

Usage: ``pytest tests/test_package_surface.py -q``
"""

from __future__ import annotations

import importlib
import os
import subprocess
import sys

import pytest


def _run(code: str, env: dict[str, str] | None = None) -> str:
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=180, env=env
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout.strip()


def test_import_galaxybench_imports_no_subpackage() -> None:
    out = _run(
        "import sys, galaxybench; "
        "print(sorted(m for m in sys.modules if m.startswith('galaxybench.')))"
    )
    assert out == "[]"


def test_sweep_is_callable_whether_reached_first_or_through_a_submodule() -> None:
    out = _run(
        "import galaxybench.sweep.plan, galaxybench as gb; "
        "from galaxybench import sweep; "
        "print(callable(gb.sweep), sweep is gb.sweep, gb.sweep.run_experiment.__name__)"
    )
    assert out == "True True run_experiment"
    out = _run("import galaxybench as gb; print(callable(gb.sweep), 'sweep' in dir(gb))")
    assert out == "True True"


def test_importing_the_ray_backend_sets_no_environment_variable() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RAY_", "TUNE_"))}
    out = _run(
        # Ray's own import sets variables of its own (RAY_CLIENT_MODE): compare after it.
        "import os, ray, ray.tune; before = dict(os.environ); "
        "import galaxybench.sweep.ray_backend; "
        "print(sorted(set(os.environ.items()) ^ set(before.items())), "
        "'RAY_AUTH_MODE' in os.environ)",
        env=env,
    )
    assert out == "[] False"


def test_a_session_defaults_to_token_auth_and_keeps_the_users_mode(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from galaxybench.sweep.ray_backend import default_auth_mode

    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")
    default_auth_mode()
    assert os.environ["RAY_AUTH_MODE"] == "disabled"
    monkeypatch.delenv("RAY_AUTH_MODE")
    default_auth_mode()
    assert os.environ["RAY_AUTH_MODE"] == "token"
    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")  # restored by monkeypatch; Ray's view too:
    from ray._raylet import Config

    Config.initialize("")


PACKAGES = [
    "galaxybench.data",
    "galaxybench.metrics",
    "galaxybench.stages",
    "galaxybench.trial",
    "galaxybench.sweep",
    "galaxybench.sweep.ray_backend",
    "galaxybench.report",
    "galaxybench.cluster",
]


@pytest.mark.parametrize("package", PACKAGES)
def test_every_package_exports_what_its_all_names(package: str) -> None:
    module = importlib.import_module(package)
    names = getattr(module, "__all__", None)
    assert names, f"{package} has no __all__"
    missing = [n for n in names if not hasattr(module, n)]
    assert not missing, f"{package}.__all__ names what it lacks: {missing}"
    assert len(set(names)) == len(names)


def test_evaluate_trial_takes_every_argument_of_the_trial_function_contract() -> None:
    import inspect

    from galaxybench.trial import TrialFunction, evaluate_trial

    contract = dict(inspect.signature(TrialFunction.__call__).parameters)
    contract.pop("self")
    actual = inspect.signature(evaluate_trial).parameters
    assert set(contract) == {
        "cfg",
        "data",
        "report",
        "device",
        "cache_dir",
        "num_threads",
        "artifacts_dir",
        "budget_fraction",
    }
    for name, param in contract.items():
        assert name in actual, f"evaluate_trial lacks {name}"
        assert actual[name].kind == param.kind, name


def test_the_metrics_package_imports_torch_only_for_a_torch_metric() -> None:
    out = _run(
        "import sys, galaxybench.metrics as m, galaxybench.metrics.classification; "
        "before = 'torch' in sys.modules; m.psnr; print(before, 'torch' in sys.modules)"
    )
    assert out == "False True"
