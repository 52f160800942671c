"""Everything about the package is in setup.cfg; this only refuses 32-bit ARM, at once and in one
line, before pip looks for wheels that do not exist there (ai-edge-litert has no 32-bit ARM build;
docs/INSTALL.md says why the hub needs the 64-bit Raspberry Pi OS)."""
import platform
import struct
import sys

from setuptools import setup

REFUSAL = ("Classroom Hub needs the 64-bit Raspberry Pi OS (arm64); this system is 32-bit ({arch}). "
           "Install 'Raspberry Pi OS (64-bit)' with Raspberry Pi Imager: it runs on every Pi 3, 4, 5 and Zero 2 W "
           "(docs/INSTALL.md).")


def thirty_two_bit_arm() -> str:
    """'armv7l' and the like, or '' on any other system. A Pi 4 running the 32-bit OS may run a
    64-bit kernel (`uname -m` says aarch64): Python's own pointer size tells."""
    machine = platform.machine().lower()
    if machine.startswith("arm"):
        return machine
    if machine == "aarch64" and struct.calcsize("P") == 4:
        return "armhf userland on an aarch64 kernel"
    return ""


if thirty_two_bit_arm():
    sys.exit("error: " + REFUSAL.format(arch=thirty_two_bit_arm()))
setup()
