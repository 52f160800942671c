"""What a curious pupil's laptop sends: decompression bombs, and a memory cap to run the hub under.

Shared by the tests (tests/test_hostile_*.py) and bench/abuse.py. Payloads are made as streams,
so making a bomb takes kilobytes here, not the gigabytes it asks of the hub.
"""
from __future__ import annotations

import json
import os
import socket
import struct
import threading
import zlib
from pathlib import Path

import websocket


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)


def png_bomb(width: int = 7000, height: int = 7000, depth: int = 16, colour: int = 6) -> bytes:
    """A valid PNG of zeros: 7000x7000 16-bit RGBA (fully transparent) is about 380 KB and 392 MB decoded."""
    channels = {0: 1, 2: 3, 4: 2, 6: 4}[colour]
    row = b"\x00" * (1 + width * channels * depth // 8)  # filter byte 0, then the samples
    squeeze = zlib.compressobj(9)
    body = b"".join(squeeze.compress(row) for _ in range(height)) + squeeze.flush()
    return png_declaring(width, height, depth, colour, body)


def png_declaring(width: int, height: int, depth: int = 8, colour: int = 2, pixels: bytes = b"") -> bytes:
    """A PNG whose header declares `width` x `height`, with the compressed `pixels` given (none by
    default: a header a hub must refuse from its size alone)."""
    header = struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, 0)
    idat = _chunk(b"IDAT", pixels) if pixels else b""
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + idat + _chunk(b"IEND", b"")


class MemoryCap:
    """A memory cgroup this test makes, like the unit's MemoryMax: put the hub in it, read its peak
    and whether the kernel killed anything. cgroup v2 (memory.max) or v1 (memory.limit_in_bytes).

    `MemoryCap.unavailable()` says why not, when the machine does not let us make one."""

    def __init__(self, name: str, limit_bytes: int) -> None:
        self.limit = limit_bytes
        base = _own_memory_cgroup()
        if base is None:
            raise RuntimeError(self.unavailable() or "no memory cgroup")
        self.v2 = (base / "memory.max").exists() or (base / "cgroup.controllers").exists()
        self.path = base / f"{name}-{os.getpid()}"
        self.path.mkdir(exist_ok=True)
        if self.v2:
            (self.path / "memory.max").write_text(str(limit_bytes))
            (self.path / "memory.swap.max").exists() and (self.path / "memory.swap.max").write_text("0")
        else:
            (self.path / "memory.limit_in_bytes").write_text(str(limit_bytes))

    @staticmethod
    def unavailable() -> str | None:
        base = _own_memory_cgroup()
        if base is None:
            return "no writable memory cgroup on this machine (needs root and cgroup v1 or v2 with memory)"
        try:
            probe = base / f"probe-{os.getpid()}"
            probe.mkdir()
            probe.rmdir()
        except OSError as exc:
            return f"cannot make a memory cgroup under {base}: {exc}"
        return None

    def add(self, pid: int) -> None:
        (self.path / "cgroup.procs").write_text(str(pid))

    @property
    def peak_bytes(self) -> int:
        for name in ("memory.peak", "memory.max_usage_in_bytes"):
            if (self.path / name).exists():
                return int((self.path / name).read_text())
        return 0

    @property
    def oom_kills(self) -> int:
        if self.v2:
            for line in (self.path / "memory.events").read_text().splitlines():
                key, value = line.split()
                if key == "oom_kill":
                    return int(value)
            return 0
        for line in (self.path / "memory.oom_control").read_text().splitlines():
            key, value = line.split()
            if key == "oom_kill":
                return int(value)
        return 0

    def close(self) -> None:
        """Move anything left to the parent and remove the group."""
        try:
            for pid in (self.path / "cgroup.procs").read_text().split():
                try:
                    (self.path.parent / "cgroup.procs").write_text(pid)
                except OSError:
                    pass
            self.path.rmdir()
        except OSError:
            pass


def _own_memory_cgroup() -> Path | None:
    """The memory cgroup this process is in, if we may make groups under it."""
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        _, controllers, path = line.split(":", 2)
        if "memory" in controllers.split(","):
            folder = Path("/sys/fs/cgroup/memory") / path.lstrip("/")
            if folder.is_dir() and os.access(folder, os.W_OK):
                return folder
    for line in lines:  # cgroup v2: one unified tree
        if line.startswith("0::"):
            folder = Path("/sys/fs/cgroup") / line[3:].lstrip("/")
            if (folder / "memory.max").exists() or (Path("/sys/fs/cgroup") / "cgroup.controllers").exists():
                if folder.is_dir() and os.access(folder, os.W_OK):
                    return folder
    return None


def unit_memory_max() -> int:
    """The service's MemoryMax (systemd/classroom-hub.service) in bytes: the cap the tests and
    bench/abuse.py run the hub under."""
    unit = Path(__file__).resolve().parent.parent / "systemd" / "classroom-hub.service"
    value = next(line for line in unit.read_text().splitlines() if line.startswith("MemoryMax=")).split("=", 1)[1]
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    return int(value[:-1]) * units[value[-1]] if value[-1] in units else int(value)


def rss(pid: int) -> int:
    """A process's resident memory now, in bytes."""
    return int(Path(f"/proc/{pid}/status").read_text().split("VmRSS:")[1].split()[0]) * 1024


# How a sender sees the hub drop it: a reset, a broken pipe, or (when the hub closed its end while
# the sender's data filled the window) a send that never completes.
STOPPED_TAKING = (websocket.WebSocketException, ConnectionError, OSError)


def engineio_socket(port: int, address: str = "127.0.0.1", timeout_s: float = 10,
                    receive_buffer: int = 0) -> websocket.WebSocket:
    """A raw Engine.IO 4 WebSocket to the hub on 127.0.0.1, from `address` (a device of its own);
    `receive_buffer`, bytes: a small window for a client that does not read."""
    sock = socket.socket()
    if receive_buffer:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)  # before connecting
    sock.settimeout(timeout_s)
    sock.bind((address, 0))
    sock.connect(("127.0.0.1", port))
    return websocket.create_connection(f"ws://127.0.0.1:{port}/socket.io/?EIO=4&transport=websocket",
                                       socket=sock, timeout=timeout_s, origin=f"http://127.0.0.1:{port}")


def class_socket(port: int, address: str = "127.0.0.1", namespace: str = "/class",
                 timeout_s: float = 10, receive_buffer: int = 0) -> websocket.WebSocket:
    """`engineio_socket`, opened and connected to a Socket.IO namespace by hand, ready for packets
    python-socketio would refuse to send."""
    ws = engineio_socket(port, address, timeout_s, receive_buffer)
    if not ws.recv().startswith("0"):
        raise ConnectionError("no Engine.IO open packet")
    ws.send(f"40{namespace},")
    if not ws.recv().startswith(f"40{namespace},"):
        raise ConnectionError("the namespace refused the connection")
    return ws


def closed_by_hub(ws: websocket.WebSocket) -> bool:
    """True once the hub has closed the connection (reading past any last packets); False when it
    is still open after the socket's time-out."""
    try:
        while True:
            opcode, _ = ws.recv_data(control_frame=True)
            if opcode == websocket.ABNF.OPCODE_CLOSE:
                return True
    except websocket.WebSocketTimeoutException:
        return False
    except STOPPED_TAKING:
        return True


class RawTablet:
    """A pupil's tablet speaking Engine.IO 4 / Socket.IO 5 by hand over one WebSocket, from its own
    loopback address (127.0.0.x), as a device of its own on the room's Wi-Fi would."""

    def __init__(self, port: int, address: str = "127.0.0.1", namespace: str = "/class",
                 timeout_s: float = 15) -> None:
        self.namespace = namespace
        self.ws = class_socket(port, address, namespace, timeout_s)
        self._next_id = 0
        self._waiting: dict[int, list] = {}
        self._lock = threading.Lock()
        self._send_lock = threading.Lock()
        self.closed = threading.Event()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        prefix = f"43{self.namespace},"
        try:
            while True:
                message = self.ws.recv()
                if message == "2":  # Engine.IO ping
                    with self._send_lock:
                        self.ws.send("3")
                elif isinstance(message, str) and message.startswith(prefix):
                    rest = message[len(prefix):]
                    digits = len(rest) - len(rest.lstrip("0123456789"))
                    ack, body = int(rest[:digits]), json.loads(rest[digits:])
                    with self._lock:
                        slot = self._waiting.pop(ack, None)
                    if slot is not None:
                        slot[1] = body[0] if body else None
                        slot[0].set()
        except Exception:  # noqa: BLE001 - the connection ended, however
            self.closed.set()
            with self._lock:
                for slot in self._waiting.values():
                    slot[0].set()

    def call(self, event: str, data: dict, binary: bytes | None = None, timeout_s: float = 15):
        """Emit `event` with `data` (and one binary attachment as data["image"]); the acknowledgement."""
        with self._lock:
            self._next_id += 1
            ack = self._next_id
            slot = self._waiting[ack] = [threading.Event(), None]
        payload = dict(data)
        with self._send_lock:
            if binary is None:
                self.ws.send(f"42{self.namespace},{ack}" + json.dumps([event, payload]))
            else:
                payload["image"] = {"_placeholder": True, "num": 0}
                self.ws.send(f"451-{self.namespace},{ack}" + json.dumps([event, payload]))
                self.ws.send_binary(binary)
        if not slot[0].wait(timeout_s) or self.closed.is_set() and slot[1] is None:
            raise TimeoutError(f"no answer to {event} within {timeout_s} s")
        return slot[1]

    def close(self) -> None:
        try:
            self.ws.close()
        except Exception:  # noqa: BLE001
            pass


class OneWrite:
    """A keep-alive HTTP/1.1 client that writes each request whole, in one send, as wrk and most
    browsers do (requests writes the header and the body apart: the main thread may see the
    header before the body has come, and leaves such a request to a thread)."""

    def __init__(self, hub, source: str = "127.0.0.1") -> None:
        self.sock = socket.create_connection(("127.0.0.1", hub.port), timeout=10, source_address=(source, 0))
        self.buffer = b""

    def post(self, path: str, body: bytes, content_type: str = "application/json",
             headers: dict | None = None) -> tuple[int, bytes]:
        extra = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
        self.sock.sendall(f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {content_type}\r\n{extra}"
                          f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
        return self._answer()

    def get(self, path: str) -> tuple[int, bytes]:
        self.sock.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
        return self._answer()

    def _answer(self) -> tuple[int, bytes]:
        while b"\r\n\r\n" not in self.buffer:
            self.buffer += self._recv()
        head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
        length = int(next(line.split(b":")[1] for line in head.split(b"\r\n")
                          if line.lower().startswith(b"content-length:")))
        while len(self.buffer) < length:
            self.buffer += self._recv()
        body, self.buffer = self.buffer[:length], self.buffer[length:]
        return int(head.split(b" ")[1]), body

    def _recv(self) -> bytes:
        data = self.sock.recv(65536)
        if not data:
            raise ConnectionError("the hub closed the connection")
        return data

    def close(self) -> None:
        self.sock.close()
