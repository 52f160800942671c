"""What machine this is, in the words a school's IT person would use: the board (a Raspberry Pi's
own name for itself), else the CPU's model, and the architecture Python runs as."""
from __future__ import annotations

import platform
from pathlib import Path

# ARM's part numbers (the "CPU part" line of /proc/cpuinfo) for the cores of the Pis and their kin.
ARM_PARTS = {"0xd03": "Cortex-A53", "0xd04": "Cortex-A35", "0xd07": "Cortex-A57", "0xd08": "Cortex-A72",
             "0xd0b": "Cortex-A76", "0xc07": "Cortex-A7", "0xb76": "ARM1176"}


def _cpuinfo() -> dict[str, str]:
    try:
        text = Path("/proc/cpuinfo").read_text(errors="replace")
    except OSError:
        return {}
    fields: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip() not in fields:
            fields[key.strip()] = value.strip()
    return fields


def board() -> str:
    """The board's name ("Raspberry Pi 4 Model B Rev 1.4"), or "" when the machine does not say."""
    try:
        return Path("/proc/device-tree/model").read_bytes().rstrip(b"\0").decode(errors="replace").strip()
    except OSError:
        return _cpuinfo().get("Model", "")


def cpu() -> str:
    """The CPU's model: "Intel(R) Xeon(R) ...", "Cortex-A72", or the architecture alone."""
    info = _cpuinfo()
    if info.get("model name"):
        return info["model name"]
    part = info.get("CPU part", "").lower()
    return ARM_PARTS.get(part, f"ARM part {part}" if part else platform.machine())


def describe() -> str:
    """One line: "aarch64, Raspberry Pi 4 Model B Rev 1.4, Cortex-A72"."""
    arch = platform.machine()
    return ", ".join([arch] + [x for x in (board(), cpu()) if x and x != arch])
