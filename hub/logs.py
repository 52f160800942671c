"""Logging: structured records to journald when systemd runs the hub, plain lines otherwise.

Under systemd (JOURNAL_STREAM is set) each record goes to journald's native socket with its
fields: MESSAGE, PRIORITY, SYSLOG_IDENTIFIER, LOGGER, CODE_FILE/CODE_LINE/CODE_FUNC, and any
`extra={"fields": {"MODEL": ...}}` a call adds, so `journalctl -u classroom-hub MODEL=digits`
works. What is logged is about models, devices and the service; never a nickname, an answer, a
picture or a recording (tests check the log of a whole class for that).
"""
from __future__ import annotations

import logging
import os
import socket
import struct
import sys

JOURNAL_SOCKET = "/run/systemd/journal/socket"
IDENTIFIER = "classroom-hub"
_PRIORITY = {logging.DEBUG: 7, logging.INFO: 6, logging.WARNING: 4, logging.ERROR: 3, logging.CRITICAL: 2}


def _field(name: str, value: object) -> bytes:
    data = str(value).encode("utf-8", "replace")
    key = name.upper().encode()
    if b"\n" in data:  # the native protocol's binary form for values with newlines
        return key + b"\n" + struct.pack("<Q", len(data)) + data + b"\n"
    return key + b"=" + data + b"\n"


class JournalHandler(logging.Handler):
    def __init__(self, path: str = JOURNAL_SOCKET):
        super().__init__()
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = self.format(record)
            fields = {"MESSAGE": message, "PRIORITY": _PRIORITY.get(record.levelno, 6),
                      "SYSLOG_IDENTIFIER": IDENTIFIER, "LOGGER": record.name, "CODE_FILE": record.pathname,
                      "CODE_LINE": record.lineno, "CODE_FUNC": record.funcName}
            fields.update(getattr(record, "fields", {}) or {})
            self.sock.sendto(b"".join(_field(k, v) for k, v in fields.items()), self.path)
        except Exception:  # noqa: BLE001 - logging must never take the hub down
            self.handleError(record)


def setup_logging(level: str) -> None:
    """journald's native socket under systemd; plain timestamped lines on stderr otherwise."""
    root = logging.getLogger()
    root.setLevel(level.upper())
    path = os.environ.get("CLASSROOM_HUB_JOURNAL_SOCKET", JOURNAL_SOCKET)
    if os.environ.get("JOURNAL_STREAM") and os.path.exists(path):
        handler: logging.Handler = JournalHandler(path)
        handler.setFormatter(logging.Formatter("%(message)s"))
    else:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root.handlers[:] = [handler]
