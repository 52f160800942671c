"""Google Coral Edge TPU (USB, M.2, PCIe): find the devices, load the delegate, run `_edgetpu` files.

The delegate comes from the runtime's own `load_delegate` (never from the unrelated PyPI
package called pycoral). Google's pycoral is used only to list devices, and only when
`pycoral.utils.edgetpu` imports. One process owns each device (an flock per device).
"""
from __future__ import annotations

import fcntl
import glob
import logging
import os
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .base import OK, UNAVAILABLE, Accelerator, AcceleratorUnavailable, Found, Kind

if TYPE_CHECKING:
    from ..config import Config
    from ..manifest import ModelSpec
    from ..runtime.litert import Runtime

log = logging.getLogger(__name__)

ROLE = "edgetpu"
# The Coral USB Accelerator enumerates as 1a6e:089a (Global Unichip) until its firmware is
# loaded by the first use, then as 18d1:9302 (Google).
USB_IDS = {("1a6e", "089a"), ("18d1", "9302")}
SYSFS_USB = Path("/sys/bus/usb/devices")
EDGETPU_CUSTOM_OP = b"edgetpu-custom-op"


@dataclass(frozen=True)
class EdgeTpuConfig:
    enabled: bool = True
    devices: Any = "auto"  # "auto" or a list such as ["usb:0", "pci:0"]
    library: str = "libedgetpu.so.1"
    probe_interval_s: float = 5.0  # how often a failed or busy accelerator is tried again


def is_device_name(name: object) -> bool:
    if not isinstance(name, str) or ":" not in name:
        return False
    kind, _, index = name.partition(":")
    return kind in {"usb", "pci"} and index.isdigit()


RULES = {
    "edgetpu.devices": (
        lambda v: v == "auto" or (isinstance(v, list) and all(is_device_name(d) for d in v)),
        '"auto", or a list of device names like ["usb:0", "pci:0"]',
    ),
    "edgetpu.probe_interval_s": (lambda v: 0.1 <= v <= 3600, "seconds from 0.1 to 3600"),
}


def _quiet_failed_delegate_hook(default=sys.unraisablehook):
    """LiteRT's Delegate.__del__ raises AttributeError after a failed load; only noise."""

    def hook(unraisable):
        if unraisable.exc_type is AttributeError and "Delegate.__del__" in repr(unraisable.object):
            return
        default(unraisable)

    return hook


sys.unraisablehook = _quiet_failed_delegate_hook()


@dataclass(frozen=True)
class TpuDevice:
    name: str  # "usb:0", "pci:0"; what load_delegate's "device" option takes
    kind: str  # "usb" or "pci"
    path: str = ""  # sysfs or /dev path, for the doctor and the logs
    usb_speed_mbps: int | None = None  # 480 = USB 2 (slow), 5000 = USB 3


def _read(path: Path) -> str:
    try:
        return path.read_text().strip()
    except OSError:
        return ""


def _list_with_pycoral() -> list[TpuDevice] | None:
    try:
        from pycoral.utils.edgetpu import list_edge_tpus  # Google's pycoral only
    except ImportError:
        return None
    devices, counts = [], {"usb": 0, "pci": 0}
    for found in list_edge_tpus():
        kind = found.get("type", "usb")
        devices.append(TpuDevice(f"{kind}:{counts[kind]}", kind, found.get("path", "")))
        counts[kind] += 1
    return devices


def _list_from_sysfs() -> list[TpuDevice]:
    devices = []
    for entry in sorted(SYSFS_USB.glob("*")):
        ids = (_read(entry / "idVendor"), _read(entry / "idProduct"))
        if ids in USB_IDS:
            speed = _read(entry / "speed")
            devices.append(
                TpuDevice(f"usb:{len(devices)}", "usb", str(entry), int(speed) if speed.isdigit() else None)
            )
    for index, dev in enumerate(sorted(glob.glob("/dev/apex_*"))):
        devices.append(TpuDevice(f"pci:{index}", "pci", dev))
    return devices


def discover_devices(configured: Any) -> list[TpuDevice]:
    """Devices named in the config, or every Edge TPU this machine shows when it says "auto"."""
    if configured != "auto":
        return [TpuDevice(name, name.split(":")[0]) for name in configured]
    listed = _list_with_pycoral()
    return listed if listed is not None else _list_from_sysfs()


def load_edgetpu_delegate(runtime: "Runtime", library: str, options: dict | None = None) -> Any:
    """The runtime's own load_delegate; OSError (no libedgetpu) or ValueError become a reason."""
    try:
        return runtime.load_delegate(library, options or {})
    except (OSError, ValueError, RuntimeError) as exc:
        raise AcceleratorUnavailable(f"cannot load the Edge TPU delegate {library}: {exc}") from None


class DeviceLock:
    """One hub process owns each TPU: an flock per device, released when the process dies."""

    def __init__(self, device: TpuDevice, lock_dir: str | None = None) -> None:
        safe = device.name.replace(":", "-")
        self.path = Path(lock_dir or tempfile.gettempdir()) / f"classroom-hub-edgetpu-{safe}.lock"
        self._fh = None

    def acquire(self) -> None:
        fh = open(self.path, "a+")
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            owner = fh.read().strip() or "unknown"
            fh.close()
            raise AcceleratorUnavailable(f"owned by another process (pid {owner})") from None
        fh.seek(0)
        fh.truncate()
        fh.write(str(os.getpid()))
        fh.flush()
        self._fh = fh

    def release(self) -> None:
        if self._fh is not None:
            fcntl.flock(self._fh, fcntl.LOCK_UN)
            self._fh.close()
            self._fh = None


class EdgeTpu(Accelerator):
    kind = "edgetpu"

    def __init__(self, device: TpuDevice, runtime: "Runtime", library: str, probe_interval_s: float) -> None:
        super().__init__(device.name, runtime)
        self.device, self.library, self.probe_interval_s = device, library, probe_interval_s
        self.lock = DeviceLock(device)

    def accepts(self, spec: "ModelSpec") -> bool:
        return ROLE in spec.serving_variants

    def _delegate(self) -> Any:
        return load_edgetpu_delegate(self.runtime, self.library, {"device": self.name})

    def check(self) -> None:
        """Load the delegate once: proves the library is installed and the device answers."""
        self._delegate()

    def open_interpreter(self, content: dict[str, bytes]) -> Any:
        interpreter = self.runtime.Interpreter(model_content=content[ROLE], experimental_delegates=[self._delegate()])
        interpreter.allocate_tensors()
        return interpreter

    def close(self) -> None:
        self.lock.release()

    def details(self) -> dict:
        return {"usb_speed_mbps": self.device.usb_speed_mbps}


EDGETPU_RUNTIME_FIX = (
    "install the Edge TPU runtime: add Coral's apt repository (docs/INSTALL.md), "
    "sudo apt install libedgetpu1-std, then unplug and replug the USB Accelerator")


def doctor(config: "Config") -> list:
    """`classroom-hub doctor`'s lines for the Edge TPU: found, runtime installed, USB speed, owner."""
    from ..doctor import Check, _hub_running
    from ..runtime.litert import select_runtime

    if not config.edgetpu.enabled:
        return [Check("INFO", "edgetpu", "turned off in the config ([edgetpu] enabled = false)")]
    devices = discover_devices(config.edgetpu.devices)
    if not devices:
        return [Check("WARN", "edgetpu", "no Edge TPU found: every model runs on the CPU (slower, but it works)",
                      "plug the Coral USB Accelerator into a blue USB 3 port, or fit the M.2/PCIe card; "
                      "then " + EDGETPU_RUNTIME_FIX)]
    out = []
    ours = None  # whether the running hub holds a locked TPU: asked only if one is locked
    try:
        load_edgetpu_delegate(select_runtime(), config.edgetpu.library, {"device": devices[0].name})
        runtime_ok = True
    except AcceleratorUnavailable as exc:
        runtime_ok = False
        out.append(Check("FAIL", "edgetpu", f"{len(devices)} Edge TPU(s) found but {exc}", EDGETPU_RUNTIME_FIX))
    for device in devices:
        if device.kind == "usb" and device.usb_speed_mbps is not None and device.usb_speed_mbps < 5000:
            out.append(Check("WARN", "edgetpu", f"{device.name} is on a USB 2 link ({device.usb_speed_mbps} Mbit/s): "
                             "several times slower", "use a blue USB 3 port and the cable that came with it"))
        lock = DeviceLock(device)
        try:
            lock.acquire()
            lock.release()
            if runtime_ok:
                out.append(Check("OK", "edgetpu", f"{device.name} ({device.kind}) ready"))
        except AcceleratorUnavailable as exc:
            ours = _hub_running(config) if ours is None else ours
            out.append(Check("INFO" if ours else "WARN", "edgetpu", f"{device.name} is {exc}",
                             "" if ours else "stop the other program that uses the Edge TPU"))
    return out


def discover(config: "Config", runtime: "Runtime") -> Found:
    """Every Edge TPU, each checked once; says clearly why there is none."""
    settings: EdgeTpuConfig = config.edgetpu
    if not settings.enabled:
        return Found([], "Edge TPU disabled in the config ([edgetpu] enabled = false)")
    found = [EdgeTpu(d, runtime, settings.library, settings.probe_interval_s)
             for d in discover_devices(settings.devices)]
    note = ""
    for acc in found:
        try:
            acc.lock.acquire()
            acc.check()
        except AcceleratorUnavailable as exc:
            acc.set_state(UNAVAILABLE, str(exc))
            note = note or str(exc)
        else:
            acc.set_state(OK)
    if not found:
        try:  # is the runtime at least installed? Says which of the two is missing
            load_edgetpu_delegate(runtime, settings.library)
            note = "no Edge TPU found (the Edge TPU runtime is installed)"
        except AcceleratorUnavailable as exc:
            note = f"no Edge TPU found; {exc}"
        log.info("%s", note)
    return Found(found, note)


KIND = Kind("edgetpu", discover, title="Edge TPU", role=ROLE, file_suffix="_edgetpu", compiled_marker=EDGETPU_CUSTOM_OP,
            config_section=("edgetpu", EdgeTpuConfig), config_rules=RULES,
            config_lists=("edgetpu.devices",), doctor=doctor)
