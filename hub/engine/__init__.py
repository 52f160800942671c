"""Run one model: placement (where: an accelerator or the CPU) apart from execution (the queue
and the workers). `ModelEngine` is the one object the registry holds per model."""
from __future__ import annotations

from concurrent.futures import Future
from typing import TYPE_CHECKING, Callable

import numpy as np

from .execution import CPU, EngineClosed, Executor, InvokeResult, Settled, Worker
from .placement import EngineSettings, Placement

if TYPE_CHECKING:
    from ..accelerators import AcceleratorPool
    from ..loader import LoadedModel
    from ..runtime.litert import Runtime


class ModelEngine:
    def __init__(self, model: "LoadedModel", runtime: "Runtime", pool: "AcceleratorPool",
                 settings: EngineSettings, publish: Callable[[str, dict], None] | None = None) -> None:
        self.spec = model.spec
        self.settings = settings
        self.executor = Executor(model.spec.name, settings.queue_size, self._on_failure)
        self.placement = Placement(model, runtime, pool, settings, self.executor,
                                   publish or (lambda kind, data: None))

    def _on_failure(self, worker: Worker, exc: Exception) -> bool:
        return self.placement.fall_back(worker, exc)

    def start(self, previous: "ModelEngine | None" = None) -> None:
        self.placement.start(previous.placement if previous else None)

    def submit(self, inputs: list[np.ndarray]) -> "Future | Settled":
        return self.executor.submit(inputs, lambda: self.placement.reason)

    def drain_and_stop(self, timeout_s: float) -> None:
        """Refuse new work, answer what was accepted (requests in flight succeed), then stop."""
        self.executor.drain(timeout_s)
        self.stop()

    def stop(self) -> None:
        self.placement.stop()
        self.executor.stop()

    def stuck(self, after_s: float) -> list[str]:
        return self.executor.stuck(after_s)

    def status(self) -> dict:
        return {**self.placement.status(), "workers": len(self.executor.workers()),
                "queue_depth": self.executor.queue.qsize(), "queue_size": self.settings.queue_size}


__all__ = ["CPU", "EngineClosed", "EngineSettings", "InvokeResult", "ModelEngine"]
