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

from ..memory import MemoryBudget


class DecodeBudget(MemoryBudget):
    doing = "to decode"
    busy = "decoding too much at once"
    item_key = "max_decode_bytes"
    detail = "decode_bytes"

    def __init__(self, per_decode_bytes: int, in_flight_bytes: int, wait_s: float = 2.0) -> None:
        super().__init__(per_decode_bytes, in_flight_bytes, wait_s)


UNLIMITED = DecodeBudget(1 << 62, 1 << 62)  # for tools and tests that decode one thing on their own
