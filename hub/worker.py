"""gunicorn's threaded worker, with the limits a classroom's Wi-Fi needs.

One pupil's laptop held 64 connections (idle WebSockets, half a request header then silence, a
body that never finishes) and the hub answered no one new. The worker here:

- caps the connections one address may hold open at once (`[server] connections_per_address`):
  the next is closed as it is accepted, before it costs a thread;
- gives a request `[server] header_timeout_s` to send its whole header and, once the header is
  in, `[server] body_timeout_s` to finish (reading the body and being answered), and every read
  `[server] idle_timeout_s` at most. A connection past its deadline is shut down by the worker's
  main loop, which frees the thread blocked on it. WebSockets have no deadline: Engine.IO pings
  them every 10 s, and the idle time-out closes one that stops answering;
- leaves connections that have sent nothing, and kept-alive ones between requests, to gunicorn's
  poller, where they hold no thread;
- closes a connection without waiting for the client to close its side (`linger`): the poller
  reads what it still sends, for 2 s at most, while the main thread goes on.

Threads are then spent only on requests being served and on open WebSockets (one per tablet), so
`[server] threads` (256) leaves room for a full class, the teacher, the kiosk and any one laptop.

Between two requests of one connection: the next stays on the thread that answered the last when it
follows within 5 ms (`_follows`), and a quick /v2 request (hub/inline.py: whole, small, for a model
that answers at once) is answered by the main thread itself when it arrives on the poller, or is
handed back to it while other requests are being answered, so that many busy connections cost one
thread's turns at the GIL rather than one thread each.
docs/ARCHITECTURE.md ("Serving") has the figures behind this choice and the alternatives measured.
"""
from __future__ import annotations

import ctypes
import errno
import json
import logging
import select
import selectors
import socket
import threading
import time
from collections import Counter
from functools import partial

from gunicorn import util
from gunicorn.http import errors as http_errors
from gunicorn.http.body import LengthReader
from gunicorn.util import write_nonblock
from gunicorn.workers.gthread import TConn, ThreadWorker

from . import inline
from .errors import HubError, TooManyConnections
from .ratelimit import trusted

log = logging.getLogger(__name__)
REFUSAL_LOG_INTERVAL_S = 60.0  # one line a minute per address, however many connections it tries

# What the guards did, for /metrics and bench/abuse.py (this process only; the worker is one process).
counts: Counter = Counter()


SMALL_BODY = 64 * 1024  # bodies under this are not counted in flight (a JSON request, a drawing)
BODY_WAIT_S = 1.0  # a large body waits this long for room in [limits] bodies_budget_bytes, then 503


class ServerLimits:
    def __init__(self, server) -> None:
        self.per_address = server.connections_per_address
        self.websockets = server.websockets_per_address
        self.header_s, self.body_s, self.idle_s = server.header_timeout_s, server.body_timeout_s, server.idle_timeout_s


class SecureSettings:
    """gunicorn's settings as a connection to the secure port sees them: TLS with the hub's
    certificate, its files read again for each connection as gunicorn does (a renewed certificate
    is served at once), and "https" as wsgi.url_scheme. The worker's own settings name no
    certificate, so gunicorn wraps nothing itself and the plain port stays plain."""

    is_ssl = True

    def __init__(self, cfg, files: tuple[str, str]) -> None:
        self._cfg = cfg
        self.certfile, self.keyfile = files

    def __getattr__(self, name: str):
        return getattr(self._cfg, name)


class GuardedConn(TConn):
    """A connection that knows its address's count, its deadline, and its read time-out."""

    def __init__(self, worker: "GuardedWorker", sock, client, server, secure: bool = False) -> None:
        super().__init__(worker.secure_cfg if secure else worker.cfg, sock, client, server)
        self.worker = worker
        self.address = client[0] if isinstance(client, tuple) else str(client)
        self._released = False
        self.here = False  # its request is being answered on the main thread

    def init(self) -> None:
        super().init()  # once; the socket is made blocking again before every request, so:
        self.sock.settimeout(self.worker.limits.idle_s)

    def close(self, graceful: bool = False) -> None:
        if graceful and threading.current_thread() is threading.main_thread():
            if self.worker.linger(self):
                return  # the poller finishes it; its address keeps counting it until then
            graceful = False  # too many lingering already, or the socket is gone: at once
        self.worker.release(self)
        super().close(graceful)  # a pool thread may wait its 2 s; only the main thread must not


class _Answered:
    """What gunicorn's `finish_request` reads of a request served on the main thread (in place of
    the pool's Future): its keep-alive answer."""

    __slots__ = ("keepalive",)

    def __init__(self, keepalive) -> None:
        self.keepalive = keepalive

    def cancelled(self) -> bool:
        return False

    def result(self):
        return self.keepalive


DRAIN_LIMIT = 64 * 1024  # gunicorn drains at most this much of a body the app did not read, then closes


class ClosesOnUnreadBody:
    """The app, saying `Connection: close` when it answers without reading a body gunicorn will not
    drain (a 401, 404, 415 or 429 refuses a photo before reading it): gunicorn would answer
    keep-alive and then close the connection, and the client's next request on it would fail."""

    def __init__(self, app) -> None:
        self.app = app

    def __getattr__(self, name: str):
        return getattr(self.app, name)  # the Flask app's extensions, ...

    def __call__(self, environ, start_response):
        def start(status, headers, exc_info=None):
            unread = getattr(getattr(environ.get("wsgi.input"), "reader", None), "length", 0)
            response = getattr(start_response, "__self__", None)  # gunicorn's Response
            if isinstance(unread, int) and unread > DRAIN_LIMIT and response is not None:
                response.force_close()
            return start_response(status, headers, exc_info)

        return self.app(environ, start)


class GuardedWorker(ThreadWorker):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.limits = ServerLimits(self.app.hub_config.server)
        self._open: Counter = Counter()  # address -> connections open; main thread and workers
        self._websockets: Counter = Counter()  # address -> WebSockets open
        self._deadlines: dict[GuardedConn, tuple[float, str]] = {}  # connection -> (deadline, what)
        self._lock = threading.Lock()
        self._last_refusal_log: dict[str, float] = {}
        self._served, self._last_request = False, 0.0  # for trim_heap once the requests stop
        self._serving = 0  # HTTP requests being answered now (not WebSockets), by any thread
        self._lingering: dict[GuardedConn, list] = {}  # closing, main thread only -> [deadline, bytes read]
        files = getattr(self.app, "secure_files", None)  # hub/server.py: the secure port's certificate
        self.secure_port = getattr(self.app, "secure_port", 0) if files else 0
        self.secure_cfg = SecureSettings(self.cfg, files) if files else None

    def init_process(self) -> None:
        self.log.error_log.addFilter(_quiet_timeouts)
        super().init_process()

    def load_wsgi(self) -> None:
        super().load_wsgi()
        self.wsgi = ClosesOnUnreadBody(self.wsgi)

    # Accepting: one address cannot take every connection.
    def accept(self, listener) -> None:
        try:
            client_sock, client_addr = listener.accept()
        except OSError as exc:
            if exc.errno not in (errno.EAGAIN, errno.ECONNABORTED, errno.EWOULDBLOCK):
                raise
            return
        address = client_addr[0] if isinstance(client_addr, tuple) else str(client_addr)
        with self._lock:
            allowed = (not self.limits.per_address or trusted(address)
                       or self._open[address] < self.limits.per_address)
            if allowed:
                self._open[address] += 1
        if not allowed:
            counts["connections_refused"] += 1
            self._log_refusal(address)
            client_sock.close()
            return
        self.nr_conns += 1
        client_sock.setblocking(True)
        server = listener.getsockname()
        secure = bool(self.secure_port) and isinstance(server, tuple) and server[1] == self.secure_port
        self.enqueue_req(GuardedConn(self, client_sock, client_addr, server, secure))

    def release(self, conn: GuardedConn) -> None:
        with self._lock:
            self._deadlines.pop(conn, None)
            if conn._released:
                return
            conn._released = True
            self._open[conn.address] -= 1
            if self._open[conn.address] <= 0:
                del self._open[conn.address]

    # Closing without waiting: gunicorn's graceful close (RFC 9112 section 9.6: send FIN, then read
    # until the client closes, so that its unread bytes do not turn the answer into a reset) waits up
    # to 2 s for the client, on the main thread. A client that asked for `Connection: close` and
    # then kept its socket open stopped the whole hub for those 2 s, every time.
    def linger(self, conn: GuardedConn) -> bool:
        """Start closing a connection the client has been answered on: FIN now, the rest read by
        the poller until the client closes, LINGER_DRAIN bytes or LINGER_S; False to close at once."""
        if len(self._lingering) >= LINGER_MAX:
            return False
        try:
            conn.sock.shutdown(socket.SHUT_WR)
            conn.sock.setblocking(False)
            self.poller.register(conn.sock, selectors.EVENT_READ, partial(self._drain, conn))
        except (OSError, ValueError, KeyError):
            return False
        self._lingering[conn] = [time.monotonic() + LINGER_S, 0]
        return True

    def _drain(self, conn: GuardedConn, sock) -> None:
        entry = self._lingering.get(conn)
        if entry is None:
            return
        try:
            data = sock.recv(LINGER_READ)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        entry[1] += len(data)
        if not data or entry[1] >= LINGER_DRAIN:
            self._end_linger(conn)

    def _end_linger(self, conn: GuardedConn) -> None:
        del self._lingering[conn]
        try:
            self.poller.unregister(conn.sock)
        except (OSError, ValueError, KeyError):
            pass
        self.release(conn)
        util.close(conn.sock)

    def _log_refusal(self, address: str) -> None:
        now = time.monotonic()
        if now - self._last_refusal_log.get(address, -REFUSAL_LOG_INTERVAL_S) >= REFUSAL_LOG_INTERVAL_S:
            self._last_refusal_log[address] = now
            if len(self._last_refusal_log) > 4096:  # bounded: forget the oldest
                self._last_refusal_log.pop(next(iter(self._last_refusal_log)))
            log.warning("%s has %d connections open, the most one device may ([server] connections_per_address); "
                        "refusing more", address, self.limits.per_address)

    # Deadlines: set by the thread serving the connection, enforced by the main loop.
    def _set_deadline(self, conn: GuardedConn, seconds: float, what: str) -> None:
        with self._lock:
            self._deadlines[conn] = (time.monotonic() + seconds, what)

    def handle(self, conn: GuardedConn):
        """Serve the connection's request, and the next ones while they follow at once (see
        `_follows`); then hand it back to gunicorn, which keeps it on the poller until its next.
        A next request the main thread can answer itself goes back too while other requests are
        being answered (`_quick`): one thread taking them in turn costs less than many."""
        while True:
            self._set_deadline(conn, self.limits.header_s, "header")
            try:
                keepalive = super().handle(conn)
            finally:
                with self._lock:
                    self._deadlines.pop(conn, None)
            if keepalive is not True or not self.alive or not _follows(conn):
                return keepalive
            if self._serving and self._quick(conn):
                return keepalive
            counts["requests_kept_on_thread"] += 1

    # The main thread answering a quick request itself (hub/inline.py).
    def on_client_socket_readable(self, conn: GuardedConn, client) -> None:
        if not self._quick(conn):
            return super().on_client_socket_readable(conn, client)
        self.poller.unregister(client)
        self.keepalived_conns.remove(conn)
        counts["requests_served_on_main_thread"] += 1
        conn.here = True
        try:
            keepalive = ThreadWorker.handle(self, conn)  # gunicorn's, one request: no `_follows` here
        finally:
            conn.here = False
            with self._lock:
                self._deadlines.pop(conn, None)
        self.finish_request(conn, _Answered(keepalive))

    def _quick(self, conn: GuardedConn) -> bool:
        if conn.cfg.is_ssl or conn.parser is None or conn.parser.unreader.buf.getbuffer().nbytes:
            return False
        name = inline.infer_request(inline.peek(conn.sock))
        return (name is not None and inline.answers_read(conn.sock)
                and self.wsgi.extensions["classroom_hub"].registry.quick(name, inline.QUICK_MS,
                                                                         inline.OUTPUT_MAX_VALUES))

    def handle_request(self, req, conn: GuardedConn):
        self._served, self._last_request = True, time.monotonic()
        if any(name == "UPGRADE" and value.lower() == "websocket" for name, value in req.headers):
            return self._websocket(req, conn)
        if conn.here:  # the main thread: whole request in the buffer, small answer (hub/inline.py)
            conn.sock.settimeout(inline.INLINE_TIMEOUT_S)
        with self._lock:
            self._serving += 1
        try:
            return self._answer(req, conn)
        finally:
            with self._lock:
                self._serving -= 1

    def _answer(self, req, conn: GuardedConn):
        self._set_deadline(conn, self.limits.body_s, "body")
        need = self._body_bytes(req)
        if need < SMALL_BODY:
            return super().handle_request(req, conn)
        budget = self.wsgi.extensions["bodies"]
        try:
            held = budget.acquire(need, "the request body", wait_s=BODY_WAIT_S)
        except HubError as exc:  # no room for it in flight now: 503 before a byte of it is read
            counts["bodies_refused"] += 1
            return self._refuse(conn, exc)
        whole = WholeBody.wrap(req, conn)
        try:
            return super().handle_request(req, conn)
        finally:
            if whole is not None:
                whole.finished()
            budget.release(held)

    def _websocket(self, req, conn: GuardedConn):
        """Held for the whole lesson, so no deadline (Engine.IO's pings and the idle time-out watch
        it); at most `websockets_per_address` from one device."""
        with self._lock:
            self._deadlines.pop(conn, None)
            limit = self.limits.websockets
            full = limit and not trusted(conn.address) and self._websockets[conn.address] >= limit
            if not full:
                self._websockets[conn.address] += 1
        if full:
            counts["websockets_refused"] += 1
            return self._refuse(conn, TooManyConnections(
                f"this device already has {limit} live connections to the hub, the most one may "
                "([server] websockets_per_address); close another tab first"))
        try:
            return super().handle_request(req, conn)
        finally:
            with self._lock:
                self._websockets[conn.address] -= 1
                if self._websockets[conn.address] <= 0:
                    del self._websockets[conn.address]

    def _body_bytes(self, req) -> int:
        """What the request's body will hold: its Content-Length (within the limit; the app answers
        413 past it), or the whole limit for a chunked body of unknown length."""
        limit = self.wsgi.extensions["bodies"].per_item
        for name, value in req.headers:  # gunicorn has checked them: one framing, a number
            if name == "TRANSFER-ENCODING" and "chunked" in value.lower():
                return limit
            if name == "CONTENT-LENGTH" and value.strip().isdigit():
                return min(int(value), limit)
        return 0

    def _refuse(self, conn: GuardedConn, exc: HubError) -> bool:
        body = json.dumps(exc.to_json()).encode()
        retry = f"Retry-After: {exc.details['retry_after_s']}\r\n" if "retry_after_s" in exc.details else ""
        reason = {429: "Too Many Requests", 503: "Service Unavailable", 413: "Payload Too Large"}.get(exc.status, "")
        try:
            util.write(conn.sock, (f"HTTP/1.1 {exc.status} {reason}\r\nConnection: close\r\n"
                                   f"Content-Type: application/json\r\n{retry}Content-Length: {len(body)}\r\n\r\n"
                                   ).encode() + body)
        except OSError:
            pass
        return False  # close: the body, if any, is never read

    def handle_error(self, req, client, addr, exc) -> None:
        answer = json_error(exc)
        if answer is None:  # not the client's fault: gunicorn logs it, with its traceback, and answers 500
            return super().handle_error(req, client, addr, exc)
        self.log.warning("Invalid request from ip=%s: %s", (addr or ("",))[0], exc)
        try:
            write_nonblock(client, answer)
        except OSError:
            pass

    def murder_pending(self) -> None:
        """Called by the main loop about once a second: also cut connections past their deadline,
        and give memory back once the requests have stopped."""
        super().murder_pending()
        now = time.monotonic()
        while self._lingering:  # in the order they began, so in the order of their deadlines
            conn, (deadline, _) = next(iter(self._lingering.items()))
            if deadline > now:
                break
            counts["slow_close_cut"] += 1
            self._end_linger(conn)
        if self._served and now - self._last_request > IDLE_TRIM_S:
            self._served = False
            trim_heap()
        with self._lock:
            late = [(conn, what) for conn, (deadline, what) in self._deadlines.items() if deadline < now]
            for conn, _ in late:
                del self._deadlines[conn]
        for conn, what in late:
            counts[f"slow_{what}_cut"] += 1
            log.info("cut a connection from %s: its request %s took too long ([server] %s_timeout_s)",
                     conn.address, what, what)
            try:  # the socket's own shutdown, not SSLSocket's, which would race the reading thread
                socket.socket.shutdown(conn.sock, socket.SHUT_RDWR)
            except OSError:
                pass


NEXT_REQUEST_WAIT_S = 0.005
LINGER_S = 2.0  # as gunicorn's graceful close: how long a closing connection waits for the client's own close
LINGER_DRAIN = 64 * 1024  # and how much of what it still sends is read, then closed regardless
LINGER_READ = 16 * 1024
LINGER_MAX = 256  # closing at once; past it a connection is closed without waiting (a reset at worst)
IDLE_TRIM_S = 1.0


def trim_heap() -> None:
    """Give the kernel back the free memory inside the heap, once no request has come for a
    second. hub/server.py keeps up to 16 MB free at the top of each arena so that requests do
    not fault pages back in one after another; a burst of 32 connections each holding a 668 KB
    tensor leaves much more than that free, in pieces, until this (malloc_trim also returns the
    whole free pages between blocks in use). Not glibc: nothing to do."""
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass
RECV_MAX = 1 << 20  # one recv_into at most this much


class WholeBody:
    """wsgi.input for a large body of known length: the app's first read takes all of it from the
    socket straight into one buffer. gunicorn's own reader goes through two buffers in Python for
    every 64 KB the app asks for: 0.74 ms for a 524 KB photo here, against 0.56 ms this way. Its
    room in the bodies budget is already held (handle_request). Until the app reads, nothing is
    taken: a request refused before its body (401, 415) still leaves it unread, and
    `ClosesOnUnreadBody` sees that in `reader.length`, as with gunicorn's reader."""

    def __init__(self, body, conn: GuardedConn) -> None:
        self.reader = body.reader  # gunicorn's LengthReader: .length is what the socket still holds
        self._conn = conn
        self._body: bytearray | None = None  # all of it, once read; dropped once the app has it all
        self._at = 0

    @classmethod
    def wrap(cls, req, conn: GuardedConn) -> "WholeBody | None":
        """Put one in place of the request's body; None (and gunicorn's reader kept) for a chunked
        body or a client waiting for "100 Continue" before it sends."""
        if any(name in ("TRANSFER-ENCODING", "EXPECT") for name, _ in req.headers):
            return None
        if not isinstance(getattr(req.body, "reader", None), LengthReader) or not req.body.reader.length:
            return None
        req.body = cls(req.body, conn)
        return req.body

    def _filled(self) -> memoryview:
        if self._body is None:
            length = self.reader.length
            body = bytearray(length)
            unreader = self._conn.parser.unreader
            ahead = unreader.take_buffered()  # what came with the header
            got = min(len(ahead), length)
            body[:got] = ahead[:got]
            if len(ahead) > length:
                unreader.unread(ahead[length:])  # the next request's start, pipelined
            view = memoryview(body)
            while got < length:
                n = self._conn.sock.recv_into(view[got:], min(length - got, RECV_MAX))
                if not n:
                    raise http_errors.NoMoreData(bytes(view[max(0, got - 16):got]))
                got += n
                self.reader.length = length - got
            self._body = body
        return memoryview(self._body)[self._at:]

    def take_all(self) -> bytearray:
        """The whole body, the buffer itself (no copy), for an app that wants all of it at once
        (hub/web/bodies.py `whole_body`); this input is empty after."""
        self._filled().release()
        body, self._body, self._at = self._body[self._at:] if self._at else self._body, bytearray(), 0
        return body

    def _took(self, n: int) -> None:
        self._at += n
        if self._body is not None and self._at >= len(self._body):
            self._body = bytearray()  # the app has its own copy: hold no second one to the end of the request
            self._at = 0

    def read(self, size: int | None = -1) -> bytes:
        left = self._filled()
        n = len(left) if size is None or size < 0 else min(size, len(left))
        data = bytes(left[:n])
        left.release()
        self._took(n)
        return data

    def readinto(self, buffer) -> int:
        left = self._filled()
        n = min(len(buffer), len(left))
        memoryview(buffer)[:n] = left[:n]
        left.release()
        self._took(n)
        return n

    def readline(self, size: int | None = -1) -> bytes:
        self._filled().release()
        body = self._body
        end = len(body) if size is None or size < 0 else min(len(body), self._at + size)
        newline = body.find(b"\n", self._at, end)
        return self.read((newline + 1 if newline >= 0 else end) - self._at)

    def readlines(self, hint: int | None = -1) -> list[bytes]:
        return list(self)

    def __iter__(self):
        while line := self.readline():
            yield line

    def finished(self) -> None:
        """After the answer: what the app left of a body read whole is not on the socket, so there
        is nothing for gunicorn to drain before the next request."""
        if self._body is not None:
            self._body, self._at = bytearray(), 0


def _follows(conn: GuardedConn) -> bool:
    """Whether the client's next request arrives within NEXT_REQUEST_WAIT_S (or is here already).

    gunicorn hands every kept-alive connection back to its main thread after each answer, which
    puts it on the poller and, when the next request comes, on a pool thread again: two thread
    hand-offs and six system calls a request. A client sending request after request (a /v2
    client, a benchmark) is served here on the same thread instead; a tablet that asks every few
    seconds costs this thread a 5 ms wait, and nothing else."""
    if conn.parser.unreader.buf.getbuffer().nbytes:  # pipelined: read already
        return True
    pending = getattr(conn.sock, "pending", None)  # TLS: decrypted bytes the socket does not show
    if pending is not None and pending():
        return True
    poller = select.poll()
    poller.register(conn.sock, select.POLLIN)
    try:
        return bool(poller.poll(NEXT_REQUEST_WAIT_S * 1000))
    except OSError:
        return False


# What gunicorn's parser refuses, as the hub's JSON instead of gunicorn's HTML page.
_HTTP_ERRORS = (
    (http_errors.LimitRequestLine, 414, "URI Too Long", "payload_too_large"),
    (http_errors.LimitRequestHeaders, 431, "Request Header Fields Too Large", "payload_too_large"),
    (http_errors.UnsupportedTransferCoding, 501, "Not Implemented", "bad_input"),
    (http_errors.ExpectationFailed, 417, "Expectation Failed", "bad_input"),
    ((http_errors.InvalidRequestLine, http_errors.InvalidRequestMethod, http_errors.InvalidHTTPVersion,
      http_errors.InvalidHeader, http_errors.InvalidHeaderName, http_errors.ObsoleteFolding,
      http_errors.InvalidChunkSize, http_errors.ChunkMissingTerminator, http_errors.InvalidChunkExtension,
      http_errors.InvalidSchemeHeaders, http_errors.InvalidProxyLine), 400, "Bad Request", "bad_input"),
)


def json_error(exc: Exception) -> bytes | None:
    """The whole HTTP answer to a request gunicorn could not parse, or None when it is not the client's fault."""
    for kinds, status, reason, code in _HTTP_ERRORS:
        if isinstance(exc, kinds):
            body = json.dumps({"error": f"not a request the hub can read: {exc}"[:300], "code": code}).encode()
            return (f"HTTP/1.1 {status} {reason}\r\nConnection: close\r\nContent-Type: application/json\r\n"
                    f"Content-Length: {len(body)}\r\n\r\n").encode() + body
    return None


def _quiet_timeouts(record: logging.LogRecord) -> bool:
    """gunicorn logs a read time-out as "Socket error processing request." with a traceback; a
    slow or vanished client is expected on a classroom network, so keep it to one plain line."""
    if record.exc_info and isinstance(record.exc_info[1], TimeoutError):
        record.msg, record.args, record.exc_info, record.exc_text = (
            "a client stopped sending mid-request; its connection was closed", (), None, None)
        record.levelno, record.levelname = logging.INFO, "INFO"
    return True
