"""Name → object registries with "did you mean" errors.

Example::

    MATCHERS = Registry[Callable[..., bool]]("matching mode")

    @MATCHERS.register("contains")
    def contains(...): ...

    MATCHERS.get("contain")  # SftlensError: unknown matching mode 'contain'; did you mean 'contains'?
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from sftlens.errors import SftlensError

T = TypeVar("T")


def suggest(name: str, choices: list[str] | tuple[str, ...] | set[str]) -> str:
    """Return ``"; did you mean 'x'?"`` for the closest choice, or a list of choices."""
    close = difflib.get_close_matches(name, sorted(choices), n=1, cutoff=0.5)
    if close:
        return f"; did you mean '{close[0]}'?"
    return f"; choose from {', '.join(sorted(choices))}" if choices else ""


class Registry(Generic[T]):
    """A mapping of names to objects of one kind (templates, strategies, ...)."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator that registers ``obj`` under ``name``."""

        def deco(obj: T) -> T:
            self.add(name, obj)
            return obj

        return deco

    def add(self, name: str, obj: T) -> None:
        if name in self._items:
            raise ValueError(f"{self.kind} '{name}' is registered twice")
        self._items[name] = obj

    def get(self, name: str) -> T:
        try:
            return self._items[name]
        except KeyError:
            raise SftlensError(
                f"unknown {self.kind} '{name}'{suggest(name, list(self._items))}"
            ) from None

    def names(self) -> list[str]:
        return sorted(self._items)

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._items))
