"""`classroom-hub bench`: measure this machine as the hub uses it, for a school to paste into an issue.

What it measures, each the way the hub itself does it (docs/PERFORMANCE.md, "On your own Pi"):
  - every model in the models folder, loaded as the hub loads it (`load_model`: the bytes checked,
    then tried in a throwaway child): the raw invoke of its CPU file at 1-4 interpreter threads,
    and on an Edge TPU when one is here (the hub's own discovery and delegate), else why not;
  - the real hub (`classroom-hub serve`, gunicorn) started as a child on 127.0.0.1: the time to
    ready, REST p50/p99 of what a tablet sends to each model, and the memory of its processes;
  - the machine, and the Pi's temperature and throttling before and after.
Only the standard library, numpy, cv2 and the hub's own modules: it runs where only the hub is
installed. The child gets a data folder of its own, HTTP and no microphone, so a running hub's
class, PIN, certificates and microphone are never touched.
"""
from __future__ import annotations

import gc
import http.client
import io
import json
import os
import platform
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
import wave
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from . import __version__, tasks
from .config import Config
from .errors import HubError
from .runtime.litert import Runtime, select_runtime

READY_TIMEOUT_S = 180.0  # a Pi 4 checking five models in probe children, cold: well under this
STOP_TIMEOUT_S = 15.0  # gunicorn's graceful_timeout is 10 s
PHOTO_LONGEST = 448  # student.js LONGEST: what the pupils' page shrinks a photo to, sent as JPEG 85%
WIDTH = 100  # the table fits an issue's code block and a Pi's terminal
NOT_A_PI = "not a Raspberry Pi"


class BenchError(HubError):
    """The bench could not measure (no models, the hub did not start): one line, and the detail."""

    code = "bench_error"


@dataclass(frozen=True)
class Plan:
    threads: tuple[int, ...] = (1, 2, 3, 4)
    warmup: int = 20  # invokes (and requests) before timing: caches, XNNPACK's packing, a TPU's model upload
    invokes: int = 200  # timed raw invokes per model and thread count
    requests: int = 200  # timed REST requests per model
    quick: bool = False

    @classmethod
    def make(cls, quick: bool, threads: tuple[int, ...] | None = None, requests: int | None = None) -> "Plan":
        plan = cls(warmup=3, invokes=20, requests=30, quick=True) if quick else cls()
        return cls(threads or plan.threads, plan.warmup, plan.invokes, requests or plan.requests, quick)


def percentiles(samples_ms: list[float]) -> dict:
    if not samples_ms:
        return {"p50": None, "p99": None, "n": 0}
    a = np.asarray(samples_ms)
    return {"p50": round(float(np.percentile(a, 50)), 3), "p99": round(float(np.percentile(a, 99)), 3), "n": len(a)}


def _read(path: str | Path) -> str:
    try:
        return Path(path).read_text(errors="replace").replace("\x00", "").strip()
    except OSError:
        return ""


# ---- the machine and its health ----------------------------------------------------------------

def machine(runtime: Runtime) -> dict:
    from . import machine as this

    os_release = dict(line.split("=", 1) for line in _read("/etc/os-release").splitlines() if "=" in line)
    max_khz = _read("/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq")
    return {"model": this.board() or this.cpu(), "cpu": this.cpu(),
            "cores": os.cpu_count(), "arch": platform.machine(),
            "cpu_max_mhz": int(max_khz) // 1000 if max_khz.isdigit() else None,
            "os": os_release.get("PRETTY_NAME", "").strip('"') or "unknown", "kernel": platform.release(),
            "python": platform.python_version(), "runtime": runtime.identity, "hub_version": __version__}


def cpu_temperature() -> dict:
    from . import machine as this

    celsius = this.cpu_celsius()
    if celsius is None:
        return {"celsius": None, "why": f"{NOT_A_PI} (no thermal zone in /sys/class/thermal)"}
    return {"celsius": celsius}


def throttling() -> dict:
    """`vcgencmd get_throttled`, read and decoded as `classroom-hub doctor` does (hub/machine.py)."""
    from . import machine as this

    power = this.throttled()
    if power is None:
        return {"value": None, "flags": [], "why": f"{NOT_A_PI} (no vcgencmd)"}
    if power.value is None:
        return {"value": None, "flags": [], "why": f"vcgencmd get_throttled {power.problem}: "
                                                   "run the bench with sudo, or as a user in the video group"}
    return {"value": hex(power.value), "flags": power.flags}


def health() -> dict:
    return {"temperature": cpu_temperature(), "throttling": throttling()}


# ---- raw invokes: the interpreter alone, as the engine runs it ----------------------------------

def _fill(interpreter: Any) -> None:
    """Every input, a fixed pseudo-random tensor of its own type: these models take as long for any."""
    rng = np.random.default_rng(0)
    for detail in interpreter.get_input_details():
        dtype, shape = np.dtype(detail["dtype"]), tuple(int(d) for d in detail["shape"])
        if np.issubdtype(dtype, np.integer):
            info = np.iinfo(dtype)
            value = rng.integers(info.min, int(info.max) + 1, shape, dtype=dtype)
        elif np.issubdtype(dtype, np.floating):
            value = rng.standard_normal(shape).astype(dtype)
        else:
            value = np.zeros(shape, dtype)
        interpreter.set_tensor(detail["index"], value)


def time_invokes(interpreter: Any, plan: Plan) -> dict:
    _fill(interpreter)
    for _ in range(plan.warmup):
        interpreter.invoke()
    samples = []
    for _ in range(plan.invokes):
        start = time.perf_counter()
        interpreter.invoke()
        samples.append((time.perf_counter() - start) * 1000)
    return percentiles(samples)


def raw_cpu(runtime: Runtime, content: bytes, plan: Plan) -> dict:
    out = {}
    for threads in plan.threads:
        interpreter = runtime.Interpreter(model_content=content, num_threads=threads)
        interpreter.allocate_tensors()
        out[str(threads)] = time_invokes(interpreter, plan)
        del interpreter
    return out


def edgetpu(config: Config, runtime: Runtime, models: dict, plan: Plan,
            say: Callable[[str], None]) -> dict:
    """The hub's own Edge TPU discovery (lock, delegate check); each model's `_edgetpu` file timed on
    the first device that works. Without one, the reason is the real delegate failure."""
    from .accelerators import edgetpu as kind
    from .accelerators.base import OK

    found = kind.discover(config, runtime)
    devices = [{"device": acc.name, "state": acc.state, "reason": acc.reason or None,
                "usb_speed_mbps": acc.device.usb_speed_mbps} for acc in found.accelerators]
    section: dict = {"present": bool(found.accelerators), "devices": devices, "reason": found.note or None,
                     "invoke_ms": {}}
    try:
        usable = next((acc for acc in found.accelerators if acc.state == OK), None)
        if usable is None:
            return section
        for name, loaded in models.items():
            if kind.ROLE not in loaded.content:
                continue
            say(f"  {name}: Edge TPU ({usable.name})")
            try:
                interpreter = usable.open_interpreter(loaded.content)
                section["invoke_ms"][name] = time_invokes(interpreter, plan)
                del interpreter
            except (HubError, ValueError, RuntimeError) as exc:
                section.setdefault("failed", {})[name] = getattr(exc, "message", str(exc))
        return section
    finally:
        for acc in found.accelerators:  # release every lock before the hub child wants the device
            acc.close()
        gc.collect()  # and the delegates with the interpreters: the device is the child's next


# ---- what a tablet sends -----------------------------------------------------------------------

def photo_jpeg() -> bytes:
    """A synthetic photo (sky, ground, a red ball, a blue box), shrunk and encoded as the pupils'
    page sends a photo: at most 448 px on its longest side, JPEG at 85%."""
    import cv2

    h, w = 768, 1024
    rows = np.linspace(0, 1, h, dtype=np.float32)[:, None, None]
    sky = np.array([235, 200, 140], np.float32) * (1 - rows) + np.array([90, 140, 70], np.float32) * rows
    image = np.broadcast_to(sky, (h, w, 3)).copy()
    image[int(h * 0.6):] = (60, 120, 80)
    cv2.circle(image, (380, 460), 150, (40, 40, 210), -1, cv2.LINE_AA)
    cv2.rectangle(image, (620, 300), (900, 620), (170, 90, 30), -1)
    image += np.random.default_rng(1).normal(0, 8, image.shape).astype(np.float32)
    image = np.clip(image, 0, 255).astype(np.uint8)
    scale = PHOTO_LONGEST / max(h, w)
    image = cv2.resize(image, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)
    return cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 85])[1].tobytes()


def drawing_png() -> bytes:
    """A 7 as a pupil writes it on the page's 150x190 answer box: #111 ink, 14 px, on white, PNG."""
    import cv2

    canvas = np.full((190, 150, 3), 255, np.uint8)
    stroke = np.array([(30, 35), (120, 35), (65, 160)], np.int32)
    cv2.polylines(canvas, [stroke], False, (17, 17, 17), 14, cv2.LINE_AA)
    return cv2.imencode(".png", canvas)[1].tobytes()


def spoken_wav(rate: int = 16000) -> bytes:
    """About a second of a voiced sound between silences, 16-bit mono WAV: something to hear."""
    t = np.arange(int(rate * 0.6)) / rate
    voice = sum(np.sin(2 * np.pi * 140 * k * t) / k for k in range(1, 12))
    voice *= np.hanning(len(t)) * 0.3 / np.abs(voice).max()
    silence = np.zeros(int(rate * 0.2))
    samples = (np.concatenate([silence, voice, silence]) * 32767).astype("<i2")
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(samples.tobytes())
    return out.getvalue()


@dataclass(frozen=True)
class Request:
    path: str
    body: bytes
    content_type: str
    what: str  # for the table: "JPEG 448x336, 31 KB"


def request_for(name: str, spec: Any) -> Request:
    """The request a tablet makes of this model: its route, and the body the pupils' page sends."""
    task = tasks.get(spec.task)
    route = f"/api/models/{name}/{'classify' if task.classifier else 'predict'}"
    if tasks.Picture in task.media:
        if spec.subject == "drawings":
            body = drawing_png()
            return Request(route, body, "image/png", f"PNG drawing 150x190, {len(body) / 1024:.0f} KB")
        body = photo_jpeg()
        return Request(route, body, "image/jpeg", f"JPEG 448x336, {len(body) / 1024:.0f} KB")
    if tasks.Sound in task.media:
        body = spoken_wav()
        return Request(route, body, "audio/wav", f"WAV 1.0 s 16 kHz, {len(body) / 1024:.0f} KB")
    from .web.v2 import V2_NAME

    inputs = [{"name": t.name, "shape": list(t.shape), "datatype": V2_NAME[t.dtype],
               "data": np.zeros(int(np.prod(t.shape)), np.int64).tolist()} for t in spec.inputs]
    body = json.dumps({"inputs": inputs}).encode()
    return Request(f"/v2/models/{name}/infer", body, "application/json", f"/v2 JSON, {len(body) / 1024:.0f} KB")


# ---- the real hub as a child -------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _memory(pid: int) -> dict:
    """RSS, and PSS where /proc/PID/smaps_rollup is readable (it counts shared pages once), in MB."""
    rss = next((int(line.split()[1]) for line in _read(f"/proc/{pid}/status").splitlines()
                if line.startswith("VmRSS:")), None)
    pss = next((int(line.split()[1]) for line in _read(f"/proc/{pid}/smaps_rollup").splitlines()
                if line.startswith("Pss:")), None)
    return {"pid": pid, "rss_mb": round(rss / 1024, 1) if rss is not None else None,
            "pss_mb": round(pss / 1024, 1) if pss is not None else None}


class HubChild:
    """`classroom-hub serve` (gunicorn: master and one worker) on 127.0.0.1 and a free port, in its
    own process group and data folder; always stopped with SIGTERM, then SIGKILL."""

    def __init__(self, models_dir: Path, config_path: Path | None, workdir: Path) -> None:
        self.port = free_port()
        self.command = [sys.executable, "-m", "hub", "serve", "--host", "127.0.0.1", "--port", str(self.port),
                        "--models", str(models_dir)] + (["--config", str(config_path)] if config_path else [])
        self.env = {**os.environ,
                    "CLASSROOM_HUB_CLASSROOM_DATA_DIR": str(workdir / "data"),  # not the class's own
                    "CLASSROOM_HUB_SERVER_TLS": "off",  # the hub's work, not TLS; no certificate made
                    "CLASSROOM_HUB_MICROPHONE_SOURCE": "off",  # the running hub's microphone stays its own
                    "CLASSROOM_HUB_TEACHER_PIN": "".join(secrets.choice("0123456789") for _ in range(8))}
        self.log_path = workdir / "hub.log"
        self.workdir = workdir
        self.proc: subprocess.Popen | None = None

    def start(self) -> float:
        """Seconds from spawn to `GET /v2/health/ready` = 200."""
        with self.log_path.open("wb") as log:
            started = time.monotonic()
            self.proc = subprocess.Popen(self.command, cwd=self.workdir, env=self.env, stdout=log,
                                         stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        deadline = started + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise BenchError(f"the hub did not start (exit code {self.proc.returncode}): "
                                 f"{self.last_line()}", log=self.log_tail())
            if self.status("/v2/health/ready") == 200:
                return time.monotonic() - started
            time.sleep(0.05)
        raise BenchError(f"the hub was not ready after {READY_TIMEOUT_S:.0f} s: {self.last_line()}",
                         log=self.log_tail())

    def status(self, path: str) -> int | None:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
        try:
            conn.request("GET", path)
            response = conn.getresponse()
            response.read()
            return response.status
        except (OSError, http.client.HTTPException):
            return None
        finally:
            conn.close()

    def get_json(self, path: str) -> Any:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            conn.request("GET", path)
            return json.loads(conn.getresponse().read())
        finally:
            conn.close()

    def memory(self) -> dict:
        pid = self.proc.pid
        children = _read(f"/proc/{pid}/task/{pid}/children").split()
        processes = {"master": _memory(pid)}
        if children:
            processes["worker"] = _memory(int(children[0]))
        totals = {}
        for key in ("rss_mb", "pss_mb"):  # the sum of RSS counts shared pages twice; of PSS, once
            values = [p[key] for p in processes.values()]
            totals[f"total_{key}"] = round(sum(values), 1) if None not in values else None
        return {**processes, **totals}

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                pass
        try:  # whatever of its group is left (a worker whose master died first, or a stuck master)
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        self.proc.wait()

    def log_tail(self, lines: int = 20) -> str:
        return "\n".join(_read(self.log_path).splitlines()[-lines:])

    def last_line(self) -> str:
        tail = [line for line in self.log_tail().splitlines() if line.strip()]
        return tail[-1].strip() if tail else "it printed nothing"


def rest_latency(port: int, request: Request, plan: Plan) -> dict:
    """Sequential requests on one keep-alive connection with http.client (little cost of its own);
    only answers 200 are timed, every other answer is counted."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    headers = {"Content-Type": request.content_type}
    samples, errors, first_error = [], 0, None
    for i in range(plan.warmup + plan.requests):
        start = time.perf_counter()
        try:
            conn.request("POST", request.path, body=request.body, headers=headers)
            response = conn.getresponse()
            data, status = response.read(), response.status
        except (OSError, http.client.HTTPException) as exc:
            conn.close()  # the next request opens a new connection
            data, status = str(exc).encode(), None
        elapsed = (time.perf_counter() - start) * 1000
        if i < plan.warmup:
            continue
        if status == 200:
            samples.append(elapsed)
        else:
            errors += 1
            first_error = first_error or f"{status or 'no answer'}: {data[:200].decode(errors='replace')}"
    conn.close()
    return {"route": request.path, "body": request.what, "ms": percentiles(samples),
            "requests": plan.requests, "errors": errors, "first_error": first_error}


# ---- the whole run -----------------------------------------------------------------------------

def model_folders(models_dir: Path) -> list[Path]:
    from .registry import is_model_folder

    if not models_dir.is_dir():
        return []
    try:
        with os.scandir(models_dir) as entries:
            return sorted(Path(e.path) for e in entries if is_model_folder(e))
    except OSError as exc:
        raise BenchError(f"cannot read the models folder {models_dir}: {exc}; run the bench with sudo "
                         "(the hub's data folder is its own)") from None


def _stop_running(signum: int, frame: Any) -> None:
    """SIGTERM or SIGHUP (the ssh session closed) while the hub child runs: unwind, so it is stopped
    too; it is in a session of its own and would not get the signal itself."""
    raise SystemExit(128 + signum)


def run(config: Config, config_path: Path | None, plan: Plan, say: Callable[[str], None]) -> dict:
    from .doctor import _hub_running
    from .loader import load_model

    began = time.monotonic()
    runtime = select_runtime()
    models_dir = config.models_dir
    folders = model_folders(models_dir)
    if not folders:
        raise BenchError(f"no models in {models_dir}: pass --models DIR (or --config with [models] dir), "
                         "or copy the bundled models/ folders there")
    result: dict = {"bench": {"hub_version": __version__, "quick": plan.quick,
                              "when": time.strftime("%Y-%m-%d %H:%M:%S %z"),
                              "plan": {"threads": list(plan.threads), "warmup": plan.warmup,
                                       "invokes": plan.invokes, "requests": plan.requests},
                              "models_dir": str(models_dir)},
                    "machine": machine(runtime), "health": {"before": health()}, "notes": [], "models": {}}
    if _hub_running(config):
        result["notes"].append(f"a hub is already serving on port {config.server.port}: it shares the CPU with "
                               "these measurements, and holds the Edge TPU if it has one")
    loaded = {}
    for folder in folders:
        say(f"checking {folder.name}")
        try:
            model = load_model(folder, config.models.probe_timeout_s)
        except HubError as exc:
            result["models"][folder.name] = {"status": "failed", "reason": exc.message}
            continue
        except OSError as exc:  # a file this user may not read (the hub's own user can)
            result["models"][folder.name] = {"status": "failed", "reason": f"cannot read it: {exc}; run the "
                                             "bench with sudo (the hub's data folder is its own)"}
            continue
        loaded[folder.name] = model
        result["models"][folder.name] = {"status": "measured", "task": model.spec.task,
                                         "variants": sorted(model.content)}
    if not loaded:
        reasons = "; ".join(f"{n}: {m['reason']}" for n, m in result["models"].items())
        raise BenchError(f"none of the {len(folders)} model folder(s) in {models_dir} loads ({reasons})")

    for name, model in loaded.items():
        entry = result["models"][name]
        entry["raw_invoke_ms"] = None
        if "cpu" not in model.content:
            entry["raw_note"] = "no CPU file in this model folder"
            continue
        say(f"  {name}: raw invoke at {', '.join(map(str, plan.threads))} thread(s)")
        try:
            entry["raw_invoke_ms"] = raw_cpu(runtime, model.content["cpu"], plan)
        except (ValueError, RuntimeError) as exc:  # passed the probe, yet refused here: say it, go on
            entry["raw_note"] = f"the interpreter refused it: {exc}"
    result["edgetpu"] = edgetpu(config, runtime, loaded, plan, say)

    with tempfile.TemporaryDirectory(prefix="classroom-hub-bench-") as workdir:
        child = HubChild(models_dir, config_path, Path(workdir))
        result["hub"] = {"command": " ".join([Path(sys.executable).name, *child.command[1:]]), "port": child.port}
        previous = {sig: signal.signal(sig, _stop_running) for sig in (signal.SIGTERM, signal.SIGHUP)}
        try:
            say("starting the hub")
            result["hub"]["ready_s"] = round(child.start(), 3)
            result["hub"]["memory_at_ready"] = child.memory()
            served = {m["name"]: m for m in child.get_json("/api/models")}
            for name, model in loaded.items():
                info = served.get(name) or {}
                if info.get("status") != "ready":
                    result["models"][name]["rest"] = {
                        "skipped": f"the hub reports it {info.get('status', 'missing')}: {info.get('reason')}"}
                    continue
                request = request_for(name, model.spec)
                say(f"  {name}: {plan.requests} requests to {request.path}")
                rest = rest_latency(child.port, request, plan)
                rest["backend"] = info.get("backend")
                result["models"][name]["rest"] = rest
            result["hub"]["memory_after_requests"] = child.memory()
        finally:
            child.stop()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
    result["health"]["after"] = health()
    result["bench"]["seconds"] = round(time.monotonic() - began, 1)
    return result


# ---- the table ---------------------------------------------------------------------------------

def ms(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.3f}" if value < 1 else f"{value:.2f}" if value < 10 else f"{value:.1f}" if value < 100 \
        else f"{value:.0f}"


def _mb(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def pair(stats: dict | None) -> str:
    return f"{ms(stats['p50'])} / {ms(stats['p99'])}" if stats and stats.get("n") else "-"


def _health_line(h: dict) -> str:
    temp = h["temperature"]
    throttle = h["throttling"]
    if temp["celsius"] is None and throttle["value"] is None \
            and temp["why"].startswith(NOT_A_PI) and throttle["why"].startswith(NOT_A_PI):
        return f"{NOT_A_PI} (no thermal zone, no vcgencmd)"
    degrees = f"{temp['celsius']:.1f} °C" if temp["celsius"] is not None else temp["why"]
    if throttle["value"] is None:
        state = throttle["why"]
    else:
        state = ", ".join(throttle["flags"]) or ("not throttled since boot" if throttle["value"] == "0x0"
                                                  else f"get_throttled {throttle['value']}")
    return f"{degrees}; {state}"


def _wrap(text: str, indent: str = "  ") -> list[str]:
    return textwrap.wrap(text, WIDTH, subsequent_indent=indent) or [""]


def table(result: dict) -> str:
    m = result["machine"]
    lines = [f"Classroom Hub {m['hub_version']} bench on {m['model']}"]
    lines += _wrap(f"{m['cores']} cores {m['arch']}" + (f" up to {m['cpu_max_mhz']} MHz" if m["cpu_max_mhz"] else "")
                   + f"; {m['os']}; Linux {m['kernel']}; Python {m['python']}; {m['runtime'].split(';')[0]}")
    lines += _wrap(f"health before: {_health_line(result['health']['before'])}")
    if "after" in result["health"]:
        lines += _wrap(f"health after:  {_health_line(result['health']['after'])}")
    tpu = result.get("edgetpu", {})
    if tpu.get("present"):
        devices = ", ".join(f"{d['device']} {d['state']}" + (f" ({d['usb_speed_mbps']} Mbit/s)"
                                                           if d["usb_speed_mbps"] else "") for d in tpu["devices"])
        lines += _wrap(f"Edge TPU: {devices}" + (f"; {tpu['reason']}" if tpu.get("reason") else ""))
    else:
        lines += _wrap(f"Edge TPU: absent: {tpu.get('reason') or 'not checked'}")
    for note in result["notes"]:
        lines += _wrap(f"note: {note}")

    threads = result["bench"]["plan"]["threads"]
    lines += ["", "raw invoke, ms p50 / p99 (the interpreter alone; "
              f"{result['bench']['plan']['invokes']} invokes each)"]
    head = f"{'model':<16}" + "".join(f"{f'{t} thread' + ('s' if t > 1 else ''):<16}" for t in threads) + "Edge TPU"
    lines.append(head)
    failed = []
    for name, entry in result["models"].items():
        if entry["status"] != "measured":
            failed.append((name, entry["reason"]))
            continue
        raw = entry.get("raw_invoke_ms") or {}
        row = f"{name[:15]:<16}" + "".join(f"{pair(raw.get(str(t))):<16}" for t in threads)
        lines.append(row + pair(tpu.get("invoke_ms", {}).get(name)))

    hub = result.get("hub", {})
    lines += ["", f"hub REST, ms p50 / p99 ({result['bench']['plan']['requests']} sequential keep-alive requests "
              "each, 127.0.0.1)"]
    lines.append(f"{'model':<16}{'p50 / p99':<18}{'errors':<8}{'backend':<9}body")
    for name, entry in result["models"].items():
        rest = entry.get("rest")
        if entry["status"] != "measured" or rest is None:
            continue
        if "skipped" in rest:
            lines += _wrap(f"{name[:15]:<16}not measured: {rest['skipped']}", " " * 16)
            continue
        lines.append(f"{name[:15]:<16}{pair(rest['ms']):<18}{rest['errors']:<8}{rest['backend'] or '-':<9}"
                     f"{rest['body']}")
    if "ready_s" in hub:
        lines.append("")
        lines += _wrap(f"hub ready {hub['ready_s']:.2f} s after it was started (cold: a data folder of its own, so "
                       "every model is checked in a probe child, as at a first start)")
        for when, key in (("at ready", "memory_at_ready"), ("after requests", "memory_after_requests")):
            mem = hub.get(key)
            if mem:
                parts = [f"{role} {_mb(mem[role]['rss_mb'])} / {_mb(mem[role]['pss_mb'])}"
                         for role in ("master", "worker") if role in mem]
                lines += _wrap(f"memory {when:<15} MB RSS / PSS: " + ", ".join(parts)
                               + f"; together PSS {_mb(mem['total_pss_mb'])}")
    for name, reason in failed:
        lines += _wrap(f"FAILED {name}: {reason}")
    lines += ["", f"took {result['bench'].get('seconds', '-')} s; paste the JSON (--json FILE) into an issue"]
    return "\n".join(lines)
