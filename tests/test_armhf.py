"""32-bit Raspberry Pi OS (armhf): the hub refuses it at once, in one line naming the fix, both
through pip and through the installer, in a real armhf Debian Bookworm root under qemu-user.

Why it refuses rather than runs: ai-edge-litert has no 32-bit ARM build, numpy 2 and OpenCV have
none on PyPI, and tflite-runtime (the one runtime that has) needs numpy < 2 and lacks the newer op
versions; the 64-bit OS runs on every Pi the hub can serve a class from (docs/INSTALL.md).
"""
from __future__ import annotations

import subprocess
import sys

import pytest

from tests.emulated_root import fresh_root

pytestmark = pytest.mark.emulated

FIX = "Install 'Raspberry Pi OS (64-bit)' with Raspberry Pi Imager"


@pytest.fixture(scope="module")
def armhf(tmp_path_factory):
    root = fresh_root("armhf", ("python3", "python3-venv"), tmp_path_factory, sysfs=False)
    build_tools = root.where / "build-tools"  # pip's isolated build needs setuptools and wheel (pure Python)
    done = subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--dest", str(build_tools),
                           "setuptools>=68", "wheel"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    with root:
        root.copy_in_source("/src")
        root.copy_in(build_tools, "/media/usb/build-tools")
        assert root.run("uname", "-m").stdout.strip() == "armv7l"
        yield root


def _one_line_with_the_fix(output: str) -> str:
    lines = [line for line in output.splitlines() if "64-bit Raspberry Pi OS" in line]
    assert len(lines) == 1 and FIX in lines[0] and "this system is 32-bit (arm" in lines[0], output[-3000:]
    return lines[0]


def test_pip_install_refuses_32_bit_arm_at_once_with_the_fix(armhf):
    done = armhf.run("sh", "-c", "python3 -m venv /opt/try && /opt/try/bin/pip install --no-index "
                     "--find-links /media/usb/build-tools /src", timeout=600)
    assert done.returncode != 0
    _one_line_with_the_fix(done.stdout + done.stderr)
    listed = armhf.run("/opt/try/bin/pip", "list", "--format=freeze").stdout
    assert "classroom" not in listed.lower() and "numpy" not in listed.lower()  # nothing was installed


def test_the_installer_refuses_32_bit_arm_before_changing_anything(armhf):
    before = armhf.run("sh", "-c", "ls /opt /etc | sort").stdout
    done = armhf.run("sh", "/src/scripts/install-pi.sh", "--wheelhouse", "/media/usb/build-tools", "--no-kiosk")
    assert done.returncode == 2, done.stdout[-2000:] + done.stderr[-2000:]
    line = _one_line_with_the_fix(done.stdout + done.stderr)
    assert (done.stdout + done.stderr).strip() == line.strip()  # that line alone
    assert armhf.run("sh", "-c", "ls /opt /etc | sort").stdout == before
    assert not (armhf.path / "etc" / "classroom-hub").exists() and not (armhf.path / "opt" / "classroom-hub").exists()
