"""The teacher's PIN and logins: hashed at rest, compared in constant time, rate-limited.

The PIN comes from the config (or CLASSROOM_HUB_TEACHER_PIN). With none, one is generated at
first start, printed once for the person installing the hub, and only its scrypt hash is kept
under the data directory. Logins are random tokens; only their sha256 is kept, in memory and in
the class database, so a restarted hub keeps the teacher logged in.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import secrets
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from ..config import TeacherConfig
from ..errors import TooManyAttempts, Unauthorized

log = logging.getLogger(__name__)
PIN_FILE = "teacher-pin.json"
_SCRYPT = {"n": 2 ** 14, "r": 8, "p": 1, "dklen": 32}


def hash_pin(pin: str, salt: bytes) -> bytes:
    return hashlib.scrypt(pin.encode(), salt=salt, **_SCRYPT)


@dataclass
class _Attempts:
    failures: int = 0
    locked_until: float = 0.0


class TeacherAuth:
    def __init__(self, config: TeacherConfig, data_dir: Path, announce=print, store=None):
        self.config = config
        self._lock = threading.Lock()
        self._store = store
        self._sessions: dict[str, float] = dict(store.sessions()) if store else {}  # sha256(token) -> expiry (Unix)
        self._attempts: dict[str, _Attempts] = {}
        self.salt, self.digest, self.generated = self._load_or_create(config.pin, data_dir, announce)

    @staticmethod
    def _load_or_create(pin: str, data_dir: Path, announce) -> tuple[bytes, bytes, bool]:
        if pin:
            salt = secrets.token_bytes(16)
            return salt, hash_pin(pin, salt), False
        path = data_dir / PIN_FILE
        if path.exists():
            stored = json.loads(path.read_text())
            return bytes.fromhex(stored["salt"]), bytes.fromhex(stored["scrypt"]), False
        new_pin = f"{secrets.randbelow(10 ** 6):06d}"
        salt = secrets.token_bytes(16)
        data_dir.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump({"salt": salt.hex(), "scrypt": hash_pin(new_pin, salt).hex(), "created": time.time()}, fh)
        tmp.replace(path)
        announce(f"Teacher PIN (shown once, write it down): {new_pin}\n"
                 f"  to change it: set [teacher] pin in the config, or delete {path} and restart")
        return salt, hash_pin(new_pin, salt), True

    def login(self, pin: str, client: str) -> str:
        """A session token, or Unauthorized / TooManyAttempts (per client address)."""
        now = time.monotonic()
        with self._lock:
            attempts = self._attempts.setdefault(client, _Attempts())
            if attempts.locked_until > now:
                wait = attempts.locked_until - now
                raise TooManyAttempts(f"too many wrong PINs; try again in {wait:.0f} s", int(wait) + 1)
        ok = isinstance(pin, str) and pin.isdigit() and hmac.compare_digest(hash_pin(pin, self.salt), self.digest)
        with self._lock:
            if not ok:
                attempts.failures += 1
                over = attempts.failures - self.config.login_attempts
                if over >= 0:
                    wait = self.config.lockout_s * (2 ** min(over, 10))
                    attempts.locked_until = now + wait
                    log.warning("teacher login: %d wrong PINs from one address; locked for %.0f s",
                                attempts.failures, wait)
                raise Unauthorized("wrong PIN")
            self._attempts.pop(client, None)
            token = secrets.token_urlsafe(32)
            expires = time.time() + self.config.session_hours * 3600
            self._sessions[_digest(token)] = expires
        if self._store:
            self._store.add_session(_digest(token), expires)
        return token

    def check(self, token: str | None) -> bool:
        if not token or not isinstance(token, str):
            return False
        key = _digest(token)
        with self._lock:
            expiry = self._sessions.get(key)
            if expiry is None:
                return False
            if expiry < time.time():
                self._sessions.pop(key, None)
                return False
            return True

    def logout(self, token: str | None) -> None:
        if not token or not isinstance(token, str):
            return
        key = _digest(token)
        with self._lock:
            self._sessions.pop(key, None)
        if self._store:
            self._store.drop_session(key)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
