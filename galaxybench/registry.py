"""Typed registries of the things that vary (upscalers, rebalancers, classifier losses/augments).

The built-in stages and the stage plugins load lazily: the first ``get``, ``names`` or ``in`` on
any registry imports ``galaxybench.stages`` (every built-in registers itself on import) and then
every module named by an entry point of the group ``galaxybench.stages`` (an installed package
registers its own stages the same way). So ``config`` can check a method name without importing
torch or any stage at import time. Registration checks what is registered: an upscaler must be a
subclass of ``galaxybench.stages.base.Upscaler``, a rebalancer of ``Rebalancer``; losses and
augmentations must be callables. See docs/architecture.md, "Adding a stage".

Usage::

    from galaxybench.registry import UPSCALERS

    @UPSCALERS.register("nearest")       # in a stage module
    class Nearest(NothingToLearn, Upscaler): ...

    UPSCALERS.get("bicubic")             # unknown names raise ConfigError listing the known ones
    "srgan" in UPSCALERS, UPSCALERS.names()
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable, Iterator
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from galaxybench.errors import ConfigError

if TYPE_CHECKING:  # types only: the stages sit above this module (docs/architecture.md)
    from galaxybench.stages.base import AugmentFn, LossFactory, Rebalancer, Upscaler

T = TypeVar("T")

#: The entry-point group through which an installed package adds stages. Each entry point names
#: a module; importing it registers its stages.
ENTRY_POINT_GROUP = "galaxybench.stages"
#: The package whose import registers every built-in stage.
BUILTIN_PACKAGE = "galaxybench.stages"

_lock = threading.RLock()
_builtins_loaded = False
_plugins_loaded: set[str] = set()


def load_stages(*, rescan: bool = False) -> None:
    """Import the built-in stages and the stage plugins, once; plugins new since, on ``rescan``.

    Called by every registry on first use, and with ``rescan`` when a name is missing (a plugin
    installed after the first lookup is then found; scanning the installed distributions costs
    milliseconds, so it is not repeated on every lookup). A plugin that fails to import raises
    ConfigError naming its entry point, so a broken plugin does not read as an unknown method.
    """
    global _builtins_loaded
    with _lock:
        if _builtins_loaded and not rescan:
            return
        if not _builtins_loaded:
            # Set first: the import below calls register(), which must not load again.
            _builtins_loaded = True
            try:
                importlib.import_module(BUILTIN_PACKAGE)
            except BaseException:
                _builtins_loaded = False
                raise
        for ep in entry_points(group=ENTRY_POINT_GROUP):
            key = f"{ep.name}={ep.value}"
            if key in _plugins_loaded:
                continue
            _plugins_loaded.add(key)
            try:
                ep.load()
            except Exception as exc:
                raise ConfigError(
                    f"stage plugin {ep.name!r} ({ep.value}, entry point group "
                    f"{ENTRY_POINT_GROUP}) failed to import: {type(exc).__name__}: {exc}"
                ) from exc


def _resolve(path: str) -> type:
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)


class Registry(Generic[T]):
    """Maps names to implementations of one kind; registering a name twice is an error.

    Args:
        kind: what is registered, for messages ("upscaler").
        base: ``"module:Class"`` that every registered class must subclass, or None when
            implementations are plain callables. A string, resolved on the first registration,
            because the base classes live in ``galaxybench.stages``, above this module.
    """

    def __init__(self, kind: str, *, base: str | None = None) -> None:
        self.kind = kind
        self.base = base
        self._items: dict[str, T] = {}

    def _check(self, name: str, obj: Any) -> None:
        if not isinstance(name, str) or not name or name != name.strip() or "," in name:
            raise ValueError(
                f"{self.kind} name must be a non-empty string without commas or "
                f"surrounding spaces, got {name!r}"
            )
        if self.base is None:
            if not callable(obj):
                raise TypeError(f"{self.kind} {name!r} must be callable, got {obj!r}")
            return
        base = _resolve(self.base)
        if not (isinstance(obj, type) and issubclass(obj, base)):
            raise TypeError(
                f"{self.kind} {name!r} must be a class subclassing {base.__module__}."
                f"{base.__qualname__}, got {obj!r}"
            )
        if getattr(obj, "__abstractmethods__", None):
            missing = ", ".join(sorted(obj.__abstractmethods__))
            raise TypeError(
                f"{self.kind} {name!r} ({obj.__qualname__}) does not implement {missing}"
            )

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator that registers ``obj`` under ``name`` after checking its type."""

        def decorator(obj: T) -> T:
            self._check(name, obj)
            with _lock:
                if name in self._items and self._items[name] is not obj:
                    raise ValueError(
                        f"{self.kind} {name!r} is already registered "
                        f"(by {getattr(self._items[name], '__module__', '?')})"
                    )
                self._items[name] = obj
            return obj

        return decorator

    def get(self, name: str) -> T:
        """The implementation registered as ``name``; ConfigError naming the known ones if none."""
        if name not in self:
            known = ", ".join(self.names()) or "none"
            raise ConfigError(f"unknown {self.kind} {name!r} (known: {known})")
        return self._items[name]

    def names(self) -> list[str]:
        """Registered names, sorted."""
        load_stages()
        return sorted(self._items)

    def __contains__(self, name: object) -> bool:
        load_stages()
        if name not in self._items:
            load_stages(rescan=True)  # a plugin installed since the last look
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())


UPSCALERS: Registry[type[Upscaler]] = Registry("upscaler", base="galaxybench.stages.base:Upscaler")
REBALANCERS: Registry[type[Rebalancer]] = Registry(
    "rebalancer", base="galaxybench.stages.base:Rebalancer"
)
CLASSIFIER_LOSSES: Registry[LossFactory] = Registry("classifier loss")
CLASSIFIER_AUGMENTS: Registry[AugmentFn] = Registry("classifier augmentation")
