"""What machine this is, in the words a school's IT person would use: the board (a Raspberry Pi's
own name for itself), else the CPU's model, and the architecture Python runs as; and how it is
doing: the CPU's temperature and the Pi firmware's throttling flags (`classroom-hub doctor` and
`classroom-hub bench` both read them here)."""
from __future__ import annotations

import platform
import shutil
import subprocess
from dataclasses import dataclass
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


# `vcgencmd get_throttled`: what each bit of the firmware's answer means.
THROTTLE_BITS = {0x1: "under-voltage now", 0x2: "ARM frequency capped now", 0x4: "throttled now",
                 0x8: "soft temperature limit now", 0x10000: "under-voltage since boot",
                 0x20000: "frequency capped since boot", 0x40000: "throttled since boot",
                 0x80000: "soft temperature limit since boot"}


@dataclass(frozen=True)
class Throttled:
    value: int | None  # the firmware's answer, None when it could not be read
    problem: str = ""  # why it could not: "did not answer (...)", "failed (its last line)"

    @property
    def flags(self) -> list[str]:
        return [text for bit, text in THROTTLE_BITS.items() if self.value and self.value & bit]


def throttled() -> Throttled | None:
    """The Pi firmware's throttling flags; None where there is no vcgencmd (not a Raspberry Pi)."""
    vcgencmd = shutil.which("vcgencmd")
    if not vcgencmd:
        return None
    try:
        done = subprocess.run([vcgencmd, "get_throttled"], capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return Throttled(None, f"did not answer ({exc})")
    try:
        return Throttled(int(done.stdout.strip().split("=")[-1], 16))
    except ValueError:
        said = (done.stderr or done.stdout).strip().splitlines()
        return Throttled(None, f"failed ({said[-1] if said else f'exit code {done.returncode}'})")


def cpu_celsius() -> float | None:
    """The CPU's temperature: the `cpu-thermal` zone (a Pi's), else the first zone; None without one."""
    zones = sorted(Path("/sys/class/thermal").glob("thermal_zone*"))
    cpu_zone = next((z for z in zones if _text(z / "type") == "cpu-thermal"), zones[0] if zones else None)
    raw = _text(cpu_zone / "temp") if cpu_zone else ""
    return round(int(raw) / 1000, 1) if raw.lstrip("-").isdigit() else None


def _text(path: Path) -> str:
    try:
        return path.read_text().strip()
    except OSError:
        return ""
