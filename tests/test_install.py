"""scripts/install-pi.sh end to end under a temporary prefix, without root: the same files a Pi
gets, units that systemd-analyze accepts, a hub that serves from the installed config, a second
run that changes nothing, and an uninstall that keeps the data unless asked."""
from __future__ import annotations

import hashlib
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from xml.etree import ElementTree

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
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                           env={**os.environ, "CLASSROOM_HUB_SERVER_SECURE_PORT": str(free_port())})
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


AVAHI = "etc/avahi/services/classroom-hub.service"


@pytest.mark.parametrize("options,message", [
    (["--hotspot", ""], 'a Wi-Fi name is 1 to 32 bytes (letters like é count 2); "" has 0'),
    (["--hotspot", "x" * 33], "has 33"),
    (["--hotspot", "é" * 17], "has 34"),  # 17 letters, but 34 bytes: an SSID is counted in bytes
    (["--hotspot", "Class 4B", "--hotspot-password", "1234567"], "8 to 63 characters; this one has 7"),
    (["--hotspot", "Class 4B", "--hotspot-password", "x" * 64], "this one has 64"),
    (["--hotspot", "Class 4B", "--hotspot-password", "crème brûlée"], "no accents"),
    (["--hotspot-password", "long enough"], "--hotspot-password goes with --hotspot WIFI-NAME"),
    (["--name", "class_7"], "a host name is letters, digits and '-'"),
    (["--name", "-7"], "a host name is letters, digits and '-'"),
])
def test_bad_network_options_are_refused_before_anything_changes(tmp_path, options, message):
    prefix = tmp_path / "pi"
    prefix.mkdir()
    done = install(prefix, *options)
    assert done.returncode == 2, done.stdout + done.stderr
    assert message in done.stderr and done.stderr.startswith("[classroom-hub] "), done.stderr
    assert list(prefix.iterdir()) == []


def nmcli_add_line(out: str) -> list[str]:
    lines = [line for line in out.splitlines() if line.startswith("nmcli connection add ")]
    assert len(lines) == 1, out
    return shlex.split(lines[0])


def test_dry_run_shows_the_hotspot_and_the_mdns_announcement_and_changes_nothing(tmp_path):
    prefix = tmp_path / "pi"
    prefix.mkdir()
    ssid, password = "Class 4B's Wi-Fi", "it's a secret"
    done = install(prefix, "--dry-run", "--port", "8123", "--name", "Classroom-7", "--hotspot", ssid,
                   "--hotspot-password", password)
    assert done.returncode == 0, done.stderr
    assert list(prefix.iterdir()) == []
    words = nmcli_add_line(done.stdout)  # what a person would run again, quotes and all
    settings = dict(zip(words[5::2], words[6::2]))
    assert words[:5] == ["nmcli", "connection", "add", "type", "wifi"]
    assert settings["con-name"] == "classroom-hub-hotspot" and settings["ssid"] == ssid
    assert settings["wifi-sec.psk"] == password and settings["wifi-sec.key-mgmt"] == "wpa-psk"
    assert settings["802-11-wireless.mode"] == "ap" and settings["802-11-wireless.band"] == "bg"
    assert settings["ipv4.method"] == "shared" and settings["wifi-sec.proto"] == "rsn"
    assert "nmcli connection delete classroom-hub-hotspot" in done.stdout  # a re-run replaces it
    assert "hostnamectl set-hostname classroom-7" in done.stdout  # lower-cased: one DNS label
    assert "http://classroom-7.local:8123/" in done.stdout and "<port>8123</port>" in done.stdout
    # without a password of its own the dry run does not make one up
    made_up = install(prefix, "--dry-run", "--hotspot", ssid)
    assert nmcli_add_line(made_up.stdout)[-5] == "<new password>", made_up.stdout


def test_no_root_announces_the_hub_over_mdns_and_uninstall_removes_it(tmp_path):
    prefix = tmp_path / "pi"
    prefix.mkdir()
    done = install(prefix, "--port", "8123", "--no-kiosk", "--hotspot", "Class 4B")
    assert done.returncode == 0, done.stderr
    assert "--no-root: no hotspot and no new name (they need root)" in done.stdout
    assert not (prefix / "etc/NetworkManager").exists() and not (prefix / "etc/classroom-hub/hotspot.txt").exists()

    def announced() -> dict[str, str]:
        service = ElementTree.parse(prefix / AVAHI)  # avahi-daemon's service-group format
        assert service.find("name").get("replace-wildcards") == "yes" and "%h" in service.findtext("name")
        return {s.findtext("type"): s.findtext("port") for s in service.iterfind("service")}

    assert announced() == {"_http._tcp": "8123", "_https._tcp": "8443"}  # HTTPS is on by default
    config = prefix / "etc/classroom-hub/hub.toml"
    config.write_text(re.sub(r"(?m)^\[server\]$", '[server]\ntls = "off"', config.read_text(), count=1))
    again = install(prefix, "--no-kiosk")  # the kept config decides
    assert again.returncode == 0, again.stderr
    assert announced() == {"_http._tcp": "8123"}
    removed = install(prefix, "--uninstall")
    assert removed.returncode == 0 and not (prefix / AVAHI).exists()


def slug(heading: str) -> str:
    """GitHub's anchor for a Markdown heading: lower case, no punctuation but '-', spaces as '-'."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def test_install_md_names_only_options_the_installer_has_and_links_to_its_own_sections():
    text = (ROOT / "docs" / "INSTALL.md").read_text()
    accepted = set(re.findall(r"^    (--[a-z-]+)(?:\|-h)?\)", INSTALL.read_text(), re.M))
    assert {"--hotspot", "--hotspot-password", "--name", "--dry-run"} <= accepted
    for line in re.findall(r"^.*install-pi\.sh.*$", text, re.M):  # every command line that runs it
        named = set(re.findall(r"(?<![\w-])(--[a-z][a-z-]+)", line.split("#")[0]))
        assert named <= accepted, (line, named - accepted)
    anchors = {slug(h) for h in re.findall(r"^#+ (.*)$", text, re.M)}
    for target in re.findall(r"\]\(#([^)]+)\)", text):
        assert target in anchors, target
    assert "apt-key add" not in text and "signed-by=/etc/apt/keyrings/" in text
