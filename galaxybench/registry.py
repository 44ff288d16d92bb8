"""A tiny explicit registry: one per thing that really varies (upscalers, rebalancers, ...).

Usage::

    UPSCALERS = Registry("upscaler")

    @UPSCALERS.register("bicubic")
    class Bicubic: ...

    UPSCALERS.get("bicubic")   # unknown names raise ConfigError listing the known ones
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from galaxybench.errors import ConfigError

T = TypeVar("T")


class Registry(Generic[T]):
    """Maps names to implementations; registering a name twice is an error."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator that registers ``obj`` under ``name``."""

        def decorator(obj: T) -> T:
            if name in self._items:
                raise ValueError(f"{self.kind} {name!r} is already registered")
            self._items[name] = obj
            return obj

        return decorator

    def get(self, name: str) -> T:
        """The implementation registered as ``name``; ConfigError naming the known ones if none."""
        try:
            return self._items[name]
        except KeyError:
            known = ", ".join(sorted(self._items)) or "none"
            raise ConfigError(f"unknown {self.kind} {name!r} (known: {known})") from None

    def names(self) -> list[str]:
        """Registered names, sorted."""
        return sorted(self._items)

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())


# The registries of the package. Stages register into these from galaxybench/stages/*.py;
# galaxybench/stages/__init__.py imports every stage module, so it lists them all.
UPSCALERS: Registry = Registry("upscaler")
REBALANCERS: Registry = Registry("rebalancer")
CLASSIFIER_LOSSES: Registry = Registry("classifier loss")
CLASSIFIER_AUGMENTS: Registry = Registry("classifier augmentation")
FEATURE_EXTRACTORS: Registry = Registry("feature extractor")
