"""The private local Ray: loopback only, never a stale cluster, a 0600 token file.

A driver subprocess (its own Ray temp dir and HOME, token auth on) runs a local sweep while this
test lists, with psutil, every listening socket of the driver's process tree.

Usage: ``pytest -m ray tests/test_ray_local.py``.
"""

from __future__ import annotations

import ipaddress
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import ray  # noqa: F401  (a hard dependency: a broken Ray fails, never skips)
import yaml

psutil = pytest.importorskip("psutil")

pytestmark = [pytest.mark.ray, pytest.mark.slow]

DRIVER = """
import sys, time
from pathlib import Path
sys.path.insert(0, {tests!r})
from conftest import write_galaxy10_h5
from galaxybench import results
from galaxybench.config import to_flat
from galaxybench.sweep.space import load_search_space
from galaxybench.sweep import run_experiment

def trial(cfg, data, report=None, **kwargs):
    time.sleep(0.3)  # the test lists the sockets of a Ray busy with trials
    report({{results.EPOCH: 1, results.OBJECTIVE: 0.5}})
    return results.TrialResult(status=results.STATUS_OK, config=to_flat(cfg), seed=cfg.seed,
                         metrics={{results.OBJECTIVE: 0.5, results.MINORITY_F1: 0.4}})

write_galaxy10_h5(Path({h5!r}), counts=(24, 16, 30, 26, 8, 26, 16, 28, 14, 16))
space = load_search_space("smoke").with_options(num_samples=2, overrides=["data.hr_size=16"])
# The data by path, as the CLI passes it: resolved once, recorded in sweep.yaml.
s = run_experiment(space, name="local", storage={storage!r}, data_source={h5!r}, trial_fn=trial,
                   num_cpus=2, report=False)
print("trials", sum(p["trials"] for p in s["phases"].values()), "seconds", s["seconds"])
sys.exit(s["exit_code"])
"""


def _listening(root: int) -> dict[tuple[str, int], str]:
    """(address, port) -> process name, of every listening TCP socket in ``root``'s tree."""
    try:
        tree = [psutil.Process(root), *psutil.Process(root).children(recursive=True)]
    except psutil.NoSuchProcess:
        return {}
    names = {}
    for proc in tree:
        try:
            for c in proc.net_connections(kind="inet"):
                if c.status == psutil.CONN_LISTEN:
                    names[(c.laddr.ip, c.laddr.port)] = proc.name()
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return names


def _loopback(ip: str) -> bool:
    addr = ipaddress.ip_address(ip)
    if getattr(addr, "ipv4_mapped", None) is not None:
        addr = addr.ipv4_mapped
    return addr.is_loopback


def test_local_sweep_listens_on_loopback_only_and_ignores_a_stale_cluster(tmp_path: Path):
    # A short Ray temp dir (its Unix socket paths must stay under 108 bytes) holding a stale
    # ray_current_cluster, as a crashed `ray start` leaves: a plain ray.init() would join it.
    ray_tmp = Path(tempfile.mkdtemp(prefix="gbr", dir="/tmp"))
    (ray_tmp / "ray_current_cluster").write_text("127.0.0.1:9")
    home = tmp_path / "home"
    home.mkdir()
    (tmp_path / "driver.py").write_text(
        DRIVER.format(
            tests=str(Path(__file__).parent), h5=str(tmp_path / "tiny.h5"), storage=str(tmp_path)
        )
    )
    env = {**os.environ, "RAY_AUTH_MODE": "token", "RAY_TMPDIR": str(ray_tmp), "HOME": str(home)}
    for key in ("RAY_ADDRESS", "RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH"):
        env.pop(key, None)
    with open(tmp_path / "driver.err", "w") as err:
        proc = subprocess.Popen(
            [sys.executable, str(tmp_path / "driver.py")],
            env=env,
            cwd=tmp_path,
            start_new_session=True,
            stdout=err,
            stderr=err,
        )
    seen: dict[tuple[str, int], str] = {}
    try:
        deadline = time.monotonic() + 240
        while proc.poll() is None and time.monotonic() < deadline:
            seen.update(_listening(proc.pid))
            time.sleep(0.3)
        rc = proc.wait(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, 9)
        shutil.rmtree(ray_tmp, ignore_errors=True)
    assert rc == 0, (tmp_path / "driver.err").read_text()[-3000:]
    names = set(seen.values())
    assert {"gcs_server", "raylet"} <= names, seen  # the sockets were really listed
    exposed = {k: v for k, v in seen.items() if not _loopback(k[0])}
    assert not exposed, f"Ray listens beyond loopback: {exposed}"
    token = home / ".ray" / "auth_token"
    assert stat.S_IMODE(token.stat().st_mode) == 0o600
    assert len(token.read_text()) == 64  # 256 bits, hex
    assert (tmp_path / "local" / "results" / "confirm.jsonl").exists()
    doc = yaml.safe_load((tmp_path / "local" / "sweep.yaml").read_text())
    assert doc["data_path"] == str((tmp_path / "tiny.h5").resolve())
    assert isinstance(doc["data_fingerprint"], str) and len(doc["data_fingerprint"]) >= 16
