#!/usr/bin/env python3
"""Classroom benchmark: 30 tablets (real Socket.IO clients) and the teacher dashboard, 127.0.0.1 only.

Each tablet joins the class, then every 2 s writes its answer: one `classify` per digit with a
drawn PNG (the digits model), then `answer`. The dashboard is connected throughout. Measured:
  - acknowledgement latency of classify and answer (p50, p95, p99, max), errors, dropped connections
  - teacher event delay: from a tablet sending `answer` to the dashboard receiving it
  - first load of /, /teacher and /kiosk in Chromium (navigation to the load event), when available
Prints JSON (also written to bench/results/classroom.json) and a table. Never asserted in tests.

    python bench/classroom.py [--tablets 30] [--seconds 60] [--interval 2]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
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


def start_hub(workdir: Path) -> HubProcess:
    models = workdir / "models"
    models.mkdir()
    shutil.copytree(ROOT / "models" / "digits", models / "digits")
    config = {name: dict(keys) for name, keys in BASE_CONFIG.items()}
    config["classroom"] = {"data_dir": str(workdir / "data")}
    return HubProcess(models, toml_text(config), workdir)


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


def run(tablets: int, seconds: float, interval: float) -> dict:
    workdir = Path(tempfile.mkdtemp(prefix="classroom-bench-"))
    hub = start_hub(workdir)
    try:
        session = requests.Session()
        token = session.post(hub.url + "/api/teacher/login", json={"pin": TEACHER_PIN}, timeout=10).json()["token"]
        code = session.post(hub.url + "/api/classes", timeout=10).json()["code"]
        pictures = {d: png(render(d, pen=18)) for d in range(10)}

        sent_at: dict[tuple, float] = {}
        teacher_delays: list[float] = []
        lock = threading.Lock()
        dashboard = socketio.Client(reconnection=False)

        def on_answer(data):
            now = time.monotonic()
            with lock:
                started = sent_at.pop((data["nickname"], data["a"], data["b"]), None)
            if started is not None:
                teacher_delays.append(now - started)

        dashboard.on("answer", on_answer, namespace="/teacher")
        dashboard.connect(hub.url, namespaces=["/teacher"], transports=["websocket"], auth={"token": token})

        classify_acks, answer_acks, errors = [], [], []
        disconnects = [0]
        stop = time.monotonic() + seconds

        def tablet(i: int) -> None:
            client = socketio.Client(reconnection=False)
            client.on("disconnect", lambda *a: disconnects.__setitem__(0, disconnects[0] + 1), namespace="/class")
            client.connect(hub.url, namespaces=["/class"], transports=["websocket"])
            nickname = f"tablet{i:02d}"
            q = client.call("join", {"code": code, "nickname": nickname}, namespace="/class", timeout=30)["question"]
            time.sleep(interval * i / tablets)  # spread the class out, as real children are
            while time.monotonic() < stop:
                cycle = time.monotonic()
                given = ""
                for ch in str(q["a"] * q["b"]):
                    t0 = time.monotonic()
                    reply = client.call("classify", {"model": "digits", "image": pictures[int(ch)]},
                                        namespace="/class", timeout=30)
                    classify_acks.append(time.monotonic() - t0)
                    if "error" in reply:
                        errors.append(reply)
                        continue
                    given += reply["predictions"][0]["label"]
                t0 = time.monotonic()
                with lock:
                    sent_at[(nickname, q["a"], q["b"])] = t0
                reply = client.call("answer", {"a": q["a"], "b": q["b"], "given": given or "0", "response_ms": 1500,
                                               "mode": "handwriting"}, namespace="/class", timeout=30)
                answer_acks.append(time.monotonic() - t0)
                if "error" in reply:
                    errors.append(reply)
                else:
                    q = reply["question"]
                time.sleep(max(0.0, interval - (time.monotonic() - cycle)))
            connected = client.connected
            client.disconnect()
            if not connected:
                errors.append({"error": f"{nickname} lost its connection"})

        threads = [threading.Thread(target=tablet, args=(i,)) for i in range(tablets)]
        started = time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.monotonic() - started
        time.sleep(0.5)
        dashboard.disconnect()
        loads = page_loads(hub.url)
        return {
            "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "processor": platform.machine()},
            "tablets": tablets, "seconds": round(elapsed, 1), "interval_s": interval,
            "answers": len(answer_acks), "classifies": len(classify_acks), "errors": len(errors),
            "error_examples": errors[:3], "dropped_connections": disconnects[0] - tablets if disconnects[0] > tablets else 0,
            "classify_ack": percentiles(classify_acks), "answer_ack": percentiles(answer_acks),
            "teacher_event_delay": percentiles(teacher_delays), "page_first_load": loads,
        }
    finally:
        hub.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def table(result: dict) -> str:
    lines = [f"{result['tablets']} tablets for {result['seconds']} s: {result['answers']} answers, "
             f"{result['classifies']} classifies, {result['errors']} errors, "
             f"{result['dropped_connections']} dropped connections", "",
             f"{'measure':<28}{'p50 ms':>10}{'p95 ms':>10}{'p99 ms':>10}{'max ms':>10}"]
    for key in ("classify_ack", "answer_ack", "teacher_event_delay"):
        r = result[key]
        lines.append(f"{key:<28}{r.get('p50_ms', '-'):>10}{r.get('p95_ms', '-'):>10}{r.get('p99_ms', '-'):>10}"
                     f"{r.get('max_ms', '-'):>10}")
    for page, r in result["page_first_load"].items():
        lines.append(f"first load {page:<17}{r if isinstance(r, str) else str(r.get('load_ms')) + ' ms':>10}")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tablets", type=int, default=30)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--interval", type=float, default=2.0)
    args = parser.parse_args()
    result = run(args.tablets, args.seconds, args.interval)
    publish("classroom", result, table(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
