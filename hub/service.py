"""The hub as one object: runtime, accelerators, model registry, metrics, and the predict path.

REST, /v2 and Socket.IO all call `predict` here (through the model's task), so a tablet gets the
same answer whichever way it asks. Nothing in this module knows about HTTP or a task's name.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Mapping

from . import __version__, tasks
from .accelerators import AcceleratorPool, build_pool
from .adapters.budget import DecodeBudget
from .adapters.microphone import Microphone
from .config import Config
from .engine import InvokeResult
from .errors import BadInput, HubError
from .events import EventBus
from .metrics import RequestMetrics
from .registry import ModelEntry, Registry
from .runtime.litert import Runtime, select_runtime
from .tasks import Media, Result, Sound

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Prediction:
    """One answer of a model: where it ran, the task's result, and the time each step took."""

    model: str
    task: str
    backend: str
    device: str | None
    result: Result
    preprocess_ms: float
    inference_ms: float
    total_ms: float

    def to_json(self) -> dict:
        return {
            "model": self.model,
            "task": self.task,
            "backend": self.backend,
            "device": self.device,
            **self.result.to_json(),
            "timing_ms": {"preprocess": round(self.preprocess_ms, 3), "inference": round(self.inference_ms, 3),
                          "total": round(self.total_ms, 3)},
        }


class Hub:
    def __init__(self, config: Config, bus: EventBus | None = None) -> None:
        self.config = config
        self.bus = bus or EventBus()
        self.runtime: Runtime = select_runtime()
        self.pool: AcceleratorPool = build_pool(config, self.runtime)
        self.metrics = RequestMetrics()
        self.decodes = DecodeBudget(config.limits.max_decode_bytes, config.limits.decode_budget_bytes)
        self.registry = Registry(config, self.runtime, self.pool, self.bus)
        self.microphone = Microphone(config.microphone.source, background=True)
        self.started_at = time.time()
        self.version = __version__

    def start(self, watch: bool = True) -> None:
        self.registry.start(watch=watch)

    def close(self) -> None:
        self.registry.close()

    def task_of(self, name: str) -> tuple[ModelEntry, tasks.Task]:
        """The model (404 when unknown, 503 when not serving) and its task."""
        entry = self.registry.get(name)
        entry.require_ready()
        assert entry.spec is not None
        return entry, tasks.get(entry.spec.task)

    def run(self, name: str, inputs: list, api: str, started: float) -> tuple[ModelEntry, InvokeResult]:
        """Infer and count it, whatever the outcome."""
        try:
            entry, result = self.registry.infer(name, inputs, self.config.engine.request_timeout_s)
        except HubError as exc:
            self.metrics.record(name, api, "none", exc.code)
            raise
        self.metrics.record(name, api, result.backend, "ok", time.perf_counter() - started,
                            result.inference_ms / 1000)
        return entry, result

    def predict(self, name: str, media: Media, given: Mapping[str, object] | None = None, api: str = "rest",
                classify: bool = False) -> Prediction:
        """Media through the model's task: prepare, infer, decode. `classify` refuses non-classifiers."""
        started = time.perf_counter()
        entry, task = self.task_of(name)
        spec = entry.spec
        assert spec is not None
        try:
            if classify and not task.classifier:
                raise BadInput(f"model {name!r} is a {task.name} model, not a classifier: "
                               f"POST /api/models/{name}/predict")
            task.require_media(media, name)
            options = task.options(given or {}, self.config.limits)
            ready = tasks.Prepared.of(task.prepare(media, spec, self.config.limits, self.decodes))
        except HubError as exc:
            self.metrics.record(name, api, "none", exc.code)
            raise
        prepared = time.perf_counter()
        entry, result = self.run(name, ready.inputs, api, started)
        decoded = task.decode(result.outputs, entry.spec or spec, {**options, **ready.notes})
        return Prediction(name, task.name, result.backend, result.device, decoded, (prepared - started) * 1000,
                          result.inference_ms, (time.perf_counter() - started) * 1000)

    def listen(self, seconds: float, given: Mapping[str, object]) -> Prediction:
        """Record from the hub's own microphone and classify it with [microphone] model."""
        import numpy as np

        samples, rate = self.microphone.record(seconds)
        pcm = (np.clip(samples, -1.0, 1.0) * 32767).astype("<i2").tobytes()
        return self.predict(self.config.microphone.model, Sound(pcm, rate), given, api="microphone", classify=True)

    def stuck(self) -> list[str]:
        """Every hung worker of every model (the systemd watchdog stops being fed when any is)."""
        found = []
        for entry in self.registry.entries():
            if entry.engine is not None:
                found += [f"model {entry.name}: {why}" for why in entry.engine.stuck(self.config.engine.stuck_after_s)]
        return found

    def status(self) -> dict:
        return {
            "version": self.version,
            "runtime": {"name": self.runtime.name, "version": self.runtime.version},
            "accelerators": self.pool.to_json(),
            "ready": self.registry.ready,
            "microphone": self.microphone.status.to_json(),
            "uptime_s": round(time.time() - self.started_at, 1),
            "models": [e.to_json() for e in self.registry.entries()],
        }
