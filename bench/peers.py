#!/usr/bin/env python3
"""The hub side by side with Seldon's MLServer on the same models and bodies, 127.0.0.1 only (issue 17).

MLServer 1.7.1 runs from its own virtual environment, which this script makes (default
~/.cache/classroom-hub/peers-venv, reused when it has the right versions; never a hub dependency),
with a minimal custom runtime (bench/peers/litert_runtime.py: the same `.tflite` in LiteRT, one
interpreter of one thread per model, MLServer's NumpyCodec both ways) and its best setting here,
parallel_workers=0 (metrics and access log off). The hub is a real `classroom-hub serve` child
with its defaults (one interpreter of one thread per core for each model), run by the Python of its
own virtual environment too (default ~/.cache/classroom-hub/hub-venv: what `make install` puts on a
Pi, the hub's dependencies and no test tools), from this checkout's bytecode (compiled first, as pip
leaves an installed hub), and with its PIN in a file as an installed hub has it. Both serve, all at once:
  digits  the bundled models/digits (a drawn 7, as the hub's own preprocessing makes it)
  mnv1    ../shared/coral/mobilenet_v1_0.25_128_quant.tflite as a drop-in folder (cat.bmp, prepared)
  mnv2    ../shared/coral/mobilenet_v2_1.0_224_quant.tflite the same way
(mnv1 and mnv2 are skipped, saying so, when ../shared/coral is absent.)

Measured:
  - one /v2 JSON body per model, checked first: both servers answer 200 with the same output data;
    for the hub also the same tensor with the binary tensor extension (binary answer too)
  - Debian's wrk (bench/peers/post.lua) at 1, 8 and 32 connections (threads = min(C, 2)),
    interleaved: each round, each model, each concurrency runs hub JSON, MLServer JSON and hub
    binary, in an order that flips every round; req/s, p50 and p99 (wrk's --latency table),
    non-2xx and socket errors; medians over rounds
  - the interpreter's floor in this process: raw invoke p50 (one interpreter, one thread) and, from
    the picture, the hub's preprocessing + invoke (bench/serve.py's Model.raw_latency)
  - time from spawn to /v2/health/ready 200, asked every 5 ms: the median of --ready-runs starts of
    each, interleaved (after a throwaway start of each, so both find their files in the page
    cache), and RSS and PSS of every process of each server after ready, right
    after the last load run, and after the load once both have been idle for 3 s (the target's)
  - issue 17's targets, each marked met or not met
Prints JSON on stdout (also written to bench/results/peers.json) and a table on stderr.
About 9 minutes; --quick (1 round of 2 s) about 2. Never asserted in tests.

    python bench/peers.py [--quick] [--rounds 3] [--seconds 5] [--models digits,mnv1,mnv2]
"""
from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.report import publish  # noqa: E402
from bench.serve import Model  # noqa: E402
from hub.config import EngineConfig  # noqa: E402
from hub.runtime.litert import select_runtime  # noqa: E402
from tests.conftest import HubProcess, compile_hub, free_port  # noqa: E402
from tests.drawing import png, render  # noqa: E402

HERE = Path(__file__).resolve().parent / "peers"
RUNTIME = HERE / "litert_runtime.py"
LUA = HERE / "post.lua"
CORAL = ROOT.parent / "shared" / "coral"
PEER_VENV = Path.home() / ".cache" / "classroom-hub" / "peers-venv"
HUB_VENV = Path.home() / ".cache" / "classroom-hub" / "hub-venv"
MLSERVER, UVLOOP = "1.7.1", "0.21.0"  # uvloop pinned: newer ones fail on this machine
CONNECTIONS = (1, 8, 32)
MOBILENETS = {"mnv1": "mobilenet_v1_0.25_128_quant.tflite", "mnv2": "mobilenet_v2_1.0_224_quant.tflite"}
PICTURE = "cat.bmp"
RUNS = ("hub_json", "mlserver_json", "hub_binary")  # one round's order; every other round reversed
BINARY_TARGET = 3.0
FLOOR_TARGET = 1.2  # the restatement proposed on issue 17: binary at the interpreter's pace
WRK_TIMEOUT_S = 30
SETTLE_S = 3  # memory "after load": both servers idle this long after the last run (also measured at once)


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


# --- wrk's output -------------------------------------------------------------------------------

_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}


def duration_ms(text: str) -> float:
    """One of wrk's durations ("415.00us", "1.23ms", "2.00s", "1.00m") in milliseconds."""
    match = re.fullmatch(r"([0-9.]+)(us|ms|s|m|h)", text.strip())
    if not match:
        raise ValueError(f"not a wrk duration: {text!r}")
    return float(match[1]) * _UNITS_MS[match[2]]


def parse_wrk(text: str) -> dict:
    """req/s, p50 and p99 (from the --latency table), request count, non-2xx and socket errors."""
    rps = re.search(r"^Requests/sec:\s+([0-9.]+)", text, re.M)
    done = re.search(r"^\s*(\d+) requests in ([0-9.]+\w+)", text, re.M)
    if not rps or not done:
        raise ValueError(f"wrk's output has no Requests/sec or request count:\n{text}")
    percent = {int(p): duration_ms(v) for p, v in re.findall(r"^\s+(50|75|90|99)%\s+(\S+)\s*$", text, re.M)}
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    return {"req_per_s": float(rps[1]), "requests": int(done[1]), "seconds": round(duration_ms(done[2]) / 1000, 2),
            "p50_ms": percent.get(50), "p99_ms": percent.get(99),
            "non_2xx": int(non_2xx[1]) if non_2xx else 0,
            "socket_errors": sum(int(n) for n in errors.groups()) if errors else 0}


def medians(runs: list[dict]) -> dict:
    """Medians over rounds of req/s, p50 and p99; errors summed over all rounds."""
    def median(key):
        values = [r[key] for r in runs if r[key] is not None]
        return round(statistics.median(values), 3) if values else None

    return {"req_per_s": median("req_per_s"), "p50_ms": median("p50_ms"), "p99_ms": median("p99_ms"),
            "non_2xx": sum(r["non_2xx"] for r in runs), "socket_errors": sum(r["socket_errors"] for r in runs),
            "rounds": len(runs)}


def wrk(url: str, body: Path, content_type: str, connections: int, seconds: int,
        header_length: int | None = None) -> dict:
    # wrk's own 2 s time-out would drop the slowest answers at 32 connections (and their latency with
    # them): a client that waits is what both servers get.
    command = ["wrk", "-t", str(min(connections, 2)), "-c", str(connections), "-d", f"{seconds}s", "--latency",
               "--timeout", f"{WRK_TIMEOUT_S}s", "-s", str(LUA), url, "--", str(body), content_type]
    if header_length is not None:
        command.append(str(header_length))
    out = subprocess.run(command, capture_output=True, text=True, timeout=seconds + WRK_TIMEOUT_S + 30)
    if out.returncode != 0:
        raise RuntimeError(f"wrk failed ({out.returncode}): {out.stderr or out.stdout}")
    return parse_wrk(out.stdout)


# --- processes: memory and tidying up -----------------------------------------------------------

def process_tree(pid: int) -> list[int]:
    """pid and all its descendants (gunicorn's master and worker; whatever MLServer forks)."""
    found, todo = [], [pid]
    while todo:
        p = todo.pop(0)
        found.append(p)
        for task in Path(f"/proc/{p}/task").glob("*"):
            try:
                todo += [int(c) for c in (task / "children").read_text().split()]
            except OSError:  # the thread or the process ended meanwhile
                pass
    return found


def _kib(path: Path, key: str) -> int:
    for line in path.read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


def memory(pid: int) -> dict:
    """RSS and PSS (from smaps_rollup: forked processes share pages) of each process and summed, MB."""
    processes = []
    for p in process_tree(pid):
        try:
            command = Path(f"/proc/{p}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
            processes.append({"pid": p, "role": "main" if p == pid else "child", "command": command[:100],
                              "rss_mb": round(_kib(Path(f"/proc/{p}/status"), "VmRSS") / 1024, 1),
                              "pss_mb": round(_kib(Path(f"/proc/{p}/smaps_rollup"), "Pss") / 1024, 1)})
        except OSError:
            pass
    return {"processes": processes, "rss_mb": round(sum(p["rss_mb"] for p in processes), 1),
            "pss_mb": round(sum(p["pss_mb"] for p in processes), 1)}


def end_group(proc: subprocess.Popen) -> None:
    """SIGTERM to the child's whole process group (it was started in its own session), then SIGKILL
    to whatever of the group is left: a process it forked may outlive it."""
    for sig, wait_s in ((signal.SIGTERM, 15), (signal.SIGKILL, 5)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            break
        try:
            proc.wait(wait_s)
        except subprocess.TimeoutExpired:
            pass
    proc.wait()


READY_POLL_S = 0.005  # both servers are asked this often whether they are ready: 5 ms is the timing's grain


def wait_ready(url: str, proc: subprocess.Popen, log: Path, timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{url} exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            if requests.get(url + "/v2/health/ready", timeout=1).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(READY_POLL_S)
    raise RuntimeError(f"{url} not ready after {timeout_s} s:\n{log.read_text()[-3000:]}")


# --- MLServer, in its own virtual environment --------------------------------------------------

def peer_versions(venv: Path) -> dict | None:
    python = venv / "bin" / "python"
    if not python.exists():
        return None
    script = ("import importlib.metadata as m, json, platform; print(json.dumps({p: m.version(p) for p in "
              "('mlserver', 'uvloop', 'ai-edge-litert', 'numpy')} | {'python': platform.python_version()}))")
    out = subprocess.run([str(python), "-c", script], capture_output=True, text=True)
    return json.loads(out.stdout) if out.returncode == 0 else None


def ensure_peer_venv(venv: Path, litert: str) -> dict:
    """MLServer's venv with the pinned versions; made (or fixed by pip) only when they differ."""
    wanted = {"mlserver": MLSERVER, "uvloop": UVLOOP, "ai-edge-litert": litert}
    versions = peer_versions(venv)
    if versions and all(versions.get(k) == v for k, v in wanted.items()):
        return versions
    say(f"making MLServer's virtual environment in {venv} (a minute or two; reused next time)")
    if not (venv / "bin" / "python").exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run([str(venv / "bin" / "pip"), "install", "--quiet", "--disable-pip-version-check",
                    *(f"{k}=={v}" for k, v in wanted.items()), "numpy"], check=True)
    versions = peer_versions(venv)
    if not versions or any(versions.get(k) != v for k, v in wanted.items()):
        raise RuntimeError(f"{venv} has {versions}, not {wanted}: remove it and run again")
    return versions


def ensure_hub_venv(venv: Path) -> str:
    """The hub's dependencies alone, as `make install` leaves a Pi (the dev venv's test tools add
    imports to every start: python-socketio's client pulls in aiohttp and requests when they are
    there). The hub itself runs from this checkout (`python -m hub` in ROOT). Its Python."""
    python = venv / "bin" / "python"
    stamp = venv / ".setup.cfg"
    wanted = (ROOT / "setup.cfg").read_text()
    if not python.exists() or not stamp.exists() or stamp.read_text() != wanted:
        say(f"making the hub's own virtual environment in {venv} (its dependencies only; reused next time)")
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(venv / "bin" / "pip"), "install", "--quiet", "--disable-pip-version-check", str(ROOT)],
                       check=True)
        stamp.write_text(wanted)
    return str(python)


class MLServerProcess:
    """`mlserver start` on a model repository written here: one folder per model, the runtime on PYTHONPATH."""

    def __init__(self, venv: Path, models: dict[str, bytes], workdir: Path) -> None:
        self.repo = workdir / "mlserver"
        self.repo.mkdir()
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        settings = {"debug": False,  # no access log (the hub logs none either)
                    "parallel_workers": 0, "host": "127.0.0.1", "http_port": self.port, "grpc_port": free_port(),
                    "metrics_endpoint": None, "metrics_port": free_port(), "load_models_at_startup": True}
        (self.repo / "settings.json").write_text(json.dumps(settings, indent=2))
        for name, content in models.items():
            folder = self.repo / name
            folder.mkdir()
            (folder / "model.tflite").write_bytes(content)
            (folder / "model-settings.json").write_text(json.dumps(
                {"name": name, "implementation": "litert_runtime.LiteRTModel",
                 "parameters": {"uri": "./model.tflite"}}, indent=2))
        self.settings = settings
        self.log_path = workdir / "mlserver.log"
        self._command = [str(venv / "bin" / "mlserver"), "start", str(self.repo)]
        self._env = {**os.environ, "PYTHONPATH": str(HERE)}
        self.proc: subprocess.Popen | None = None

    def start(self) -> float:
        with self.log_path.open("a") as log:
            self.proc = subprocess.Popen(self._command, cwd=self.repo, stdout=log, stderr=subprocess.STDOUT,
                                         env=self._env, start_new_session=True)
        started = time.monotonic()
        wait_ready(self.url, self.proc, self.log_path)
        return time.monotonic() - started

    def stop(self) -> None:
        if self.proc is not None:
            end_group(self.proc)
            self.proc = None


def start_hub(models: Path, workdir: Path, python: str = sys.executable) -> HubProcess:
    # All the load comes from 127.0.0.1 here, not one address per tablet: no per-address cap (as bench/serve.py).
    # No PIN in the config: the first start makes the PIN file, as on an installed hub, and later
    # starts read it (a PIN in the config is hashed, 16 MB of scrypt, at every start).
    # HTTPS beside HTTP, as a hub starts by default, on a free port of its own rather than 8443.
    config = (f'[classroom]\ndata_dir = "{workdir / "data"}"\n[server]\nconnections_per_address = 0\n'
              f'secure_port = {free_port()}\n')
    return HubProcess(models, config, workdir, python=python, poll_s=READY_POLL_S)


def stop_hub(hub: HubProcess | None) -> None:
    if hub is not None:
        hub.stop()
        end_group(hub.proc)  # anything of its group still there


# --- bodies and the check ----------------------------------------------------------------------

def binary_body(model: Model) -> tuple[bytes, int]:
    """The same tensor with the binary tensor extension, asking for a binary answer too (as tritonclient)."""
    t = model.spec.inputs[0]
    raw = np.ascontiguousarray(model.tensor).tobytes()
    head = json.dumps({"inputs": [{"name": t.name, "shape": list(t.shape), "datatype": model.v2_body()["inputs"][0]
                                   ["datatype"], "parameters": {"binary_data_size": len(raw)}}],
                       "parameters": {"binary_data_output": True}}).encode()
    return head + raw, len(head)


def answer_data(response: requests.Response) -> list:
    """The first output's values, from a JSON answer or a binary-extension one."""
    length = response.headers.get("Inference-Header-Content-Length")
    if length is None:
        return response.json()["outputs"][0]["data"]
    head = json.loads(response.content[:int(length)])
    out = head["outputs"][0]
    dtype = {"INT8": np.int8, "UINT8": np.uint8, "FP32": np.float32}[out["datatype"]]
    return np.frombuffer(response.content[int(length):], dtype).tolist()


def check_bodies(name: str, hub_url: str, peer_url: str, body: bytes, binary: bytes, header_length: int) -> dict:
    path = f"/v2/models/{name}/infer"
    json_headers = {"Content-Type": "application/json"}
    hub_r = requests.post(hub_url + path, data=body, headers=json_headers, timeout=30)
    peer_r = requests.post(peer_url + path, data=body, headers=json_headers, timeout=30)
    bin_r = requests.post(hub_url + path, data=binary, timeout=30, headers={
        "Content-Type": "application/octet-stream", "Inference-Header-Content-Length": str(header_length)})
    for who, r in (("the hub", hub_r), ("MLServer", peer_r), ("the hub (binary)", bin_r)):
        if r.status_code != 200:
            raise RuntimeError(f"{who} answered {r.status_code} to {name}'s body: {r.text[:500]}")
    hub_data, peer_data, bin_data = answer_data(hub_r), answer_data(peer_r), answer_data(bin_r)
    check = {"hub_status": 200, "mlserver_status": 200, "hub_binary_status": 200, "values": len(hub_data),
             "same_output": hub_data == peer_data, "binary_same_output": bin_data == hub_data,
             "argmax": int(np.argmax(hub_data))}
    say(f"check {name}: hub 200, MLServer 200, hub binary 200; same output data ({len(hub_data)} values, "
        f"argmax {check['argmax']}): MLServer {'yes' if check['same_output'] else 'NO'}, "
        f"binary {'yes' if check['binary_same_output'] else 'NO'}")
    return check


# --- the report --------------------------------------------------------------------------------

def ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 3) if a is not None and b else None


def binary_ceiling(report: dict, name: str) -> dict[str, float | None]:
    """The highest binary ÷ JSON req/s reachable in this run, per connection count.

    A binary request can cost no less than its invoke, and no more than min(connections, interpreters,
    cores) invokes run at once: that bounds binary's req/s, and the hub's JSON req/s measured in the same
    run is the other side. A target above this bound asks JSON to be slower, not binary faster.
    """
    model, s = report["models"][name], report["settings"]
    slots = min(s["hub"]["interpreters_per_model"], report["machine"]["cpu_count"] or 1)
    invoke_ms = model["floor"]["invoke_ms"]["p50"]
    return {str(c): ratio(min(c, slots) * 1000 / invoke_ms, model["load"][str(c)]["hub_json"]["req_per_s"])
            for c in CONNECTIONS}


def targets(report: dict) -> list[dict]:
    models, out = report["models"], []
    full = all(n in models for n in ("digits", "mnv1", "mnv2"))

    def cells(check):
        return {f"{n} c{c}": check(m["load"][str(c)]) for n, m in models.items() for c in CONNECTIONS}

    rps = cells(lambda e: e["ratios"]["req_per_s"] is not None and e["ratios"]["req_per_s"] >= 1)
    out.append({"target": "hub req/s >= MLServer's at 1, 8 and 32 connections, JSON, all three models",
                "met": all(rps.values()) and full, "not_met": [k for k, v in rps.items() if not v]})
    p50 = cells(lambda e: e["ratios"]["p50"] is not None and e["ratios"]["p50"] <= 1)
    out.append({"target": "hub p50 <= MLServer's (JSON; each model and concurrency)",
                "met": all(p50.values()) and full, "not_met": [k for k, v in p50.items() if not v]})
    if "mnv2" in models:
        binary = {f"mnv2 c{c}": (models["mnv2"]["load"][str(c)]["ratios"]["binary_over_json"] or 0) >= BINARY_TARGET
                  for c in CONNECTIONS}
        most = binary_ceiling(report, "mnv2")
        out.append({"target": f"hub binary req/s >= {BINARY_TARGET:g}x its JSON req/s for mnv2",
                    "met": all(binary.values()), "not_met": [k for k, v in binary.items() if not v],
                    "ceiling": most, "detail": "the most it could be here, were a binary request to cost only its "
                    "invoke: " + " / ".join(f"{most[str(c)]:.2f}x" for c in CONNECTIONS) + " at "
                    + " / ".join(map(str, CONNECTIONS)) + " connections" + (
                        "" if all(binary.values()) else f"; not met at: {', '.join(k for k, v in binary.items() if not v)}")})
        mnv2 = models["mnv2"]
        b50, floor50 = mnv2["load"]["1"]["hub_binary"]["p50_ms"], mnv2["floor"]["invoke_ms"]["p50"]
        out.append({"target": f"(proposed instead) hub binary p50 at 1 connection <= {FLOOR_TARGET:g}x the invoke "
                              f"floor for mnv2", "met": b50 is not None and b50 <= FLOOR_TARGET * floor50,
                    "detail": f"{_f(b50, '.2f', 0)} vs {floor50:.2f} ms"})
    mem = report["memory"]
    hub_mb, peer_mb = mem["hub"]["after_load"]["rss_mb"], mem["mlserver"]["after_load"]["rss_mb"]
    out.append({"target": f"hub memory after load <= MLServer's (RSS, all processes, same models, both idle {SETTLE_S} s)",
                "met": hub_mb <= peer_mb, "detail": f"{hub_mb} vs {peer_mb} MB RSS; PSS "
                f"{mem['hub']['after_load']['pss_mb']} vs {mem['mlserver']['after_load']['pss_mb']} MB; right after "
                f"the last run {mem['hub']['during_load']['rss_mb']} vs {mem['mlserver']['during_load']['rss_mb']} MB RSS"})
    ready = report["ready_s"]
    out.append({"target": "hub time to ready <= half of MLServer's", "met": ready["hub"] <= ready["mlserver"] / 2,
                "detail": f"{ready['hub']} vs {ready['mlserver']} s"})
    if not full:
        for t in out[:2]:
            t["note"] = "not every model was measured: a target over all three cannot be met"
    return out


def _f(value, fmt: str, width: int) -> str:
    return f"{'-':>{width}}" if value is None else f"{value:>{width}{fmt}}"


def table(report: dict) -> str:
    s, m = report["settings"], report["machine"]
    rows = [f"machine: {m['cpu_count']} cores {m['machine']} {m['cpu_model']}; python {m['python']}; "
            f"LiteRT {m['hub_runtime_version']}; MLServer {m['mlserver']['mlserver']} (uvloop "
            f"{m['mlserver']['uvloop']}, LiteRT {m['mlserver']['ai-edge-litert']}); {m['wrk']}",
            f"{s['rounds']} round(s) of {s['seconds']} s per run, interleaved, medians; connections "
            f"{', '.join(map(str, CONNECTIONS))} (wrk threads = min(C, 2))",
            f"interpreters per model: hub {s['hub']['interpreters_per_model']} x {s['hub']['threads_per_interpreter']}"
            f" thread; MLServer {s['mlserver']['interpreters_per_model']} x {s['mlserver']['threads_per_interpreter']}"
            f" thread (parallel_workers=0)"]
    rows += [f"skipped {x}" for x in report["skipped"]]
    rows.append(f"\n{'model':7} {'C':>3} {'hub req/s':>10} {'MLS req/s':>10} {'hub/MLS':>8} "
                f"{'hub p50/p99 ms':>15} {'MLS p50/p99 ms':>15} {'p50 h/M':>8} "
                f"{'bin req/s':>10} {'bin p50':>8} {'bin/JSON':>9} {'errors h/M/b':>13}")
    for name, e in report["models"].items():
        for c in CONNECTIONS:
            cell = e["load"][str(c)]
            h, p, b, r = cell["hub_json"], cell["mlserver_json"], cell["hub_binary"], cell["ratios"]
            err = "/".join(str(x["non_2xx"] + x["socket_errors"]) for x in (h, p, b))
            rows.append(f"{name:7} {c:>3} {_f(h['req_per_s'], '.0f', 10)} {_f(p['req_per_s'], '.0f', 10)} "
                        f"{_f(r['req_per_s'], '.2f', 8)} {_f(h['p50_ms'], '.2f', 7)}/{_f(h['p99_ms'], '.2f', 7)} "
                        f"{_f(p['p50_ms'], '.2f', 7)}/{_f(p['p99_ms'], '.2f', 7)} {_f(r['p50'], '.2f', 8)} "
                        f"{_f(b['req_per_s'], '.0f', 10)} {_f(b['p50_ms'], '.2f', 8)} "
                        f"{_f(r['binary_over_json'], '.2f', 9)} {err:>13}")
    rows.append(f"\n{'model':7} {'input':>22} {'JSON body':>10} {'binary':>8} {'invoke p50':>11} "
                f"{'preprocess+invoke p50':>22}   (the interpreter's floor, in process, 1 thread)")
    for name, e in report["models"].items():
        f = e["floor"]
        rows.append(f"{name:7} {e['input']['datatype'] + str(e['input']['shape']):>22} "
                    f"{e['body_bytes']['json'] / 1024:>8.1f}KB {e['body_bytes']['binary'] / 1024:>6.1f}KB "
                    f"{f['invoke_ms']['p50']:>9.3f}ms {f['pipeline_ms']['p50']:>20.3f}ms   "
                    f"({f['picture']})")
    ready, mem = report["ready_s"], report["memory"]
    rows.append(f"\ntime to ready: hub {ready['hub']} s, MLServer {ready['mlserver']} s")
    for who in ("hub", "mlserver"):
        for when in ("after_ready", "during_load", "after_load"):
            mm = mem[who][when]
            rows.append(f"{who:8} {when.replace('_', ' '):11}: RSS {mm['rss_mb']:6.1f} MB, PSS {mm['pss_mb']:6.1f} MB"
                        f" over {len(mm['processes'])} process(es): " + "; ".join(
                            f"{p['role']} {p['pid']} RSS {p['rss_mb']} PSS {p['pss_mb']}"
                            for p in mm["processes"]))
    rows.append("\nissue 17's targets:")
    for t in report["targets"]:
        extra = t.get("detail") or (f"not met at: {', '.join(t['not_met'])}" if t.get("not_met") else "")
        rows.append(f"  {'met    ' if t['met'] else 'NOT met'}  {t['target']}" + (f"  ({extra})" if extra else "")
                    + (f"  [{t['note']}]" if t.get("note") else ""))
    return "\n".join(rows)


# --- the run -----------------------------------------------------------------------------------

def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor()


def measure(args, workdir: Path, report: dict) -> None:
    wanted = [n.strip() for n in args.models.split(",") if n.strip()]
    unknown = set(wanted) - {"digits", *MOBILENETS}
    if unknown:
        raise SystemExit(f"unknown model(s) {', '.join(sorted(unknown))}: choose from digits, mnv1, mnv2")
    if not shutil.which("wrk"):
        raise SystemExit("wrk not found: install Debian's wrk (apt-get install wrk, or run make bench-peers)")
    litert = importlib.metadata.version("ai-edge-litert")
    peer = ensure_peer_venv(Path(args.peer_venv).expanduser(), litert)
    hub_python = args.hub_python or ensure_hub_venv(Path(args.hub_venv).expanduser())
    compile_hub(hub_python)  # started as an installed hub is: from bytecode (MLServer's venv has its own)
    wrk_version = subprocess.run(["wrk", "-v"], capture_output=True, text=True).stdout.splitlines()[0]
    engine = EngineConfig()
    report["machine"] = {"cpu_count": os.cpu_count(), "cpu_model": cpu_model(), "machine": platform.machine(),
                         "python": platform.python_version(), "hub_runtime": select_runtime().name,
                         "hub_runtime_version": select_runtime().version, "mlserver": peer,
                         "wrk": wrk_version.split("[")[0].strip()}
    report["settings"] = {"rounds": args.rounds, "seconds": args.seconds, "connections": list(CONNECTIONS),
                          "hub": {"interpreters_per_model": engine.cpu_workers or os.cpu_count() or 1,
                                  "threads_per_interpreter": engine.cpu_threads,
                                  "config": "defaults, connections_per_address = 0 (all load from 127.0.0.1)",
                                  "python": hub_python},
                          "mlserver": {"interpreters_per_model": 1, "threads_per_interpreter": 1,
                                       "parallel_workers": 0, "metrics": "off", "access_log": "off"}}

    # The models, one folder each for the hub; the same bytes (the hub's CPU variant) for MLServer.
    folders = workdir / "models"
    folders.mkdir()
    if "digits" in wanted:
        shutil.copytree(ROOT / "models" / "digits", folders / "digits")
    mobilenets = [n for n in wanted if n in MOBILENETS]
    if mobilenets and not (CORAL / PICTURE).exists():
        report["skipped"].append(f"{', '.join(mobilenets)}: {CORAL} not found")
        say(f"skipped {', '.join(mobilenets)}: ../shared/coral not found")
        mobilenets = []
    for name in mobilenets:  # a folder with only Coral's files is a model (docs/ARCHITECTURE.md "The contract")
        (folders / name).mkdir()
        for f in (MOBILENETS[name], "imagenet_labels.txt"):
            shutil.copy(CORAL / f, folders / name / f)
    names = [n for n in wanted if (folders / n).exists()]
    if not names:
        raise SystemExit("no model to measure")
    models = {}
    for name in names:
        if name == "digits":
            models[name] = Model(name, folders / name, png(render(7)), "image/png")
        else:
            models[name] = Model(name, folders / name, (CORAL / PICTURE).read_bytes(), "image/bmp")

    bodies = {}
    for name, m in models.items():
        (workdir / f"{name}.json").write_bytes(json.dumps(m.v2_body()).encode())
        binary, header_length = binary_body(m)
        (workdir / f"{name}.bin").write_bytes(binary)
        bodies[name] = (workdir / f"{name}.json", workdir / f"{name}.bin", header_length)
        say(f"floor {name}: {args.floor_requests} runs of preprocess + invoke in process")
        invoke, pre, pipeline = m.raw_latency(args.floor_requests)
        t = m.spec.inputs[0]
        report["models"][name] = {
            "input": {"name": t.name, "shape": list(t.shape), "datatype": m.v2_body()["inputs"][0]["datatype"]},
            "body_bytes": {"json": bodies[name][0].stat().st_size, "binary": len(binary)},
            "floor": {"invoke_ms": invoke, "preprocess_ms": pre, "pipeline_ms": pipeline,
                      "picture": "a drawn 7 (PNG)" if name == "digits" else PICTURE},
            "load": {}}

    hub = peer_server = None
    try:
        # A throwaway start of each first: both then start with their files in the page cache.
        say("starting each server once to warm the page cache")
        stop_hub(start_hub(folders, workdir, hub_python))
        peer_server = MLServerProcess(Path(args.peer_venv).expanduser(), {n: m.content for n, m in models.items()},
                                      workdir)
        peer_server.start()
        peer_server.stop()

        # Time to ready: interleaved starts of each (one start is at the mercy of the other tenants), the median.
        runs: dict[str, list[float]] = {"hub": [], "mlserver": []}
        for _ in range(args.ready_runs - 1):
            started = start_hub(folders, workdir, hub_python)
            runs["hub"].append(round(started.ready_after_s, 3))
            stop_hub(started)
            runs["mlserver"].append(round(peer_server.start(), 3))
            peer_server.stop()
        hub = start_hub(folders, workdir, hub_python)  # the last start of each serves the load
        runs["hub"].append(round(hub.ready_after_s, 3))
        report["memory"] = {"hub": {"after_ready": memory(hub.proc.pid)}}
        runs["mlserver"].append(round(peer_server.start(), 3))
        report["memory"]["mlserver"] = {"after_ready": memory(peer_server.proc.pid)}
        report["ready_s"] = {name: round(statistics.median(times), 3) for name, times in runs.items()}
        report["ready_runs_s"] = runs
        say(f"ready: hub {report['ready_s']['hub']} s, MLServer {report['ready_s']['mlserver']} s")
        urls = {"hub": hub.url, "mlserver": peer_server.url}
        for name in names:
            meta = requests.get(f"{hub.url}/v2/models/{name}", timeout=10)
            peer_meta = requests.get(f"{peer_server.url}/v2/models/{name}/ready", timeout=10)
            if meta.status_code != 200 or "error" in meta.json() or peer_meta.status_code != 200:
                raise RuntimeError(f"{name}: hub {meta.status_code} {meta.text[:300]}; MLServer "
                                   f"{peer_meta.status_code} {peer_meta.text[:300]}\n{hub.log()[-2000:]}")
            say(f"hub serves {name}: inputs {meta.json()['inputs']}")
            json_file, bin_file, header_length = bodies[name]
            report["models"][name]["check"] = check_bodies(name, hub.url, peer_server.url, json_file.read_bytes(),
                                                           bin_file.read_bytes(), header_length)

        def run(kind: str, name: str, connections: int, seconds: int) -> dict:
            server = kind.split("_")[0]
            json_file, bin_file, header_length = bodies[name]
            url = f"{urls[server]}/v2/models/{name}/infer"
            if kind.endswith("binary"):
                return wrk(url, bin_file, "application/octet-stream", connections, seconds, header_length)
            return wrk(url, json_file, "application/json", connections, seconds)

        say("warm-up: 1 s of 8 connections for each server, model and body")
        for name in names:
            for kind in RUNS:
                run(kind, name, 8, 1)

        results = {n: {c: {k: [] for k in RUNS} for c in CONNECTIONS} for n in names}
        for r in range(args.rounds):
            order = RUNS if r % 2 == 0 else tuple(reversed(RUNS))
            for name in names:
                for c in CONNECTIONS:
                    line = []
                    for kind in order:
                        got = run(kind, name, c, args.seconds)
                        results[name][c][kind].append(got)
                        line.append(f"{kind} {got['req_per_s']:.0f}/s p50 {got['p50_ms']:.2f} ms")
                    say(f"round {r + 1}/{args.rounds} {name} c{c}: " + ", ".join(line))
        report["memory"]["hub"]["during_load"] = memory(hub.proc.pid)  # right after the last run
        report["memory"]["mlserver"]["during_load"] = memory(peer_server.proc.pid)
        time.sleep(SETTLE_S)  # both idle alike: what each keeps once a burst is over
        report["memory"]["hub"]["after_load"] = memory(hub.proc.pid)
        report["memory"]["mlserver"]["after_load"] = memory(peer_server.proc.pid)
    finally:
        stop_hub(hub)
        if peer_server is not None:
            peer_server.stop()

    for name in names:
        for c in CONNECTIONS:
            cell = {kind: medians(results[name][c][kind]) | {"runs": results[name][c][kind]} for kind in RUNS}
            h, p, b = cell["hub_json"], cell["mlserver_json"], cell["hub_binary"]
            cell["ratios"] = {"req_per_s": ratio(h["req_per_s"], p["req_per_s"]), "p50": ratio(h["p50_ms"], p["p50_ms"]),
                              "binary_over_json": ratio(b["req_per_s"], h["req_per_s"])}
            report["models"][name]["load"][str(c)] = cell
    report["targets"] = targets(report)


def _interrupted(signum, frame):
    raise KeyboardInterrupt


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="1 round of 2 s per run (a few minutes in all)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--ready-runs", type=int, default=5, help="starts of each server timed to ready (the median)")
    ap.add_argument("--seconds", type=int, default=5, help="each wrk run's duration, whole seconds")
    ap.add_argument("--models", default="digits,mnv1,mnv2", help="a comma-separated choice of digits, mnv1, mnv2")
    ap.add_argument("--floor-requests", type=int, default=300, help="in-process runs for the interpreter's floor")
    ap.add_argument("--peer-venv", default=str(PEER_VENV), help="MLServer's virtual environment (made when missing)")
    ap.add_argument("--hub-venv", default=str(HUB_VENV), help="the hub's own virtual environment (made when missing)")
    ap.add_argument("--hub-python", help="run the hub with this Python instead (its venv as it is)")
    args = ap.parse_args()
    if args.quick:
        args.rounds, args.seconds, args.floor_requests, args.ready_runs = 1, 2, 100, 1
    if args.rounds < 1 or args.seconds < 1 or args.ready_runs < 1:
        ap.error("--rounds, --seconds and --ready-runs must be at least 1")

    # SIGTERM as Ctrl-C: the finally blocks end both servers' process groups either way.
    signal.signal(signal.SIGTERM, _interrupted)
    workdir = Path(tempfile.mkdtemp(prefix="bench-peers-"))
    report = {"skipped": [], "models": {}}
    try:
        measure(args, workdir, report)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    publish("peers", report, "")
    say("\n" + table(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
