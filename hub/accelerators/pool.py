"""Every accelerator of this hub and which model holds each: one model per device.

Placement (hub/engine/placement.py) claims a free, healthy device that accepts the model,
releases it when the model stops, and waits on the pool for a change (a device released or
mended) instead of polling blindly.
"""
from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from .base import FAILED, OK, Accelerator, AcceleratorUnavailable

if TYPE_CHECKING:
    from ..manifest import ModelSpec


class AcceleratorPool:
    def __init__(self, accelerators: list[Accelerator], notes: list[str]) -> None:
        self.accelerators = accelerators
        self.notes = notes  # why a kind found nothing ("no Edge TPU found; cannot load ...")
        self._changed = threading.Condition()

    def could_serve(self, spec: "ModelSpec") -> bool:
        """Some device here runs this model, free and healthy or not (worth waiting for)."""
        return any(acc.accepts(spec) for acc in self.accelerators)

    def claim(self, spec: "ModelSpec") -> Accelerator | None:
        """A free, healthy device that runs `spec`, now owned by it; None: the model uses the CPU.
        A free device that failed is checked again first (its last owner may have stopped
        waiting for it)."""
        with self._changed:
            for acc in self.accelerators:
                if acc.owner is None and acc.accepts(spec) and self._healthy(acc):
                    acc.owner = spec.name
                    return acc
        return None

    @staticmethod
    def _healthy(acc: Accelerator) -> bool:
        if acc.state == FAILED:
            try:
                acc.check()
            except AcceleratorUnavailable:
                return False
            acc.set_state(OK)
        return acc.state == OK

    def release(self, acc: Accelerator) -> None:
        with self._changed:
            acc.owner = None
            self._changed.notify_all()

    def notify(self) -> None:
        """Wake every placement waiting for a device (one was mended, or a placement stops)."""
        with self._changed:
            self._changed.notify_all()

    def wait(self, timeout_s: float) -> None:
        with self._changed:
            self._changed.wait(timeout_s)

    def why_not(self, spec: "ModelSpec") -> str:
        """Why `spec` is not on an accelerator, for the model's status."""
        usable = [acc for acc in self.accelerators if acc.accepts(spec)]
        if not usable:
            return "; ".join(self.notes) or "no accelerator here runs this model"
        healthy = [acc for acc in usable if acc.state == OK]
        if healthy and all(acc.owner for acc in healthy):
            return "every accelerator that runs it is in use by another model"
        return "; ".join(f"{acc.name}: {acc.reason}" for acc in usable if acc.reason) or "no accelerator is ready"

    def find(self, name: str) -> Accelerator | None:
        return next((acc for acc in self.accelerators if acc.name == name), None)

    def close(self) -> None:
        for acc in self.accelerators:
            closer = getattr(acc, "close", None)
            if closer:
                closer()

    def to_json(self) -> dict:
        return {"devices": [acc.to_json() for acc in self.accelerators], "notes": self.notes}
