"""Placement: where a model runs. Claim an accelerator, fall back to the CPU, and return.

A model runs on one placement at a time: an accelerator (one worker, one device) or the CPU
(`cpu_workers` workers). When the device fails mid-lesson, the failing job goes back on the
queue, CPU workers start, and a background thread waits for the device (or another that runs
the model) and moves the model back. A reload hands the device over to the new engine
(`hand_over`) so a replaced model keeps its accelerator. Placement never names a kind of device.
"""
from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

from ..accelerators import AcceleratorUnavailable, roles
from ..errors import BackendUnavailable
from .execution import CPU, Executor, Worker

if TYPE_CHECKING:
    from ..accelerators import Accelerator, AcceleratorPool
    from ..loader import LoadedModel
    from ..runtime.litert import Runtime

log = logging.getLogger(__name__)
OPEN_ERRORS = (RuntimeError, ValueError, OSError)  # what opening an interpreter on a device raises


@dataclass(frozen=True)
class EngineSettings:
    cpu_workers: int
    cpu_threads: int
    queue_size: int


class Placement:
    def __init__(self, model: "LoadedModel", runtime: "Runtime", pool: "AcceleratorPool",
                 settings: EngineSettings, executor: Executor, publish: Callable[[str, dict], None]) -> None:
        self.spec, self.content = model.spec, model.content
        self.runtime, self.pool, self.settings, self.executor = runtime, pool, settings, executor
        self.publish = publish
        self.accelerator: Accelerator | None = None  # owned by this model (it may be failed)
        self._handed_over: Accelerator | None = None  # given to the engine replacing this one (a reload)
        self.reason = ""  # why the model is not on an accelerator, when one could run it
        self.fallbacks = 0
        self.recoveries = 0
        self._lock = threading.RLock()
        self._stopped = threading.Event()
        self._waiter: threading.Thread | None = None

    @property
    def name(self) -> str:
        return self.spec.name

    # ---- start ---------------------------------------------------------------------------------------
    def start(self, previous: "Placement | None" = None) -> None:
        """On a free accelerator that runs the model (or the one `previous` hands over), else the CPU."""
        acc = self.pool.claim(self.spec) or (previous.hand_over(self) if previous else None)
        with self._lock:
            self.accelerator = acc
        if acc is not None and self._try(acc):
            return
        compiled = [role for role in self.spec.serving_variants if role != CPU]
        if acc is None and (compiled or self.pool.could_serve(self.spec)):
            self.reason = self.pool.why_not(self.spec)
        if CPU not in self.spec.serving_variants:
            self.stop()
            kind = roles()[compiled[0]]
            file_name = self.spec.serving_variants[compiled[0]].path.name
            raise BackendUnavailable(
                f"{self.name} is compiled for the {kind.title} only and none here can run it ({self.reason}); "
                f"put its CPU version ({file_name.replace(kind.file_suffix, '')}) beside it", model=self.name)
        self._start_cpu()
        if self.pool.could_serve(self.spec):
            self._wait_for_device()

    def hand_over(self, successor: "Placement") -> "Accelerator | None":
        """Give our device to the engine replacing us (a reload), if it runs the new model. Our
        worker keeps draining what we accepted; our stop() then leaves the device alone."""
        with self._lock:
            acc = self.accelerator
            if acc is None or self.executor.backend != acc.kind or not acc.accepts(successor.spec):
                return None
            self.accelerator = None
            self._handed_over = acc  # still ours to report until the registry swaps in the successor
            return acc

    def _try(self, acc: "Accelerator") -> bool:
        """Open the model on `acc` and move every request there; False (and why) if it cannot."""
        try:
            worker = Worker(self.executor, acc.kind, acc.open_interpreter(self.content), acc)
            worker.warm_up()
        except (*OPEN_ERRORS, AcceleratorUnavailable) as exc:
            acc.set_state("failed", str(exc))
            self.reason = f"{acc.name} failed: {exc}"
            return False
        acc.set_state("ok")
        with self._lock:
            if self._stopped.is_set() or self.accelerator is not acc:
                return False  # stopped (or handed over) while we opened it
            self.executor.replace([worker])
            self.reason = ""
        log.info("%s: serving on %s %s", self.name, acc.kind, acc.name,
                 extra={"fields": {"MODEL": self.name, "BACKEND": acc.kind, "DEVICE": acc.name}})
        return True

    def _start_cpu(self) -> None:
        workers = []
        for _ in range(self.settings.cpu_workers):
            interpreter = self.runtime.Interpreter(model_content=self.content[CPU],
                                                   num_threads=self.settings.cpu_threads)
            interpreter.allocate_tensors()
            workers.append(Worker(self.executor, CPU, interpreter))
        self.executor.replace(workers)
        log.info("%s: serving on the CPU with %d worker(s)%s", self.name, len(workers),
                 f" ({self.reason})" if self.reason else "", extra={"fields": {"MODEL": self.name, "BACKEND": CPU}})

    # ---- fall back and return ----------------------------------------------------------------------
    def fall_back(self, worker: Worker, exc: Exception) -> bool:
        """The worker's device failed mid-run: move the model to the CPU. True: retry the job."""
        acc = worker.accelerator
        assert acc is not None
        with self._lock:
            if worker not in self.executor.workers():
                return bool(self.executor.workers())  # another job already moved the model
            acc.set_state("failed", str(exc))
            self.reason = f"{acc.name} failed: {exc}"
            self.fallbacks += 1
            log.warning("%s: %s %s failed mid-run (%s); moving to the CPU", self.name, acc.kind, acc.name, exc,
                        extra={"fields": {"MODEL": self.name, "BACKEND": CPU, "DEVICE": acc.name}})
            if CPU in self.spec.serving_variants:
                self._start_cpu()  # one swap: never a moment without workers, so no request is refused
            else:
                self.executor.retire(worker)
        self.publish("fallback", {"model": self.name, "device": acc.name, "reason": str(exc)})
        self._wait_for_device()
        return bool(self.executor.workers())

    def _wait_for_device(self) -> None:
        with self._lock:
            if self._stopped.is_set() or (self._waiter and self._waiter.is_alive()):
                return
            self._waiter = threading.Thread(target=self._wait_loop, name=f"{self.name}-placement", daemon=True)
            self._waiter.start()

    def _interval(self) -> float:
        devices = [acc for acc in self.pool.accelerators if acc.accepts(self.spec)]
        return min((getattr(acc, "probe_interval_s", 5.0) for acc in devices), default=5.0)

    def _wait_loop(self) -> None:
        """Until the model is on a device: wake on a pool change or every probe interval and try."""
        while True:
            self.pool.wait(self._interval())
            with self._lock:
                if self._stopped.is_set():
                    return
                if self.accelerator is None:
                    self.accelerator = self.pool.claim(self.spec)
                acc = self.accelerator
            if acc is None:
                continue
            if self._try(acc):
                self.recoveries += 1
                log.info("%s: back on %s %s", self.name, acc.kind, acc.name)
                self.publish("recovered", {"model": self.name, "device": acc.name})
                return

    # ---- stop ----------------------------------------------------------------------------------------
    def stop(self) -> None:
        """No more claims; the device (unless handed over) goes back to the pool."""
        with self._lock:
            self._stopped.set()
            acc, self.accelerator = self.accelerator, None
        if acc is not None:
            self.pool.release(acc)
        else:
            self.pool.notify()  # wake our waiter so that it ends

    def status(self) -> dict:
        backend = self.executor.backend
        with self._lock:
            acc = self.accelerator if self.accelerator is not None else self._handed_over
        return {
            "backend": backend,
            "device": acc.name if acc is not None and backend == acc.kind else None,
            "accelerator_reason": self.reason or None,
            "fallbacks": self.fallbacks,
            "recoveries": self.recoveries,
        }
