"""Edge TPU devices: find them, open an interpreter on one, and know when one is gone.

The delegate comes from the runtime's own `load_delegate` (never from the unrelated PyPI
package called pycoral). Google's pycoral is used only to list devices, and only when
`pycoral.utils.edgetpu` imports.
"""
from __future__ import annotations

import fcntl
import glob
import logging
import os
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import HubError
from .litert import Runtime

log = logging.getLogger(__name__)

# The Coral USB Accelerator enumerates as 1a6e:089a (Global Unichip) until its firmware is
# loaded by the first use, then as 18d1:9302 (Google).
USB_IDS = {("1a6e", "089a"), ("18d1", "9302")}
SYSFS_USB = Path("/sys/bus/usb/devices")
EDGETPU_CUSTOM_OP = b"edgetpu-custom-op"


def _quiet_failed_delegate_hook(default=sys.unraisablehook):
    """LiteRT's Delegate.__del__ raises AttributeError after a failed load; only noise."""

    def hook(unraisable):
        if unraisable.exc_type is AttributeError and "Delegate.__del__" in repr(unraisable.object):
            return
        default(unraisable)

    return hook


sys.unraisablehook = _quiet_failed_delegate_hook()


class TpuUnavailable(HubError):
    status = 503
    code = "edgetpu_unavailable"


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


def load_edgetpu_delegate(runtime: Runtime, library: str, options: dict | None = None) -> Any:
    """The runtime's own load_delegate; OSError (no libedgetpu) or ValueError become a reason."""
    try:
        return runtime.load_delegate(library, options or {})
    except (OSError, ValueError, RuntimeError) as exc:
        raise TpuUnavailable(f"cannot load the Edge TPU delegate {library}: {exc}") from None


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
            raise TpuUnavailable(f"owned by another process (pid {owner})") from None
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


@dataclass
class FaultPlan:
    """What an injected fault does to a stand-in accelerator (tests only)."""

    gone: bool = False  # every invoke and every reopen fails, like an unplugged USB stick
    fail_next: int = 0  # the next N invokes fail, then it works again
    hang: bool = False  # invokes block (a wedged USB transfer) until the fault is lifted


class Accelerator:
    """One Edge TPU as the engine sees it: open an interpreter on it, and a health state."""

    simulated = False

    def __init__(self, device: TpuDevice, runtime: Runtime, library: str) -> None:
        self.device = device
        self.runtime = runtime
        self.library = library
        self.state = "unknown"  # "ok", "unavailable", "failed"
        self.reason = ""
        self.owner: str | None = None  # the model using it
        self.changed_at = time.time()
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        return self.device.name

    def set_state(self, state: str, reason: str = "") -> None:
        with self._lock:
            if (state, reason) != (self.state, self.reason):
                self.state, self.reason, self.changed_at = state, reason, time.time()
                log.log(
                    logging.INFO if state == "ok" else logging.WARNING,
                    "Edge TPU %s: %s%s", self.name, state, f" ({reason})" if reason else "",
                )

    def _delegate(self) -> Any:
        return load_edgetpu_delegate(self.runtime, self.library, {"device": self.name})

    def check(self) -> None:
        """Load the delegate once: proves the library is installed and the device answers."""
        self._delegate()

    def open_interpreter(self, edgetpu_model: bytes | None, cpu_model: bytes | None) -> Any:
        interpreter = self.runtime.Interpreter(
            model_content=edgetpu_model, experimental_delegates=[self._delegate()]
        )
        interpreter.allocate_tensors()
        return interpreter

    def before_invoke(self) -> None:
        """Hook run by the worker before each invoke; real devices have nothing to check."""

    def to_json(self) -> dict:
        return {
            "device": self.name,
            "kind": self.device.kind,
            "state": self.state,
            "reason": self.reason or None,
            "model": self.owner,
            "simulated": self.simulated,
            "usb_speed_mbps": self.device.usb_speed_mbps,
        }


class SimulatedAccelerator(Accelerator):
    """A stand-in for an absent Edge TPU, for tests of the fallback paths.

    It runs the model's CPU int8 file in a real interpreter (real results, nothing faked) and
    fails when a fault is injected, so that "the TPU broke mid-lesson" can be exercised on a
    machine with no TPU. Only `[testing] simulated_edgetpu` creates it; it reports
    `simulated: true` everywhere.
    """

    simulated = True

    def __init__(self, index: int, runtime: Runtime) -> None:
        super().__init__(TpuDevice(f"sim:{index}", "sim"), runtime, library="")
        self.faults = FaultPlan()
        self._fault_lock = threading.Lock()

    def inject(self, gone: bool | None = None, fail_next: int | None = None, hang: bool | None = None) -> FaultPlan:
        with self._fault_lock:
            if gone is not None:
                self.faults.gone = gone
            if fail_next is not None:
                self.faults.fail_next = fail_next
            if hang is not None:
                self.faults.hang = hang
            return FaultPlan(self.faults.gone, self.faults.fail_next, self.faults.hang)

    def check(self) -> None:
        if self.faults.gone:
            raise TpuUnavailable("simulated device is gone (injected fault)")

    def open_interpreter(self, edgetpu_model: bytes | None, cpu_model: bytes | None) -> Any:
        self.check()
        if cpu_model is None:
            raise TpuUnavailable("the simulated accelerator needs the model's CPU int8 file")
        interpreter = self.runtime.Interpreter(model_content=cpu_model, num_threads=1)
        interpreter.allocate_tensors()
        return interpreter

    def before_invoke(self) -> None:
        while self.faults.hang:  # stuck like a wedged device: only the watchdog notices
            time.sleep(0.05)
        with self._fault_lock:
            if self.faults.gone:
                raise RuntimeError("simulated Edge TPU is gone (injected fault)")
            if self.faults.fail_next > 0:
                self.faults.fail_next -= 1
                raise RuntimeError("simulated Edge TPU invoke failed (injected fault)")


@dataclass
class TpuPool:
    """Every accelerator of this hub and which model holds each: one model per TPU."""

    accelerators: list[Accelerator] = field(default_factory=list)
    runtime_error: str = ""  # why the Edge TPU runtime itself is missing, if it is
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _locks: dict[str, DeviceLock] = field(default_factory=dict)

    @property
    def has_simulated(self) -> bool:
        return any(acc.simulated for acc in self.accelerators)

    def claim(self, model: str, simulated_only: bool = False) -> Accelerator | None:
        """A free, healthy accelerator for `model`, or None (the model then runs on the CPU)."""
        with self._lock:
            for acc in self.accelerators:
                if acc.owner is None and acc.state == "ok" and (acc.simulated or not simulated_only):
                    acc.owner = model
                    return acc
        return None

    def release(self, acc: Accelerator) -> None:
        with self._lock:
            acc.owner = None

    def hold_device_locks(self) -> None:
        for acc in self.accelerators:
            if acc.simulated:
                continue
            lock = DeviceLock(acc.device)
            try:
                lock.acquire()
            except TpuUnavailable as exc:
                acc.set_state("unavailable", str(exc))
                continue
            self._locks[acc.name] = lock

    def close(self) -> None:
        for lock in self._locks.values():
            lock.release()
        self._locks.clear()

    def to_json(self) -> dict:
        return {
            "devices": [acc.to_json() for acc in self.accelerators],
            "runtime_error": self.runtime_error or None,
        }


def build_pool(runtime: Runtime, enabled: bool, devices: Any, library: str, simulated: int) -> TpuPool:
    """Discover and check every Edge TPU once at start-up; say clearly why there is none."""
    pool = TpuPool()
    if not enabled:
        pool.runtime_error = "Edge TPU disabled in the config ([edgetpu] enabled = false)"
    else:
        found = discover_devices(devices)
        pool.accelerators = [Accelerator(d, runtime, library) for d in found]
        pool.hold_device_locks()
        for acc in pool.accelerators:
            if acc.state == "unavailable":
                continue
            try:
                acc.check()
            except TpuUnavailable as exc:
                acc.set_state("unavailable", str(exc))
                pool.runtime_error = pool.runtime_error or str(exc)
            else:
                acc.set_state("ok")
        if not found:
            try:  # is the runtime at least installed? Says which of the two is missing
                load_edgetpu_delegate(runtime, library)
                pool.runtime_error = "no Edge TPU found (the Edge TPU runtime is installed)"
            except TpuUnavailable as exc:
                pool.runtime_error = f"no Edge TPU found; {exc}"
            log.info("%s: serving every model on the CPU", pool.runtime_error)
    pool.accelerators += [SimulatedAccelerator(i, runtime) for i in range(simulated)]
    for acc in pool.accelerators:
        if acc.simulated:
            acc.set_state("ok")
    return pool
