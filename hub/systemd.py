"""systemd's notify protocol, spoken directly (one datagram per message, no library needed).

`READY=1` goes out once the models are loaded, so `systemctl start` returns when the hub can
answer. With `WatchdogSec=` set, the watchdog is fed from the engine's own heartbeat: every
second the hub checks that no inference worker is hung (`[engine] stuck_after_s`) and only then
sends `WATCHDOG=1`. When one is, the hub sends `WATCHDOG=trigger`, so systemd kills and
restarts it at once rather than a whole WatchdogSec later (a hung native call cannot be
cancelled from Python; a fresh process can use the device again, or the CPU). Should the
whole process freeze, the feeding stops and WatchdogSec catches it all the same. Outside
systemd (no NOTIFY_SOCKET) all of this does nothing.
"""
from __future__ import annotations

import logging
import os
import socket
import threading
from typing import Callable

log = logging.getLogger(__name__)
_address: str | None = None


def claim_notify_socket() -> None:
    """Take NOTIFY_SOCKET out of the environment before gunicorn starts: its arbiter would
    otherwise send READY=1 on its own, before a single model is loaded. Forked workers keep
    the address in this module."""
    global _address
    _address = os.environ.pop("NOTIFY_SOCKET", None) or _address


def notify(message: str) -> bool:
    """Send one message to systemd; False when not run by systemd."""
    address = _address or os.environ.get("NOTIFY_SOCKET")
    if not address:
        return False
    if address.startswith("@"):  # an abstract socket
        address = "\0" + address[1:]
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.connect(address)
            sock.sendall(message.encode())
        return True
    except OSError as exc:
        log.warning("could not notify systemd: %s", exc)
        return False


CHECK_EVERY_S = 1.0  # how soon a hung worker is noticed once it passes stuck_after_s


def watchdog_interval_s() -> float | None:
    """How often to check and feed: every second, or half of WatchdogSec if that is shorter
    (systemd asks for at least that); None when the watchdog is off."""
    usec = os.environ.get("WATCHDOG_USEC")
    if not usec or not usec.isdigit() or int(usec) == 0:
        return None
    return min(CHECK_EVERY_S, int(usec) / 2_000_000)


class Watchdog:
    """Feeds systemd's watchdog while `stuck()` finds nothing; triggers it once when it does."""

    def __init__(self, stuck: Callable[[], list[str]], interval_s: float):
        self.stuck = stuck
        self.interval_s = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="systemd-watchdog", daemon=True)
        self.starving = False

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                problems = self.stuck()
            except Exception as exc:  # noqa: BLE001 - a failing check is itself a reason to stop feeding
                problems = [f"the health check failed: {exc}"]
            if problems:
                if not self.starving:
                    log.error("engine hung, asking systemd to restart the hub (watchdog triggered): %s",
                              "; ".join(problems))
                    notify("STATUS=engine hung: " + "; ".join(problems)[:200] + "\nWATCHDOG=trigger")
                self.starving = True
                continue
            if self.starving:
                log.info("engine healthy again; feeding the systemd watchdog")
                self.starving = False
            notify("WATCHDOG=1")


def announce_ready(status: str, stuck: Callable[[], list[str]]) -> Watchdog | None:
    """Tell systemd the hub is ready, and start the watchdog if the unit asks for one."""
    # sent from gunicorn's worker: the unit needs NotifyAccess=all (WATCHDOG_PID names the master)
    if not notify(f"READY=1\nSTATUS={status}"):
        return None
    interval = watchdog_interval_s()
    if interval is None:
        return None
    dog = Watchdog(stuck, interval)
    dog.start()
    log.info("systemd watchdog fed every %.1f s while no engine is hung", interval)
    return dog
