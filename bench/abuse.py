#!/usr/bin/env python3
"""What one pupil's laptop can do to the hub, and what held: the whole of issue 13, against a real hub.

The hub runs as `classroom-hub serve` on 127.0.0.1 inside a memory cgroup as tight as the unit's
MemoryMax (700 MB), when this machine lets us make one (root, cgroup v1 or v2). The "laptop"
uses loopback addresses of its own (127.0.0.9 and friends); the class uses others, one per tablet.

  bombs        picture bombs (7000x7000 16-bit transparent PNG, ~380 KB; a 6000x6000 BMP header with no pixels), four
               at a time over REST and four over Socket.IO, three rounds: every one must be
               answered 4xx (or 503), the worker never killed; its peak memory is printed.
  attachments  Socket.IO floods, four at a time: 999,999 attachments announced; 8 MB frames past the
               body limit; one WebSocket message growing to 400 MB. Every connection must be dropped.
  connections  a class of 30 tablets (one address each) classifying drawings, first alone, then while
               the laptop keeps 500 connections open and re-opens any the hub closes: 125 silent,
               125 half-headers, 125 drip-fed bodies, 125 idle WebSockets. Measured from two more
               addresses: /v2/health/ready and a pupil's Socket.IO classify, p50/p99/max and failures;
               target p99 <= 100 ms during the flood.
  requests     the same class and the same two timed devices, first alone, then while the laptop asks
               /v2 for the digits model over and over on 16 kept-alive connections (its whole share),
               never waiting between two: the quick requests gunicorn's main thread answers itself
               (hub/inline.py). Target as above: p99 <= 100 ms and no failure during the flood.
  closers      the same class and devices, then while the laptop asks for answers that end their
               connection (HTTP/1.0, a malformed request, `Connection: close`) on its 16 connections
               and never closes its side, each left 2.5 s: the hub must close them without waiting
               on them. Target as above.
  pins         200 wrong PINs from 20 addresses in bursts; how many the hub really checked (its
               /metrics), and whether the teacher, from her own address, still logs in.

Prints JSON (also bench/results/abuse.json) and a table. Never asserted in tests; tests/test_hostile_*.py
check the behaviour.

    python bench/abuse.py [--only bombs,attachments,connections,requests,closers,pins] [--seconds 20] [--quick]
"""
from __future__ import annotations

import argparse
import http.client
import json
import platform
import shutil
import socket
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import websocket

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.report import publish  # noqa: E402
from tests.conftest import BASE_CONFIG, BUNDLED, TEACHER_PIN, HubProcess, toml_text  # noqa: E402
from tests.drawing import png, render  # noqa: E402
from tests.hostile import (  # noqa: E402
    STOPPED_TAKING,
    MemoryCap,
    OneWrite,
    RawTablet,
    class_socket,
    closed_by_hub,
    engineio_socket,
    png_bomb,
    rss,
    unit_memory_max,
)

MEMORY_MAX = unit_memory_max()  # the unit's MemoryMax: 700 MB
LAPTOP = "127.0.0.9"


def percentiles(values: list[float]) -> dict:
    if not values:
        return {"n": 0}
    a = np.array(values)
    return {"n": len(values), "p50_ms": round(float(np.percentile(a, 50)), 2),
            "p99_ms": round(float(np.percentile(a, 99)), 2), "max_ms": round(float(a.max()), 2)}


class Hub:
    """A hub for the run, in a memory cgroup when possible; peak memory sampled besides."""

    def __init__(self, workdir: Path) -> None:
        models = workdir / "models"
        models.mkdir()
        for name in ("digits", "spoken-digits"):
            shutil.copytree(BUNDLED / name, models / name)
        reason = MemoryCap.unavailable()
        self.cap = None if reason else MemoryCap("classroom-hub-abuse", MEMORY_MAX)
        self.cap_note = reason or f"cgroup {self.cap.path} (limit {MEMORY_MAX >> 20} MB)"
        config = {**BASE_CONFIG, "classroom": {"data_dir": str(workdir / "data")}}
        self.process = HubProcess(models, toml_text(config), workdir, cgroup=self.cap)
        self.url, self.port = self.process.url, self.process.port
        self.worker = self.process.worker_pid
        self.sampled_peak = rss(self.worker)
        self._sampling = True
        threading.Thread(target=self._sample, daemon=True).start()

    def _sample(self) -> None:
        while self._sampling:
            try:
                self.sampled_peak = max(self.sampled_peak, rss(self.worker))
            except (OSError, IndexError):
                return
            time.sleep(0.02)

    def alive(self) -> bool:
        try:
            return self.process.proc.poll() is None and self.process.worker_pid == self.worker
        except (OSError, IndexError):
            return False

    def memory(self) -> dict:
        return {"worker_rss_mb": round(rss(self.worker) / 2**20, 1) if self.alive() else None,
                "worker_peak_rss_mb": round(self.sampled_peak / 2**20, 1),
                "cgroup_peak_mb": round(self.cap.peak_bytes / 2**20, 1) if self.cap else None,
                "oom_kills": self.cap.oom_kills if self.cap else None}

    def stop(self) -> None:
        self._sampling = False
        self.process.stop()
        if self.cap:
            self.cap.close()


def http_call(port: int, method: str, path: str, body: bytes = b"", headers: dict | None = None,
              source: str = "127.0.0.1", timeout_s: float = 30) -> tuple[int, dict | str]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout_s, source_address=(source, 0))
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        data = response.read()
        try:
            return response.status, json.loads(data)
        except ValueError:
            return response.status, data.decode(errors="replace")
    finally:
        conn.close()


# --- bombs ---------------------------------------------------------------------------------------

def bmp_bomb() -> bytes:
    """A BMP header declaring 6000x6000 24-bit (108 MB decoded, under the pixel limit), with no pixels."""
    import struct

    header = b"BM" + struct.pack("<IHHI", 0, 0, 0, 54) + struct.pack("<IiiHHIIiiII", 40, 6000, 6000, 1, 24, 0, 0,
                                                                       0, 0, 0, 0)
    return header + b"\0" * 64


def run_bombs(hub: Hub, rounds: int) -> dict:
    bomb = png_bomb()
    outcomes: dict[str, int] = {}

    def rest(payload: bytes) -> str:
        status, body = http_call(hub.port, "POST", "/api/models/digits/classify", payload,
                                 {"Content-Type": "image/png"}, source=LAPTOP)
        return f"{status} {body.get('code') if isinstance(body, dict) else body}"

    def live(payload: bytes) -> str:
        tablet = RawTablet(hub.port, LAPTOP)
        try:
            reply = tablet.call("classify", {"model": "digits"}, payload, timeout_s=60)
            return f"socketio {reply.get('code', 'ok')}"
        finally:
            tablet.close()

    started = time.monotonic()
    for _ in range(rounds):
        with ThreadPoolExecutor(8) as pool:
            results = list(pool.map(rest, [bomb] * 4)) + list(pool.map(live, [bomb] * 4))
            results += list(pool.map(rest, [bmp_bomb()] * 4))
        for result in results:
            outcomes[result] = outcomes.get(result, 0) + 1
    held = hub.alive() and all(not k.startswith(("5", "socketio internal", "socketio ok")) or k.startswith("503")
                               for k in outcomes)
    return {"bomb_bytes": len(bomb), "sent": sum(outcomes.values()), "answers": outcomes,
            "seconds": round(time.monotonic() - started, 1), "held": held, **hub.memory()}


# --- attachments -----------------------------------------------------------------------------------

ANNOUNCE_ENDLESS = '45999999-/class,["classify",{"model":"digits","image":{"_placeholder":true,"num":0}}]'
ANNOUNCE_TWO = ('452-/class,["classify",{"model":"digits","image":{"_placeholder":true,"num":0},'
                '"audio":{"_placeholder":true,"num":1}}]')


def flood_attachments(hub: Hub, announcement: str) -> bool:
    """Announce a binary event, then stream 8 MB frames after it: True when the hub dropped us."""
    ws = class_socket(hub.port, LAPTOP)
    ws.send(announcement)
    frame = b"\0" * (8 << 20)
    try:
        for _ in range(40):
            ws.send_binary(frame)
    except STOPPED_TAKING:
        pass
    return closed_by_hub(ws)


def flood_one_message(hub: Hub) -> bool:
    ws = class_socket(hub.port, LAPTOP)
    part = b"\0" * (4 << 20)
    try:
        ws.send_frame(websocket.ABNF(fin=0, opcode=websocket.ABNF.OPCODE_BINARY, data=part))
        for _ in range(100):
            ws.send_frame(websocket.ABNF(fin=0, opcode=websocket.ABNF.OPCODE_CONT, data=part))
    except STOPPED_TAKING:
        pass
    return closed_by_hub(ws)


def run_attachments(hub: Hub) -> dict:
    results = {}
    floods = (("999999_announced", lambda: flood_attachments(hub, ANNOUNCE_ENDLESS)),
              ("frames_past_body_limit", lambda: flood_attachments(hub, ANNOUNCE_TWO)),
              ("one_400mb_message", lambda: flood_one_message(hub)))
    for name, flood in floods:
        with ThreadPoolExecutor(4) as pool:
            outcomes = [f.result() for f in [pool.submit(flood) for _ in range(4)]]
        results[name] = {"connections": 4, "dropped": sum(outcomes)}
    held = hub.alive() and all(r["dropped"] == r["connections"] for r in results.values())
    return {"floods": results, "held": held, **hub.memory()}


# --- connections ---------------------------------------------------------------------------------

class Laptop:
    """Keeps `per_kind` connections of each kind open from one address, re-opening what is closed."""

    KINDS = ("silent", "half_header", "drip_body", "idle_websocket")

    def __init__(self, port: int, per_kind: int) -> None:
        self.port, self.per_kind = port, per_kind
        self.stop = threading.Event()
        self.opened = dict.fromkeys(self.KINDS, 0)
        self.closed_by_hub = dict.fromkeys(self.KINDS, 0)
        self.threads = [threading.Thread(target=self._keep, args=(kind,), daemon=True) for kind in self.KINDS]

    def start(self) -> None:
        for thread in self.threads:
            thread.start()

    def _open(self, kind: str):
        if kind == "idle_websocket":
            return engineio_socket(self.port, LAPTOP, timeout_s=5)
        sock = socket.create_connection(("127.0.0.1", self.port), timeout=5, source_address=(LAPTOP, 0))
        if kind == "half_header":
            sock.sendall(b"GET /v2/health/ready HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        elif kind == "drip_body":
            sock.sendall(b"POST /api/models/digits/classify HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                         b"Content-Type: image/png\r\nContent-Length: 1000000\r\n\r\n\x89PNG")
        return sock

    def _keep(self, kind: str) -> None:
        held: list = []
        while not self.stop.is_set():
            while len(held) < self.per_kind and not self.stop.is_set():
                try:
                    held.append(self._open(kind))
                    self.opened[kind] += 1
                except (OSError, websocket.WebSocketException):
                    self.closed_by_hub[kind] += 1
                    time.sleep(0.01)
            alive = []
            for conn in held:  # drip a byte into bodies, answer nothing else; notice what the hub closed
                try:
                    if kind == "drip_body":
                        conn.send(b"\0")
                    raw = conn.sock if kind == "idle_websocket" else conn
                    raw.setblocking(False)
                    try:
                        data = raw.recv(65536)
                        gone = data == b""
                    except BlockingIOError:
                        gone = False
                    raw.setblocking(True)
                except OSError:
                    gone = True
                if gone:
                    self.closed_by_hub[kind] += 1
                    conn.close()
                else:
                    alive.append(conn)
            held = alive
            self.stop.wait(0.5)
        for conn in held:
            conn.close()


def measure(hub: Hub, seconds: float, tablets: list[RawTablet]) -> dict:
    """The class keeps classifying; two more devices time health checks and a pupil's classify."""
    drawings = [png(render(d)) for d in range(10)]
    stop = threading.Event()
    health, classify, failures = [], [], {"health": 0, "classify": 0, "class": 0}

    def the_class(tablet: RawTablet, index: int) -> None:
        while not stop.is_set():
            try:
                tablet.call("classify", {"model": "digits"}, drawings[index % 10])
            except Exception:  # noqa: BLE001
                failures["class"] += 1
            stop.wait(1.0)

    def timed_health() -> None:
        while not stop.is_set():
            started = time.perf_counter()
            try:
                status, _ = http_call(hub.port, "GET", "/v2/health/ready", source="127.0.0.201", timeout_s=5)
                if status == 200:
                    health.append((time.perf_counter() - started) * 1000)
                else:
                    failures["health"] += 1
            except OSError:
                failures["health"] += 1
            stop.wait(0.05)

    def timed_classify() -> None:
        pupil = RawTablet(hub.port, "127.0.0.202")
        while not stop.is_set():
            started = time.perf_counter()
            try:
                reply = pupil.call("classify", {"model": "digits"}, drawings[3], timeout_s=5)
                if reply and "predictions" in reply:
                    classify.append((time.perf_counter() - started) * 1000)
                else:
                    failures["classify"] += 1
            except Exception:  # noqa: BLE001
                failures["classify"] += 1
            stop.wait(0.2)
        pupil.close()

    threads = [threading.Thread(target=the_class, args=(t, i), daemon=True) for i, t in enumerate(tablets)]
    threads += [threading.Thread(target=timed_health, daemon=True), threading.Thread(target=timed_classify,
                                                                                     daemon=True)]
    for thread in threads:
        thread.start()
    time.sleep(seconds)
    stop.set()
    for thread in threads:
        thread.join(10)
    return {"health": percentiles(health), "classify": percentiles(classify), "failures": failures}


def class_held(hub: Hub, flooded: dict) -> bool:
    """The target of every flood: the hub up, no failure, health and classify p99 at most 100 ms."""
    return (hub.alive() and flooded["failures"]["health"] == 0 and flooded["failures"]["classify"] == 0
            and flooded["health"].get("p99_ms", 1e9) <= 100 and flooded["classify"].get("p99_ms", 1e9) <= 100)


def run_connections(hub: Hub, seconds: float, per_kind: int, class_size: int) -> dict:
    tablets = [RawTablet(hub.port, f"127.0.1.{i + 1}") for i in range(class_size)]
    quiet = measure(hub, seconds / 2, tablets)
    laptop = Laptop(hub.port, per_kind)
    laptop.start()
    time.sleep(1.0)
    flooded = measure(hub, seconds, tablets)
    laptop.stop.set()
    for tablet in tablets:
        tablet.close()
    ratio = (flooded["health"].get("p99_ms", 0) / quiet["health"]["p99_ms"]) if quiet["health"].get("p99_ms") else None
    held = class_held(hub, flooded)
    return {"class_size": class_size, "laptop_connections": per_kind * len(Laptop.KINDS),
            "laptop_opened": laptop.opened, "laptop_closed_by_hub": laptop.closed_by_hub,
            "quiet": quiet, "flooded": flooded, "health_p99_ratio": round(ratio, 2) if ratio else None,
            "held": held, **hub.memory()}


# --- quick requests ------------------------------------------------------------------------------

class Asker:
    """The laptop asking /v2 for the digits model over and over on `connections` kept-alive
    connections, each sending its next request as soon as the last is answered."""

    def __init__(self, hub: Hub, connections: int) -> None:
        status, meta = http_call(hub.port, "GET", "/v2/models/digits")
        assert status == 200, meta
        tensor = meta["inputs"][0]
        self.body = json.dumps({"inputs": [{**tensor, "data": [1] * int(np.prod(tensor["shape"]))}]}).encode()
        self.hub, self.stop = hub, threading.Event()
        self.answered, self.failed = [0] * connections, [0] * connections
        self.threads = [threading.Thread(target=self._ask, args=(i,), daemon=True) for i in range(connections)]

    def start(self) -> None:
        self.started = time.monotonic()
        for thread in self.threads:
            thread.start()

    def finish(self) -> float:
        """Stop; the laptop's answers a second."""
        self.stop.set()
        for thread in self.threads:
            thread.join(10)
        return sum(self.answered) / (time.monotonic() - self.started)

    def _ask(self, index: int) -> None:
        client = None
        while not self.stop.is_set():
            try:
                client = client or OneWrite(self.hub, LAPTOP)
                status, _ = client.post("/v2/models/digits/infer", self.body)
                self.answered[index] += status == 200
                self.failed[index] += status != 200
            except OSError:  # refused or cut: count it, and connect again a moment later
                self.failed[index] += 1
                client = None
                self.stop.wait(0.05)
        if client is not None:
            client.close()


def run_requests(hub: Hub, seconds: float, class_size: int) -> dict:
    tablets = [RawTablet(hub.port, f"127.0.2.{i + 1}") for i in range(class_size)]
    quiet = measure(hub, seconds / 2, tablets)
    asker = Asker(hub, 16)
    asker.start()
    flooded = measure(hub, seconds, tablets)
    per_s = asker.finish()
    for tablet in tablets:
        tablet.close()
    held = class_held(hub, flooded)
    return {"class_size": class_size, "laptop_connections": 16, "laptop_answers_per_s": round(per_s),
            "laptop_failures": sum(asker.failed), "quiet": quiet, "flooded": flooded, "held": held, **hub.memory()}


# --- closes the laptop never finishes ------------------------------------------------------------

class Closer:
    """The laptop asking, on its whole share of connections, for answers that end the connection,
    then never closing its side: the hub sends its FIN and waits for the laptop's (2 s at most,
    RFC 9112 section 9.6). Each socket is let go after HOLD_S, past that wait, and opened again."""

    ASKS = (b"GET /v2/health/live HTTP/1.0\r\n\r\n", b"GARBAGE\r\n\r\n",
            b"GET /nope HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
    HOLD_S = 2.5

    def __init__(self, port: int, connections: int) -> None:
        self.port, self.connections = port, connections
        self.stop = threading.Event()
        self.asked, self.refused = 0, 0
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        held: list[tuple[float, socket.socket]] = []
        while not self.stop.is_set():
            while len(held) < self.connections and not self.stop.is_set():
                try:
                    sock = socket.create_connection(("127.0.0.1", self.port), timeout=5,
                                                    source_address=(LAPTOP, 0))
                    sock.sendall(self.ASKS[self.asked % len(self.ASKS)])
                    self.asked += 1
                    held.append((time.monotonic(), sock))
                except OSError:  # over its share while the hub still counts the closing ones
                    self.refused += 1
                    self.stop.wait(0.05)
            now = time.monotonic()
            for _, sock in [h for h in held if now - h[0] >= self.HOLD_S]:
                sock.close()
            held = [h for h in held if now - h[0] < self.HOLD_S]
            self.stop.wait(0.05)
        for _, sock in held:
            sock.close()


def run_closers(hub: Hub, seconds: float, class_size: int) -> dict:
    tablets = [RawTablet(hub.port, f"127.0.4.{i + 1}") for i in range(class_size)]
    quiet = measure(hub, seconds / 2, tablets)
    closer = Closer(hub.port, 16)
    closer.thread.start()
    flooded = measure(hub, seconds, tablets)
    closer.stop.set()
    closer.thread.join(10)
    for tablet in tablets:
        tablet.close()
    held = class_held(hub, flooded)
    return {"class_size": class_size, "laptop_connections": 16, "laptop_asked": closer.asked,
            "laptop_refused": closer.refused, "quiet": quiet, "flooded": flooded, "held": held, **hub.memory()}


# --- PINs ----------------------------------------------------------------------------------------

def pins_checked(hub: Hub) -> int:
    status, text = http_call(hub.port, "GET", "/metrics")
    for line in str(text).splitlines() if isinstance(text, str) else []:
        if line.startswith("classroom_hub_pin_checks_total"):
            return int(float(line.split()[-1]))
    raise RuntimeError("the hub's /metrics has no classroom_hub_pin_checks_total")


def run_pins(hub: Hub, wrong: int, addresses: int) -> dict:
    def attempt(args) -> int:
        address, pin = args
        status, _ = http_call(hub.port, "POST", "/api/teacher/login", json.dumps({"pin": pin}).encode(),
                              {"Content-Type": "application/json", "Origin": f"http://127.0.0.1:{hub.port}"},
                              source=address)
        return status

    teacher = "127.0.0.100"
    first = attempt((teacher, TEACHER_PIN))  # she logged in this morning, from her own laptop
    before = pins_checked(hub)
    guesses = [(f"127.0.3.{i % addresses + 1}", f"{(1000 + i) % 10000:04d}") for i in range(wrong)]
    statuses: dict[int, int] = {}
    for burst in range(0, wrong, 40):  # bursts of 40 at once
        with ThreadPoolExecutor(40) as pool:
            for status in pool.map(attempt, guesses[burst:burst + 40]):
                statuses[status] = statuses.get(status, 0) + 1
    checked = pins_checked(hub) - before
    again = attempt((teacher, TEACHER_PIN))
    return {"wrong_pins": wrong, "addresses": addresses, "answers": statuses, "really_checked": checked,
            "teacher_first_login": first, "teacher_login_during_attack": again,
            "held": checked <= 25 and again == 200, **hub.memory()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", default="bombs,attachments,connections,requests,closers,pins")
    parser.add_argument("--seconds", type=float, default=20.0, help="length of the flooded phase")
    parser.add_argument("--quick", action="store_true", help="one bomb round, 8 s, 10 tablets")
    args = parser.parse_args()
    parts = args.only.split(",")
    workdir = Path(tempfile.mkdtemp(prefix="abuse-"))
    hub = Hub(workdir)
    report = {"machine": f"{platform.machine()}, {__import__('os').cpu_count()} cores",
              "memory_cap": hub.cap_note, "idle": hub.memory()}
    try:
        if "bombs" in parts:
            report["bombs"] = run_bombs(hub, 1 if args.quick else 3)
        if "attachments" in parts:
            report["attachments"] = run_attachments(hub)
        if "connections" in parts:
            report["connections"] = run_connections(hub, 8 if args.quick else args.seconds, 125,
                                                    10 if args.quick else 30)
        if "requests" in parts:
            report["requests"] = run_requests(hub, 8 if args.quick else args.seconds, 10 if args.quick else 30)
        if "closers" in parts:
            report["closers"] = run_closers(hub, 8 if args.quick else args.seconds, 10 if args.quick else 30)
        if "pins" in parts:
            report["pins"] = run_pins(hub, 200, 20)
        report["end"] = hub.memory()
    finally:
        hub.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    rows = [("part", "held", "figures")]
    if "bombs" in report:
        b = report["bombs"]
        rows.append(("bombs", b["held"], f"{b['sent']} sent: {b['answers']}; worker peak {b['worker_peak_rss_mb']} MB"))
    if "attachments" in report:
        a = report["attachments"]
        rows.append(("attachments", a["held"], ", ".join(f"{k} {v['dropped']}/{v['connections']} dropped"
                                                          for k, v in a["floods"].items())))
    laptop = {"connections": lambda r: "",
              "requests": lambda r: f"; the laptop answered {r['laptop_answers_per_s']}/s",
              "closers": lambda r: f"; the laptop left {r['laptop_asked']} connections for the hub to close"}
    for part, extra in laptop.items():  # the class timed alone, then while the laptop does its part
        if part in report:
            r = report[part]
            rows.append((part, r["held"],
                         f"health p99 {r['quiet']['health'].get('p99_ms')} -> {r['flooded']['health'].get('p99_ms')} "
                         f"ms, classify p99 {r['quiet']['classify'].get('p99_ms')} -> "
                         f"{r['flooded']['classify'].get('p99_ms')} ms, failures {r['flooded']['failures']}{extra(r)}"))
    if "pins" in report:
        p = report["pins"]
        rows.append(("pins", p["held"], f"{p['really_checked']} of {p['wrong_pins']} checked; teacher "
                                        f"{p['teacher_login_during_attack']}"))
    end = report.get("end", {})
    rows.append(("memory", "", f"worker peak {end.get('worker_peak_rss_mb')} MB (idle "
                               f"{report['idle']['worker_rss_mb']} MB), cgroup peak {end.get('cgroup_peak_mb')} MB of "
                               f"{MEMORY_MAX >> 20} MB, OOM kills {end.get('oom_kills')}"))
    publish("abuse", report, "\n".join(f"{part:<12} {str(held):<6} {figures}" for part, held, figures in rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
