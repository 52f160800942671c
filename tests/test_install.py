"""scripts/install-pi.sh end to end under a temporary prefix, without root: the same files a Pi
gets, units that systemd-analyze accepts, a hub that serves from the installed config, a second
run that changes nothing, and an uninstall that keeps the data unless asked."""
from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from tests.conftest import ROOT, free_port, wait_for

INSTALL = ROOT / "scripts" / "install-pi.sh"
VENV = Path(sys.prefix)  # the test environment, which has the hub installed


def install(prefix: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(["sh", str(INSTALL), "--prefix", str(prefix), "--no-root", "--venv", str(VENV), *extra],
                          capture_output=True, text=True, timeout=300)


def test_install_serve_reinstall_uninstall(tmp_path):
    prefix = tmp_path / "pi"
    prefix.mkdir()
    done = install(prefix)
    assert done.returncode == 0, done.stderr + done.stdout
    pin = re.search(r"Teacher PIN \(shown once, write it down\): (\d{6})", done.stdout).group(1)
    etc, data, units = prefix / "etc/classroom-hub", prefix / "var/lib/classroom-hub", prefix / "etc/systemd/system"
    assert (prefix / "opt/classroom-hub/venv/bin/classroom-hub").exists()
    assert (data / "models/digits/manifest.json").exists() and (data / "models/spoken-digits").is_dir()
    assert oct((data / "teacher-pin.json").stat().st_mode)[-3:] == "600"
    assert pin not in (data / "teacher-pin.json").read_text()
    hub_unit = (units / "classroom-hub.service").read_text()
    assert "@PREFIX@" not in hub_unit and f"{prefix}/etc/classroom-hub/hub.toml" in hub_unit
    assert "Type=notify" in hub_unit and "WatchdogSec=" in hub_unit and "ProtectSystem=strict" in hub_unit
    assert "1a6e" in (prefix / "etc/udev/rules.d/60-coral-edgetpu.rules").read_text()
    kiosk_env = etc / "kiosk.env"  # the screen's settings; pixman only in a virtual machine
    kiosk_unit = (units / "classroom-kiosk.service").read_text()
    assert f"EnvironmentFile=-{kiosk_env}" in kiosk_unit and "@PORT@" not in kiosk_unit and "@PREFIX@" not in kiosk_unit
    assert f"{prefix}/opt/classroom-hub/venv/bin/classroom-hub kiosk --port 8080" in kiosk_unit
    in_vm = subprocess.run(["systemd-detect-virt", "-q", "--vm"]).returncode == 0 if shutil.which(
        "systemd-detect-virt") else False
    assert ("\nWLR_RENDERER=pixman" in kiosk_env.read_text()) == in_vm

    analyze = shutil.which("systemd-analyze")
    if analyze:
        for unit in ("classroom-hub.service", "classroom-kiosk.service"):
            if unit == "classroom-kiosk.service" and not shutil.which("cage"):
                continue  # verify checks that /usr/bin/cage exists; make install-dev installs it
            checked = subprocess.run([analyze, "verify", str(units / unit)], capture_output=True, text=True)
            assert checked.returncode == 0, checked.stderr

    port = free_port()
    hub = subprocess.Popen([str(prefix / "opt/classroom-hub/venv/bin/classroom-hub"), "serve", "--config",
                            str(etc / "hub.toml"), "--host", "127.0.0.1", "--port", str(port)],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        url = f"http://127.0.0.1:{port}"

        def ready() -> bool:
            try:
                return requests.get(url + "/v2/health/ready", timeout=2).status_code == 200
            except requests.RequestException:  # not listening yet, or too busy starting to answer
                return False

        wait_for(ready, 60, 0.1)  # generous: a busy machine starts the hub slower
        models = {m["name"]: m["status"] for m in requests.get(url + "/api/models", timeout=5).json()}
        assert models == {"digits": "ready", "embedder": "ready", "imagenet": "ready", "movenet": "ready",
                          "spoken-digits": "ready"}
        assert requests.post(url + "/api/teacher/login", json={"pin": pin}, timeout=5).status_code == 200
    finally:
        hub.terminate()
        hub.wait(15)

    config_before = hashlib.sha256((etc / "hub.toml").read_bytes()).hexdigest()
    pin_before = (data / "teacher-pin.json").read_bytes()
    again = install(prefix, "--port", "9000")  # the kept config says 8080: the kiosk must follow it
    assert again.returncode == 0, again.stderr
    assert "classroom-hub kiosk --port 8080" in (units / "classroom-kiosk.service").read_text()
    assert "kept the existing" in again.stdout and "already set" in again.stdout and "Teacher PIN" not in again.stdout
    assert hashlib.sha256((etc / "hub.toml").read_bytes()).hexdigest() == config_before
    assert (data / "teacher-pin.json").read_bytes() == pin_before

    removed = install(prefix, "--uninstall")
    assert removed.returncode == 0
    assert not (units / "classroom-hub.service").exists() and not (prefix / "opt/classroom-hub").exists()
    assert (data / "models/digits").is_dir() and (etc / "hub.toml").exists()
    purged = install(prefix, "--uninstall", "--purge")
    assert purged.returncode == 0 and not data.exists() and not etc.exists()


def test_installer_refuses_an_ordinary_user_without_prefix():
    command = ["sh", str(INSTALL)]
    if subprocess.run(["id", "-u"], capture_output=True, text=True).stdout.strip() == "0":
        if not shutil.which("runuser"):
            pytest.skip("running as root without runuser: cannot act as an ordinary user")
        command = ["runuser", "-u", "nobody", "--", *command]  # as an ordinary user would run it
    done = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "sudo" in done.stderr, done.stderr
