"""The Ray session: connect to (or start) Ray, its auth, the cluster's resources, shut it down.

Token auth is the default of a Ray this package starts or joins: ``RAY_AUTH_MODE`` is set to
``token`` when a session starts (``connect``, ``wait_for_nodes``), never at import, and a value the
user set is kept.

Usage::

    owns = connect(address=None)
    ...
    if owns:
        shutdown()
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import time
from pathlib import Path
from typing import Any

import ray
from ray._private import ray_constants

from galaxybench.errors import InputError
from galaxybench.sweep.ray_backend.trainable import trial_device
from galaxybench.sweep.space import SearchSpace

AUTH_MODE_ENV = "RAY_AUTH_MODE"
DEFAULT_AUTH_MODE = "token"


def default_auth_mode() -> None:
    """Ray's auth mode for the session about to start: ``$RAY_AUTH_MODE`` when the user set it,
    else ``token`` (``ray.init()`` then generates ``~/.ray/auth_token`` for a local cluster).

    Ray caches its config when it is imported, so a mode set here is made visible to this process
    by reloading that config, as Ray's own ``_enable_token_auth`` does.
    """
    if os.environ.get(AUTH_MODE_ENV) is not None:
        return
    os.environ[AUTH_MODE_ENV] = DEFAULT_AUTH_MODE
    from ray._raylet import Config

    Config.initialize("")


def ray_logging_to(path: Path) -> None:
    """Ray's own log lines go to ``path`` instead of the console (the CLI draws its own view)."""
    logger = logging.getLogger("ray")
    for handler in list(logger.handlers):
        # StreamHandler covers FileHandler too: every earlier target of Ray's lines is dropped.
        if isinstance(handler, logging.StreamHandler):
            logger.removeHandler(handler)
    handler = logging.FileHandler(path)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logger.addHandler(handler)
    logger.propagate = False


def connect(address: str | None = None, num_cpus: int | None = None) -> bool:
    """Join the cluster at ``address``/``$RAY_ADDRESS``, or start a private local Ray.

    Returns True when this call started Ray (the caller shuts it down with ``shutdown``). A local
    Ray starts no dashboard and uses token auth unless ``RAY_AUTH_MODE`` says otherwise.
    """
    # Ray Tune's console tables stay off (verbose=0 alone does not silence the new output engine).
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    if ray.is_initialized():
        return False
    default_auth_mode()
    address = address or os.environ.get("RAY_ADDRESS") or None
    if address and address != "local":
        ray.init(address=address, log_to_driver=False, logging_level=logging.WARNING)
        return True
    _ensure_private_token()
    # address="local" always starts a new Ray: without it, ray.init() joins whatever cluster
    # the temp dir's ray_current_cluster names (a stale one included). Ray's processes bind the
    # node's IP; Ray resolves 127.0.0.1 to the routable IP unless it runs as a single-machine
    # Ray (its Windows/macOS default), so that switch is held for the start: every process of
    # this Ray then listens on loopback only (checked in tests/test_ray_local.py).
    multi_node = ray_constants.ENABLE_RAY_CLUSTER
    ray_constants.ENABLE_RAY_CLUSTER = False
    try:
        ray.init(
            address="local",
            num_cpus=num_cpus or os.cpu_count() or 1,
            _node_ip_address="127.0.0.1",
            include_dashboard=False,
            dashboard_host="127.0.0.1",
            log_to_driver=False,
            logging_level=logging.WARNING,
        )
    finally:
        ray_constants.ENABLE_RAY_CLUSTER = multi_node
    return True


def _wait_for_port(address: str, deadline: float, timeout_s: float) -> None:
    """Wait until the head's port at ``host:port`` accepts a connection; InputError at deadline."""
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise InputError(f"--address {address!r} is not host:port")
    while True:
        try:
            socket.create_connection((host, int(port)), timeout=2.0).close()
            return
        except OSError as exc:
            if time.monotonic() > deadline:
                raise InputError(f"no Ray head at {address} after {timeout_s:g} s: {exc}") from None
            time.sleep(1.0)


def wait_for_nodes(address: str, nodes: int, timeout_s: float = 300.0) -> int:
    """Join the cluster at ``address``, wait until ``nodes`` nodes are alive, leave; their count.

    ``galaxybench cluster wait`` (the Slurm script, before its sweep). InputError (one line) when
    the head cannot be reached or the nodes do not join within ``timeout_s``.
    """
    deadline = time.monotonic() + timeout_s
    _wait_for_port(address, deadline, timeout_s)  # ray.init on a closed port retries for minutes
    default_auth_mode()
    ray.init(address=address, log_to_driver=False, logging_level=logging.WARNING)
    try:
        while (alive := sum(1 for n in ray.nodes() if n.get("Alive"))) < nodes:
            if time.monotonic() > deadline:
                raise InputError(f"{alive} of {nodes} Ray nodes at {address} after {timeout_s:g} s")
            time.sleep(1.0)
        return alive
    finally:
        ray.shutdown()


def _ensure_private_token() -> None:
    """Create Ray's token file mode 0600 before Ray does (Ray writes it with the umask, 0644).

    Only when token auth is on and no token is given through ``RAY_AUTH_TOKEN`` or
    ``RAY_AUTH_TOKEN_PATH``; an existing ``~/.ray/auth_token`` of ours is narrowed to 0600.
    """
    if os.environ.get(AUTH_MODE_ENV, DEFAULT_AUTH_MODE).lower() != DEFAULT_AUTH_MODE:
        return
    if os.environ.get("RAY_AUTH_TOKEN") or os.environ.get("RAY_AUTH_TOKEN_PATH"):
        return
    path = Path.home() / ".ray" / "auth_token"
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        # O_EXCL: never write through a planted file or link; 256 bits as Ray's own generator.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        if path.stat().st_uid == os.getuid() and path.stat().st_mode & 0o077:
            path.chmod(0o600)
        return
    with os.fdopen(fd, "w") as f:
        f.write(secrets.token_hex(32))


def shutdown() -> None:
    """Stop the Ray this process started."""
    ray.shutdown()


def cluster_resources() -> dict[str, float]:
    """The resources of the Ray cluster joined (``CPU``, ``GPU``, ...), for ``sweep.resources``."""
    return {k: float(v) for k, v in ray.cluster_resources().items()}


def check_resources(space: SearchSpace) -> None:
    """Refuse, before launch, a trial the cluster can never place (Ray would wait forever)."""
    have = ray.cluster_resources()
    gpus, cpus = float(have.get("GPU", 0)), float(have.get("CPU", 0))
    if space.gpu > 0 and gpus < space.gpu:
        raise InputError(
            f"{space.gpu:g} GPU per trial requested but the Ray cluster has "
            f"{gpus:g} GPUs: pass --gpus-per-trial 0 or join a GPU cluster"
        )
    if space.cpu > cpus:
        raise InputError(
            f"{space.cpu:g} CPUs per trial requested but the Ray cluster has "
            f"{cpus:g} CPUs: lower resources.cpu in the search space"
        )


def resources(space: SearchSpace) -> dict[str, Any]:
    """What a sweep runs on: the cluster's CPUs and GPUs, each trial's share, trials at once."""
    have = ray.cluster_resources()
    return {
        "cluster_cpus": float(have.get("CPU", 0)),
        "cluster_gpus": float(have.get("GPU", 0)),
        "cpu_per_trial": space.cpu,
        "gpu_per_trial": space.gpu,
        "device": trial_device(space.gpu),
        "max_concurrent": space.search.max_concurrent,
    }
