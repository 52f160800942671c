"""The hub on the Pi's own architecture: an arm64 Debian Bookworm root (Raspberry Pi OS 64-bit is
Bookworm for arm64) under qemu-user. The hub is installed from the aarch64 wheelhouse alone, as a
school installs it from a USB stick; it serves the bundled models and must answer exactly as the
same hub does on x86-64; a runtime that cannot run on the CPU is blamed, not the model files; and
the in-process test layer passes there. `make test-arm` (run by .ci/run after `make test`).
"""
from __future__ import annotations

import configparser
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from tests.conftest import BUNDLED, ROOT, SHARED, free_port, wait_for
from tests.drawing import png, render
from tests.emulated_root import Root, fresh_root

pytestmark = pytest.mark.emulated

PACKAGES = ("python3", "python3-venv")  # what the hub needs of Debian on a Pi (install-pi.sh adds the rest)
VENV = "/opt/classroom-hub/venv"
# The in-process layer (Flask and Socket.IO test clients, the engine, the trainers, the checks),
# with the real interpreter on the real files: what runs in minutes under emulation.
IN_PROCESS = ("test_engine.py", "test_config.py", "test_manifest_output.py", "test_pose_check.py",
              "test_friendly_names.py", "test_audio_features.py", "test_teach_trainer.py", "test_class_state.py",
              "test_server_rest.py")
CORAL_PICTURES = ("cat.bmp", "bird.bmp", "sunflower.bmp", "dragonfly.bmp", "grace_hopper.bmp")


def _dev_requirements(*names: str) -> list[str]:
    """The test tools' requirements as setup.cfg's dev extra gives them."""
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg")
    wanted = [line.strip() for line in cfg["options.extras_require"]["dev"].splitlines() if line.strip()]
    return [r for r in wanted if r.split(">")[0].split("[")[0].split("=")[0] in names]


def _wheelhouse(out: Path) -> Path:
    """`make wheelhouse`'s script, for aarch64 (what a school copies onto a USB stick)."""
    env = {**os.environ, "PIP": f"{sys.executable} -m pip"}
    done = subprocess.run(["sh", str(ROOT / "scripts" / "wheelhouse.sh"), "aarch64", str(out)], env=env,
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    return out


def _test_tools(out: Path) -> Path:
    """pytest and the clients the tests use, as aarch64 wheels (most are pure Python)."""
    platforms = [a for p in ("manylinux2014_aarch64", "manylinux_2_17_aarch64", "manylinux_2_28_aarch64",
                             "linux_aarch64") for a in ("--platform", p)]
    done = subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--dest", str(out),
                           "--only-binary=:all:", *platforms, "--python-version", "3.11", "--implementation", "cp",
                           "--abi", "cp311", "--abi", "abi3", "--abi", "none",
                           *_dev_requirements("pytest", "requests", "python-socketio")],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return out


@pytest.fixture(scope="module")
def arm64(tmp_path_factory):
    """An arm64 Bookworm root with the hub installed from the wheelhouse alone, at /opt/classroom-hub/venv."""
    started = time.monotonic()
    root = fresh_root("arm64", PACKAGES, tmp_path_factory)
    wheelhouse = _wheelhouse(root.where / "wheelhouse")
    tools = _test_tools(root.where / "tools")
    made = time.monotonic()
    with root:
        root.copy_in(wheelhouse, "/media/usb/wheelhouse")
        root.copy_in(tools, "/media/usb/tools")
        root.copy_in_source("/src")
        root.copy_in(BUNDLED, "/models")
        if SHARED.is_dir():
            root.bind(SHARED, "/shared")
        # What install-pi.sh --wheelhouse does for the hub itself: no index, the USB stick only.
        done = root.run("sh", "-c", f"python3 -m venv {VENV} && {VENV}/bin/pip install --quiet --no-index "
                        "--find-links /media/usb/wheelhouse classroom-hub")
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
        assert root.run("uname", "-m").stdout.strip() == "aarch64"
        print(f"\narm64 root, wheelhouse and test tools ready in {made - started:.0f} s; "
              f"the hub installed from the wheelhouse in {time.monotonic() - made:.0f} s")
        yield root


class RootHub:
    """`classroom-hub serve` inside the root, on 127.0.0.1 (the root shares this machine's network)."""

    def __init__(self, root: Root, log: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        with log.open("w") as out:
            self.proc = subprocess.Popen(
                root.command(f"{VENV}/bin/classroom-hub", "serve", "--host", "127.0.0.1", "--port", str(self.port),
                             "--models", "/models"),
                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        started = time.monotonic()
        try:
            wait_for(self._ready, timeout_s=240, interval_s=0.5)
        except AssertionError:
            self.stop()
            raise AssertionError(f"the arm64 hub did not become ready:\n{log.read_text()[-3000:]}") from None
        self.ready_after_s = time.monotonic() - started

    def _ready(self) -> bool:
        if self.proc.poll() is not None:
            raise AssertionError(f"the arm64 hub exited ({self.proc.returncode}):\n{self.log.read_text()[-3000:]}")
        try:
            return requests.get(f"{self.url}/v2/health/ready", timeout=10).status_code == 200
        except requests.RequestException:  # not listening yet, or too busy loading the models to answer
            return False

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()


def _inputs() -> list[tuple[str, str, str, bytes, str]]:
    """(what, model, route, body, content type): drawings for digits, pictures and recordings for
    the rest. ../shared's Coral pictures and spoken digits when present; pictures made here always."""
    import cv2
    import numpy as np

    made = []
    for digit in range(10):
        made.append((f"drawn {digit}", "digits", "classify", png(render(digit, slant=0.1 * (digit % 3))), "image/png"))
    rng = np.random.default_rng(7)
    scene = cv2.GaussianBlur(rng.integers(0, 255, (300, 400, 3), dtype=np.uint8), (0, 0), 9)
    cv2.circle(scene, (200, 150), 80, (40, 180, 250), -1)
    pictures = [("made scene", cv2.imencode(".jpg", scene)[1].tobytes(), "image/jpeg")]
    coral = SHARED / "coral"
    pictures += [(name, (coral / name).read_bytes(), "image/bmp") for name in CORAL_PICTURES if (coral / name).exists()]
    for what, body, kind in pictures:
        made.append((what, "imagenet", "classify", body, kind))
        made.append((what, "embedder", "predict", body, kind))
        made.append((what, "movenet", "predict", body, kind))
    recordings = SHARED / "data" / "fsdd" / "recordings"
    for digit in range(10):
        wav = recordings / f"{digit}_jackson_0.wav"
        if wav.exists():
            made.append((wav.name, "spoken-digits", "classify", wav.read_bytes(), "audio/wav"))
    return made


def _answer(url: str, model: str, route: str, body: bytes, kind: str) -> dict:
    reply = requests.post(f"{url}/api/models/{model}/{route}", data=body, headers={"Content-Type": kind}, timeout=120)
    assert reply.status_code == 200, (model, route, reply.status_code, reply.text[:300])
    answer = reply.json()
    answer.pop("timing_ms", None)
    return answer


def _close_embeddings(arm: list[float], x86: list[float]) -> float:
    """An embedding is not an answer a pupil sees, and the one part that is not bit for bit: LiteRT's
    int8 kernels for Coral's (uint8) embedding extractor round differently with NEON than with AVX
    (the raw interpreter, given the same input tensor, differs by a few quantization steps), so
    the vectors must point the same way, not be equal."""
    import numpy as np

    a, b = np.asarray(arm), np.asarray(x86)
    assert a.shape == b.shape
    cosine = float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))
    assert cosine > 0.999, cosine
    return cosine


def test_the_hub_installed_from_the_wheelhouse_answers_exactly_as_on_x86_64(arm64, start_hub, tmp_path):
    """Every bundled model, the same inputs, through REST on both: equal answers, scores included
    (the classifiers' top three, the pose's keypoints); the embedder's vectors as close as its
    kernels allow."""
    if not (SHARED / "coral").is_dir():
        print(f"\nnote: {SHARED} is absent: only the drawn digits and the made picture are compared")
    x86 = start_hub(BUNDLED)
    hub = RootHub(arm64, tmp_path / "arm64-hub.log")
    try:
        models = {m["name"]: m for m in requests.get(f"{hub.url}/api/models", timeout=30).json()}
        assert {m: models[m]["status"] for m in models} == {p.name: "ready" for p in BUNDLED.iterdir() if p.is_dir()}
        differ, compared, cosines = [], 0, []
        for what, model, route, body, kind in _inputs():
            theirs, ours = _answer(hub.url, model, route, body, kind), _answer(x86.url, model, route, body, kind)
            compared += 1
            if "embedding" in ours:  # see _close_embeddings
                cosines.append(_close_embeddings(theirs.pop("embedding"), ours.pop("embedding")))
            if theirs != ours:
                differ.append(f"{model} on {what}:\n  arm64  {json.dumps(theirs)[:400]}\n  x86-64 {json.dumps(ours)[:400]}")
        print(f"\narm64 hub ready in {hub.ready_after_s:.1f} s under qemu; {compared} answers compared, equal; "
              f"embeddings' cosine to x86-64's: {min(cosines):.5f} at least")
        assert not differ, "\n".join(differ)
        assert compared >= 13 and cosines
    finally:
        hub.stop()


def test_a_runtime_that_cannot_run_on_this_cpu_is_blamed_not_the_model_files(arm64):
    """Without a Pi's /proc/cpuinfo, LiteRT crashes under qemu on every file (the artefact this
    module works around). The hub and `doctor` must say the runtime crashed on this machine, on
    files that check out, never that they are truncated or corrupt."""
    arm64.show_pi_cpuinfo(False)
    try:
        listed = arm64.run(f"{VENV}/bin/classroom-hub", "models", "/models", timeout=300)
        doctor = arm64.run(f"{VENV}/bin/classroom-hub", "doctor", "--models", "/models", timeout=300)
    finally:
        arm64.show_pi_cpuinfo(True)
    for said in (listed.stdout, doctor.stdout):
        assert "the TFLite runtime crashed on this machine" in said, said[-3000:]
        assert "cannot run on this CPU" in said and "sha256 its manifest gives" in said, said[-3000:]
        assert "corrupt" not in said and "damaged" not in said, said[-3000:]
    assert listed.stdout.count("crashed on this machine") == len([p for p in BUNDLED.iterdir() if p.is_dir()])
    # The root has no PortAudio (libportaudio2), as a Pi without it: the fix is said once, as the fix.
    assert doctor.stdout.count("sudo apt install libportaudio2") == 1, doctor.stdout
    assert "fix: sudo apt install libportaudio2" in doctor.stdout
    again = arm64.run(f"{VENV}/bin/classroom-hub", "models", "/models", timeout=300)
    assert "crashed" not in again.stdout and again.stdout.count(" ready ") >= 1, again.stdout[-2000:]


def test_the_in_process_layer_passes_on_arm64(arm64):
    """The fast test layer, run by pytest inside the root on the hub installed from the wheelhouse."""
    done = arm64.run("sh", "-c", f"{VENV}/bin/pip install --quiet --no-index --find-links /media/usb/tools "
                     "pytest requests 'python-socketio[client]'")
    assert done.returncode == 0, done.stderr[-3000:]
    done = arm64.run(f"{VENV}/bin/python", "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", "not emulated",
                     *[f"tests/{f}" for f in IN_PROCESS], cwd="/src",
                     env={"CLASSROOM_HUB_SHARED": "/shared"}, timeout=900)
    summary = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else ""
    print(f"\nin-process layer on arm64: {summary}")
    assert done.returncode == 0, done.stdout[-5000:] + done.stderr[-2000:]
    assert " passed" in summary and "failed" not in summary


def test_classroom_hub_bench_runs_on_arm64(arm64):
    """`classroom-hub bench`, as a school runs it on a Pi, measures every bundled model there (the
    figures are qemu's, not a Pi's: only that it works is checked)."""
    done = arm64.run(f"{VENV}/bin/classroom-hub", "bench", "--models", "/models", "--quick", "--threads", "1",
                     "--requests", "3", "--json", "-", timeout=900)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    result = json.loads(done.stdout)
    assert result["machine"]["arch"] == "aarch64" and "Cortex-A72" in result["machine"]["cpu"]
    bundled = sorted(p.name for p in BUNDLED.iterdir() if p.is_dir())
    assert sorted(result["models"]) == bundled
    for name, m in result["models"].items():
        assert m["status"] == "measured" and m["raw_invoke_ms"]["1"]["p50"] > 0, (name, m)
        assert m["rest"]["errors"] == 0 and m["rest"]["ms"]["p50"] > 0, (name, m)
