#!/usr/bin/env python3
"""Web-server candidates for the hub, measured on this machine with a minimal app, 127.0.0.1 only.

Why: on gunicorn's gthread worker every open WebSocket (every tablet holds one), every request
line with half a header and every body that never finishes holds one of `threads` threads, with
no time limit. This measures what each candidate does with idle connections.

The app (written to a temp folder, not the hub): Flask + Flask-SocketIO with `GET /health`
(tiny JSON), `POST /upload` (reads the whole body, as the hub's REST classify does) and a
Socket.IO event `classify` that does ~10 ms of numpy matmuls (native, outside the GIL) on a real
OS thread from a 2-thread pool, as the hub's engine workers do; the reply says whether it ran on
another OS thread than the handler. Socket.IO pings every 5 s (the hub: 10 s), so every hold
below lasts through at least one ping round.

Candidates (one server process, or gunicorn master + one worker; RLIMIT_NOFILE raised):
  gthread-64   gunicorn gthread, threads=64: today's setting (async_mode "threading")
  gthread-512  gunicorn gthread, threads=512
  gevent       gunicorn's gevent worker (patch_all), Flask-SocketIO async_mode "gevent" with
               simple-websocket; the work runs on gevent.threadpool.ThreadPoolExecutor (native
               threads; the handler's greenlet waits on the future cooperatively)
  asgi         uvicorn (h11 + wsproto) + python-socketio's AsyncServer in ASGIApp (not Flask-SocketIO:
               its handlers become coroutines), Flask behind a2wsgi (64 threads); the handler awaits
               run_in_executor. Needs uvicorn and a2wsgi: this Python, or /tmp/bench-servers-venv
               (see --asgi-python); skipped otherwise.
  asgi-buffered  the same, with the request body read in the event loop before a2wsgi takes a
               thread (a2wsgi itself reads wsgi.input on its thread, so a stalled body holds one)

Scenarios, each measured from this process while a separate holder process keeps the connections:
  baseline     200 sequential GET /health on one keep-alive connection (2 s timeout; after 3
               timeouts the rest are not sent), the serving process's VmRSS and thread count,
               and 100 `classify` calls from one python-socketio client (p50/p99 round trip)
  idle_ws      the same while 500 raw WebSockets to /socket.io/?EIO=4&transport=websocket sit
               idle after the Engine.IO open and the Socket.IO connect `40`, answering every
               ping `2` with `3`. held = handshakes finished within 5 s; open = not closed by the
               server at the end of the hold (~6.5 s, one ping round); KB/conn = RSS growth over
               the baseline / held. after_release: threads and RSS 6 s after they all closed
  slow_clients on a fresh server, the same (no classify) while 200 connections sent
               `GET / HTTP/1.1` and one header line and 200 sent a POST /upload head with
               Content-Length: 100000 and 10 bytes of it, then nothing (held 4 s); open = not closed
               or answered by the server by then; KB/conn = RSS growth over the fresh server / held
After each flood the holder closes everything; recovered_s is how long /health then takes to answer.
RSS is VmRSS of the serving process (gunicorn's worker, not the master), threads its thread count.

How to read it: a candidate is fit when idle_ws holds all 500 with /health and classify near their
baseline, and slow_clients leaves /health answering. Timeouts mean requests wait for a thread.
Prints JSON on stdout (`results`: one object per candidate and scenario) and a table on stderr;
about 2 minutes (--quick: under 1). Other load on the machine shows in the p99s: run it twice.

    python bench/servers.py [--quick] [--candidates gthread-64,gevent] [--ws 500] [--slow 200]
"""
from __future__ import annotations

import argparse
import asyncio
import base64
import http.client
import multiprocessing as mp
import os
import platform
import resource
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # bench.report

import numpy as np

HOST = "127.0.0.1"
ASGI_VENV = Path("/tmp/bench-servers-venv")
PING_INTERVAL_S = 5
HANDSHAKE_TIMEOUT_S = 5.0
REQUEST_TIMEOUT_S = 2.0
MAX_TIMEOUTS = 3

# The server: `python benchapp.py KIND PORT THREADS LOG`. Kept minimal on purpose: it measures the
# server and the Socket.IO stack, not the hub.
APP_SOURCE = r'''
import os
import resource
import sys
import time

KIND, PORT, THREADS = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
PING_INTERVAL_S = int(os.environ.get("BENCH_PING_INTERVAL", "5"))


def raise_nofile():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    for limit in (65536, hard):
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (limit, max(limit, hard)))
            return
        except (ValueError, OSError):
            continue


def make_work():
    """~10 ms of matmuls (native, outside the GIL): the stand-in for an interpreter's invoke."""
    import numpy as np

    a = np.random.default_rng(0).random((160, 160))
    reps = int(os.environ["BENCH_WORK_REPS"])  # measured once by the benchmark: the same work everywhere
    if KIND == "gevent":
        from gevent.monkey import get_original
        native_id = get_original("threading", "get_native_id")
    else:
        from threading import get_native_id as native_id

    def work():
        t0 = time.perf_counter()
        for _ in range(reps):
            a @ a
        return {"thread": native_id(), "ms": round((time.perf_counter() - t0) * 1000, 2)}

    return work, native_id


def flask_app(async_mode):
    from flask import Flask, jsonify, request

    app = Flask("benchapp")

    @app.get("/health")
    def health():
        return jsonify(ok=True)

    @app.post("/upload")
    def upload():
        return jsonify(bytes=len(request.get_data()))

    if async_mode is None:
        return app, None
    from flask_socketio import SocketIO

    socketio = SocketIO(app, async_mode=async_mode, ping_interval=PING_INTERVAL_S, ping_timeout=20,
                        logger=False, engineio_logger=False)
    return app, socketio


def wsgi_app(kind):
    work, native_id = make_work()
    if kind == "gevent":
        from gevent.threadpool import ThreadPoolExecutor  # native threads, cooperative futures
        app, socketio = flask_app("gevent")
    else:
        from concurrent.futures import ThreadPoolExecutor
        app, socketio = flask_app("threading")
    pool = ThreadPoolExecutor(2)

    @socketio.on("classify")
    def classify(data=None):
        reply = pool.submit(work).result(timeout=5)
        reply["separate_os_thread"] = reply["thread"] != native_id()
        return reply

    return app


def gunicorn(kind, threads):
    from gunicorn.app.base import BaseApplication

    class Server(BaseApplication):
        def load_config(self):
            settings = {"bind": f"127.0.0.1:{PORT}", "workers": 1,
                        "worker_class": "gevent" if kind == "gevent" else "gthread", "threads": threads,
                        "timeout": 120, "graceful_timeout": 2, "keepalive": 30, "accesslog": None,
                        "errorlog": "-", "loglevel": "warning", "control_socket_disable": True}
            for key, value in settings.items():
                if key in self.cfg.settings:
                    self.cfg.set(key, value)

        def load(self):  # in the worker, after the gevent worker has monkey-patched
            return wsgi_app(kind)

    Server().run()


class BufferedBody:
    """Reads the whole request body in the event loop before a2wsgi gives the request a thread, so a
    body that never finishes holds a coroutine, not one of a2wsgi's threads."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        chunks, more = [], True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunks.append(message.get("body", b""))
            more = message.get("more_body", False)
        body, given = b"".join(chunks), False

        async def replay():
            nonlocal given
            if not given:
                given = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        return await self.app(scope, replay, send)


def asgi(threads, buffered):
    import asyncio
    from concurrent.futures import ThreadPoolExecutor

    import socketio
    import uvicorn
    from a2wsgi import WSGIMiddleware

    work, native_id = make_work()
    app, _ = flask_app(None)
    sio = socketio.AsyncServer(async_mode="asgi", ping_interval=PING_INTERVAL_S, ping_timeout=20)
    pool = ThreadPoolExecutor(2)

    @sio.on("classify")
    async def classify(sid, data=None):
        reply = await asyncio.get_running_loop().run_in_executor(pool, work)
        reply["separate_os_thread"] = reply["thread"] != native_id()
        return reply

    flask_side = WSGIMiddleware(app, workers=threads)
    both = socketio.ASGIApp(sio, other_asgi_app=BufferedBody(flask_side) if buffered else flask_side)
    uvicorn.run(both, host="127.0.0.1", port=PORT, log_level="warning", ws="wsproto", lifespan="off",
                backlog=4096)


raise_nofile()
if KIND.startswith("asgi"):
    asgi(THREADS, buffered=KIND == "asgi-buffered")
else:
    gunicorn(KIND, THREADS)
'''


@dataclass(frozen=True)
class Candidate:
    name: str
    kind: str  # gthread | gevent | asgi
    threads: int
    note: str


CANDIDATES = [
    Candidate("gthread-64", "gthread", 64, "gunicorn gthread, threads=64 (today)"),
    Candidate("gthread-512", "gthread", 512, "gunicorn gthread, threads=512"),
    Candidate("gevent", "gevent", 0, "gunicorn gevent worker, Flask-SocketIO gevent + simple-websocket, "
                                     "work on gevent.threadpool.ThreadPoolExecutor"),
    Candidate("asgi", "asgi", 64, "uvicorn + python-socketio AsyncServer (ASGIApp), Flask via a2wsgi(workers=64)"),
    Candidate("asgi-buffered", "asgi-buffered", 64, "as asgi, with the request body read in the event loop "
                                                    "before a2wsgi takes a thread"),
]


# ---- small helpers ---------------------------------------------------------------------------------

def percentiles(samples_ms: list[float]) -> dict:
    if not samples_ms:
        return {"n": 0}
    a = np.array(samples_ms)
    return {"p50": round(float(np.percentile(a, 50)), 3), "p99": round(float(np.percentile(a, 99)), 3),
            "n": len(a)}


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def raise_nofile() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    for limit in (65536, hard):
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (limit, max(limit, hard)))
            return
        except (ValueError, OSError):
            continue


def proc_status(pid: int) -> dict:
    """VmRSS (MB) and thread count of one process."""
    out = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                out["rss_mb"] = round(int(line.split()[1]) / 1024, 1)
            elif line.startswith("Threads:"):
                out["threads"] = int(line.split()[1])
    except OSError:
        return {"rss_mb": None, "threads": None}
    return out


def children(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


CALIBRATE = """
import time
import numpy as np
a = np.random.default_rng(0).random((160, 160))
best = []
for _ in range(5):
    t0 = time.perf_counter()
    for _ in range(50):
        a @ a
    best.append((time.perf_counter() - t0) / 50)
print(max(1, round(0.010 / min(best))))
"""


def calibrate(python: str) -> int:
    """How many 160x160 matmuls make ~10 ms on one BLAS thread here (the same for every candidate)."""
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    return int(subprocess.run([python, "-c", CALIBRATE], env=env, capture_output=True, text=True,
                              check=True).stdout)


def importable(python: str, modules: str) -> bool:
    return subprocess.run([python, "-c", f"import {modules}"], capture_output=True).returncode == 0


# ---- the server under test ---------------------------------------------------------------------------

class Server:
    """One candidate in its own session (process group), so stop() reaches master and worker."""

    def __init__(self, candidate: Candidate, python: str, folder: Path, work_reps: int) -> None:
        self.candidate, self.port = candidate, free_port()
        self.log_path = folder / f"{candidate.name}.log"
        env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1",
                   BENCH_PING_INTERVAL=str(PING_INTERVAL_S), BENCH_WORK_REPS=str(work_reps),
                   PYTHONUNBUFFERED="1")
        with self.log_path.open("w") as log:
            self.proc = subprocess.Popen([python, str(folder / "benchapp.py"), candidate.kind, str(self.port),
                                          str(candidate.threads)], cwd=folder, stdout=log, stderr=subprocess.STDOUT,
                                         env=env, start_new_session=True)
        self.started = time.monotonic()
        self.ready_s = self._wait_ready()
        self.serving_pid = self._serving_pid()

    def _wait_ready(self, timeout_s: float = 30) -> float:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.candidate.name} exited: {self.log_path.read_text()[-2000:]}")
            try:
                conn = http.client.HTTPConnection(HOST, self.port, timeout=1)
                conn.request("GET", "/health")
                if conn.getresponse().status == 200:
                    conn.close()
                    return round(time.monotonic() - self.started, 2)
                conn.close()
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"{self.candidate.name} not ready after {timeout_s} s: {self.log_path.read_text()[-2000:]}")

    def _serving_pid(self) -> int:
        """gunicorn's worker (the master's one child), else the process itself."""
        kids = children(self.proc.pid)
        return kids[0] if not self.candidate.kind.startswith("asgi") and kids else self.proc.pid

    def status(self) -> dict:
        return proc_status(self.serving_pid)

    def stop(self) -> None:
        """SIGTERM to the group, then SIGKILL to whatever of it is left (a worker outliving its master)."""
        for sig, wait_s in ((signal.SIGTERM, 4), (signal.SIGKILL, 5)):
            try:
                os.killpg(self.proc.pid, sig)
            except ProcessLookupError:
                break
            try:
                self.proc.wait(timeout=wait_s)
            except subprocess.TimeoutExpired:
                continue
        deadline = time.monotonic() + 5
        while Path(f"/proc/{self.serving_pid}").exists() and time.monotonic() < deadline:
            time.sleep(0.05)  # the next candidate starts on an idle machine


# ---- the holder: idle connections kept in a separate process ------------------------------------------

def _ws_frame(opcode: int, payload: bytes) -> bytes:
    """One client frame (masked, as RFC 6455 requires of clients)."""
    mask = os.urandom(4)
    n = len(payload)
    head = bytes([0x80 | opcode])
    if n < 126:
        head += bytes([0x80 | n])
    elif n < 65536:
        head += bytes([0x80 | 126]) + struct.pack("!H", n)
    else:
        head += bytes([0x80 | 127]) + struct.pack("!Q", n)
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


async def _read_frame(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    b0, b1 = await reader.readexactly(2)
    n = b1 & 0x7F
    if n == 126:
        n = struct.unpack("!H", await reader.readexactly(2))[0]
    elif n == 127:
        n = struct.unpack("!Q", await reader.readexactly(8))[0]
    mask = await reader.readexactly(4) if b1 & 0x80 else None
    payload = await reader.readexactly(n)
    if mask:
        payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return b0 & 0x0F, payload


async def _hold(port: int, n_ws: int, n_header: int, n_body: int, pipe) -> None:
    stats = {"pings_answered": 0, "dropped": 0}
    writers: list[asyncio.StreamWriter] = []
    tasks: set[asyncio.Task] = set()

    async def open_ws() -> bool:
        reader, writer = await asyncio.open_connection(HOST, port)
        writers.append(writer)
        key = base64.b64encode(os.urandom(16)).decode()
        writer.write((f"GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: {HOST}:{port}\r\n"
                      f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                      f"Sec-WebSocket-Version: 13\r\n\r\n").encode())
        head = await reader.readuntil(b"\r\n\r\n")
        if b" 101 " not in head.split(b"\r\n", 1)[0]:
            raise ConnectionError(head.split(b"\r\n", 1)[0].decode(errors="replace"))
        _, payload = await _read_frame(reader)  # Engine.IO open: 0{"sid":...}
        if not payload.startswith(b"0"):
            raise ConnectionError(f"no Engine.IO open: {payload[:40]!r}")
        writer.write(_ws_frame(1, b"40"))
        while True:
            opcode, payload = await _read_frame(reader)
            if opcode == 1 and payload.startswith(b"40"):
                break
            if opcode == 1 and payload == b"2":
                writer.write(_ws_frame(1, b"3"))
        tasks.add(asyncio.create_task(idle_ws(reader, writer)))
        return True

    async def idle_ws(reader, writer) -> None:
        try:
            while True:
                opcode, payload = await _read_frame(reader)
                if opcode == 8:
                    break
                if opcode == 9:
                    writer.write(_ws_frame(10, payload))
                elif opcode == 1 and payload == b"2":
                    writer.write(_ws_frame(1, b"3"))
                    stats["pings_answered"] += 1
        except (asyncio.IncompleteReadError, OSError):
            pass
        stats["dropped"] += 1

    async def open_slow(head: bytes) -> bool:
        reader, writer = await asyncio.open_connection(HOST, port)
        writers.append(writer)
        writer.write(head)
        await writer.drain()

        async def watch() -> None:
            try:
                await reader.read(4096)  # a response or EOF: the server gave up on it
            except OSError:
                pass
            stats["dropped"] += 1

        tasks.add(asyncio.create_task(watch()))
        return True

    async def attempt(coro) -> str | None:
        try:
            await asyncio.wait_for(coro, HANDSHAKE_TIMEOUT_S)
            return None
        except asyncio.TimeoutError:
            return "timeout"
        except Exception as exc:  # noqa: BLE001 - counted by kind
            return type(exc).__name__

    slow_header = b"GET / HTTP/1.1\r\nHost: x\r\n"
    slow_body = (b"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\n"
                 b"Content-Length: 100000\r\n\r\n" + b"0123456789")
    t0 = time.monotonic()
    results = await asyncio.gather(*([attempt(open_ws()) for _ in range(n_ws)]
                                     + [attempt(open_slow(slow_header)) for _ in range(n_header)]
                                     + [attempt(open_slow(slow_body)) for _ in range(n_body)]))
    failures: dict[str, int] = {}
    for r in results:
        if r:
            failures[r] = failures.get(r, 0) + 1
    pipe.send({"held": sum(r is None for r in results), "asked": len(results), "failures": failures,
               "open_s": round(time.monotonic() - t0, 2)})
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, pipe.recv)  # "stop"
    pipe.send({"pings_answered": stats["pings_answered"], "dropped": stats["dropped"],
               "still_open": sum(r is None for r in results) - stats["dropped"]})
    for w in writers:
        w.close()
    for t in tasks:
        t.cancel()


def _holder_main(port: int, n_ws: int, n_header: int, n_body: int, pipe) -> None:
    raise_nofile()
    asyncio.run(_hold(port, n_ws, n_header, n_body, pipe))


class Holder:
    """Keeps the flood in another process, so this one measures without sharing its GIL."""

    def __init__(self, port: int, n_ws: int = 0, n_header: int = 0, n_body: int = 0) -> None:
        self.pipe, child = mp.get_context("fork").Pipe()
        self.proc = mp.get_context("fork").Process(target=_holder_main, args=(port, n_ws, n_header, n_body, child),
                                                   daemon=True)
        self.proc.start()
        if not self.pipe.poll(HANDSHAKE_TIMEOUT_S + 20):
            self.close()
            raise RuntimeError("the holder did not report its connections")
        self.opened = self.pipe.recv()

    def release(self) -> dict:
        """Close everything; what the server did with the connections meanwhile."""
        report: dict = {}
        try:
            self.pipe.send("stop")
            if self.pipe.poll(10):
                report = self.pipe.recv()
        except (OSError, EOFError):
            pass
        self.close()
        return report

    def close(self) -> None:
        self.proc.join(timeout=5)
        if self.proc.is_alive():
            self.proc.kill()
            self.proc.join(timeout=5)


# ---- measurements --------------------------------------------------------------------------------------

def health_latency(port: int, n: int, warmup: int = 5) -> dict:
    """Sequential GET /health on one keep-alive connection (a new one after any failure)."""
    samples, timeouts, errors, sent = [], 0, 0, 0
    conn = None
    for i in range(n + warmup):
        if conn is None:
            conn = http.client.HTTPConnection(HOST, port, timeout=REQUEST_TIMEOUT_S)
        sent += 1
        t0 = time.perf_counter()
        try:
            conn.request("GET", "/health")
            response = conn.getresponse()
            response.read()
            if response.status != 200:
                raise http.client.HTTPException(f"status {response.status}")
        except (TimeoutError, socket.timeout):
            timeouts += 1
            conn.close()
            conn = None
            if timeouts >= MAX_TIMEOUTS:
                break
            continue
        except (OSError, http.client.HTTPException):
            errors += 1
            conn.close()
            conn = None
            continue
        if i >= warmup:
            samples.append((time.perf_counter() - t0) * 1000)
    if conn is not None:
        conn.close()
    return {"ms": percentiles(samples), "sent": sent, "timeouts": timeouts, "errors": errors,
            "stopped_after_timeouts": timeouts >= MAX_TIMEOUTS}


def classify_latency(port: int, n: int, warmup: int = 5) -> dict:
    """`classify` round trips from one python-socketio client over a WebSocket."""
    import socketio

    client = socketio.Client(reconnection=False, request_timeout=3)
    try:
        client.connect(f"http://{HOST}:{port}", transports=["websocket"], wait_timeout=3)
    except Exception as exc:  # noqa: BLE001 - the server could not take one more connection
        try:
            client.disconnect()
        except Exception:  # noqa: BLE001
            pass
        return {"ms": {"n": 0}, "error": f"connect failed: {type(exc).__name__}: {exc}"[:160]}
    samples, timeouts, work_ms, separate = [], 0, [], True
    try:
        for i in range(n + warmup):
            t0 = time.perf_counter()
            try:
                reply = client.call("classify", {}, timeout=REQUEST_TIMEOUT_S)
            except socketio.exceptions.TimeoutError:
                timeouts += 1
                if timeouts >= MAX_TIMEOUTS:
                    break
                continue
            if i >= warmup:
                samples.append((time.perf_counter() - t0) * 1000)
                work_ms.append(reply["ms"])
                separate = separate and reply["separate_os_thread"]
    finally:
        client.disconnect()
    return {"ms": percentiles(samples), "timeouts": timeouts, "work_ms_p50": percentiles(work_ms).get("p50"),
            "work_on_separate_os_thread": separate}


def wait_recovered(port: int, timeout_s: float = 20) -> float | None:
    """After a flood is released: seconds until /health answers again (None: not within timeout_s)."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout_s:
        try:
            conn = http.client.HTTPConnection(HOST, port, timeout=1)
            conn.request("GET", "/health")
            ok = conn.getresponse().status == 200
            conn.close()
            if ok:
                return round(time.monotonic() - t0, 2)
        except OSError:
            pass
        time.sleep(0.05)
    return None


def run_candidate(candidate: Candidate, python: str, folder: Path, args) -> list[dict]:
    """baseline and idle_ws on one server; slow_clients on a fresh one, so WebSocket leftovers
    (threads still ending, memory not given back) are not counted against the slow clients."""
    out = []
    base = {"candidate": candidate.name, "server": candidate.note, "python": python}
    server = Server(candidate, python, folder, args.work_reps)
    try:
        time.sleep(0.3)
        health = health_latency(server.port, args.requests)
        classify = classify_latency(server.port, args.calls)
        time.sleep(0.3)  # the classify client's threads gone from the count
        baseline = {**base, "scenario": "baseline", "ready_s": server.ready_s, **server.status(),
                    "health": health, "classify": classify}
        out.append(baseline)

        holder = Holder(server.port, n_ws=args.ws)
        try:
            t_open = time.monotonic()
            time.sleep(0.5)
            health = health_latency(server.port, args.requests)
            classify = classify_latency(server.port, args.calls)
            # through at least one ping round before asking what is still open
            time.sleep(max(0.0, PING_INTERVAL_S + 1.5 - (time.monotonic() - t_open)))
            status = server.status()
        finally:
            kept = holder.release()
        held = holder.opened["held"]
        recovered = wait_recovered(server.port)
        time.sleep(PING_INTERVAL_S + 1)  # engine.io's ping threads sleep one interval before they end
        grew = (status.get("rss_mb") or 0) - (baseline.get("rss_mb") or 0)
        out.append({**base, "scenario": "idle_ws", "asked": holder.opened["asked"], "held": held,
                    "open_failures": holder.opened["failures"], "open_s": holder.opened["open_s"], **status,
                    "kb_per_conn": round(grew * 1024 / held, 1) if held else None,
                    "pings_answered": kept.get("pings_answered"), "still_open": kept.get("still_open"),
                    "health": health, "classify": classify, "recovered_s": recovered,
                    "after_release": server.status()})
    finally:
        server.stop()

    server = Server(candidate, python, folder, args.work_reps)
    try:
        health_latency(server.port, 20)
        before = server.status()
        holder = Holder(server.port, n_header=args.slow, n_body=args.slow)
        try:
            t_open = time.monotonic()
            time.sleep(1.0)
            health = health_latency(server.port, args.requests)
            time.sleep(max(0.0, args.slow_hold - (time.monotonic() - t_open)))
            status = server.status()
        finally:
            kept = holder.release()
        held = holder.opened["held"]
        grew = (status.get("rss_mb") or 0) - (before.get("rss_mb") or 0)
        out.append({**base, "scenario": "slow_clients", "asked": holder.opened["asked"], "held": held,
                    "open_failures": holder.opened["failures"], "before": before, **status,
                    "kb_per_conn": round(grew * 1024 / held, 1) if held else None,
                    "dropped_by_server": kept.get("dropped"), "still_open": kept.get("still_open"),
                    "health": health, "recovered_s": wait_recovered(server.port)})
    finally:
        server.stop()
    return out


# ---- report --------------------------------------------------------------------------------------------

def _ms(m: dict) -> str:
    return f"{m['p50']:.2f}/{m['p99']:.2f}" if m.get("n") else "-"


def table(report: dict) -> str:
    rows = [f"{report['machine']['cpus']} CPUs, Python {report['machine']['python']}; /health: p50/p99 ms of "
            f"{report['settings']['requests']} requests (to = timeouts of {REQUEST_TIMEOUT_S:.0f} s, sending "
            f"stops after {MAX_TIMEOUTS}); classify: p50/p99 ms of {report['settings']['calls']} calls, each "
            f"{report['settings']['classify_work']}",
            f"{'candidate':13} {'scenario':13} {'held/asked':>10} {'open':>5} {'RSS MB':>7} {'KB/conn':>7} "
            f"{'threads':>7} {'/health ms':>13} {'to':>3} {'classify ms':>13} {'recov s':>7}"]
    for r in report["results"]:
        if "skipped" in r:
            rows.append(f"{r['candidate']:13} skipped: {r['skipped']}")
            continue
        if "error" in r:
            rows.append(f"{r['candidate']:13} failed: {r['error']}")
            continue
        held = f"{r['held']}/{r['asked']}" if "held" in r else "-"
        still = r.get("still_open")
        classify = r.get("classify")
        ccell = "-" if classify is None else (_ms(classify["ms"]) if classify["ms"].get("n") else "failed")
        recovered = "-" if r["scenario"] == "baseline" else (
            "never" if r.get("recovered_s") is None else r["recovered_s"])
        rows.append(f"{r['candidate']:13} {r['scenario']:13} {held:>10} {'-' if still is None else still:>5} "
                    f"{r.get('rss_mb') or '-':>7} {r.get('kb_per_conn') or '-':>7} {r.get('threads') or '-':>7} "
                    f"{_ms(r['health']['ms']):>13} {r['health']['timeouts']:>3} {ccell:>13} {recovered:>7}")
    notes = [f"  {r['candidate']} {r['scenario']}: classify {r['classify']['error']}"
             for r in report["results"] if isinstance(r.get("classify"), dict) and r["classify"].get("error")]
    notes += [f"  {r['candidate']} {r['scenario']}: could not open {r['open_failures']}"
              for r in report["results"] if r.get("open_failures")]
    baselines = {r["candidate"]: r for r in report["results"] if r.get("scenario") == "baseline"}
    notes += [f"  {r['candidate']} idle_ws: {r['after_release']['threads']} threads, RSS "
              f"{r['after_release']['rss_mb']} MB {PING_INTERVAL_S + 1} s after the WebSockets closed (baseline: "
              f"{baselines[r['candidate']]['threads']}, {baselines[r['candidate']]['rss_mb']} MB)"
              for r in report["results"] if r.get("after_release")]
    if notes:
        rows += ["notes:", *notes]
    rows.append("open = still open at the end of the hold (not closed or answered by the server); RSS and threads "
                "at the end of the hold; KB/conn = RSS growth / held; recov s = /health answering again after the "
                "flood was closed")
    return "\n".join(rows)


def asgi_python(requested: str | None) -> tuple[str | None, str]:
    if requested:
        return (requested, "") if importable(requested, "uvicorn, a2wsgi, flask_socketio, numpy") else (
            None, f"{requested} cannot import uvicorn, a2wsgi, flask_socketio and numpy")
    for python in (sys.executable, str(ASGI_VENV / "bin" / "python")):
        if Path(python).exists() and importable(python, "uvicorn, a2wsgi, flask_socketio, numpy"):
            return python, ""
    return None, (f"uvicorn and a2wsgi are not installed here nor in {ASGI_VENV} (make it with: python -m venv "
                  f"{ASGI_VENV} && {ASGI_VENV}/bin/pip install uvicorn a2wsgi Flask Flask-SocketIO numpy)")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="fewer connections and requests: a smoke run")
    ap.add_argument("--candidates", default=",".join(c.name for c in CANDIDATES))
    ap.add_argument("--ws", type=int, default=500, help="idle WebSockets held")
    ap.add_argument("--slow", type=int, default=200, help="slow-header connections, and as many slow-body ones")
    ap.add_argument("--requests", type=int, default=200, help="GET /health per measurement")
    ap.add_argument("--calls", type=int, default=100, help="classify calls per measurement")
    ap.add_argument("--slow-hold", type=float, default=4.0, help="seconds the slow clients are held")
    ap.add_argument("--asgi-python", help="a Python with uvicorn and a2wsgi (default: this one, else "
                                          f"{ASGI_VENV}/bin/python)")
    args = ap.parse_args()
    if args.quick:
        args.ws, args.slow, args.requests, args.calls, args.slow_hold = 100, 40, 50, 20, 2.0
    wanted = [c for c in CANDIDATES if c.name in args.candidates.split(",")]

    raise_nofile()
    args.work_reps = calibrate(sys.executable)
    folder = Path(tempfile.mkdtemp(prefix="bench-servers-"))
    (folder / "benchapp.py").write_text(APP_SOURCE)
    report = {"machine": {"cpus": os.cpu_count(), "machine": platform.machine(), "python": platform.python_version()},
              "settings": {"ws": args.ws, "slow_header": args.slow, "slow_body": args.slow, "requests": args.requests,
                           "calls": args.calls, "ping_interval_s": PING_INTERVAL_S,
                           "classify_work": f"{args.work_reps} matmuls of 160x160 float64 (~10 ms, 1 BLAS thread)",
                           "request_timeout_s": REQUEST_TIMEOUT_S, "handshake_timeout_s": HANDSHAKE_TIMEOUT_S},
              "results": []}
    started = time.monotonic()
    try:
        for candidate in wanted:
            python = sys.executable
            if candidate.kind.startswith("asgi"):
                python, why = asgi_python(args.asgi_python)
                if python is None:
                    report["results"].append({"candidate": candidate.name, "skipped": why})
                    continue
            t0 = time.monotonic()
            try:
                report["results"] += run_candidate(candidate, python, folder, args)
            except RuntimeError as exc:
                report["results"].append({"candidate": candidate.name, "error": str(exc)[:500]})
            print(f"{candidate.name}: {time.monotonic() - t0:.0f} s", file=sys.stderr, flush=True)
    finally:
        report["seconds"] = round(time.monotonic() - started, 1)
        shutil.rmtree(folder, ignore_errors=True)
    from bench.report import publish

    publish("servers", report, table(report))  # bench/results/servers.json, then the JSON and the table
    return 0


if __name__ == "__main__":
    sys.exit(main())
