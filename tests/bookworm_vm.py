"""A Debian Bookworm virtual machine with systemd as PID 1, for what only a real boot can show:
that `install-pi.sh` installs from a wheelhouse with no network, that the units start, that a
reboot brings up the hub and the kiosk screen, and that systemd brings the hub back after
`kill -9` or a hung engine. Used by tests/test_deploy_vm.py and bench/deploy.py.

The image (scripts/bookworm-image.sh) is built once and cached; every boot runs on a throwaway
copy-on-write overlay. The guest has no network: qemu's user network is `restrict=on`, and only
the hub's port is forwarded to 127.0.0.1 here. Commands run in the guest through
qemu-guest-agent; the screen is read through QMP's `screendump`.
"""
from __future__ import annotations

import base64
import hashlib
import itertools
import json
import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from tests.conftest import ROOT, free_port

IMAGE_SCRIPT = ROOT / "scripts" / "bookworm-image.sh"
INSTALLER = ROOT / "scripts" / "install-pi.sh"
CACHE = Path(os.environ.get("CLASSROOM_HUB_VM_CACHE",
                            Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "classroom-hub" / "vm"))
QEMU = "qemu-system-x86_64"
HOST_TOOLS = (QEMU, "qemu-img", "mmdebstrap", "mkfs.ext4")


class VMError(RuntimeError):
    """The VM could not be built, booted or reached."""


def unavailable_reason() -> str | None:
    """Why no VM can run here (None when one can): root and the host tools are needed (KVM is
    used when it runs ordinary guests; without it qemu emulates, about 11 min for the tests)."""
    missing = [tool for tool in HOST_TOOLS if not shutil.which(tool)]
    if missing:
        return f"missing {', '.join(missing)} (make test installs them: scripts/system-deps.sh)"
    if os.geteuid() != 0:
        return "building the Bookworm image needs root (mmdebstrap)"
    return None


def ensure_image() -> Path:
    """The cached Bookworm image, built when the build script changed or it is missing."""
    packages = [line for line in INSTALLER.read_text().splitlines() if "_PACKAGES=" in line]
    key = hashlib.sha256(IMAGE_SCRIPT.read_bytes() + "\n".join(packages).encode()).hexdigest()[:16]
    folder = CACHE / f"bookworm-{key}"
    if (folder / "rootfs.img").exists():
        return folder
    building = CACHE / f"bookworm-{key}.building"
    shutil.rmtree(building, ignore_errors=True)
    done = subprocess.run(["sh", str(IMAGE_SCRIPT), str(building)], capture_output=True, text=True, timeout=1800)
    if done.returncode != 0:
        raise VMError(f"building the Bookworm image failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    building.rename(folder)
    for old in CACHE.glob("bookworm-*"):  # earlier versions of the image
        if old != folder and not old.name.endswith(".building"):
            shutil.rmtree(old, ignore_errors=True)
    return folder


def accelerator() -> list[str]:
    """KVM where it runs ordinary guests; otherwise qemu's own translator on every core.
    (A host that is itself a PVM guest offers /dev/kvm for PVM kernels only: Debian's hangs.)"""
    if os.access("/dev/kvm", os.R_OK | os.W_OK) and not Path("/sys/module/kvm_pvm").exists():
        return ["-accel", "kvm", "-cpu", "host"]
    return ["-accel", "tcg,thread=multi", "-cpu", "max"]


def make_disk(source: Path, image: Path, label: str, size_mb: int | None = None) -> Path:
    """An ext4 disk holding `source`'s files: the USB stick a school copies the install onto."""
    if size_mb is None:
        used = sum(f.stat().st_size for f in source.rglob("*") if f.is_file())
        size_mb = int(used / 2**20 * 1.3) + 64
    done = subprocess.run(["mkfs.ext4", "-q", "-F", "-L", label, "-d", str(source), str(image), f"{size_mb}M"],
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise VMError(f"mkfs.ext4 failed: {done.stderr}")
    return image


@dataclass
class Ran:
    """What a command in the guest did."""

    code: int
    out: str
    err: str

    @property
    def ok(self) -> bool:
        return self.code == 0


class _JsonSocket:
    """One line of JSON out, lines of JSON back: the shape of both QMP and the guest agent."""

    def __init__(self, path: Path, timeout_s: float) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout_s)
        self.sock.connect(str(path))
        self.buffer = b""

    def send(self, message: dict) -> None:
        self.sock.sendall(json.dumps(message).encode() + b"\n")

    def receive(self) -> dict:
        while b"\n" not in self.buffer:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise VMError("the VM closed the connection")
            self.buffer += chunk
        line, self.buffer = self.buffer.split(b"\n", 1)
        line = line.lstrip(b"\xff").strip()
        return json.loads(line) if line else self.receive()

    def close(self) -> None:
        self.sock.close()


class GuestAgent:
    """qemu-guest-agent: run a command in the guest and get its exit code and output."""

    _ids = itertools.count(1)

    def __init__(self, path: Path) -> None:
        self.path = path
        self.conn: _JsonSocket | None = None

    def connect(self, deadline: float) -> None:
        """Wait until the agent in the guest answers (it starts once the guest has booted)."""
        while time.monotonic() < deadline:
            try:
                self.conn = _JsonSocket(self.path, 3)
                token = next(self._ids)
                self.conn.send({"execute": "guest-sync", "arguments": {"id": token}})
                while self.conn.receive().get("return") != token:
                    pass
                self.conn.sock.settimeout(30)
                return
            except (OSError, VMError, json.JSONDecodeError):
                if self.conn:
                    self.conn.close()
                self.conn = None
                time.sleep(1)
        raise VMError("the guest agent did not answer: the VM did not boot")

    def call(self, command: str, **arguments) -> dict:
        assert self.conn is not None, "connect() first"
        self.conn.send({"execute": command, "arguments": arguments})
        reply = self.conn.receive()
        if "error" in reply:
            raise VMError(f"{command}: {reply['error'].get('desc')}")
        return reply.get("return", {})

    def run(self, command: str, timeout_s: float = 120) -> Ran:
        started = self.call("guest-exec", path="/bin/sh", arg=["-c", command], **{"capture-output": True})
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            status = self.call("guest-exec-status", pid=started["pid"])
            if status.get("exited"):
                decode = lambda key: base64.b64decode(status.get(key, "")).decode(errors="replace")  # noqa: E731
                return Ran(status.get("exitcode", -status.get("signal", 0)), decode("out-data"), decode("err-data"))
            time.sleep(0.1)
        raise VMError(f"{command!r} did not finish within {timeout_s} s")

    def close(self) -> None:
        if self.conn:
            self.conn.close()
            self.conn = None


class BookwormVM:
    """One boot of the cached image on a fresh overlay, with the hub's port forwarded here."""

    def __init__(self, image: Path, workdir: Path, usb: Path | None = None, guest_port: int = 8080,
                 memory_mb: int = 2048, cpus: int = 2) -> None:
        self.image, self.workdir, self.usb = image, workdir, usb
        self.guest_port, self.memory_mb, self.cpus = guest_port, memory_mb, cpus
        self.host_port = free_port()
        self.url = f"http://127.0.0.1:{self.host_port}"
        self.console = workdir / "console.log"
        self.agent = GuestAgent(workdir / "qga.sock")
        self.process: subprocess.Popen | None = None

    def start(self, boot_timeout_s: float = 180) -> float:
        """Boot; returns the seconds until the guest agent answered."""
        overlay = self.workdir / "overlay.qcow2"
        overlay.unlink(missing_ok=True)
        subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-F", "raw", "-b",
                        str(self.image / "rootfs.img"), str(overlay)], check=True)
        command = [
            QEMU, *accelerator(), "-m", str(self.memory_mb), "-smp", str(self.cpus),
            "-kernel", str(self.image / "vmlinuz"), "-initrd", str(self.image / "initrd.img"),
            "-append", "root=/dev/vda rw console=ttyS0 quiet",
            "-drive", f"file={overlay},if=virtio,format=qcow2",
            "-nic", f"user,model=virtio-net-pci,restrict=on,hostfwd=tcp:127.0.0.1:{self.host_port}-:{self.guest_port}",
            "-chardev", f"socket,path={self.workdir / 'qga.sock'},server=on,wait=off,id=qga0",
            "-device", "virtio-serial", "-device", "virtserialport,chardev=qga0,name=org.qemu.guest_agent.0",
            "-qmp", f"unix:{self.workdir / 'qmp.sock'},server=on,wait=off",
            # virtio-gpu: a KMS device with a render node, which wlroots (cage) needs to draw
            "-vga", "virtio", "-display", "none", "-serial", f"file:{self.console}",
        ]
        if self.usb is not None:
            command += ["-drive", f"file={self.usb},if=virtio,format=raw"]
        started = time.monotonic()
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=open(self.workdir / "qemu.log", "wb"))
        self._wait_agent(started + boot_timeout_s)
        return time.monotonic() - started

    def _wait_agent(self, deadline: float) -> None:
        try:
            self.agent.connect(deadline)
        except VMError:
            raise VMError(f"the VM did not boot; console:\n{self.console_tail()}") from None

    def run(self, command: str, timeout_s: float = 120) -> Ran:
        return self.agent.run(command, timeout_s)

    def must(self, command: str, timeout_s: float = 120) -> str:
        done = self.run(command, timeout_s)
        if not done.ok:
            raise VMError(f"{command!r} exited {done.code}:\n{done.out[-3000:]}\n{done.err[-3000:]}")
        return done.out

    def reboot(self, boot_timeout_s: float = 180) -> float:
        """`systemctl reboot` in the guest; returns the seconds until the agent answered again."""
        self.agent.call("guest-exec", path="/bin/systemctl", arg=["reboot"])
        self.agent.close()
        started = time.monotonic()
        time.sleep(3)  # the agent answers until systemd stops it
        self._wait_agent(started + boot_timeout_s)
        return time.monotonic() - started

    def screendump(self, path: Path) -> Path:
        """The guest's screen as a PNG (what a person in front of the kiosk would see)."""
        qmp = _JsonSocket(self.workdir / "qmp.sock", 30)
        try:
            qmp.receive()  # the greeting
            for message in ({"execute": "qmp_capabilities"},
                            {"execute": "screendump", "arguments": {"filename": str(path), "format": "png"}}):
                qmp.send(message)
                reply = qmp.receive()
                while "event" in reply:
                    reply = qmp.receive()
                if "error" in reply:
                    raise VMError(f"QMP: {reply['error']}")
        finally:
            qmp.close()
        return path

    def console_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.console.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no console output)"

    def stop(self) -> None:
        self.agent.close()
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait(30)

