"""A budget of bytes: reserved before they are taken, so that what one pupil's laptop sends at once
cannot add up past the service's MemoryMax.

One item may take at most `per_item` bytes (more: 413 payload_too_large at once); all items held
together at most `total` (no room: wait up to `wait_s`, then 503 overloaded with Retry-After).
The hub has two: decoded pictures and recordings (`hub.adapters.budget.DecodeBudget`), and request
bodies and Socket.IO messages in flight (`bodies_budget`).
"""
from __future__ import annotations

import threading
import time
from contextlib import contextmanager
from typing import Iterator

from .errors import Overloaded, PayloadTooLarge

MIB = 1024 * 1024


class MemoryBudget:
    doing = "to hold"  # "... would take 12 MB of memory <doing>"
    busy = "holding too much at once"  # "the hub is <busy> to take <what> now"
    item_key = "per_item_bytes"  # the [limits] key of `per_item`, named in the refusal
    detail = "bytes"  # the refusal's JSON field with the bytes asked for

    def __init__(self, per_item: int, total: int, wait_s: float = 2.0) -> None:
        self.per_item = per_item
        self.total = max(total, per_item)
        self.wait_s = wait_s
        self._held = 0
        self._room = threading.Condition()
        self.refused_too_large = 0
        self.refused_busy = 0

    @property
    def held(self) -> int:
        return self._held

    def acquire(self, nbytes: int, what: str, wait_s: float | None = None) -> int:
        """Reserve `nbytes` for `what` ("the picture"); the bytes to `release` later."""
        nbytes = max(0, int(nbytes))
        if nbytes > self.per_item:
            with self._room:
                self.refused_too_large += 1
            raise PayloadTooLarge(
                f"{what} would take {nbytes / MIB:.0f} MB of memory {self.doing}, over the limit of "
                f"{self.per_item / MIB:.0f} MB ([limits] {self.item_key}); send a smaller one",
                **{self.detail: nbytes, self.item_key: self.per_item})
        deadline = time.monotonic() + (self.wait_s if wait_s is None else wait_s)
        with self._room:
            while self._held + nbytes > self.total:
                left = deadline - time.monotonic()
                if left <= 0:
                    self.refused_busy += 1
                    raise Overloaded(f"the hub is {self.busy} to take {what} now; try again in a second",
                                     retry_after_s=1)
                self._room.wait(left)
            self._held += nbytes
        return nbytes

    def release(self, nbytes: int) -> None:
        if nbytes:
            with self._room:
                self._held -= nbytes
                self._room.notify_all()

    @contextmanager
    def reserve(self, nbytes: int, what: str) -> Iterator[None]:
        """Hold `nbytes` while the block runs."""
        held = self.acquire(nbytes, what)
        try:
            yield
        finally:
            self.release(held)


class BodiesBudget(MemoryBudget):
    """Request bodies being received and Socket.IO messages waiting or being handled."""

    doing = "to receive"
    busy = "receiving too much at once"
    item_key = "max_body_bytes"
    detail = "body_bytes"
