#!/usr/bin/env python3
"""Classroom benchmark: 30 tablets (real Socket.IO clients) and the teacher dashboard, 127.0.0.1 only.

Each tablet joins the class, then every 2 s writes its answer: one `classify` per digit with a
drawn PNG (the digits model), then `answer` (with an answer_id, resent until acknowledged, and a
`resume` with its token after any drop, as the pupils' page does). The dashboard is connected
throughout. Three lessons: the class in memory, the class durable (SQLite), and durable with a
Wi-Fi blip on one tablet and kill -9 of every hub process mid-lesson. Measured:
  - acknowledgement latency of classify and answer (p50, p95, p99, max), errors
  - the durable store's cost on the answer acknowledgement (durable minus in memory)
  - acknowledged answers against the export: lost, counted twice
  - kill -9 -> hub ready -> every tablet resumed and answering again; blip -> resumed -> next answer
  - teacher event delay: from a tablet sending `answer` to the dashboard receiving it
  - first load of /, /teacher and /kiosk in Chromium (navigation to the load event), when available
Prints JSON (also written to bench/results/classroom.json) and a table. Never asserted in tests.

    python bench/classroom.py [--tablets 30] [--seconds 30] [--interval 2]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import requests
import socketio

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.report import publish  # noqa: E402
from tests.conftest import BASE_CONFIG, TEACHER_PIN, HubProcess, toml_text  # noqa: E402
from tests.drawing import png, render  # noqa: E402


def percentiles(values: list[float]) -> dict:
    if not values:
        return {"n": 0}
    a = np.array(values) * 1000
    return {"n": len(values), "p50_ms": round(float(np.percentile(a, 50)), 2),
            "p95_ms": round(float(np.percentile(a, 95)), 2), "p99_ms": round(float(np.percentile(a, 99)), 2),
            "max_ms": round(float(a.max()), 2)}


def page_loads(url: str) -> dict:
    chromium = shutil.which("chromium")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return {"skipped": "playwright is not installed"}
    if not chromium:
        return {"skipped": "chromium is not installed"}
    out = {}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, headless=True,
                                    args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                                          "--disable-component-update", "--disable-sync", "--no-first-run"])
        for path in ("/", "/teacher", "/kiosk"):
            context = browser.new_context()  # a cold cache: a tablet's first visit
            page = context.new_page()
            page.goto(url + path, wait_until="load")
            timing = page.evaluate("JSON.stringify(performance.getEntriesByType('navigation')[0])")
            nav = json.loads(timing)
            out[path] = {"load_ms": round(nav["loadEventEnd"], 1),
                         "resources": page.evaluate("performance.getEntriesByType('resource').length")}
            context.close()
        browser.close()
    return out


class Tablet:
    """A pupil's tablet as the page behaves: joins once, resumes with its token after any drop,
    and sends an unacknowledged answer again with the same answer_id until the hub answers."""

    def __init__(self, hub: HubProcess, code: str, nickname: str, pictures: dict, clock: dict) -> None:
        self.hub, self.code, self.nickname, self.pictures, self.clock = hub, code, nickname, pictures, clock
        self.token, self.question = None, None
        self.seated = threading.Event()
        self.acked: list[tuple[str, float, float]] = []  # (answer_id, sent, acknowledged)
        self.classify_acks: list[float] = []
        self.errors: list = []
        self.resumed_at: list[float] = []
        self.client = socketio.Client(reconnection=True, reconnection_delay=0.2, reconnection_delay_max=1.0)
        self.client.on("connect", self._on_connect, namespace="/class")
        self.client.on("disconnect", self._on_disconnect, namespace="/class")
        self.drops = 0  # a call in flight when the connection drops is abandoned, as the page does

    def _on_disconnect(self, *_) -> None:
        self.drops += 1
        self.seated.clear()

    def start(self) -> None:
        self.client.connect(self.hub.url, namespaces=["/class"], transports=["websocket"], wait_timeout=30)
        reply = self.call("join", {"code": self.code, "nickname": self.nickname})
        self.token, self.question = reply["token"], reply["question"]
        self.seated.set()

    def _on_connect(self) -> None:
        if self.token:
            threading.Thread(target=self._resume, daemon=True).start()

    def _resume(self) -> None:
        try:
            reply = self.call("resume", {"code": self.code, "token": self.token})
        except Exception as exc:  # noqa: BLE001 - tried again at the next connect
            self.errors.append(f"resume: {exc}")
            return
        if reply.get("ok"):
            self.token, self.question = reply["token"], reply["question"]
            self.resumed_at.append(time.monotonic())
            self.seated.set()
        else:
            self.errors.append(reply)

    def call(self, event: str, data: dict, timeout_s: float = 10) -> dict:
        done, box, drops = threading.Event(), {}, self.drops
        self.client.emit(event, data, namespace="/class", callback=lambda *a: (box.update(reply=a[0]), done.set()))
        deadline = time.monotonic() + timeout_s
        while not done.wait(0.05):
            if self.drops != drops or time.monotonic() > deadline:
                raise TimeoutError(f"{event}: no answer")
        return box["reply"]

    def reliably(self, event: str, data: dict, stop: float) -> dict | None:
        """Send until the hub answers (waiting for the seat after a drop); None at the end of the run."""
        while time.monotonic() < stop + 30:
            if not self.seated.wait(0.5):
                continue
            try:
                return self.call(event, data)
            except Exception:  # noqa: BLE001 - the hub is away: the disconnect clears the seat; send again
                time.sleep(0.1)
        return None

    def lesson(self, stop: float, interval: float, offset: float) -> None:
        time.sleep(offset)  # spread the class out, as real children are
        n = 0
        while time.monotonic() < stop:
            cycle = time.monotonic()
            q, given = self.question, ""
            for ch in str(q["a"] * q["b"]):
                t0 = time.monotonic()
                reply = self.reliably("classify", {"model": "digits", "image": self.pictures[int(ch)]}, stop)
                if reply is None:
                    return
                self.classify_acks.append(time.monotonic() - t0)
                given += reply["predictions"][0]["label"] if "predictions" in reply else ""
            answer_id = f"{self.nickname}-{n}"
            t0 = time.monotonic()
            with self.clock["lock"]:
                self.clock["sent"][(self.nickname, f"{q['a']} × {q['b']}")] = t0
            reply = self.reliably("answer", {"a": q["a"], "b": q["b"], "given": given or "0", "mode": "handwriting",
                                             "answer_id": answer_id}, stop)
            if reply is None:
                return
            if "error" in reply:
                self.errors.append(reply)
            else:
                self.acked.append((answer_id, t0, time.monotonic()))
                self.question = reply["question"]
            n += 1
            time.sleep(max(0.0, interval - (time.monotonic() - cycle)))


def start_hub(workdir: Path, durable: bool) -> HubProcess:
    models = workdir / "models"
    models.mkdir()
    shutil.copytree(ROOT / "models" / "digits", models / "digits")
    config = {name: dict(keys) for name, keys in BASE_CONFIG.items()}
    config["classroom"] = {"data_dir": str(workdir / "data"), "durable": durable, "join_burst": 1000}
    config["server"] = {"connections_per_address": 0}  # every tablet is 127.0.0.1 here, not one address each
    return HubProcess(models, toml_text(config), workdir)


def run(tablets: int, seconds: float, interval: float, durable: bool = True, kill_at: float | None = None,
        blip_at: float | None = None, pages: bool = False) -> dict:
    """One lesson; with kill_at, every hub process is killed (SIGKILL) that far into it and started
    again on the same data folder; with blip_at, one tablet's connection is dropped under it."""
    workdir = Path(tempfile.mkdtemp(prefix="classroom-bench-"))
    hub = start_hub(workdir, durable)
    try:
        session = requests.Session()
        token = session.post(hub.url + "/api/teacher/login", json={"pin": TEACHER_PIN}, timeout=10).json()["token"]
        code = session.post(hub.url + "/api/classes", timeout=10).json()["code"]
        pictures = {d: png(render(d, pen=18)) for d in range(10)}
        clock = {"lock": threading.Lock(), "sent": {}}
        teacher_delays: list[float] = []
        dashboard = socketio.Client(reconnection=True, reconnection_delay=0.2)

        def on_answer(data):
            now = time.monotonic()
            with clock["lock"]:
                started = clock["sent"].pop((data["nickname"], data["question"]), None)
            if started is not None:
                teacher_delays.append(now - started)

        dashboard.on("answer", on_answer, namespace="/teacher")
        dashboard.connect(hub.url, namespaces=["/teacher"], transports=["websocket"], auth={"token": token})
        class_ = [Tablet(hub, code, f"tablet{i:02d}", pictures, clock) for i in range(tablets)]
        for t in class_:
            t.start()
        stop = time.monotonic() + seconds
        threads = [threading.Thread(target=t.lesson, args=(stop, interval, interval * i / tablets))
                   for i, t in enumerate(class_)]
        started = time.monotonic()
        for t in threads:
            t.start()
        events: dict = {}
        if blip_at is not None:
            time.sleep(max(0.0, started + blip_at - time.monotonic()))
            blipped = class_[0]
            before = len(blipped.acked)
            events["blip"] = time.monotonic()
            blipped.client.eio.ws.sock.shutdown(socket.SHUT_RDWR)  # the Wi-Fi drops under the tablet
        if kill_at is not None:
            time.sleep(max(0.0, started + kill_at - time.monotonic()))
            events["kill"] = time.monotonic()
            hub.kill_all()
            hub.restart()
            events["ready"] = time.monotonic()
        for t in threads:
            t.join()
        elapsed = time.monotonic() - started
        dashboard.disconnect()
        export = session.get(hub.url + "/api/classes/current/export.csv", timeout=30).text.strip().splitlines()[1:]
        acked = [a for t in class_ for a in t.acked]
        answer_acks = [done - sent for _, sent, done in acked]
        result = {
            "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "processor": platform.machine()},
            "tablets": tablets, "seconds": round(elapsed, 1), "interval_s": interval, "durable": durable,
            "answers": len(acked), "classifies": sum(len(t.classify_acks) for t in class_),
            "errors": sum(len(t.errors) for t in class_),
            "error_examples": [e for t in class_ for e in t.errors][:3],
            "classify_ack": percentiles([x for t in class_ for x in t.classify_acks]),
            "answer_ack": percentiles(answer_acks),
            "teacher_event_delay": percentiles(teacher_delays),
            "acknowledged_in_export": {"acknowledged": len(acked), "exported": len(export),
                                       "lost": max(0, len(acked) - len(export)),
                                       "counted_twice": max(0, len(export) - len(acked))},
        }
        if "kill" in events:
            ready, kill = events["ready"], events["kill"]
            again = [min((done for _, sent, done in t.acked if done > ready), default=None) for t in class_]
            result["restart"] = {
                "kill_to_ready_s": round(ready - kill, 2),
                "ready_to_all_resumed_s": round(max((t.resumed_at[-1] for t in class_ if t.resumed_at),
                                                    default=float("nan")) - ready, 2),
                "kill_to_all_resumed_s": round(max((t.resumed_at[-1] for t in class_ if t.resumed_at),
                                                   default=float("nan")) - kill, 2),
                "tablets_resumed": sum(bool(t.resumed_at) for t in class_),
                "tablets_answering_again": sum(a is not None for a in again),
                "ready_to_all_answering_s": round(max(a for a in again if a is not None) - ready, 2)
                if all(a is not None for a in again) else None,
            }
        if "blip" in events:
            blipped = class_[0]
            after = [done for _, sent, done in blipped.acked[before:]]
            result["blip"] = {"resumed": bool(blipped.resumed_at),
                              "blip_to_resumed_s": round(blipped.resumed_at[0] - events["blip"], 2)
                              if blipped.resumed_at else None,
                              "blip_to_next_answer_s": round(after[0] - events["blip"], 2) if after else None}
        if pages:
            result["page_first_load"] = page_loads(hub.url)
        return result
    finally:
        hub.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def lesson_suite(tablets: int, seconds: float, interval: float) -> dict:
    """The store's cost (the same lesson in memory and durable), then kill -9 and a blip."""
    memory = run(tablets, seconds, interval, durable=False)
    durable = run(tablets, seconds, interval, durable=True, pages=True)
    restart = run(tablets, seconds, interval, durable=True, kill_at=seconds * 0.4, blip_at=seconds * 0.15)
    cost = {k: round(durable["answer_ack"][k] - memory["answer_ack"][k], 2) for k in ("p50_ms", "p99_ms")}
    return {"in_memory": memory, "durable": durable, "restart": restart, "store_cost_ms": cost}


def table(result: dict) -> str:
    lines = []
    for name in ("in_memory", "durable", "restart"):
        r = result[name]
        lines += [f"{name}: {r['tablets']} tablets for {r['seconds']} s, {r['answers']} answers, {r['classifies']} "
                  f"classifies, {r['errors']} errors; acknowledged {r['acknowledged_in_export']['acknowledged']}, "
                  f"in the export {r['acknowledged_in_export']['exported']}",
                  f"  {'measure':<26}{'p50 ms':>10}{'p95 ms':>10}{'p99 ms':>10}{'max ms':>10}"]
        for key in ("classify_ack", "answer_ack", "teacher_event_delay"):
            m = r[key]
            lines.append(f"  {key:<26}{m.get('p50_ms', '-'):>10}{m.get('p95_ms', '-'):>10}{m.get('p99_ms', '-'):>10}"
                         f"{m.get('max_ms', '-'):>10}")
    lines.append(f"durable store cost on the answer acknowledgement: p50 {result['store_cost_ms']['p50_ms']} ms, "
                 f"p99 {result['store_cost_ms']['p99_ms']} ms")
    for key, value in result["restart"].get("restart", {}).items():
        lines.append(f"kill -9 mid-lesson: {key} = {value}")
    for key, value in result["restart"].get("blip", {}).items():
        lines.append(f"Wi-Fi blip: {key} = {value}")
    for page, r in result["durable"].get("page_first_load", {}).items():
        lines.append(f"first load {page:<17}{r if isinstance(r, str) else str(r.get('load_ms')) + ' ms':>10}")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tablets", type=int, default=30)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--interval", type=float, default=2.0)
    args = parser.parse_args()
    result = lesson_suite(args.tablets, args.seconds, args.interval)
    publish("classroom", result, table(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
