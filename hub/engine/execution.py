"""Execution: a model's bounded queue and its workers, each owning one interpreter.

An interpreter is not thread-safe, so each worker owns one, behind the worker's lock: one thread
uses it at a time. Every worker of a model takes jobs from the model's one queue; which workers
exist (on an accelerator or on the CPU) is placement's business (placement.py), which swaps them
with `replace`.

Inline runs: when nothing is queued and a CPU worker is free, the request's own thread runs the
job on that worker's interpreter (holding its lock) instead of handing it over and waiting. That
saves two thread wake-ups and the Future's notifications: 0.06 to 0.14 ms a request here
(docs/PERFORMANCE.md). Only the CPU runs inline: an accelerator can hang, and a request waiting
on a worker thread can still time out while the watchdog sees the hung worker.
"""
from __future__ import annotations

import math
import queue
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from ..errors import BackendUnavailable, InferenceFailed, Overloaded

if TYPE_CHECKING:
    from ..accelerators import Accelerator

CPU = "cpu"
POLL_S = 0.25  # how often an idle worker checks whether it has been retired
MAX_ATTEMPTS = 3  # a job whose accelerator fails is retried on the new placement, this many times in all


@dataclass(frozen=True)
class InvokeResult:
    outputs: list[np.ndarray]
    backend: str
    device: str | None
    inference_ms: float
    queue_ms: float


class Settled:
    """What an inline job's caller gets instead of a Future: answered before it is returned, so it
    needs none of a Future's locks and notifications (a Future's Condition alone took 26 us)."""

    __slots__ = ("_result", "_error")

    def __init__(self) -> None:
        self._result: InvokeResult | None = None
        self._error: BaseException | None = None

    def set_running_or_notify_cancel(self) -> bool:
        return True

    def set_result(self, result: InvokeResult) -> None:
        self._result = result

    def set_exception(self, error: BaseException) -> None:
        self._error = error

    def done(self) -> bool:
        return True

    def cancel(self) -> bool:
        return False

    def result(self, timeout: float | None = None) -> InvokeResult:
        if self._error is not None:
            raise self._error
        assert self._result is not None
        return self._result


@dataclass
class Job:
    inputs: list[np.ndarray]
    future: Future | Settled = field(default_factory=Future)
    enqueued: float = field(default_factory=time.perf_counter)
    attempts: int = 0


class EngineClosed(BackendUnavailable):
    """The engine was replaced by a reload; the caller retries on the new one."""


class Worker(threading.Thread):
    """Owns one interpreter; takes jobs from the model's queue until retired."""

    def __init__(self, executor: "Executor", backend: str, interpreter: Any,
                 accelerator: "Accelerator | None" = None) -> None:
        super().__init__(name=f"{executor.name}-{backend}", daemon=True)
        self.executor, self.backend, self.accelerator = executor, backend, accelerator
        self.interpreter = interpreter
        self.lock = threading.Lock()  # held while the interpreter runs, by this thread or an inline caller
        self.inline = accelerator is None  # see the module's docstring
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

    def warm_up(self) -> None:
        """One inference on zeros: a device that cannot run one is not usable."""
        self.invoke([np.zeros(d["shape"], d["dtype"]) for d in self.input_details])

    def run(self) -> None:
        jobs = self.executor.queue
        while not self.retired.is_set():
            self.beat = time.monotonic()
            try:
                job = jobs.get(timeout=POLL_S)
            except queue.Empty:
                continue
            if self.retired.is_set():  # retired while waiting: the job belongs to the new workers
                jobs.put(job)
                break
            with self.lock:
                self.executor.run_job(self, job)
        with self.lock:
            self.interpreter = None  # release the arena as soon as the worker is done


FailureHandler = Callable[[Worker, Exception], bool]


class Executor:
    """The queue, the current workers, and the jobs not yet answered."""

    def __init__(self, name: str, queue_size: int, on_failure: FailureHandler) -> None:
        self.name = name
        self.queue: queue.Queue[Job] = queue.Queue(maxsize=queue_size)
        self.queue_size = queue_size
        self.closed = False
        self._on_failure = on_failure  # placement: move the model off a failed device; True = retry
        self._lock = threading.Condition()
        self._workers: list[Worker] = []
        self._unanswered = 0  # submitted jobs whose future is not yet settled
        self._latency_ms = 1.0  # moving average of invoke time, for Retry-After

    # ---- workers ---------------------------------------------------------------------------------
    def replace(self, workers: list[Worker]) -> None:
        """Start `workers` and retire the current ones (a retired worker hands back what it took)."""
        with self._lock:
            old, self._workers = self._workers, list(workers)
            self._lock.notify_all()
        for w in workers:
            w.start()
        for w in old:
            w.retired.set()

    def retire(self, worker: Worker) -> bool:
        """Take one worker out (its device failed); False when it was already out."""
        with self._lock:
            if worker not in self._workers:
                return False
            self._workers.remove(worker)
            self._lock.notify_all()
        worker.retired.set()
        return True

    def workers(self) -> list[Worker]:
        with self._lock:
            return list(self._workers)

    @property
    def backend(self) -> str | None:
        with self._lock:
            return self._workers[0].backend if self._workers else None

    def quick(self, limit_ms: float) -> bool:
        """Whether a job submitted now would run at once on a CPU interpreter: workers, all on the
        CPU (an accelerator can hang), nothing waiting, and invokes of under `limit_ms` on average.
        A hint, read without the lock (hub/inline.py); a free interpreter is not promised, only
        that any job ahead of this one is as quick."""
        workers = self._workers
        return (not self.closed and bool(workers) and all(w.inline for w in workers) and self.queue.empty()
                and self._latency_ms < limit_ms)

    # ---- jobs --------------------------------------------------------------------------------------
    def submit(self, inputs: list[np.ndarray], why_none: Callable[[], str]) -> Future | Settled:
        """The job's Future, queued; or, when it ran inline on a free CPU worker, its answer."""
        with self._lock:
            if self.closed:
                raise EngineClosed(f"{self.name} is being reloaded", model=self.name)
            if not self._workers:
                raise BackendUnavailable(f"{self.name} cannot run now: {why_none() or 'no backend'}", model=self.name)
            free = self._free_worker() if self.queue.empty() else None
            job = Job(inputs, Settled()) if free is not None else Job(inputs)
            if free is None:
                try:
                    self.queue.put_nowait(job)
                except queue.Full:
                    waiting = self.queue.qsize()
                    wait_s = math.ceil(waiting * self._latency_ms / 1000 / len(self._workers))
                    raise Overloaded(f"{self.name} is busy ({waiting} requests waiting); retry shortly",
                                     retry_after_s=max(1, wait_s)) from None
            self._unanswered += 1
        if free is not None:
            try:
                self.run_job(free, job)
            finally:
                free.lock.release()
        return job.future

    def _free_worker(self) -> Worker | None:
        """A current CPU worker whose interpreter no one is using, its lock taken; the first such in
        order, so a quiet class keeps using one interpreter whose memory is in the CPU's caches."""
        for worker in self._workers:
            if worker.inline and worker.lock.acquire(blocking=False):
                if worker.interpreter is not None and not worker.retired.is_set():
                    return worker
                worker.lock.release()
        return None

    def _settled(self) -> None:
        with self._lock:
            self._unanswered -= 1
            if self.closed:  # only drain waits for this
                self._lock.notify_all()

    def run_job(self, worker: Worker, job: Job) -> None:
        """Run `job` on `worker`, whose lock the caller holds; settle its Future."""
        worker.busy_since = time.monotonic()  # the watchdog's view of a hung device
        try:
            self._run(worker, job)
        finally:
            worker.busy_since = None

    def _run(self, worker: Worker, job: Job) -> None:
        if job.attempts == 0 and not job.future.set_running_or_notify_cancel():
            self._settled()  # the caller timed out and cancelled before a worker took it
            return
        job.attempts += 1
        started = time.perf_counter()
        try:
            outputs = worker.invoke(job.inputs)
        except Exception as exc:  # noqa: BLE001 - a device failure of any kind means fall back
            if worker.accelerator is not None and job.attempts < MAX_ATTEMPTS and self._on_failure(worker, exc) \
                    and self._requeue(job):
                return
            job.future.set_exception(InferenceFailed(f"{self.name}: inference failed: {exc}"))
            self._settled()
            return
        ms = (time.perf_counter() - started) * 1000
        self._latency_ms = 0.9 * self._latency_ms + 0.1 * ms
        job.future.set_result(InvokeResult(outputs, worker.backend, worker.device, ms,
                                           (started - job.enqueued) * 1000))
        self._settled()

    def _requeue(self, job: Job) -> bool:
        """Back on the queue for the workers placement just started; False when there are none."""
        with self._lock:
            if not self._workers:
                return False
        self.queue.put(job)  # drained by the new workers, so this cannot wait for long
        return True

    # ---- lifecycle ---------------------------------------------------------------------------------
    def drain(self, timeout_s: float) -> None:
        """Refuse new work and wait until every accepted job is answered (or no worker is left)."""
        with self._lock:
            self.closed = True
            self._lock.wait_for(lambda: self._unanswered == 0 or not self._workers, timeout_s)

    def stop(self) -> None:
        with self._lock:
            self.closed = True
            old, self._workers = self._workers, []
            self._lock.notify_all()
        for w in old:
            w.retired.set()

    def stuck(self, after_s: float) -> list[str]:
        """Workers that hold one job, or have not looped, for longer than after_s: a hung engine."""
        now = time.monotonic()
        found = []
        for w in self.workers():
            busy = w.busy_since
            if busy is not None and now - busy > after_s:
                found.append(f"{w.name} has been on one request for {now - busy:.0f} s")
            elif busy is None and now - w.beat > after_s + POLL_S and w.is_alive():
                found.append(f"{w.name} has not looped for {now - w.beat:.0f} s")
        return found
