"""The two commands people type: classroom-hub (serve, models) and classroom-quantize build."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import requests

from tests.conftest import ROOT, coral_model, free_port


def run(*args, timeout=600, cwd_override=None, **kw):
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLASSROOM_HUB_")}
    env["PYTHONPATH"] = str(ROOT)  # the package, whatever folder the command runs in
    env["CLASSROOM_HUB_SERVER_SECURE_PORT"] = str(free_port())  # not the fixed 8443 another hub may hold
    return subprocess.run([sys.executable, *args], cwd=cwd_override or ROOT, capture_output=True, text=True,
                          timeout=timeout, env=env, **kw)


def test_models_table(models_dir, coral):
    coral_model(models_dir, "lstm", ["keras_lstm_mnist_ptq_edgetpu.tflite"])
    done = run("-m", "hub", "models", str(models_dir))
    assert done.returncode == 1  # one model cannot serve here
    lines = done.stdout.splitlines()
    assert lines[0].split()[:5] == ["NAME", "STATUS", "BACKEND", "SIZE", "ACCURACY"]
    digits = next(line for line in lines if line.startswith("digits"))
    accuracy = json.loads((models_dir / "digits" / "manifest.json").read_text())["variants"]["cpu"]["accuracy"]
    assert "ready" in digits and "cpu" in digits and f"{accuracy:.1%}" in digits and "KB" in digits
    assert "unavailable" in next(line for line in lines if line.startswith("lstm"))


def test_models_takes_the_folder_as_serve_and_doctor_do(models_dir):
    """`classroom-hub models --models DIR`, as `serve --models DIR` and `doctor --models DIR`."""
    done = run("-m", "hub", "models", "--models", str(models_dir), "--config", os.devnull)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[1].split()[:2] == ["digits", "ready"]


def test_a_models_folder_relative_to_where_the_command_runs(models_dir):
    """`classroom-hub models mymodels` means the caller's folder, although the probe child runs
    in the package's own folder (a wheel install showed FileNotFoundError for every model)."""
    elsewhere = models_dir.parent
    models_dir.rename(elsewhere / "mymodels")
    assert not (ROOT / "mymodels").exists()
    done = run("-m", "hub", "models", "mymodels", "--config", os.devnull, cwd_override=elsewhere)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "ready" in next(line for line in done.stdout.splitlines() if line.startswith("digits"))


def test_serve_prints_the_url_when_ready(models_dir):
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "hub", "serve", "--host", "127.0.0.1", "--port", str(port),
                             "--models", str(models_dir)], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True,
                            env={**os.environ, "CLASSROOM_HUB_SERVER_SECURE_PORT": str(free_port())})
    try:
        started = time.monotonic()
        lines = []
        while not any("the front screen:" in line for line in lines):
            line = proc.stdout.readline()
            assert line, "serve exited before printing its URLs"
            lines.append(line)
        assert time.monotonic() - started < 15
        assert "is ready: 1 of 1 model(s) serving" in "".join(lines)
        assert f"  open http://127.0.0.1:{port}/\n" in lines
        assert requests.get(f"http://127.0.0.1:{port}/v2/health/ready", timeout=5).status_code == 200
        said = lines[-1].split()  # the teacher's and the front screen's pages, which answer
        teacher, kiosk = said[said.index("dashboard:") + 1], said[-1]
        assert teacher == f"http://127.0.0.1:{port}/teacher" and kiosk == f"http://127.0.0.1:{port}/kiosk"
        for page in (teacher, kiosk):
            assert requests.get(page, timeout=5).status_code == 200
    finally:
        proc.terminate()
        proc.wait(15)


def test_serve_refuses_a_taken_port(models_dir):
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        done = run("-m", "hub", "serve", "--host", "127.0.0.1", "--port", str(taken.getsockname()[1]),
                   "--models", str(models_dir), timeout=30)
    assert done.returncode == 2 and "already in use" in done.stderr


def test_bad_config_is_a_clear_exit(tmp_path, models_dir):
    bad = tmp_path / "hub.toml"
    bad.write_text("[engine]\nqueue_sise = 3\n")
    done = run("-m", "hub", "serve", "--config", str(bad), "--models", str(models_dir), timeout=30)
    assert done.returncode == 2 and "engine.queue_sise" in done.stderr and "queue_size" in done.stderr


def test_quantize_unknown_recipe():
    done = run("-m", "quantize.cli", "build", "cats", "--out", "/tmp/nowhere")
    assert done.returncode == 2 and "unknown recipe" in done.stderr


def test_a_config_file_this_user_cannot_read_is_one_line_naming_the_fix(tmp_path, models_dir):
    """hub.toml may hold the PIN, so it is root's and the hub's alone: a command run by another
    user says so in one line (it was a traceback). Run as `nobody` where this test runs as root."""
    import shutil

    if os.geteuid() != 0 or not shutil.which("setpriv"):
        import pytest

        pytest.skip("needs root and setpriv to run the command as another user")
    config = tmp_path / "hub.toml"
    config.write_text("[server]\nport = 8080\n")
    config.chmod(0o600)
    tmp_path.chmod(0o755)
    done = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", sys.executable, "-m", "hub",
                           "models", str(models_dir), "--config", str(config)],
                          cwd=ROOT, capture_output=True, text=True, timeout=120,
                          env={"PATH": os.environ["PATH"], "PYTHONPATH": str(ROOT), "HOME": str(tmp_path)})
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert f"config file {config} cannot be read by this user; run the command with sudo" in done.stderr
