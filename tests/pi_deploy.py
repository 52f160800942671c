"""The deploy story of docs/INSTALL.md, acted out on a booted Bookworm VM (tests/bookworm_vm.py):
a USB stick with the project and a wheelhouse, `install-pi.sh --wheelhouse` with no network,
one reboot, the kiosk showing the class's QR code, and systemd bringing the hub back after
`kill -9` and after a hung engine. tests/test_deploy_vm.py checks what happens;
bench/deploy.py times it. Every step returns what it measured.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import requests

from tests.bookworm_vm import BookwormVM, VMError, ensure_image, make_disk
from tests.conftest import ROOT

GUEST_CONFIG = "/etc/classroom-hub/hub.toml"
SIMULATED_TPU = '\n[testing]\nsimulated_edgetpu = 1\nfault_injection = true\n'


def project_files() -> list[str]:
    """The project as a school would copy it: tracked and new files, not .venv or build output."""
    listed = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                            capture_output=True, text=True)
    if listed.returncode != 0:
        raise VMError("the project is not a git checkout: cannot tell its files from build output")
    return [f for f in listed.stdout.splitlines() if (ROOT / f).is_file()]


def usb_stick(workdir: Path) -> Path:
    """A disk image holding classroom-hub/ and an x86-64 wheelhouse/ (make wheelhouse ARCH=x86_64)."""
    stick = workdir / "usb"
    for name in project_files():
        target = stick / "classroom-hub" / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, target)
    built = subprocess.run(["sh", str(ROOT / "scripts" / "wheelhouse.sh"), "x86_64", str(stick / "wheelhouse")],
                           env={**os.environ, "PIP": f"{sys.executable} -m pip"},
                           capture_output=True, text=True, timeout=900)
    if built.returncode != 0:
        raise VMError(f"building the wheelhouse failed:\n{built.stderr[-3000:]}")
    return make_disk(stick, workdir / "usb.img", "CLASSROOMUSB")


class PiDeployment:
    """One fresh Bookworm machine, from first boot to a hub that survives what a classroom does."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.vm = BookwormVM(ensure_image(), workdir, usb=usb_stick(workdir))
        self.pin: str | None = None
        self.session = requests.Session()
        self.session.trust_env = False  # only 127.0.0.1; and REQUESTS_CA_BUNDLE would override .verify
        self.url = self.vm.url  # https:// once use_tls() switched the hub over

    # -- the install ------------------------------------------------------------------------
    def boot(self) -> float:
        return self.vm.start(boot_timeout_s=600)

    def install(self) -> tuple[float, str]:
        """The one command of docs/INSTALL.md (offline); returns its seconds and its output."""
        started = time.monotonic()
        self.mount_usb()
        out = self.vm.must("cd /media/usb/classroom-hub && sh scripts/install-pi.sh --wheelhouse /media/usb/wheelhouse",
                           timeout_s=2400)
        found = re.search(r"Teacher PIN \(shown once, write it down\): (\d{6})", out)
        if not found:
            raise VMError(f"the installer printed no teacher PIN:\n{out}")
        self.pin = found.group(1)
        return time.monotonic() - started, out

    def mount_usb(self) -> None:
        """Plug the stick in (again after a reboot): /media/usb, as a person would mount it."""
        self.vm.must("mkdir -p /media/usb && (mountpoint -q /media/usb || "
                     "mount /dev/disk/by-label/CLASSROOMUSB /media/usb)")

    def reboot(self) -> float:
        return self.vm.reboot(boot_timeout_s=600)

    # -- the hub --------------------------------------------------------------------------
    def status(self) -> dict | None:
        """The hub's /api/status, or None while it does not answer (or is not ready)."""
        try:
            if self.session.get(self.url + "/v2/health/ready", timeout=2).status_code != 200:
                return None
            return self.session.get(self.url + "/api/status", timeout=5).json()
        except (requests.RequestException, ValueError):
            return None

    def wait_ready(self, timeout_s: float, started_after: float | None = None) -> float:
        """Seconds until the hub answers ready; with `started_after` (a monotonic time), only a
        hub process started after it counts, so the old one answering does not."""
        begin = time.monotonic()
        while time.monotonic() - begin < timeout_s:
            status = self.status()
            if status and (started_after is None or status["uptime_s"] < time.monotonic() - started_after):
                return time.monotonic() - begin
            time.sleep(0.1)
        raise VMError(f"the hub was not ready within {timeout_s} s:\n{self.journal('classroom-hub', 40)}")

    def unit(self, name: str, *properties: str) -> dict[str, str]:
        out = self.vm.must(f"systemctl show {name} -p {','.join(properties)}")
        return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)

    def journal(self, unit: str, lines: int = 60) -> str:
        return self.vm.run(f"journalctl -b -u {unit} --no-pager | tail -n {lines}").out

    def kill_hub(self, timeout_s: float = 120, tablets: int = 3) -> float:
        """`kill -9` of the hub's main process mid-lesson (`tablets` Socket.IO clients connected
        over WebSocket, as each tablet is); seconds until a new hub is ready."""
        connected = [self.tablet() for _ in range(tablets)]
        pid = self.unit("classroom-hub", "MainPID")["MainPID"]
        started = time.monotonic()
        self.vm.must(f"kill -9 {pid}")
        try:
            self.wait_ready(timeout_s, started_after=started)
        finally:
            for client in connected:
                client.disconnect()
        return time.monotonic() - started

    RESTART_MARKS = (  # journal lines of one restart, in order: (phase it ends, text)
        ("the old hub is gone", "Main process exited"),
        ("systemd starts it again (RestartSec)", "Starting classroom-hub.service"),
        ("Python and gunicorn's master up", "Starting gunicorn"),
        ("the worker has imported the app", "inference runtime:"),
        ("models loaded and checked: ready", " is ready: "),
    )

    def restart_phases(self) -> dict[str, float]:
        """Where the last restart's time went, from the journal's own timestamps."""
        lines = self.vm.must("journalctl -u classroom-hub -o short-unix --no-pager -n 400").splitlines()
        start = max(i for i, line in enumerate(lines) if self.RESTART_MARKS[0][1] in line)
        phases, previous, at = {}, None, start
        for phase, text in self.RESTART_MARKS:
            at = next(i for i in range(at, len(lines)) if text in lines[i])
            stamp = float(lines[at].split()[0])
            if previous is not None:
                phases[phase] = round(stamp - previous, 2)
            previous = stamp
        return phases

    def tablet(self):
        """A Socket.IO client on the class namespace, over WebSocket: what a tablet keeps open."""
        import socketio

        client = socketio.Client(reconnection=False, http_session=self.session)
        client.connect(self.url, namespaces=["/class"], transports=["websocket"], wait_timeout=30)
        return client

    def use_simulated_tpu(self) -> None:
        """Restart the hub with the simulated Edge TPU ([testing]): the only way to wedge one here."""
        self.vm.must(f"grep -q '^\\[testing\\]' {GUEST_CONFIG} || printf '{SIMULATED_TPU}' >> {GUEST_CONFIG}")
        started = time.monotonic()
        self.vm.must("systemctl restart classroom-hub", timeout_s=300)
        self.wait_ready(120, started_after=started)

    def use_tls(self) -> None:
        """`[server] tls = "self-signed"` (docs/TEACHERS.md: what a school sets for the camera and
        the microphone), then `systemctl restart classroom-hub classroom-kiosk` as docs/CONFIG.md
        says. From here this client trusts the hub's own authority, as a tablet would."""
        self.vm.must(f"sed -i 's/^# *tls = \"self-signed\".*/tls = \"self-signed\"/' {GUEST_CONFIG} && "
                     f"grep -q '^tls = \"self-signed\"' {GUEST_CONFIG}")
        started = time.monotonic()
        self.vm.must("systemctl restart classroom-hub classroom-kiosk", timeout_s=300)
        authority = self.workdir / "hub-ca.crt"
        authority.write_text(self.vm.must("cat /var/lib/classroom-hub/tls/ca.crt"))
        self.session.verify = str(authority)
        self.url = "https://" + self.vm.url.split("://", 1)[1]
        self.wait_ready(120, started_after=started)

    def browser_command(self) -> str:
        """The kiosk's Chromium command line, as `ps` shows it."""
        return self.vm.must("pgrep -a -f '[c]hromium.*--kiosk' | head -n 1").strip()

    def hang_engine(self, timeout_s: float = 120) -> float:
        """Wedge the simulated TPU mid-request; seconds from the hang until a new hub is ready."""
        models = self.session.get(self.url + "/api/models", timeout=10).json()
        on_tpu = next((m["name"] for m in models if m["backend"] == "simulated"), None)
        if on_tpu is None:
            raise VMError(f"no model is on the simulated Edge TPU: {models}")
        reply = self.session.post(self.url + "/api/testing/faults", json={"device": "sim:0", "hang": True},
                                  timeout=10)
        if reply.status_code != 200:
            raise VMError(f"could not wedge the simulated TPU: {reply.status_code} {reply.text}")
        started = time.monotonic()
        threading.Thread(target=self._doomed_request, args=(on_tpu,), daemon=True).start()
        self.wait_ready(timeout_s, started_after=started)
        return time.monotonic() - started

    def _doomed_request(self, model: str) -> None:
        from tests.drawing import png, render
        from tests.test_audio_features import tone, wav_bytes

        body, kind = (png(render(3)), "image/png") if model == "digits" else (wav_bytes(tone(), 8000), "audio/wav")
        try:
            requests.post(f"{self.url}/api/models/{model}/classify", data=body, headers={"Content-Type": kind},
                          timeout=60, verify=self.session.verify)
        except requests.RequestException:
            pass  # the hub it was sent to is killed: that is the point

    # -- the classroom --------------------------------------------------------------------
    def start_class(self) -> str:
        """The running class's code: the one a restart resumed, or a new one."""
        login = self.session.post(self.url + "/api/teacher/login", json={"pin": self.pin}, timeout=10)
        if login.status_code != 200:
            raise VMError(f"teacher login failed: {login.status_code} {login.text}")
        running = self.session.get(self.url + "/api/classes/current", timeout=10)
        if running.status_code == 200:
            return running.json()["code"]
        started = self.session.post(self.url + "/api/classes", timeout=10)
        if started.status_code != 201:
            raise VMError(f"starting a class failed: {started.status_code} {started.text}")
        return started.json()["code"]

    def kiosk_qr(self, timeout_s: float, expect: str = "?code=") -> tuple[float, str, Path]:
        """Seconds until the VM's screen shows a QR code holding `expect`, what it says, and the
        screenshot: what a pupil's camera would read off the front screen."""
        import cv2

        begin = time.monotonic()
        shot = self.workdir / "kiosk-screen.png"
        decoded = ""
        while time.monotonic() - begin < timeout_s:
            self.vm.screendump(shot)
            picture = cv2.imread(str(shot))
            if picture is not None:
                decoded = cv2.QRCodeDetector().detectAndDecode(picture)[0]
                if expect in decoded:
                    return time.monotonic() - begin, decoded, shot
            time.sleep(2)
        raise VMError(f"the kiosk screen showed no QR code with {expect!r} within {timeout_s} s "
                      f"(last read: {decoded!r}); kiosk log:\n{self.kiosk_log()}")

    def kiosk_log(self, lines: int = 40) -> str:
        """cage's and Chromium's lines: they log from the kiosk's logind session, not its unit."""
        return self.vm.run(f"journalctl -b --no-pager | grep -E 'cage|chromium' | tail -n {lines}").out

    def stop(self) -> None:
        self.vm.stop()
