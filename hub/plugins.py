"""A registry of plug-ins by name: tasks, accelerator kinds and activities each keep one."""
from __future__ import annotations

from typing import Callable, Generic, TypeVar

T = TypeVar("T")


class Registry(dict, Generic[T]):
    """name -> plug-in, filled by `register` (a name twice is a programming error); `require`
    raises the caller's own error, whose message lists the names there are."""

    def __init__(self, what: str, missing: Callable[[str], Exception]) -> None:
        super().__init__()
        self.what, self._missing = what, missing

    def register(self, item: T) -> T:
        name = getattr(item, "name")
        if name in self:
            raise ValueError(f"{self.what} {name!r} is registered twice")
        self[name] = item
        return item

    def require(self, name: object) -> T:
        item = self.get(name) if isinstance(name, str) else None
        if item is None:
            raise self._missing(", ".join(self))
        return item
