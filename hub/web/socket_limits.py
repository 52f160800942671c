"""Bounds on what one Socket.IO connection can make the hub hold, for a hostile classroom network.

python-socketio and Engine.IO leave three doors open that one pupil's laptop can walk through:

- A binary event announces its attachments ("51-[...]") and the server keeps every frame until
  the count is reached: announce 999,999 and stream 8 MB frames, and memory grows until the
  kernel kills the worker. Here a message may announce at most `max_attachments`, and their
  total size is bounded by the body limit; a connection over either is dropped at once, and
  nothing it sent is kept.
- simple-websocket assembles a WebSocket message of any size before Engine.IO checks it against
  `max_http_buffer_size`, keeps every received message in an unbounded list, and accepts
  per-message compression (a small frame can inflate to gigabytes). Here a message is refused as
  it grows past the limit, the waiting messages are bounded, and compression is not offered.
- A packet Socket.IO cannot decode (deep nesting, a 5000-digit number, an unknown type) was a
  traceback in the log; here its JSON has the limits of a request body (`PacketJSON`), and a
  client that sends one is dropped with one line in the log.
- Engine.IO queues what it sends a client without bound: a client that sends and never reads
  (blind pongs keep it alive) had every reply kept for it, and the worker was killed in seconds.
  Here a connection with MAX_QUEUED packets waiting for it is dropped.
- Engine.IO runs every message's handler in a new thread by default: a flood of tiny messages
  is a flood of threads. The hub handles one connection's messages in order, on that connection's
  own thread (`async_handlers=False`, set in `create_live`), so a client that floods waits for
  itself, and TCP slows it down.
"""
from __future__ import annotations

import json
import logging
import os
import socket
import threading

import simple_websocket
from engineio.async_drivers._websocket_wsgi import SimpleWebSocketWSGI

from ..errors import HubError
from ..memory import MemoryBudget
from . import bodies

log = logging.getLogger(__name__)
MAX_ATTACHMENTS = 4  # the hub's events carry at most one picture or recording
FRAMING_BYTES = 1024  # Engine.IO and Socket.IO headers around a body-sized message
MAX_QUEUED = 256  # packets waiting for one client to take them; a tablet on a bad link has a few


class _Inbox(list):
    """simple-websocket's list of received messages, bounded in bytes, for this connection and,
    with the message being handled, in the hub's budget for bodies in flight.

    Its reading thread appends while the connection's handler pops: a client that sends faster
    than its messages are handled would otherwise fill memory. When full (here, or the hub's
    budget), the reading thread waits, so TCP itself slows the sender; if no room comes within
    `stall_s`, the connection is dropped (the reading thread's OSError closes it)."""

    def __init__(self, limit: int, budget: MemoryBudget, stall_s: float = 30.0) -> None:
        super().__init__()
        self.limit, self.budget, self.stall_s = limit, budget, stall_s
        self.size = 0  # bytes waiting here (each also held in the budget)
        self.handling = 0  # bytes of the message popped last, held in the budget until the next pop
        self.closed = False
        self._room = threading.Condition()

    def append(self, message) -> None:
        with self._room:
            if not self._room.wait_for(lambda: self.size < self.limit or self.closed, self.stall_s):
                raise OSError("a WebSocket client sent faster than its messages were handled")
        try:  # outside the lock: this connection's own pop must be able to free room meanwhile
            held = self.budget.acquire(self._bytes(message), "a Socket.IO message", wait_s=self.stall_s)
        except HubError as exc:
            raise OSError(f"no room for a WebSocket message: {exc.message}") from None
        with self._room:
            if self.closed:
                self.budget.release(held)
                raise OSError("the connection has ended")
            self.size += held
            super().append(message)

    def pop(self, index: int = -1):
        with self._room:
            message = super().pop(index)
            held = self._bytes(message)
            self.size -= held
            self.budget.release(self.handling)
            self.handling = held
            self._room.notify_all()
            return message

    def _bytes(self, message) -> int:
        """What a message holds in the budget (a message may be a little over a body: its framing)."""
        return min(len(message), self.budget.per_item)

    def close(self) -> None:
        """The connection has ended: give back everything it held."""
        with self._room:
            self.closed = True
            self.budget.release(self.size + self.handling)
            self.size = self.handling = 0
            self.clear()
            self._room.notify_all()


class _BoundedServer(simple_websocket.Server):
    inbox_limit = 0  # bytes waiting at most; each Engine.IO factory (_bounded_websocket) sets its own
    budget: MemoryBudget  # the hub's bodies in flight; set by the factory too

    @property
    def input_buffer(self) -> _Inbox:
        return self._inbox

    @input_buffer.setter
    def input_buffer(self, _value) -> None:  # simple-websocket assigns [] in __init__
        self._inbox = _Inbox(self.inbox_limit, self.budget)


class BoundedWebSocket(SimpleWebSocketWSGI):
    """simple-websocket with each message bounded while it arrives (not after), the messages
    waiting to be handled bounded too, and no per-message compression: a deflated frame can
    inflate a thousandfold, and tablets on the room's Wi-Fi do not need it."""

    connection_class: type = _BoundedServer

    def __call__(self, environ, start_response):
        environ.pop("HTTP_SEC_WEBSOCKET_EXTENSIONS", None)  # offer no compression to accept
        self.ws = self.connection_class(environ, **self.server_args)
        try:
            ret = self.app(self)
        finally:
            self.ws.input_buffer.close()
        if self.ws.mode == "gunicorn":
            raise StopIteration()
        if self.ws.mode == "werkzeug":
            raise ConnectionError()
        return ret


def _bounded_websocket(max_message_size: int, budget: MemoryBudget):
    """Engine.IO's WebSocket factory: messages up to `max_message_size`, twice that waiting, and
    what waits or is being handled held in `budget`."""
    connection = type("BoundedConnection", (_BoundedServer,), {"inbox_limit": 2 * max_message_size,
                                                               "budget": budget})

    def make(handler, server):
        ws = BoundedWebSocket(handler, server, max_message_size=max_message_size)
        ws.connection_class = connection
        return ws

    return make


def announced_attachments(data: object) -> int:
    """How many binary attachments a Socket.IO packet says will follow (0 for anything else)."""
    if not isinstance(data, str) or data[:1] not in ("5", "6"):  # BINARY_EVENT, BINARY_ACK
        return 0
    dash = data.find("-", 1, 13)
    digits = data[1:dash] if dash > 1 else ""
    return int(digits) if digits.isdigit() else 0


class AttachmentGuard:
    """Wraps the Socket.IO server's Engine.IO message handler and sender with the limits above."""

    def __init__(self, server, max_attachments: int, max_bytes: int) -> None:
        self.server = server  # socketio.Server
        self.max_attachments = max_attachments
        self.max_bytes = max_bytes
        self.dropped = 0
        self._sizes: dict[str, int] = {}  # eio sid -> bytes of the binary message being assembled
        self._lock = threading.Lock()
        self._handle = server._handle_eio_message
        self._disconnect = server._handle_eio_disconnect
        self._send_packet = server.eio.send_packet
        server.eio.on("message", self.message)
        server.eio.on("disconnect", self.disconnect)
        server.eio.send_packet = self.send_packet  # every reply, emit and broadcast goes through it

    def send_packet(self, eio_sid: str, pkt) -> None:
        connection = self.server.eio.sockets.get(eio_sid)
        if connection is not None and connection.queue.qsize() >= MAX_QUEUED:
            return self._drop(eio_sid, f"{MAX_QUEUED} messages waiting for it to read them")
        self._send_packet(eio_sid, pkt)

    def message(self, eio_sid: str, data) -> None:
        if eio_sid not in self.server.eio.sockets:  # dropped already: what it had in flight goes nowhere
            return
        if eio_sid in self.server._binary_packet:  # an attachment of the message being assembled
            with self._lock:
                total = self._sizes.get(eio_sid, 0) + len(data)
                self._sizes[eio_sid] = total
            if total > self.max_bytes:
                return self._drop(eio_sid, f"binary attachments over {self.max_bytes} bytes")
        else:
            count = announced_attachments(data)
            if count > self.max_attachments:
                return self._drop(eio_sid, f"a message announced {count} binary attachments "
                                           f"(at most {self.max_attachments})")
            if count:
                with self._lock:
                    self._sizes[eio_sid] = len(data)
        try:
            self._handle(eio_sid, data)
        except Exception as exc:  # noqa: BLE001 - a packet Socket.IO cannot decode: a broken or hostile client
            return self._drop(eio_sid, f"a malformed Socket.IO packet ({type(exc).__name__}: {str(exc)[:100]})")
        if eio_sid not in self.server._binary_packet:
            with self._lock:
                self._sizes.pop(eio_sid, None)

    def disconnect(self, eio_sid: str, *args) -> None:
        with self._lock:
            self._sizes.pop(eio_sid, None)
        self._disconnect(eio_sid, *args)

    def _drop(self, eio_sid: str, why: str) -> None:
        environ = self.server.environ.get(eio_sid) or {}
        self.server._binary_packet.pop(eio_sid, None)  # nothing it sent is kept
        with self._lock:
            self._sizes.pop(eio_sid, None)
            self.dropped += 1
        log.warning("Socket.IO: dropped a connection from %s: %s", environ.get("REMOTE_ADDR", "?"), why)
        held = _hold(environ.get("gunicorn.socket"))
        connection = self.server.eio.sockets.pop(eio_sid, None)
        if connection is not None:
            # The goodbye is queued for the connection's writer thread; not `eio.disconnect`, which waits
            # for that thread and waits for good once it has ended (a failed send ends it, leaving a task
            # in the queue no one takes), while the second handle below holds the socket open.
            connection.close(wait=False, reason=self.server.eio.reason.SERVER_DISCONNECT)
        if held is not None:  # and stop reading it: simple-websocket would go on taking what is sent
            try:
                held.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            finally:
                held.close()


def _hold(raw) -> socket.socket | None:
    """A second handle on the connection's socket, so that it can still be shut down after Engine.IO
    has closed its own: a shutdown through a closed handle fails (EBADF) and leaves simple-websocket's
    reading thread waiting on the client for good."""
    if raw is None:
        return None
    try:
        return socket.socket(fileno=os.dup(raw.fileno()))
    except OSError:
        return None


class PacketJSON:
    """JSON for Socket.IO packets: the same bounds as request bodies (depth, NaN; hub/web/bodies.py)."""

    loads = staticmethod(bodies.loads)
    dumps = staticmethod(json.dumps)


def bound(server, max_body_bytes: int, bodies: MemoryBudget) -> AttachmentGuard:
    """Apply every bound to a socketio.Server (Flask-SocketIO's `socketio.server`); WebSocket
    messages waiting or being handled count in `bodies`, the hub's budget for bodies in flight."""
    server.eio._async["websocket"] = _bounded_websocket(max_body_bytes + FRAMING_BYTES, bodies)
    return AttachmentGuard(server, MAX_ATTACHMENTS, max_body_bytes)
