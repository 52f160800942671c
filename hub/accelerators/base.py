"""What every accelerator is to the engine: a device that can run some models, and its health.

An accelerator module (one per kind of hardware: `edgetpu.py`, ...) defines an `Accelerator`
subclass and registers a `Kind` in `hub/accelerators/__init__.py`. The engine only ever asks
these questions: can you run this model (`accepts`), open an interpreter for it, are you healthy
(`check`), and what is your state. It never names a kind of hardware.
"""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable

from ..errors import HubError

if TYPE_CHECKING:
    from ..config import Config
    from ..manifest import ModelSpec
    from ..runtime.litert import Runtime

log = logging.getLogger(__name__)
OK, UNKNOWN, UNAVAILABLE, FAILED = "ok", "unknown", "unavailable", "failed"


class AcceleratorUnavailable(HubError):
    """The device cannot be used now: its runtime library is missing, it is gone or owned elsewhere."""

    status = 503
    code = "accelerator_unavailable"


class Accelerator:
    """One device. Subclasses say which models it runs and how to open an interpreter on it."""

    kind = ""  # the registered Kind's name; also the `backend` a model on it reports
    simulated = False

    def __init__(self, name: str, runtime: "Runtime") -> None:
        self.name = name  # "usb:0", "pci:0", "sim:0": unique in this hub
        self.runtime = runtime
        self.state = UNKNOWN
        self.reason = ""
        self.owner: str | None = None  # the model using it (one model per device)
        self.changed_at = time.time()
        self._state_lock = threading.Lock()

    # ---- what a kind implements -------------------------------------------------------------
    def accepts(self, spec: "ModelSpec") -> bool:
        """Whether this device can run the model (it has the file this device needs)."""
        raise NotImplementedError

    def check(self) -> None:
        """A health probe: raise AcceleratorUnavailable when the device cannot be used."""
        raise NotImplementedError

    def open_interpreter(self, content: dict[str, bytes]) -> Any:
        """An allocated interpreter for the model whose verified files (role -> bytes) are given."""
        raise NotImplementedError

    def before_invoke(self) -> None:
        """Run by the worker before each invoke; most devices have nothing to check."""

    def details(self) -> dict:
        """Extra facts for the status page (a USB link speed, ...)."""
        return {}

    # ---- shared ------------------------------------------------------------------------------
    def set_state(self, state: str, reason: str = "") -> None:
        with self._state_lock:
            if (state, reason) != (self.state, self.reason):
                self.state, self.reason, self.changed_at = state, reason, time.time()
                log.log(logging.INFO if state == OK else logging.WARNING, "accelerator %s (%s): %s%s",
                        self.name, self.kind, state, f" ({reason})" if reason else "")

    def to_json(self) -> dict:
        return {"device": self.name, "kind": self.kind, "state": self.state, "reason": self.reason or None,
                "model": self.owner, "simulated": self.simulated, **self.details()}


@dataclass(frozen=True)
class Found:
    """What a kind's discovery found: its devices, and a note when there are none (said in status)."""

    accelerators: list[Accelerator]
    note: str = ""


@dataclass(frozen=True)
class Kind:
    """One kind of accelerator, as registered. `role` is the model-folder variant it runs (the
    manifest's `variants.<role>`, a drop-in's `X<file_suffix>.tflite`); `compiled_marker` is what
    only a file compiled for it contains. A kind that runs the plain CPU file (the simulated one)
    has no role of its own."""

    name: str
    discover: Callable[["Config", "Runtime"], Found]
    title: str = ""  # what people read: "Edge TPU"
    role: str | None = None
    file_suffix: str = ""
    compiled_marker: bytes = b""
    config_section: tuple[str, type] | None = None  # ("edgetpu", EdgeTpuConfig): a [section] in hub.toml
    config_rules: dict = field(default_factory=dict)  # "section.key" -> (check, what to use instead)
    config_lists: tuple[str, ...] = ()  # "section.key"s that take a list ("usb:0, pci:0" in the environment)
    doctor: Callable[["Config"], list] | None = None  # `classroom-hub doctor` checks of its own
