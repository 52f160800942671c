"""Run one model: a bounded queue, one interpreter per worker thread, Edge TPU with CPU fallback.

An interpreter is not thread-safe, so each worker owns one and nothing else touches it. A
model runs on one placement at a time: its Edge TPU (one worker, one TPU) or the CPU
(`cpu_workers` workers). When the TPU fails mid-lesson the request in flight is put back on
the queue, CPU workers start, and a background thread probes the TPU until it comes back.
"""
from __future__ import annotations

import logging
import math
import queue
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from .errors import BackendUnavailable, InferenceFailed, Overloaded
from .loader import LoadedModel
from .runtime.edgetpu import Accelerator, TpuPool, TpuUnavailable
from .runtime.litert import Runtime

log = logging.getLogger(__name__)

CPU, EDGETPU = "cpu", "edgetpu"
POLL_S = 0.25  # how often an idle worker checks whether it has been retired


@dataclass(frozen=True)
class InvokeResult:
    outputs: list[np.ndarray]
    backend: str
    device: str | None
    inference_ms: float
    queue_ms: float


@dataclass
class Job:
    inputs: list[np.ndarray]
    future: Future = field(default_factory=Future)
    enqueued: float = field(default_factory=time.perf_counter)
    attempts: int = 0


@dataclass
class EngineSettings:
    cpu_workers: int
    cpu_threads: int
    queue_size: int
    probe_interval_s: float


class EngineClosed(BackendUnavailable):
    """The engine was replaced by a reload; the caller retries on the new one."""


class Worker(threading.Thread):
    """Owns one interpreter; takes jobs from the model's queue until retired."""

    def __init__(self, engine: "ModelEngine", backend: str, interpreter: Any,
                 accelerator: Accelerator | None = None) -> None:
        super().__init__(name=f"{engine.spec.name}-{backend}", daemon=True)
        self.engine, self.backend, self.accelerator = engine, backend, accelerator
        self.interpreter = interpreter
        self.input_details = interpreter.get_input_details()
        self.output_details = interpreter.get_output_details()
        self.retired = threading.Event()
        self.beat = time.monotonic()  # the heartbeat: every loop and every job; the watchdog reads it
        self.busy_since: float | None = None

    @property
    def device(self) -> str | None:
        return self.accelerator.name if self.accelerator else None

    def invoke(self, inputs: list[np.ndarray]) -> list[np.ndarray]:
        if self.accelerator is not None:
            self.accelerator.before_invoke()
        for detail, tensor in zip(self.input_details, inputs):
            self.interpreter.set_tensor(detail["index"], tensor)
        self.interpreter.invoke()
        return [self.interpreter.get_tensor(d["index"]) for d in self.output_details]

    def run(self) -> None:
        jobs = self.engine.queue
        while not self.retired.is_set():
            self.beat = time.monotonic()
            try:
                job = jobs.get(timeout=POLL_S)
            except queue.Empty:
                continue
            try:
                if self.retired.is_set():  # retired while waiting: the job belongs to the new placement
                    jobs.put(job)
                    break
                self.busy_since = time.monotonic()
                self.engine.run_job(self, job)
            finally:
                self.busy_since = None
                jobs.task_done()
        self.interpreter = None  # release the arena as soon as the worker is done


class ModelEngine:
    def __init__(self, model: LoadedModel, runtime: Runtime, pool: TpuPool, settings: EngineSettings,
                 on_event: Callable[[str, dict], None] | None = None) -> None:
        self.spec, self.content = model.spec, model.content
        self.runtime, self.pool, self.settings = runtime, pool, settings
        self.queue: queue.Queue[Job] = queue.Queue(maxsize=settings.queue_size)
        self.backend: str | None = None
        self.accelerator: Accelerator | None = None
        self.tpu_reason = ""  # why this model is not on an Edge TPU, when it could be
        self.fallbacks = 0
        self.recoveries = 0
        self.closed = False
        self._workers: list[Worker] = []
        self._lock = threading.RLock()
        self._probe_thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._on_event = on_event or (lambda kind, data: None)
        self._latency_ms = 1.0  # moving average of invoke time, for Retry-After

    # ---- placement ---------------------------------------------------------------------------
    def start(self) -> None:
        """Serve on a free Edge TPU when the model has an _edgetpu file, else on the CPU."""
        variants = self.spec.serving_variants
        if EDGETPU in variants or (CPU in variants and self.pool.has_simulated):
            self.accelerator = self._claim()
            if self.accelerator is None:
                self.tpu_reason = self._no_tpu_reason()
            elif self._try_tpu():
                return
        if CPU not in variants:
            raise BackendUnavailable(
                f"{self.spec.name} is compiled for the Edge TPU only and no Edge TPU can run it "
                f"({self.tpu_reason}); put its CPU version "
                f"({self.spec.variants[EDGETPU].path.name.replace('_edgetpu', '')}) beside it",
                model=self.spec.name,
            )
        self._start_cpu()
        if self.accelerator is not None:
            self._start_probe()

    def _claim(self) -> Accelerator | None:
        """A real TPU needs the compiled file; a simulated one runs the CPU file (tests only)."""
        return self.pool.claim(self.spec.name, simulated_only=EDGETPU not in self.spec.serving_variants)

    def _no_tpu_reason(self) -> str:
        if not self.pool.accelerators:
            return self.pool.runtime_error or "no Edge TPU found"
        healthy = [acc for acc in self.pool.accelerators if acc.state == "ok"]
        if healthy and all(acc.owner for acc in healthy):
            return "every Edge TPU is in use by another model"
        return "; ".join(f"{a.name}: {a.reason}" for a in self.pool.accelerators if a.reason) or "no Edge TPU is ready"

    def _open_tpu(self) -> Worker:
        acc = self.accelerator
        assert acc is not None
        interpreter = acc.open_interpreter(self.content.get(EDGETPU), self.content.get(CPU))
        worker = Worker(self, EDGETPU, interpreter, acc)
        zeros = [np.zeros(d["shape"], d["dtype"]) for d in worker.input_details]
        worker.invoke(zeros)  # a TPU that cannot run one inference is not back
        return worker

    def _try_tpu(self) -> bool:
        acc = self.accelerator
        assert acc is not None
        try:
            worker = self._open_tpu()
        except (TpuUnavailable, RuntimeError, ValueError, OSError) as exc:
            acc.set_state("failed", str(exc))
            self.tpu_reason = f"Edge TPU {acc.name} failed: {exc}"
            return False
        acc.set_state("ok")
        with self._lock:
            old = self._workers
            self._workers = [worker]
            self.backend, self.tpu_reason = EDGETPU, ""
        worker.start()
        for w in old:
            w.retired.set()
        log.info("%s: serving on Edge TPU %s", self.spec.name, acc.name,
                 extra={"fields": {"MODEL": self.spec.name, "BACKEND": "edgetpu", "DEVICE": acc.name}})
        return True

    def _start_cpu(self) -> None:
        workers = []
        for _ in range(self.settings.cpu_workers):
            interpreter = self.runtime.Interpreter(model_content=self.content[CPU], num_threads=self.settings.cpu_threads)
            interpreter.allocate_tensors()
            workers.append(Worker(self, CPU, interpreter))
        with self._lock:
            old = self._workers
            self._workers, self.backend = workers, CPU
        for w in workers:
            w.start()
        for w in old:
            w.retired.set()
        log.info("%s: serving on the CPU with %d worker(s)%s", self.spec.name, len(workers),
                 f" ({self.tpu_reason})" if self.tpu_reason else "",
                 extra={"fields": {"MODEL": self.spec.name, "BACKEND": "cpu"}})

    # ---- fallback and return -------------------------------------------------------------------
    def _fall_back(self, worker: Worker, exc: Exception) -> None:
        with self._lock:
            if self.backend != EDGETPU or worker not in self._workers:
                return  # another job already moved the model
            acc = worker.accelerator
            assert acc is not None
            acc.set_state("failed", str(exc))
            self.tpu_reason = f"Edge TPU {acc.name} failed: {exc}"
            self.fallbacks += 1
            worker.retired.set()
            log.warning("%s: Edge TPU %s failed mid-run (%s); moving to the CPU", self.spec.name, acc.name, exc,
                        extra={"fields": {"MODEL": self.spec.name, "BACKEND": "cpu", "DEVICE": acc.name}})
            if CPU in self.spec.serving_variants:
                self._start_cpu()
            else:
                self._workers, self.backend = [], None
            self._on_event("fallback", {"model": self.spec.name, "device": acc.name, "reason": str(exc)})
        self._start_probe()

    def _start_probe(self) -> None:
        if self._probe_thread and self._probe_thread.is_alive():
            return
        self._probe_thread = threading.Thread(target=self._probe_loop, name=f"{self.spec.name}-tpu-probe", daemon=True)
        self._probe_thread.start()

    def _probe_loop(self) -> None:
        while not self._stop.wait(self.settings.probe_interval_s):
            if self.accelerator is None:
                self.accelerator = self._claim()
                if self.accelerator is None:
                    continue
            if self._try_tpu():
                self.recoveries += 1
                self._on_event("recovered", {"model": self.spec.name, "device": self.accelerator.name})
                log.info("%s: back on Edge TPU %s", self.spec.name, self.accelerator.name)
                return

    # ---- requests --------------------------------------------------------------------------------
    def submit(self, inputs: list[np.ndarray]) -> Future:
        if self.closed:
            raise EngineClosed(f"{self.spec.name} is being reloaded", model=self.spec.name)
        if not self._workers:
            raise BackendUnavailable(
                f"{self.spec.name} cannot run now: {self.tpu_reason or 'no backend'}", model=self.spec.name
            )
        job = Job(inputs)
        try:
            self.queue.put_nowait(job)
        except queue.Full:
            workers = max(1, len(self._workers))
            wait_s = math.ceil(self.queue.qsize() * self._latency_ms / 1000 / workers)
            raise Overloaded(f"{self.spec.name} is busy ({self.queue.qsize()} requests waiting); retry shortly",
                             retry_after_s=max(1, wait_s)) from None
        return job.future

    def run_job(self, worker: Worker, job: Job) -> None:
        if job.attempts == 0 and not job.future.set_running_or_notify_cancel():
            return  # the caller timed out and cancelled before a worker took it
        job.attempts += 1
        started = time.perf_counter()
        try:
            outputs = worker.invoke(job.inputs)
        except Exception as exc:  # noqa: BLE001 - a TPU failure of any kind means fall back
            if worker.backend == EDGETPU and job.attempts < 3:
                self._fall_back(worker, exc)
                self._retry(job)
            else:
                job.future.set_exception(InferenceFailed(f"{self.spec.name}: inference failed: {exc}"))
            return
        done = time.perf_counter()
        ms = (done - started) * 1000
        self._latency_ms = 0.9 * self._latency_ms + 0.1 * ms
        job.future.set_result(InvokeResult(outputs, worker.backend, worker.device, ms,
                                           (started - job.enqueued) * 1000))

    def _retry(self, job: Job) -> None:
        if not self._workers:
            job.future.set_exception(BackendUnavailable(
                f"{self.spec.name} cannot run now: {self.tpu_reason}", model=self.spec.name))
            return
        self.queue.put(job)  # the queue is drained by the CPU workers just started

    # ---- lifecycle -------------------------------------------------------------------------------
    def drain_and_stop(self, timeout_s: float) -> None:
        """Refuse new work, finish what is queued (requests in flight succeed), then stop."""
        self.closed = True
        deadline = time.monotonic() + timeout_s
        while self.queue.unfinished_tasks and time.monotonic() < deadline and self._workers:
            time.sleep(0.02)
        self.stop()

    def stop(self) -> None:
        self.closed = True
        self._stop.set()
        with self._lock:
            for w in self._workers:
                w.retired.set()
            self._workers = []
        if self.accelerator is not None:
            self.pool.release(self.accelerator)
            self.accelerator = None

    def stuck(self, after_s: float) -> list[str]:
        """Workers that hold one job, or have not looped, for longer than after_s: a hung engine."""
        now = time.monotonic()
        with self._lock:
            workers = list(self._workers)
        found = []
        for w in workers:
            busy = w.busy_since
            if busy is not None and now - busy > after_s:
                found.append(f"{w.name} has been on one request for {now - busy:.0f} s")
            elif busy is None and now - w.beat > after_s + POLL_S and w.is_alive():
                found.append(f"{w.name} has not looped for {now - w.beat:.0f} s")
        return found

    def status(self) -> dict:
        with self._lock:
            workers = len(self._workers)
        return {
            "backend": self.backend,
            "device": self.accelerator.name if self.backend == EDGETPU and self.accelerator else None,
            "workers": workers,
            "queue_depth": self.queue.qsize(),
            "queue_size": self.settings.queue_size,
            "edgetpu_reason": self.tpu_reason or None,
            "fallbacks": self.fallbacks,
            "recoveries": self.recoveries,
        }
