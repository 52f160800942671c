"""How many PIN tries the hub really checks: per address, and for the whole hub.

A try is reserved here, under one lock, before its slow hash is computed, so a burst of
requests cannot get more checks than the limits allow; a right PIN gives its reservation back.

- Per address: `login_attempts` wrong PINs, then the address waits `lockout_s`, doubled after
  each further wrong PIN; while tries are being checked, no more than are left may start.
- For the whole hub: addresses the teacher has never logged in from share one allowance,
  `hub_login_burst` checks and then `hub_logins_per_hour`. A pupil with twenty addresses (or a
  thousand) gets no more checks than that.
- An address the teacher has logged in from before (remembered, hashed, in the class database)
  is not held to the hub-wide allowance, only to its own per-address limit: someone who uses up
  the hub-wide allowance cannot lock the teacher out of her usual laptop.

The hub-wide allowance is kept in the class database too, so restarting the hub (or making it
crash) does not refill it.
"""
from __future__ import annotations

import hashlib
import threading
import time
from dataclasses import dataclass
from typing import Callable, Iterable

from ..config import TeacherConfig
from ..errors import TooManyAttempts

MAX_ADDRESSES = 4096  # memory bound on per-address records: beyond it the oldest are forgotten


def address_key(address: str) -> str:
    """How an address the teacher logged in from is remembered: a hash, not the address."""
    return hashlib.sha256(f"classroom-hub teacher address {address}".encode()).hexdigest()


def when(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.0f} min"


@dataclass
class _Address:
    failures: int = 0
    in_flight: int = 0  # tries reserved and being checked now
    locked_until: float = 0.0


@dataclass(frozen=True)
class Attempt:
    """One reserved try: give it back (`succeeded`, `released`) or count it (`failed`)."""

    address: str
    hub_wide: bool  # it took one of the hub-wide checks (an address never seen to log in)


class PinLimits:
    def __init__(self, config: TeacherConfig, known: Iterable[str] = (), saved: dict | None = None,
                 clock: Callable[[], float] = time.monotonic, wall: Callable[[], float] = time.time) -> None:
        self.config, self.clock, self.wall = config, clock, wall
        self._lock = threading.Lock()
        self._addresses: dict[str, _Address] = {}
        self._known = set(known)
        self._per_s = config.hub_logins_per_hour / 3600
        self._tokens, self._at = float(config.hub_login_burst), clock()
        if isinstance(saved, dict) and isinstance(saved.get("tokens"), (int, float)) \
                and isinstance(saved.get("at"), (int, float)):  # what was left at the last check before a restart
            elapsed = max(0.0, wall() - saved["at"])
            self._tokens = min(float(config.hub_login_burst), max(0.0, saved["tokens"]) + elapsed * self._per_s)

    # ---- reserving a try ---------------------------------------------------------------------------------
    def reserve(self, address: str) -> Attempt:
        """A try that may be checked now, or TooManyAttempts (with when to come back)."""
        now = self.clock()
        with self._lock:
            record = self._addresses.pop(address, None) or _Address()
            self._addresses[address] = record  # most recent last
            while len(self._addresses) > MAX_ADDRESSES:
                del self._addresses[next(iter(self._addresses))]
            if record.locked_until > now:
                wait = record.locked_until - now
                raise TooManyAttempts(f"too many wrong PINs; try again in {when(wait)}", int(wait) + 1)
            left = self.config.login_attempts - record.failures if record.failures < self.config.login_attempts else 1
            if record.in_flight >= left:
                raise TooManyAttempts("a PIN from this device is being checked; try again in a moment", 1)
            hub_wide = address_key(address) not in self._known
            if hub_wide:
                self._refill(now)
                if self._tokens < 1:
                    wait = (1 - self._tokens) / self._per_s
                    raise TooManyAttempts(
                        f"too many wrong PINs on this hub from new devices; try again in {when(wait)}, "
                        "or log in from a device you have logged in from before", int(wait) + 1)
                self._tokens -= 1
            record.in_flight += 1
            return Attempt(address, hub_wide)

    def _refill(self, now: float) -> None:
        self._tokens = min(float(self.config.hub_login_burst), self._tokens + (now - self._at) * self._per_s)
        self._at = now

    # ---- what became of it ---------------------------------------------------------------------------------
    def failed(self, attempt: Attempt) -> tuple[int, float]:
        """A wrong PIN: counted against its address. Returns (wrong PINs in a row, the lockout, s)."""
        now = self.clock()
        with self._lock:
            record = self._addresses.setdefault(attempt.address, _Address())
            record.in_flight = max(0, record.in_flight - 1)
            record.failures += 1
            over = record.failures - self.config.login_attempts
            wait = 0.0
            if over >= 0:
                wait = self.config.lockout_s * (2 ** min(over, 10))
                record.locked_until = now + wait
            return record.failures, wait

    def succeeded(self, attempt: Attempt) -> str:
        """The right PIN: everything it reserved is given back and its address is remembered.
        Returns the address's key (for the class database)."""
        key = address_key(attempt.address)
        with self._lock:
            self._addresses.pop(attempt.address, None)
            self._give_back(attempt)
            self._known.add(key)
        return key

    def released(self, attempt: Attempt) -> None:
        """The try was never checked (the hub was too busy hashing): as if it had not been made."""
        with self._lock:
            record = self._addresses.get(attempt.address)
            if record is not None:
                record.in_flight = max(0, record.in_flight - 1)
            self._give_back(attempt)

    def _give_back(self, attempt: Attempt) -> None:
        if attempt.hub_wide:
            self._refill(self.clock())
            self._tokens = min(float(self.config.hub_login_burst), self._tokens + 1)

    # ---- what is kept -----------------------------------------------------------------------------------
    def saved(self) -> dict:
        """The hub-wide allowance left, to be kept across a restart."""
        with self._lock:
            self._refill(self.clock())
            return {"tokens": round(self._tokens, 4), "at": self.wall()}

    def hub_wide_left(self) -> float:
        with self._lock:
            self._refill(self.clock())
            return self._tokens

    def forget_known(self) -> None:
        """The PIN changed: no address is trusted for having known the old one."""
        with self._lock:
            self._known.clear()
