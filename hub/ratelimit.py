"""A token bucket: `burst` at once, then `per_s` a second. Bounds what one pupil (or one address)
can send without ever slowing a person down. And which addresses are the hub's own machine."""
from __future__ import annotations

import threading
import time
from typing import Callable

HUB_ITSELF = {"127.0.0.1", "::1"}  # the kiosk and the administrator, on the hub's own machine


def trusted(address: str | None) -> bool:
    """Connections from the hub's own machine are not held to the per-device limits: that is the
    front screen, and anything running there could do anything to the hub anyway."""
    return address in HUB_ITSELF


class TokenBucket:
    def __init__(self, burst: int, per_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.burst, self.per_s, self.clock = burst, per_s, clock
        self._tokens = float(burst)
        self._at = clock()
        self._lock = threading.Lock()

    def take(self) -> float:
        """0 when allowed (a token is spent); else the seconds until the next token."""
        with self._lock:
            now = self.clock()
            self._tokens = min(self.burst, self._tokens + (now - self._at) * self.per_s)
            self._at = now
            if self._tokens >= 1:
                self._tokens -= 1
                return 0.0
            return (1 - self._tokens) / self.per_s
