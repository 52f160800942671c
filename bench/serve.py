#!/usr/bin/env python3
"""Serving benchmark: raw interpreter invoke against the hub end to end, on 127.0.0.1 only.

The hub serves a copy of every bundled model folder (models/ as shipped). Measures, for digits
(a drawn 7), imagenet (Coral's cat.bmp) and movenet (grace_hopper.bmp; both pictures from
../shared/coral, and skipped, saying so, when it is absent):
  - latency p50/p99: raw invoke and raw preprocess in process (the same model file on the real
    interpreter; the task's own `prepare` on the same picture), REST (classify, or predict for
    movenet) and /v2 infer (sequential, keep-alive), and the hub's own timing_ms from REST answers
  - the hub's overhead: REST p50 minus (raw preprocess + raw invoke) p50, and REST p50 over the
    raw pipeline's p50 (decode + resize + invoke of the picture, timed whole per iteration) against
    issue 14's target (at most 1.3x for imagenet and movenet)
  - throughput with 1, 8 and 32 concurrent clients, against the raw interpreter with the
    hub's number of workers
  - hub RSS (master + worker) with every bundled model loaded, right after ready and after the
    load, and the time from start to ready
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

import cv2
import numpy as np
import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.report import publish  # noqa: E402
from hub import tasks  # noqa: E402
from hub.adapters.budget import UNLIMITED  # noqa: E402
from hub.config import LimitsConfig  # noqa: E402
from hub.loader import load_model  # noqa: E402
from hub.runtime.litert import select_runtime  # noqa: E402
from tests.conftest import HubProcess  # noqa: E402
from tests.drawing import png, render  # noqa: E402

CORAL = ROOT.parent / "shared" / "coral"
BUNDLED = ROOT / "models"
# The bundled models that need a picture from ../shared/coral, and issue 14's target for them:
# REST p50 at most 1.3x (preprocess + raw invoke) p50 of the same picture, measured in the same run.
PICTURES = {"imagenet": "cat.bmp", "movenet": "grace_hopper.bmp"}
RATIO_TARGET = 1.3
PHOTO_PAGE_LONGEST = 448  # student.js LONGEST: the photo page shrinks a photo to this before sending it
LIMITS = LimitsConfig()  # the hub's defaults, as bench's hub config leaves [limits] alone


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
        self.task = tasks.get(self.spec.task)
        self.route = "classify" if self.task.classifier else "predict"  # pose answers /predict only
        self.image, self.content_type = image, content_type
        self.tensor = self.prepare()

    def prepare(self) -> np.ndarray:
        """The hub's own preprocessing of the picture, as its predict path runs it: the task's
        `prepare` (for a classifier hub.adapters.image.preprocess; for pose decode + letterbox)."""
        prepared = tasks.Prepared.of(self.task.prepare(tasks.Picture(self.image), self.spec, LIMITS, UNLIMITED))
        return prepared.inputs[0]

    def interpreter(self):
        it = select_runtime().Interpreter(model_content=self.content, num_threads=1)
        it.allocate_tensors()
        return it

    def raw_latency(self, n: int) -> tuple[dict, dict, dict]:
        """Raw invoke, raw preprocess, and the two as one pipeline (decode + resize + invoke of the
        picture, each iteration timed whole): the baseline of the REST ratio. Summing the two p50s
        instead would assume both are at their median in the same request."""
        it = self.interpreter()
        idx = it.get_input_details()[0]["index"]
        inv, pre, both = [], [], []
        for _ in range(n):
            t0 = time.perf_counter()
            x = self.prepare()
            t1 = time.perf_counter()
            it.set_tensor(idx, x)
            it.invoke()
            it.get_tensor(it.get_output_details()[0]["index"])
            t2 = time.perf_counter()
            pre.append((t1 - t0) * 1000)
            inv.append((t2 - t1) * 1000)
            both.append((t2 - t0) * 1000)
        return percentiles(inv), percentiles(pre), percentiles(both)

    def v2_body(self) -> dict:
        t = self.spec.inputs[0]
        return {"inputs": [{"name": t.name, "shape": list(t.shape), "datatype": t.dtype.upper().replace("FLOAT", "FP"),
                            "data": self.tensor.reshape(-1).tolist()}]}


def http_latency(port: int, path: str, body: bytes, content_type: str, n: int) -> dict:
    """Sequential requests on one keep-alive connection; http.client adds little of its own.
    Where the answer carries the hub's own timing_ms (REST), its medians say where the time went
    inside the hub; the rest of the client's time is HTTP, Flask and the client."""
    conn = http.client.HTTPConnection("127.0.0.1", port)
    headers = {"Content-Type": content_type}

    def send() -> bytes:
        conn.request("POST", path, body=body, headers=headers)
        response = conn.getresponse()
        data = response.read()
        assert response.status == 200, data
        return data

    for _ in range(20):
        send()
    samples, answers = [], []
    for _ in range(n):
        t0 = time.perf_counter()
        answers.append(send())
        samples.append((time.perf_counter() - t0) * 1000)
    conn.close()
    result = percentiles(samples)
    timings = [t for t in (json.loads(a).get("timing_ms") for a in answers) if t]
    if timings:
        result["hub_timing_p50"] = {k: round(float(np.median([t[k] for t in timings])), 3) for k in timings[0]}
    return result


def rest_ratio(name: str, rest: dict, pipeline: dict) -> dict:
    """REST p50 / raw pipeline (preprocess + invoke) p50, against issue 14's target where it applies."""
    ratio = rest["p50"] / pipeline["p50"]
    target = RATIO_TARGET if name in PICTURES else None
    return {"value": round(ratio, 3), "target": target, "met": None if target is None else ratio <= target}


def as_photo_page_sends(picture: bytes) -> bytes:
    """The picture as the photo page (student.js `shrink`) sends it: at most 448 px on its
    longest side, JPEG at 85%. A tablet's photo is that, not a 0.5-0.9 MB BMP."""
    image = cv2.imdecode(np.frombuffer(picture, np.uint8), cv2.IMREAD_COLOR)
    scale = min(1.0, PHOTO_PAGE_LONGEST / max(image.shape[:2]))
    if scale < 1.0:
        image = cv2.resize(image, (round(image.shape[1] * scale), round(image.shape[0] * scale)),
                           interpolation=cv2.INTER_AREA)
    return cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 85])[1].tobytes()


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


def ratio_cell(ratio: dict) -> str:
    if ratio["target"] is None:
        return f"{ratio['value']:.2f}x"
    return f"{ratio['value']:.2f}x {'met' if ratio['met'] else 'NOT met'}"


def table(report: dict, hub_workers: int) -> str:
    start, load = report["rss_mb_after_start"], report["rss_mb_after_load"]
    rows = [f"serving {', '.join(report['serving'])}; ready in {report['ready_s']} s",
            f"RSS with every bundled model: after ready worker {start['worker']} MB, all processes {start['all']} MB; "
            f"after load worker {load['worker']} MB, all processes {load['all']} MB"]
    rows += [f"skipped {s}" for s in report["skipped"]]
    rows.append(f"{'model':10} {'raw invoke p50/p99':>19} {'preprocess p50/p99':>19} {'raw pipeline p50':>16} "
                f"{'REST p50/p99':>15} {'REST/pipeline':>19} {'v2 p50/p99':>15} {'overhead REST':>14} {'overhead v2':>12}")
    for name, e in report["models"].items():
        raw, pre, rest, v2 = e["raw_invoke_ms"], e["raw_preprocess_ms"], e["rest_ms"], e["v2_infer_ms"]
        rows.append(f"{name:10} {raw['p50']:>8.3f}/{raw['p99']:<8.3f}ms {pre['p50']:>8.3f}/{pre['p99']:<8.3f}ms "
                    f"{e['raw_pipeline_ms']['p50']:>14.3f}ms "
                    f"{rest['p50']:>7.2f}/{rest['p99']:<6.2f}ms {ratio_cell(e['rest_ratio']):>19} "
                    f"{v2['p50']:>7.2f}/{v2['p99']:<6.2f}ms "
                    f"{e['overhead_rest_p50_ms']:>12.3f}ms {e['overhead_v2_p50_ms']:>10.3f}ms")
    # Where REST's time goes: the hub's own timing_ms (its predict: preprocess, inference, total),
    # and the rest of the client's p50 outside predict (the body over HTTP, gunicorn, Flask, JSON).
    rows.append(f"\n{'model':10} {'REST route':>10} {'body':>8}  {'in the hub p50: preprocess / inference / total':>48}"
                f"  {'outside predict p50':>19}")
    for name, e in report["models"].items():
        t = e["rest_ms"].get("hub_timing_p50", {})
        rows.append(f"{name:10} {e['rest_route']:>10} {e['body_bytes'] / 1024:>6.0f}KB  "
                    f"{t.get('preprocess', 0):>23.3f} / {t.get('inference', 0):.3f} / {t.get('total', 0):.3f} ms  "
                    f"{e['rest_ms']['p50'] - t.get('total', 0):>17.3f}ms")
    pages = {name: e["photo_page_jpeg"] for name, e in report["models"].items() if "photo_page_jpeg" in e}
    if pages:
        rows.append(f"\nthe same picture as the photo page sends it (at most {PHOTO_PAGE_LONGEST} px, JPEG 85%):")
        rows.append(f"{'model':10} {'body':>8} {'raw invoke p50':>15} {'preprocess p50':>15} {'raw pipeline p50':>17} "
                    f"{'REST p50/p99':>15} {'REST/pipeline':>19}")
        for name, e in pages.items():
            rows.append(f"{name:10} {e['body_bytes'] / 1024:>6.0f}KB {e['raw_invoke_ms']['p50']:>13.3f}ms "
                        f"{e['raw_preprocess_ms']['p50']:>13.3f}ms {e['raw_pipeline_ms']['p50']:>15.3f}ms "
                        f"{e['rest_ms']['p50']:>7.2f}/{e['rest_ms']['p99']:<6.2f}ms {ratio_cell(e['rest_ratio']):>19}")
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

    # The hub serves every bundled folder, as `make run` does, so its RSS is that of models/ as shipped.
    tmp = Path(tempfile.mkdtemp(prefix="bench-"))
    bundled = sorted(p.name for p in BUNDLED.iterdir() if p.is_dir() and ".tmp" not in p.name)
    for name in bundled:
        shutil.copytree(BUNDLED / name, tmp / name)
    models = [Model("digits", tmp / "digits", png(render(7)), "image/png")]
    skipped = []
    for name, picture in PICTURES.items():
        if name not in bundled:
            skipped.append(f"{name}: not in {BUNDLED}")
        elif not (CORAL / picture).exists():
            skipped.append(f"{name} latency and throughput: its picture {picture} is not in {CORAL} (../shared is "
                           "absent); its memory is still measured")
        else:
            models.append(Model(name, tmp / name, (CORAL / picture).read_bytes(), "image/bmp"))
    for line in skipped:
        print(f"skipped {line}", file=sys.stderr)

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
              "ready_s": round(ready_s, 2), "serving": [], "skipped": skipped, "models": {}}
    try:
        report["rss_mb_after_start"] = {"worker": worker_rss_mb(proc.pid), "all": rss_mb(proc.pid)}
        serving = {m["name"]: m["status"] for m in requests.get(f"{base}/api/models", timeout=10).json()}
        report["serving"] = sorted(n for n, status in serving.items() if status == "ready")
        if report["serving"] != bundled:
            raise RuntimeError(f"the hub serves {serving}, not every bundled model {bundled}:\n{hub.log()}")
        for m in models:
            raw, pre, pipeline = m.raw_latency(args.requests)
            rest_path = f"/api/models/{m.name}/{m.route}"
            infer_url = f"{base}/v2/models/{m.name}/infer"
            v2 = json.dumps(m.v2_body()).encode()
            rest = http_latency(port, rest_path, m.image, m.content_type, args.requests)
            infer = http_latency(port, f"/v2/models/{m.name}/infer", v2, "application/json", args.requests)
            entry = {"rest_route": m.route, "body_bytes": len(m.image), "raw_invoke_ms": raw,
                     "raw_preprocess_ms": pre, "raw_pipeline_ms": pipeline, "rest_ms": rest, "v2_infer_ms": infer,
                     "overhead_rest_p50_ms": round(rest["p50"] - raw["p50"] - pre["p50"], 3),
                     "overhead_v2_p50_ms": round(infer["p50"] - raw["p50"], 3),
                     "rest_ratio": rest_ratio(m.name, rest, pipeline),
                     "raw_per_s_hub_workers": raw_throughput(m, hub_workers, args.seconds),
                     "throughput": {}}
            if m.name in PICTURES:  # the same picture as a tablet sends it: latency and ratio only
                page = Model(m.name, tmp / m.name, as_photo_page_sends(m.image), "image/jpeg")
                page_raw, page_pre, page_pipeline = page.raw_latency(args.requests)
                page_rest = http_latency(port, rest_path, page.image, page.content_type, args.requests)
                entry["photo_page_jpeg"] = {"body_bytes": len(page.image), "raw_invoke_ms": page_raw,
                                            "raw_preprocess_ms": page_pre, "raw_pipeline_ms": page_pipeline,
                                            "rest_ms": page_rest,
                                            "rest_ratio": rest_ratio(m.name, page_rest, page_pipeline)}
            for clients in (1, 8, 32):
                entry["throughput"][f"v2_{clients}"] = http_throughput(
                    infer_url, v2, {"Content-Type": "application/json"}, clients, args.seconds)
                entry["throughput"][f"rest_{clients}"] = http_throughput(
                    base + rest_path, m.image, {"Content-Type": m.content_type}, clients, args.seconds)
            report["models"][m.name] = entry
        report["rss_mb_after_load"] = {"worker": worker_rss_mb(proc.pid), "all": rss_mb(proc.pid)}
    finally:
        hub.stop()
        shutil.rmtree(tmp, ignore_errors=True)

    publish("serve", report, table(report, hub_workers))
    return 0


if __name__ == "__main__":
    sys.exit(main())
