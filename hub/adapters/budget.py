"""Memory for decoding pictures and recordings: one decode is bounded, and so are all together.

A small file can declare a huge picture (a 380 KB PNG can be 7000x7000 16-bit RGBA: 392 MB
decoded, more with working copies). Pixel counts alone do not bound that: bytes per sample,
channels and every working copy do. Each adapter estimates the bytes its decode will hold at
its peak, from the header, before anything is decoded, and reserves them here:

- over `[limits] max_decode_bytes` for one decode: refused at once (413, payload_too_large);
- while the decodes in flight already hold `[limits] decode_budget_bytes`: it waits a moment for
  room, then is refused with 503 and Retry-After (overloaded), so four bombs at once cannot add up
  and the hub's memory stays under the service's MemoryMax.
"""
from __future__ import annotations

import threading
import time
from contextlib import contextmanager
from typing import Iterator

from ..errors import Overloaded, PayloadTooLarge

MIB = 1024 * 1024


class DecodeBudget:
    def __init__(self, per_decode_bytes: int, in_flight_bytes: int, wait_s: float = 2.0) -> None:
        self.per_decode_bytes = per_decode_bytes
        self.in_flight_bytes = max(in_flight_bytes, per_decode_bytes)
        self.wait_s = wait_s
        self._held = 0
        self._room = threading.Condition()
        self.refused_too_large = 0
        self.refused_busy = 0

    @property
    def held(self) -> int:
        return self._held

    @contextmanager
    def reserve(self, nbytes: int, what: str) -> Iterator[None]:
        """Hold `nbytes` of the budget while decoding `what` ("the picture", "the recording")."""
        nbytes = max(0, int(nbytes))
        if nbytes > self.per_decode_bytes:
            with self._room:
                self.refused_too_large += 1
            raise PayloadTooLarge(
                f"{what} would take {nbytes / MIB:.0f} MB of memory to decode, over the limit of "
                f"{self.per_decode_bytes / MIB:.0f} MB ([limits] max_decode_bytes); send a smaller one",
                decode_bytes=nbytes, max_decode_bytes=self.per_decode_bytes)
        deadline = time.monotonic() + self.wait_s
        with self._room:
            while self._held + nbytes > self.in_flight_bytes:
                left = deadline - time.monotonic()
                if left <= 0:
                    self.refused_busy += 1
                    raise Overloaded(f"the hub is decoding too much at once to take {what} now; try again "
                                     "in a second", retry_after_s=1)
                self._room.wait(left)
            self._held += nbytes
        try:
            yield
        finally:
            with self._room:
                self._held -= nbytes
                self._room.notify_all()


UNLIMITED = DecodeBudget(1 << 62, 1 << 62)  # for tools and tests that decode one thing on their own
