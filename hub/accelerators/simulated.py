"""A stand-in accelerator for tests of the fallback paths, on machines with no accelerator.

It runs the model's CPU int8 file in a real interpreter (real results, nothing faked) and fails
when a fault is injected, so that "the accelerator broke mid-lesson" can be exercised anywhere.
Only `[testing] simulated_edgetpu = N` creates it; it reports `simulated: true` everywhere, and
the engine treats it like any other accelerator.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .base import OK, Accelerator, AcceleratorUnavailable, Found, Kind

if TYPE_CHECKING:
    from ..config import Config
    from ..manifest import ModelSpec
    from ..runtime.litert import Runtime


@dataclass
class FaultPlan:
    """What an injected fault does to the stand-in (POST /api/testing/faults)."""

    gone: bool = False  # every invoke and every reopen fails, like an unplugged USB stick
    fail_next: int = 0  # the next N invokes fail, then it works again
    hang: bool = False  # invokes block (a wedged USB transfer) until the fault is lifted


class SimulatedAccelerator(Accelerator):
    kind = "simulated"
    simulated = True

    def __init__(self, index: int, runtime: "Runtime", probe_interval_s: float) -> None:
        super().__init__(f"sim:{index}", runtime)
        self.probe_interval_s = probe_interval_s
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

    def accepts(self, spec: "ModelSpec") -> bool:
        return "cpu" in spec.serving_variants

    def check(self) -> None:
        if self.faults.gone:
            raise AcceleratorUnavailable("simulated device is gone (injected fault)")

    def open_interpreter(self, content: dict[str, bytes]) -> Any:
        self.check()
        interpreter = self.runtime.Interpreter(model_content=content["cpu"], num_threads=1)
        interpreter.allocate_tensors()
        return interpreter

    def before_invoke(self) -> None:
        while self.faults.hang:  # stuck like a wedged device: only the watchdog notices
            time.sleep(0.05)
        with self._fault_lock:
            if self.faults.gone:
                raise RuntimeError("simulated accelerator is gone (injected fault)")
            if self.faults.fail_next > 0:
                self.faults.fail_next -= 1
                raise RuntimeError("simulated accelerator invoke failed (injected fault)")


def discover(config: "Config", runtime: "Runtime") -> Found:
    found = [SimulatedAccelerator(i, runtime, config.testing.probe_interval_s)
             for i in range(config.testing.simulated_edgetpu)]
    for acc in found:
        acc.set_state(OK)
    return Found(found)


KIND = Kind("simulated", discover, title="simulated accelerator")
