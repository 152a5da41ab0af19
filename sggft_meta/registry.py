"""A small typed registry: `register` (as a decorator), `get`, `names`.

A duplicate name raises; an unknown name raises with the closest valid names.
"""

from __future__ import annotations

import difflib
from typing import Callable, Generic, Iterator, TypeVar

from .errors import RegistryError

T = TypeVar("T")


def closest(name: str, choices: list[str], n: int = 3) -> list[str]:
    """The valid names nearest to `name` (by edit similarity, then by prefix)."""
    found = difflib.get_close_matches(name, choices, n=n, cutoff=0.5)
    if not found:
        found = [c for c in choices if c.startswith(name[:3])][:n]
    return found


class Registry(Generic[T]):
    """Named objects of one kind (tasks, backbones, regularizers, aligners ...)."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: dict[str, T] = {}

    def register(self, name: str, obj: T | None = None) -> Callable[[T], T] | T:
        """Register `obj` under `name`; without `obj`, return a decorator."""
        if not isinstance(name, str) or not name:
            raise RegistryError(f"a {self.kind} name must be a non-empty string, got {name!r}")

        def add(item: T) -> T:
            if name in self._items:
                raise RegistryError(
                    f"{self.kind} {name!r} is already registered; choose another name "
                    f"(registered: {', '.join(self.names())})"
                )
            self._items[name] = item
            return item

        return add if obj is None else add(obj)

    def unregister(self, name: str) -> T:
        """Remove and return `name` (tests, or a notebook re-registering a task)."""
        self.get(name)
        return self._items.pop(name)

    def get(self, name: str) -> T:
        try:
            return self._items[name]
        except KeyError:
            pass
        hint = closest(name, self.names())
        did_you_mean = f" Did you mean {' or '.join(repr(h) for h in hint)}?" if hint else ""
        raise RegistryError(
            f"unknown {self.kind} {name!r}.{did_you_mean} "
            f"Known {self.kind}s: {', '.join(self.names()) or '(none)'}."
        )

    def names(self) -> list[str]:
        return sorted(self._items)

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, {len(self)} items)"
