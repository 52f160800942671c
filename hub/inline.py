"""Which requests gunicorn's main thread may serve itself, without handing them to a thread.

A kept-alive connection's next request normally goes from the main thread (the poller) to a pool
thread. With many connections busy at once that is many threads taking turns at the GIL: at 8
connections a /v2 request for the 8x8 digits model cost the hub twice the CPU it costs alone
(docs/PERFORMANCE.md). A request that is certain to be answered at once is cheaper served where it
is, one after another, as an event loop would. The main thread also keeps every connection's
deadlines, so "certain" is strict; anything else goes to a thread as before:

- the whole request is already in the socket's receive buffer (peeked, not read): exactly one
  `POST /v2/models/NAME[/versions/V]/infer` over plain HTTP/1.1 with a Content-Length, its header
  and body at most INLINE_MAX_BYTES, no chunked body, no "Expect", no upgrade, nothing after it;
- the client has read every answer so far (the socket's send queue is empty), so a small answer
  is written at once;
- the model answers at once (the registry's `quick`: ready, on the CPU only, nothing waiting, an
  invoke of under QUICK_MS on average and a small output).
"""
from __future__ import annotations

import fcntl
import re
import socket
import struct
import termios

INLINE_MAX_BYTES = 16 * 1024  # header and body of a request served on the main thread
QUICK_MS = 1.0  # the model's average invoke under this
OUTPUT_MAX_VALUES = 256  # and its outputs at most this many numbers: a JSON answer of a few KB
INLINE_TIMEOUT_S = 0.1  # a socket operation on the main thread never waits longer than this

_REQUEST_LINE = re.compile(
    rb"POST /v2/models/([A-Za-z0-9_.-]{1,128})(?:/versions/[A-Za-z0-9_.-]{1,64})?/infer HTTP/1\.1")
_REFUSED = (b"transfer-encoding", b"expect", b"upgrade")


def infer_request(head: bytes) -> str | None:
    """The model's name when `head` is exactly one whole /v2 infer request as above, else None."""
    end = head.find(b"\r\n\r\n")
    if end < 0:
        return None
    lines = head[:end].split(b"\r\n")
    match = _REQUEST_LINE.fullmatch(lines[0])
    if match is None:
        return None
    length = None
    for line in lines[1:]:
        name, colon, value = line.partition(b":")
        name = name.lower()
        if not colon or name in _REFUSED:
            return None
        if name == b"content-length":
            value = value.strip()
            if length is not None or not value.isdigit():
                return None
            length = int(value)
    if length is None or end + 4 + length != len(head):
        return None
    return match.group(1).decode("ascii")


def peek(sock: socket.socket) -> bytes:
    """What the client has sent and no one has read yet (at most INLINE_MAX_BYTES + 1), without
    waiting: b"" when nothing is there or the socket fails."""
    try:
        return sock.recv(INLINE_MAX_BYTES + 1, socket.MSG_PEEK | socket.MSG_DONTWAIT)
    except OSError:
        return b""


def answers_read(sock: socket.socket) -> bool:
    """Whether the socket's send queue is empty: the client has taken every byte written to it."""
    try:
        return struct.unpack("i", fcntl.ioctl(sock.fileno(), termios.TIOCOUTQ, b"\0\0\0\0"))[0] == 0
    except OSError:
        return False
