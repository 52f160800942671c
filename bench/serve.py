#!/usr/bin/env python3
"""Serving benchmark: raw interpreter invoke against the hub end to end, on 127.0.0.1 only.

Measures, for the digits model and (when ../shared is present) Coral's mobilenet:
  - latency p50/p99: raw invoke in process, REST classify, /v2 infer (sequential, keep-alive)
  - the hub's overhead: REST classify p50 minus (raw preprocess + raw invoke) p50
  - throughput with 1, 8 and 32 concurrent clients, against the raw interpreter with the
    hub's number of workers
  - hub RSS (all processes) and time from start to ready
Prints JSON (also written to bench/results/serve.json) and a table. Never asserted in tests.

    python bench/serve.py [--seconds 4] [--requests 400]
"""
from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing as mp
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.report import publish  # noqa: E402
from hub.adapters.image import preprocess  # noqa: E402
from hub.loader import load_model  # noqa: E402
from hub.runtime.litert import select_runtime  # noqa: E402
from tests.conftest import HubProcess  # noqa: E402
from tests.drawing import png, render  # noqa: E402

CORAL = ROOT.parent / "shared" / "coral"


def percentiles(samples_ms: list[float]) -> dict:
    a = np.array(samples_ms)
    return {"p50": round(float(np.percentile(a, 50)), 3), "p99": round(float(np.percentile(a, 99)), 3),
            "n": len(a)}


def rss_mb(pid: int) -> float:
    """RSS of the process and its children (gunicorn master + worker), in MB."""
    total = 0
    pids = [pid] + [int(p) for p in subprocess.run(["pgrep", "-P", str(pid)], capture_output=True,
                                                    text=True).stdout.split()]
    for p in pids:
        for line in Path(f"/proc/{p}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1])
    return round(total / 1024, 1)


def worker_rss_mb(pid: int) -> float:
    children = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()
    return rss_mb(int(children[0])) if children else rss_mb(pid)


class Model:
    def __init__(self, name: str, folder: Path, image: bytes, content_type: str) -> None:
        loaded = load_model(folder, 60)
        self.name, self.spec, self.content = name, loaded.spec, loaded.content["cpu"]
        self.image, self.content_type = image, content_type
        self.tensor = preprocess(image, self.spec.inputs[0], self.spec.preprocess, 10**9)

    def interpreter(self):
        it = select_runtime().Interpreter(model_content=self.content, num_threads=1)
        it.allocate_tensors()
        return it

    def raw_latency(self, n: int) -> tuple[dict, dict]:
        it = self.interpreter()
        idx = it.get_input_details()[0]["index"]
        inv, pre = [], []
        for _ in range(n):
            t0 = time.perf_counter()
            x = preprocess(self.image, self.spec.inputs[0], self.spec.preprocess, 10**9)
            t1 = time.perf_counter()
            it.set_tensor(idx, x)
            it.invoke()
            it.get_tensor(it.get_output_details()[0]["index"])
            t2 = time.perf_counter()
            pre.append((t1 - t0) * 1000)
            inv.append((t2 - t1) * 1000)
        return percentiles(inv), percentiles(pre)

    def v2_body(self) -> dict:
        t = self.spec.inputs[0]
        return {"inputs": [{"name": t.name, "shape": list(t.shape), "datatype": t.dtype.upper().replace("FLOAT", "FP"),
                            "data": self.tensor.reshape(-1).tolist()}]}


def http_latency(port: int, path: str, body: bytes, content_type: str, n: int) -> dict:
    """Sequential requests on one keep-alive connection; http.client adds little of its own."""
    conn = http.client.HTTPConnection("127.0.0.1", port)
    headers = {"Content-Type": content_type}

    def send() -> None:
        conn.request("POST", path, body=body, headers=headers)
        response = conn.getresponse()
        data = response.read()
        assert response.status == 200, data

    for _ in range(20):
        send()
    samples = []
    for _ in range(n):
        t0 = time.perf_counter()
        send()
        samples.append((time.perf_counter() - t0) * 1000)
    conn.close()
    return percentiles(samples)


def _client_process(args) -> tuple[int, int]:
    url, body, headers, threads, seconds, start_at = args
    ok = errors = 0
    lock = threading.Lock()

    def loop():
        nonlocal ok, errors
        s = requests.Session()
        while time.time() < start_at:
            time.sleep(0.001)
        end = start_at + seconds
        while time.time() < end:
            r = s.post(url, data=body, headers=headers)
            with lock:
                if r.status_code == 200:
                    ok += 1
                else:
                    errors += 1

    ts = [threading.Thread(target=loop) for _ in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return ok, errors


def http_throughput(url: str, body: bytes, headers: dict, clients: int, seconds: float) -> dict:
    procs = min(clients, 4)
    per = [clients // procs + (1 if i < clients % procs else 0) for i in range(procs)]
    start_at = time.time() + 1.0
    with mp.get_context("fork").Pool(procs) as pool:
        results = pool.map(_client_process, [(url, body, headers, n, seconds, start_at) for n in per])
    ok, errors = sum(r[0] for r in results), sum(r[1] for r in results)
    return {"clients": clients, "per_s": round(ok / seconds, 1), "errors": errors}


def raw_throughput(model: Model, workers: int, seconds: float) -> float:
    counts = [0] * workers

    def loop(i):
        it = model.interpreter()
        idx = it.get_input_details()[0]["index"]
        end = time.perf_counter() + seconds
        while time.perf_counter() < end:
            it.set_tensor(idx, model.tensor)
            it.invoke()
            counts[i] += 1

    ts = [threading.Thread(target=loop, args=(i,)) for i in range(workers)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return round(sum(counts) / seconds, 1)


def table(report: dict, hub_workers: int) -> str:
    rows = [f"ready in {report['ready_s']} s; RSS after load: worker {report['rss_mb_after_load']['worker']} MB, "
            f"all processes {report['rss_mb_after_load']['all']} MB",
            f"{'model':10} {'raw invoke':>11} {'preprocess':>11} {'REST p50/p99':>15} {'v2 p50/p99':>15} "
            f"{'overhead REST':>14} {'overhead v2':>12}"]
    for name, e in report["models"].items():
        rows.append(f"{name:10} {e['raw_invoke_ms']['p50']:>9.3f}ms {e['raw_preprocess_ms']['p50']:>9.3f}ms "
                    f"{e['rest_classify_ms']['p50']:>7.2f}/{e['rest_classify_ms']['p99']:<6.2f}ms "
                    f"{e['v2_infer_ms']['p50']:>7.2f}/{e['v2_infer_ms']['p99']:<6.2f}ms "
                    f"{e['overhead_rest_p50_ms']:>12.3f}ms {e['overhead_v2_p50_ms']:>10.3f}ms")
    rows.append(f"\n{'model':10} {'raw/s (' + str(hub_workers) + ' workers)':>18} " + " ".join(
        f"{k:>14}" for k in ("v2 1", "v2 8", "v2 32", "REST 1", "REST 8", "REST 32")))
    for name, e in report["models"].items():
        t = e["throughput"]
        cells = [f"{t[k]['per_s']:>8.0f}/s e{t[k]['errors']}" for k in
                 ("v2_1", "v2_8", "v2_32", "rest_1", "rest_8", "rest_32")]
        rows.append(f"{name:10} {e['raw_per_s_hub_workers']:>18.0f} " + " ".join(f"{c:>14}" for c in cells))
    return "\n".join(rows)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=4.0)
    ap.add_argument("--requests", type=int, default=400)
    ap.add_argument("--hub-python", default=sys.executable,
                    help="the Python that runs the hub: e.g. a venv with only the hub installed, as on a Pi")
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="bench-"))
    shutil.copytree(ROOT / "models" / "digits", tmp / "digits")
    models = [Model("digits", tmp / "digits", png(render(7)), "image/png")]
    if (CORAL / "mobilenet_v1_0.25_128_quant.tflite").exists():
        (tmp / "mobilenet").mkdir()
        for f in ("mobilenet_v1_0.25_128_quant.tflite", "imagenet_labels.txt"):
            shutil.copy(CORAL / f, tmp / "mobilenet" / f)
        models.append(Model("mobilenet", tmp / "mobilenet", (CORAL / "cat.bmp").read_bytes(), "image/bmp"))

    workdir = Path(tempfile.mkdtemp(prefix="bench-hub-"))
    # All the load comes from 127.0.0.1 here, not one address per tablet: no per-address cap.
    config = (f'[teacher]\npin = "2468"\n[classroom]\ndata_dir = "{workdir / "data"}"\n'
              '[server]\nconnections_per_address = 0\n')
    hub = HubProcess(tmp, config, workdir, python=args.hub_python)
    proc, ready_s, port, base = hub.proc, hub.ready_after_s, hub.port, hub.url
    hub_workers = os.cpu_count() or 1
    report = {"machine": {"cpu_count": os.cpu_count(), "machine": platform.machine(),
                          "python": platform.python_version(), "runtime": select_runtime().name,
                          "runtime_version": select_runtime().version},
              "ready_s": round(ready_s, 2), "models": {}}
    try:
        report["rss_mb_after_start"] = {"worker": worker_rss_mb(proc.pid), "all": rss_mb(proc.pid)}
        for m in models:
            raw, pre = m.raw_latency(args.requests)
            classify_url = f"{base}/api/models/{m.name}/classify"
            infer_url = f"{base}/v2/models/{m.name}/infer"
            v2 = json.dumps(m.v2_body()).encode()
            rest = http_latency(port, f"/api/models/{m.name}/classify", m.image, m.content_type, args.requests)
            infer = http_latency(port, f"/v2/models/{m.name}/infer", v2, "application/json", args.requests)
            entry = {"raw_invoke_ms": raw, "raw_preprocess_ms": pre, "rest_classify_ms": rest, "v2_infer_ms": infer,
                     "overhead_rest_p50_ms": round(rest["p50"] - raw["p50"] - pre["p50"], 3),
                     "overhead_v2_p50_ms": round(infer["p50"] - raw["p50"], 3),
                     "raw_per_s_hub_workers": raw_throughput(m, hub_workers, args.seconds),
                     "throughput": {}}
            for clients in (1, 8, 32):
                entry["throughput"][f"v2_{clients}"] = http_throughput(
                    infer_url, v2, {"Content-Type": "application/json"}, clients, args.seconds)
                entry["throughput"][f"rest_{clients}"] = http_throughput(
                    classify_url, m.image, {"Content-Type": m.content_type}, clients, args.seconds)
            report["models"][m.name] = entry
        report["rss_mb_after_load"] = {"worker": worker_rss_mb(proc.pid), "all": rss_mb(proc.pid)}
    finally:
        hub.stop()
        shutil.rmtree(tmp, ignore_errors=True)

    publish("serve", report, table(report, hub_workers))
    return 0


if __name__ == "__main__":
    sys.exit(main())
