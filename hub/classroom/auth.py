"""The teacher's PIN and logins: hashed at rest, compared in constant time, rate-limited.

The PIN comes from the config (or CLASSROOM_HUB_TEACHER_PIN). With none, one is generated at
first start, printed once for the person installing the hub, and only its scrypt hash is kept
under the data directory. Logins are random tokens; only their sha256 is kept, in memory and in
the class database, so a restarted hub keeps the teacher logged in.

Guessing the PIN: every try is reserved with the limits (pin_limits.py) before it is hashed, and
at most HASHES_AT_ONCE hashes run at a time (each takes 16 MB), so no burst can buy more checks
or more memory. Logins end at logout, at expiry, and all at once when the PIN changes (a new
config PIN or PIN file at start, or `classroom-hub pin --reset` while the hub runs): whoever
listens for ended logins (the dashboard's Socket.IO namespace) is told.
"""
from __future__ import annotations

import errno
import hashlib
import hmac
import json
import logging
import os
import secrets
import threading
import time
from pathlib import Path
from typing import Callable

from ..config import TeacherConfig
from ..errors import ConfigError, Overloaded, Unauthorized
from .pin_limits import PinLimits, when
from .store import folder_fix

log = logging.getLogger(__name__)
PIN_FILE = "teacher-pin.json"
_SCRYPT = {"n": 2 ** 14, "r": 8, "p": 1, "dklen": 32}  # 128 * r * n = 16 MB of memory per hash
HASHES_AT_ONCE = 2  # PIN hashes computed at the same time; more wait ...
HASH_WAIT_S = 5.0  # ... this long, then 503 with Retry-After
MAX_PIN_CHARS = 64  # longer is wrong without hashing it
PIN_FILE_CHECK_S = 1.0  # how often a running hub looks whether `classroom-hub pin --reset` made a new PIN


def hash_pin(pin: str, salt: bytes) -> bytes:
    return hashlib.scrypt(pin.encode(), salt=salt, **_SCRYPT)


def _signature(path: Path) -> tuple | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_ino, st.st_mtime_ns, st.st_size


def read_pin_file(path: Path) -> tuple[bytes, bytes]:
    """(salt, scrypt hash) from the PIN file, or a ConfigError naming it and the fix."""
    try:
        stored = json.loads(path.read_text())
        salt, digest = bytes.fromhex(stored["salt"]), bytes.fromhex(stored["scrypt"])
        if len(salt) < 8 or len(digest) != _SCRYPT["dklen"]:
            raise ValueError("the salt or the hash has the wrong length")
        return salt, digest
    except PermissionError as exc:
        raise ConfigError(f"cannot read the teacher PIN file {path} ({exc.strerror}): make it readable by the "
                          f"hub's user (sudo chown classroom-hub {path})") from None
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        if isinstance(exc, OSError):
            why = exc.strerror or str(exc)
        elif isinstance(exc, ValueError):
            why = f"damaged: {exc}"
        else:  # valid JSON, not the layout the hub writes
            why = f"damaged: no {exc} in it" if isinstance(exc, KeyError) else "damaged: not a PIN file the hub made"
        raise ConfigError(f"cannot use the teacher PIN file {path} ({why}): delete it and run "
                          "`classroom-hub pin` to make a new PIN, or set [teacher] pin in the config") from None


def make_pin_file(path: Path, announce) -> tuple[bytes, bytes]:
    """A new random PIN: its hash written atomically (no temporary file left if that fails), the
    PIN itself announced once."""
    new_pin = f"{secrets.randbelow(10 ** 6):06d}"
    salt = secrets.token_bytes(16)
    digest = hash_pin(new_pin, salt)
    tmp = path.with_suffix(".tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump({"salt": salt.hex(), "scrypt": digest.hex(), "created": time.time()}, fh)
            fh.flush()
            os.fsync(fh.fileno())
        tmp.replace(path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise ConfigError(f"cannot write the teacher PIN file {path} ({exc.strerror or exc}): "
                          f"{_folder_fix(exc, path.parent)}") from None
    announce(f"Teacher PIN (shown once, write it down): {new_pin}\n"
             f"  to change it: set [teacher] pin in the config, or run `classroom-hub pin --reset`")
    return salt, digest


def _folder_fix(exc: OSError, folder: Path) -> str:
    return folder_fix(folder, full=exc.errno in (errno.ENOSPC, errno.EDQUOT)) + " (or set [teacher] pin in the config)"


class TeacherAuth:
    def __init__(self, config: TeacherConfig, data_dir: Path, announce=print, store=None,
                 clock: Callable[[], float] = time.time):
        self.config = config
        self.clock = clock  # session expiry (tests move it on)
        self._lock = threading.Lock()
        self._hashing = threading.BoundedSemaphore(HASHES_AT_ONCE)
        self._store = store
        self._listeners: list[Callable[[set[str] | None], None]] = []
        self.checks = 0  # PINs really checked (hashed) since start; the log says each
        self._pin_path = None if config.pin else data_dir / PIN_FILE
        self._pin_seen = None
        self._pin_checked_at = time.monotonic()
        self.salt, self.digest, self.generated = self._load_or_create(config.pin, data_dir, announce)
        pin_changed = self._pin_changed_since_last_start()
        self._sessions: dict[str, float] = {} if pin_changed or not store else dict(store.sessions())
        self.limits = PinLimits(config, () if pin_changed or not store else store.teacher_addresses(),
                                store.meta("login_allowance") if store else None)

    # ---- the PIN -----------------------------------------------------------------------------------------
    def _load_or_create(self, pin: str, data_dir: Path, announce) -> tuple[bytes, bytes, bool]:
        if pin:
            kept = self._store.meta("pin") if self._store else None  # the same salt: the same hash if unchanged
            salt = bytes.fromhex(kept["salt"]) if isinstance(kept, dict) and _is_hex(kept.get("salt")) \
                else secrets.token_bytes(16)
            return salt, hash_pin(pin, salt), False
        path = self._pin_path
        self._pin_seen = _signature(path)
        if self._pin_seen is not None:
            return (*read_pin_file(path), False)
        ensure_folder(data_dir)
        salt, digest = make_pin_file(path, announce)
        self._pin_seen = _signature(path)
        return salt, digest, True

    def _pin_changed_since_last_start(self) -> bool:
        """Logins made with another PIN end: the class database keeps which PIN they were made with."""
        if self._store is None:
            return False
        now = {"salt": self.salt.hex(), "scrypt": self.digest.hex()}
        if self._store.meta("pin") == now:
            return False
        self._store.drop_sessions()
        self._store.forget_addresses()
        self._store.set_meta("pin", now)
        return True

    def _watch_pin_file(self) -> None:
        """`classroom-hub pin --reset` while the hub runs: the new PIN counts, every login ends."""
        if self._pin_path is None:
            return
        now = time.monotonic()
        with self._lock:
            if now - self._pin_checked_at < PIN_FILE_CHECK_S:
                return
            self._pin_checked_at = now
            seen = _signature(self._pin_path)
            if seen is None or seen == self._pin_seen:
                return  # deleted (a new one is made at the next start) or unchanged
            self._pin_seen = seen
        try:
            salt, digest = read_pin_file(self._pin_path)
        except ConfigError as exc:
            log.warning("%s; the hub keeps the PIN it started with", exc.message)
            return
        if (salt, digest) == (self.salt, self.digest):
            return
        with self._lock:
            self.salt, self.digest = salt, digest
        log.warning("the teacher PIN changed (%s): every teacher login ends", self._pin_path)
        self.limits.forget_known()
        if self._store:
            self._store.set_meta("pin", {"salt": salt.hex(), "scrypt": digest.hex()})
            self._store.forget_addresses()
        self._end_all_sessions()

    # ---- logging in --------------------------------------------------------------------------------------
    def login(self, pin: str, client: str) -> str:
        """A session token, or Unauthorized / TooManyAttempts / Overloaded (busy hashing)."""
        self._watch_pin_file()
        attempt = self.limits.reserve(client)  # counted before the hash: a burst cannot outrun the limits
        try:
            ok = self._right_pin(pin)
        except BaseException:
            self.limits.released(attempt)
            raise
        if not ok:
            failures, wait = self.limits.failed(attempt)
            if wait:
                log.warning("teacher login: %d wrong PINs from one address; locked for %.0f s", failures, wait)
                raise Unauthorized(f"wrong PIN; this device must now wait {when(wait)} before trying again",
                                   tries_left=0, retry_after_s=int(wait) + 1)
            left = self.limits.config.login_attempts - failures
            raise Unauthorized(f"wrong PIN; {left} {'try' if left == 1 else 'tries'} left before this device "
                               "must wait", tries_left=left)
        key = self.limits.succeeded(attempt)
        token = secrets.token_urlsafe(32)
        expires = self.clock() + self.config.session_hours * 3600
        with self._lock:
            self._sessions[_digest(token)] = expires
        if self._store:
            self._store.add_session(_digest(token), expires)
            self._store.remember_address(key)
        log.info("teacher logged in")
        return token

    def _right_pin(self, pin: object) -> bool:
        if not isinstance(pin, str) or not pin.isdigit() or len(pin) > MAX_PIN_CHARS:
            return False  # wrong without hashing (still counted against the limits)
        if not self._hashing.acquire(timeout=HASH_WAIT_S):
            raise Overloaded("the hub is busy checking PINs; try again in a moment", retry_after_s=1)
        try:
            with self._lock:
                self.checks += 1
                checks, salt, digest = self.checks, self.salt, self.digest
            ok = hmac.compare_digest(hash_pin(pin, salt), digest)
        finally:
            self._hashing.release()
        self._keep_allowance()
        log.info("teacher login: PIN checked (%s); %d checked since start, %.0f left now for new devices",
                 "right" if ok else "wrong", checks, self.limits.hub_wide_left())
        return ok

    def _keep_allowance(self) -> None:
        """What is left of the hub-wide allowance, in the class database: a restart must not refill it."""
        if self._store is None:
            return
        try:
            self._store.set_meta("login_allowance", self.limits.saved())
        except Exception as exc:  # noqa: BLE001 - a full disk must not turn a PIN check into an error
            log.warning("cannot keep the hub-wide PIN allowance in the class database (%s)", exc)

    # ---- sessions ----------------------------------------------------------------------------------------
    def session_key(self, token: str | None) -> str | None:
        """The login's key (the sha256 of its token) while it is valid, else None."""
        if not token or not isinstance(token, str):
            return None
        key = _digest(token)
        return key if self.valid(key) else None

    def check(self, token: str | None) -> bool:
        return self.session_key(token) is not None

    def valid(self, key: str) -> bool:
        """Whether the login with this key is still on (expired ones are dropped here)."""
        self._watch_pin_file()
        with self._lock:
            expiry = self._sessions.get(key)
            if expiry is None:
                return False
            if expiry >= self.clock():
                return True
            self._sessions.pop(key, None)
        self._notify({key})
        return False

    def logout(self, token: str | None) -> None:
        if not token or not isinstance(token, str):
            return
        key = _digest(token)
        with self._lock:
            self._sessions.pop(key, None)
        if self._store:
            self._store.drop_session(key)
        self._notify({key})

    def on_sessions_ended(self, listener: Callable[[set[str] | None], None]) -> None:
        """listener(keys) when logins end; None: every login."""
        self._listeners.append(listener)

    def _end_all_sessions(self) -> None:
        with self._lock:
            self._sessions.clear()
        if self._store:
            self._store.drop_sessions()
        self._notify(None)

    def _notify(self, keys: set[str] | None) -> None:
        for listener in list(self._listeners):
            try:
                listener(keys)
            except Exception:  # noqa: BLE001 - one listener's failure must not keep a login alive elsewhere
                log.exception("a listener for ended teacher logins failed")


def ensure_folder(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot make the data folder {folder} ({exc.strerror or exc}): "
                          f"{_folder_fix(exc, folder)}") from None


def _is_hex(value: object) -> bool:
    try:
        return isinstance(value, str) and len(bytes.fromhex(value)) == 16
    except ValueError:
        return False


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
