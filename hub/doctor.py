"""`classroom-hub doctor`: what a school's IT person needs to know, one line each, with the fix.

Every check returns OK, INFO, WARN or FAIL and a sentence; WARN and FAIL carry what to do. The
exit code is the worst level (0 OK/INFO, 1 WARN, 2 FAIL). Nothing here changes anything.
"""
from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

from . import machine
from .config import Config
from .machine import THROTTLE_BITS  # noqa: F401 - where the bench and tests have read it

LEVELS = {"OK": 0, "INFO": 0, "WARN": 1, "FAIL": 2}


@dataclass(frozen=True)
class Check:
    level: str
    name: str
    message: str
    fix: str = ""


def check_runtime(config: Config) -> list[Check]:
    from .runtime.litert import select_runtime

    try:
        runtime = select_runtime()
    except Exception as exc:  # noqa: BLE001 - whatever the reason, the doctor says it
        return [Check("FAIL", "runtime", f"no TFLite runtime: {exc}", "pip install ai-edge-litert")]
    out = [Check("OK", "runtime", f"{runtime.name} {runtime.version}")]
    if runtime.name == "tflite_runtime":
        out.append(Check("WARN", "runtime", "tflite_runtime cannot load dynamic-range models from new converters",
                         "pip install ai-edge-litert (the maintained successor)"))
    return out


def check_numpy_opencv(config: Config) -> list[Check]:
    import numpy

    try:
        import cv2
    except ImportError as exc:  # e.g. an OpenCV built for numpy 2 beside numpy 1
        return [Check("FAIL", "numpy/opencv", f"OpenCV does not import with numpy {numpy.__version__}: {exc}",
                      "pip install opencv-python-headless matching numpy (4.11 for numpy<2)")]
    from .runtime.litert import select_runtime

    try:
        runtime = select_runtime().name
    except Exception:  # noqa: BLE001 - reported by the runtime check
        runtime = ""
    if runtime == "tflite_runtime" and int(numpy.__version__.split(".")[0]) >= 2:
        return [Check("FAIL", "numpy/opencv", f"tflite_runtime needs numpy < 2 (numpy {numpy.__version__} here)",
                      "pip install ai-edge-litert, or 'numpy<2' with opencv-python-headless 4.11")]
    return [Check("OK", "numpy/opencv", f"numpy {numpy.__version__}, OpenCV {cv2.__version__}")]


def check_accelerators(config: Config) -> list[Check]:
    """Each accelerator kind's own checks (hub/accelerators/), when it has any."""
    from .accelerators import KINDS

    return [check for kind in KINDS.values() if kind.doctor for check in kind.doctor(config)]


def check_power_and_heat(config: Config) -> list[Check]:
    out = []
    power = machine.throttled()
    if power is None:
        out.append(Check("INFO", "power", "vcgencmd is not here (not a Raspberry Pi): power not checked"))
    elif power.value is None:
        out.append(Check("WARN", "power", f"vcgencmd get_throttled {power.problem}"))
    elif power.value & 0x1:
        out.append(Check("FAIL", "power", "under-voltage now: " + ", ".join(power.flags),
                         "use the official Raspberry Pi power supply (27 W for a Pi 5, 15 W for a Pi 4); "
                         "a USB Accelerator draws from it too"))
    elif power.flags:
        out.append(Check("WARN", "power", ", ".join(power.flags),
                         "check the power supply and the cooling (a fan or a case with a heatsink)"))
    else:
        out.append(Check("OK", "power", "no under-voltage or throttling since boot"))
    celsius = machine.cpu_celsius()
    if celsius is None:
        out.append(Check("INFO", "temperature", "no thermal sensor readable"))
    else:
        level = "FAIL" if celsius >= 85 else "WARN" if celsius >= 80 else "OK"
        out.append(Check(level, "temperature", f"{celsius:.0f} °C",
                         "" if level == "OK" else "add cooling; the Pi slows itself down above 80 °C"))
    return out


def check_microphone_and_camera(config: Config) -> list[Check]:
    from .adapters.microphone import Microphone

    mic = Microphone(config.microphone.source).status
    if mic.available:
        out = [Check("OK", "microphone", mic.detail)]
    elif "PortAudio" in mic.detail or mic.source == "file":  # "what is wrong: the fix": each said once
        problem, _, fix = mic.detail.partition(": ")
        out = [Check("WARN", "microphone", f"no hub microphone: {problem}", fix)]
    else:  # optional: only a listening station at the kiosk uses it; tablets have their own
        out = [Check("INFO", "microphone", f"no hub microphone ({mic.detail}); optional, tablets use their own")]
    cameras = sorted(Path("/dev").glob("video*"))
    out.append(Check("INFO", "camera", f"{len(cameras)} camera device(s) on the hub; tablets use their own cameras"))
    return out


def check_models(config: Config) -> list[Check]:
    from .errors import HubError
    from .loader import load_model

    folder = config.models_dir
    if not folder.is_dir():
        return [Check("FAIL", "models", f"the models folder {folder} does not exist",
                      "create it, or set [models] dir; copy model folders into it")]
    out = []
    for sub in sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".") and ".tmp" not in p.name):
        try:
            model = load_model(sub, config.models.probe_timeout_s)
            accuracy = model.spec.accuracy()
            out.append(Check("OK", "models", f"{sub.name}: verified ({model.spec.task}"
                             + (f", {accuracy:.1%} held out)" if accuracy is not None else ")")))
        except HubError as exc:
            out.append(Check("FAIL", "models", f"{sub.name}: {exc.message}", "copy the model folder again, or remove it"))
    if not out:
        out.append(Check("WARN", "models", f"no models in {folder}", "copy the bundled models/ folders into it"))
    return out


def _hub_running(config: Config) -> bool:
    import urllib.request

    scheme = "https" if config.server.https_port == config.server.port else "http"  # the main port's
    try:
        import ssl

        context = ssl._create_unverified_context()  # only asks our own port on this machine
        with urllib.request.urlopen(f"{scheme}://127.0.0.1:{config.server.port}/api", timeout=2,
                                    context=context) as reply:
            return json.loads(reply.read()).get("name") == "classroom-hub"
    except (OSError, ValueError):
        return False


def check_port(config: Config) -> list[Check]:
    from .server import port_in_use

    port = config.server.port
    if not port_in_use(config.server.host, port):
        return [Check("OK", "port", f"{port} is free")]
    if _hub_running(config):
        return [Check("OK", "port", f"{port} is served by the running hub")]
    return [Check("FAIL", "port", f"port {port} is used by another program",
                  f"stop it (sudo ss -ltnp 'sport = :{port}' shows which), or set [server] port")]


def check_clock(config: Config) -> list[Check]:
    built = max(p.stat().st_mtime for p in Path(__file__).parent.glob("*.py"))
    now = time.time()
    if now < built - 86400:
        return [Check("FAIL", "clock", time.strftime("the clock says %Y-%m-%d, before this software was installed"),
                      "set the date (sudo date -s '2026-09-01 08:00'); a Pi without internet and without an RTC "
                      "battery loses the time at every power cut (the Pi 5 takes an RTC battery)")]
    if time.gmtime(now).tm_year > 2100:
        return [Check("FAIL", "clock", "the clock is far in the future", "set the date (sudo date -s ...)")]
    return [Check("OK", "clock", time.strftime("%Y-%m-%d %H:%M %Z"))]


def check_tls(config: Config) -> list[Check]:
    """HTTPS: the hub's own certificate authority and certificate (hub/tls.py), or the school's files."""
    tls = config.server.tls
    if tls == "off":
        return [Check("INFO", "https", 'off: tablets need [server] tls = "self-signed" for the camera and '
                                       "microphone (docs/TEACHERS.md)")]
    if tls == "files":
        from cryptography import x509

        try:
            cert = x509.load_pem_x509_certificate(Path(config.server.cert_file).read_bytes())
        except (OSError, ValueError) as exc:
            return [Check("FAIL", "https", f"cannot read {config.server.cert_file}: {exc}", "check [server] cert_file")]
        left = cert.not_valid_after_utc.timestamp() - time.time()
        level = "FAIL" if left <= 0 else "WARN" if left < 14 * 86400 else "OK"
        return [Check(level, "https", f"your certificate {config.server.cert_file} is valid until "
                                      f"{cert.not_valid_after_utc:%Y-%m-%d}",
                      "" if level == "OK" else "renew it with whoever issued it, then restart the hub")]
    from .tls import config_names, inspect, renew_hint

    return [Check(level, "https", message, fix) for level, message, fix in
            inspect(Path(config.classroom.data_dir) / "tls", config_names(config), renew_hint(config.source))]


def check_disk(config: Config) -> list[Check]:
    folder = Path(config.classroom.data_dir)
    target = folder if folder.exists() else folder.parent if folder.parent.exists() else Path(".")
    free_mb = shutil.disk_usage(target).free // (1024 * 1024)
    if free_mb < 200:
        return [Check("WARN", "disk", f"{free_mb} MB free where the hub keeps its data",
                      "free some space on the SD card")]
    return [Check("OK", "disk", f"{free_mb} MB free")]


CHECKS: list[Callable[[Config], list[Check]]] = [
    check_runtime, check_numpy_opencv, check_accelerators, check_power_and_heat, check_microphone_and_camera,
    check_models, check_port, check_clock, check_tls, check_disk,
]


def run_checks(config: Config) -> list[Check]:
    results = []
    for check in CHECKS:
        try:
            results += check(config)
        except Exception as exc:  # noqa: BLE001 - one broken check must not hide the others
            results.append(Check("FAIL", check.__name__.removeprefix("check_"), f"the check itself failed: {exc}"))
    return results


def report(results: list[Check], as_json: bool = False) -> tuple[str, int]:
    worst = max((LEVELS[c.level] for c in results), default=0)
    if as_json:
        return json.dumps({"worst": worst, "checks": [asdict(c) for c in results]}, indent=2), worst
    lines = []
    for c in results:
        lines.append(f"{c.level:<5} {c.name:<13} {c.message}")
        if c.fix:
            lines.append(f"{'':<5} {'':<13} fix: {c.fix}")
    summary = {0: "all good", 1: "works, with warnings", 2: "something must be fixed"}[worst]
    lines.append(f"\n{summary} ({os.uname().nodename})")
    return "\n".join(lines), worst
