"""cluster.yaml stays closed: a pre-created security group, the token outside the checkout.

Usage: ``pytest tests/test_cluster_yaml.py``.
"""

from __future__ import annotations

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def _cluster() -> dict:
    return yaml.safe_load((ROOT / "cluster.yaml").read_text())


def test_every_node_uses_the_pre_created_security_group_and_ray_creates_none():
    cfg = _cluster()
    # A provider.security_group section makes Ray's AWS provider create a group with SSH open to
    # 0.0.0.0/0; with SecurityGroupIds on every node type it creates and changes nothing.
    assert "security_group" not in cfg["provider"]
    for name, node in cfg["available_node_types"].items():
        assert node["node_config"].get("SecurityGroupIds"), name
    assert "0.0.0.0/0" not in (ROOT / "cluster.yaml").read_text()


def test_token_is_one_file_mount_from_outside_the_checkout():
    cfg = _cluster()
    sources = {dst: Path(src).expanduser() for dst, src in cfg["file_mounts"].items()}
    token = sources["/home/ray/.ray/auth_token"]
    assert not token.resolve().is_relative_to(ROOT)
    assert "ray_auth_token" in (ROOT / ".gitignore").read_text().split()
    assert any("ray_auth_token" in pattern for pattern in cfg["rsync_exclude"])
    # The shared storage is not world-writable (planted files there would be read as results).
    assert "777" not in " ".join(cfg["initialization_commands"])
