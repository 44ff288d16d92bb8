"""Content-addressed, atomic, locked stage cache (docs/architecture.md, "Data flow").

An entry lives in ``<root>/<stage>/<key>/`` where key = hash(stage inputs: data fingerprint, stage
config, seed, and ``stage_code_hash``: the hash of the code of the stages involved, so a code change
never reuses stale weights). It is written to a temp dir and renamed into place, under a file lock,
so concurrent trials (threads, processes, Ray workers on a shared path) needing the same artifact
build it once and nobody reads half an entry.

Usage::

    cache = StageCache(root)
    weights, hit = cache.get_or_create("upscale_srgan", parts, build=lambda: fit(...),
                                       save=save_weights, load=load_weights)
    state, start = cache.get_or_continue("upscale_srgan", parts_without_epochs, epochs=12,
                                         build=lambda state, start: train_to(state, 12))

A resumable stage (the GANs under a budget ladder) keeps one entry per epoch count reached,
``<stage>/<key of the config without its epoch count>.e<epochs>/``; a longer run continues from
the largest cached count below its target, so a promoted trial pays only the increment.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import torch
from filelock import FileLock

from galaxybench.config import stable_hash

log = logging.getLogger(__name__)

T = TypeVar("T")

_PACKAGE = Path(__file__).resolve().parent
# Code every stage runs through: helpers, base classes, image conversions.
_SHARED_CODE = ("stages/_common.py", "stages/base.py", "images.py")


def files_hash(paths: list[Path]) -> str:
    """SHA256 (16 hex) of the files' names (relative to the package) and bytes, in order."""
    digest = hashlib.sha256()
    for path in paths:
        digest.update(
            str(path.relative_to(_PACKAGE) if path.is_relative_to(_PACKAGE) else path.name).encode()
        )
        digest.update(b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


@functools.cache
def stage_code_hash(stage: str) -> str:
    """Hash of the code that decides what ``stage``'s cache entry holds.

    A stage named after its module (``upscale_srgan``) hashes that module, its ``_nets`` module
    and its ``_fused`` trainer (which fills the same entries); any other stage (the classifier,
    whose inputs come from every upscaler and rebalancer) hashes every module under ``stages/``.
    Shared helpers count for all. So a code change invalidates the entries it can change, and
    ``--resume`` never reuses stale weights.
    """
    stages = _PACKAGE / "stages"
    own = [stages / f"{stage}.py", stages / f"{stage}_nets.py", stages / f"{stage}_fused.py"]
    files = [p for p in own if p.exists()] if own[0].exists() else sorted(stages.glob("*.py"))
    shared = [_PACKAGE / name for name in _SHARED_CODE]
    return files_hash(files + [p for p in shared if p not in files])


_DONE = "entry.json"
_STATE = "state.pt"


def save_weights(obj: dict[str, torch.Tensor], folder: Path) -> None:
    """Store a state dict (CPU tensors) as ``weights.pt``."""
    torch.save({k: v.detach().cpu() for k, v in obj.items()}, folder / "weights.pt")


def load_weights(folder: Path) -> dict[str, torch.Tensor]:
    """Read ``weights.pt`` safely (``weights_only=True``: no unpickling of arbitrary objects)."""
    return torch.load(folder / "weights.pt", map_location="cpu", weights_only=True)


def save_state(obj: dict[str, Any], folder: Path) -> None:
    """Store a training checkpoint (nested dicts/lists of tensors and numbers) as ``state.pt``."""
    torch.save(obj, folder / _STATE)


def load_state(folder: Path) -> dict[str, Any]:
    """Read ``state.pt`` with ``weights_only=True`` (tensors, numbers, containers only)."""
    return torch.load(folder / _STATE, map_location="cpu", weights_only=True)


_MISSING = object()


def _load_or_discard(folder: Path, load: Callable[[Path], Any]) -> Any:
    """``load(folder)``, or ``_MISSING`` after deleting a damaged entry (call under its lock).

    A truncated or corrupt file (a killed writer on a full disk, a bad copy) would otherwise fail
    every later trial that needs the entry, and Ray's retries could never clear it.
    """
    try:
        return load(folder)
    except Exception as exc:  # any unreadable entry: torch, zip, JSON and OS errors alike
        log.warning(
            "stage cache: damaged entry %s (%s: %s); deleting and rebuilding it",
            folder,
            type(exc).__name__,
            str(exc).splitlines()[0] if str(exc) else "",
        )
        shutil.rmtree(folder, ignore_errors=True)
        return _MISSING


def _store(folder: Path, value: Any, save: Callable[[Any, Path], None], entry: dict) -> None:
    """Write an entry under a temporary name, then rename it into place (call under its lock):
    a reader sees a whole entry or none. ``entry`` is what ``entry.json`` records."""
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    try:
        save(value, tmp)
        (tmp / _DONE).write_text(json.dumps(entry, sort_keys=True, default=str, indent=1))
        if folder.exists():  # a leftover without its entry.json: replace it
            shutil.rmtree(folder)
        os.replace(tmp, folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


class StageCache:
    """A directory of stage outputs keyed by content; ``enabled=False`` always rebuilds."""

    def __init__(self, root: str | Path | None, *, enabled: bool = True) -> None:
        self.root = Path(root) if root is not None else None
        self.enabled = enabled and self.root is not None

    def key(self, stage: str, parts: dict[str, Any]) -> str:
        """The content key of a stage output."""
        return stable_hash({"stage": stage, "code": stage_code_hash(stage), **parts})

    def get_or_create(
        self,
        stage: str,
        parts: dict[str, Any],
        *,
        build: Callable[[], T],
        save: Callable[[T, Path], None],
        load: Callable[[Path], T],
    ) -> tuple[T, bool]:
        """The cached output of ``stage`` for ``parts``, building and storing it on a miss.

        Returns:
            (value, hit): ``hit`` is True when the value came from the cache.
        """
        if not self.enabled:
            return build(), False
        folder = self.root / stage / self.key(stage, parts)
        folder.parent.mkdir(parents=True, exist_ok=True)
        if (folder / _DONE).exists():
            try:
                return load(folder), True
            except Exception:  # damaged: checked again, and repaired, under the lock below
                pass
        with FileLock(str(folder) + ".lock"):
            if (folder / _DONE).exists():  # another trial built it while we waited
                value = _load_or_discard(folder, load)
                if value is not _MISSING:
                    return value, True
            value = build()
            _store(folder, value, save, {"stage": stage, "parts": parts})
        log.debug("stage cache: stored %s/%s", stage, folder.name)
        return value, False

    def has(self, stage: str, parts: dict[str, Any], *, epochs: int | None = None) -> bool:
        """Whether a finished entry exists (``epochs``: a resumable stage's checkpoint at exactly
        that count). False when the cache is off."""
        return self.enabled and (self._folder(stage, parts, epochs) / _DONE).exists()

    def put(
        self,
        stage: str,
        parts: dict[str, Any],
        value: Any,
        *,
        save: Callable[[Any, Path], None],
        epochs: int | None = None,
        held: bool = False,
    ) -> bool:
        """Store ``value`` as the entry ``get_or_create`` (or, with ``epochs``,
        ``get_or_continue`` from scratch) would have built; a finished entry is kept as it is.

        Work trained elsewhere (a fused group of trials) fills the cache this way, so each
        member's own trial then reads it as a hit. ``held``: the caller holds the entry's lock
        (``holding``). Returns True when stored.
        """
        if not self.enabled:
            return False
        folder = self._folder(stage, parts, epochs)
        folder.parent.mkdir(parents=True, exist_ok=True)
        entry: dict[str, Any] = {"stage": stage, "parts": parts}
        if epochs is not None:
            entry.update(epochs=epochs, continued_from=0)
        with contextlib.nullcontext() if held else FileLock(str(folder) + ".lock"):
            if (folder / _DONE).exists():
                return False
            _store(folder, value, save, entry)
        log.debug("stage cache: put %s/%s", stage, folder.name)
        return True

    @contextlib.contextmanager
    def holding(self, entries: Iterable[tuple[str, dict[str, Any], int | None]]) -> Iterator[None]:
        """Hold the locks of several entries ((stage, parts, epochs or None) each) while their
        values are built together, as ``get_or_create`` holds one: a trial or group that needs
        one of them waits, then finds it stored. Taken in sorted order, so two holders never
        wait on each other."""
        if not self.enabled:
            yield
            return
        with contextlib.ExitStack() as stack:
            for path in sorted({self._folder(*e) for e in entries}):
                path.parent.mkdir(parents=True, exist_ok=True)
                stack.enter_context(FileLock(str(path) + ".lock"))
            yield

    def epochs_cached(self, stage: str, parts: dict[str, Any]) -> list[int]:
        """The epoch counts a resumable stage has finished checkpoints at (none: cache off)."""
        if not self.enabled:
            return []
        return sorted(self._epoch_entries(stage, self.key(stage, parts)))

    def _folder(self, stage: str, parts: dict[str, Any], epochs: int | None) -> Path:
        assert self.root is not None
        base = self.key(stage, parts)
        return self.root / stage / (base if epochs is None else f"{base}.e{epochs:06d}")

    def _epoch_entries(self, stage: str, base: str) -> dict[int, Path]:
        """Finished entries of a resumable stage's config ``base``, by epochs reached."""
        out: dict[int, Path] = {}
        for folder in (self.root / stage).glob(f"{base}.e*"):
            tail = folder.name.rsplit(".e", 1)[-1]
            if tail.isdigit() and (folder / _DONE).exists():
                out[int(tail)] = folder
        return out

    def get_or_continue(
        self,
        stage: str,
        parts: dict[str, Any],
        *,
        epochs: int,
        build: Callable[[dict[str, Any] | None, int], dict[str, Any]],
    ) -> tuple[dict[str, Any], int]:
        """The checkpoint of ``stage`` after ``epochs`` epochs, continuing the longest shorter one.

        Args:
            parts: the cache-key parts WITHOUT the epoch count.
            epochs: the epochs the checkpoint must have reached.
            build: ``build(start_state, start_epochs)`` trains from ``start_state`` (None: from
                scratch, ``start_epochs`` 0) up to ``epochs`` and returns the new checkpoint.

        Returns:
            (checkpoint, start): ``start`` is the epoch count training resumed from; ``epochs``
            on an exact hit (nothing trained), 0 when trained from scratch.
        """
        if not self.enabled:
            return build(None, 0), 0
        base = self.key(stage, parts)
        folder = self.root / stage / f"{base}.e{epochs:06d}"
        folder.parent.mkdir(parents=True, exist_ok=True)
        if (folder / _DONE).exists():
            try:
                return load_state(folder), epochs
            except Exception:  # damaged: checked again, and repaired, under the lock below
                pass
        with FileLock(str(folder) + ".lock"):
            if (folder / _DONE).exists():
                value = _load_or_discard(folder, load_state)
                if value is not _MISSING:
                    return value, epochs
            # Continue from the longest readable shorter checkpoint; a damaged one is dropped.
            state, start = None, 0
            entries = self._epoch_entries(stage, base)
            for shorter in sorted((e for e in entries if e < epochs), reverse=True):
                state = _load_or_discard(entries[shorter], load_state)
                if state is not _MISSING:
                    start = shorter
                    break
                state = None
            value = build(state, start)
            entry = {"stage": stage, "parts": parts, "epochs": epochs, "continued_from": start}
            _store(folder, value, save_state, entry)
        log.debug("stage cache: stored %s/%s (from epoch %d)", stage, folder.name, start)
        return value, start
