"""The hub as one object: runtime, Edge TPUs, model registry, metrics, and the classify path.

REST and Socket.IO both call `classify` here, so a tablet gets the same answer whichever way
it asks. Nothing in this module knows about HTTP.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Callable

from . import __version__
from .adapters.classify import top_k
from .adapters.image import preprocess
from .config import Config
from .engine import InvokeResult
from .errors import BadInput, HubError
from .registry import ModelEntry, Registry
from .runtime.edgetpu import SimulatedAccelerator, TpuPool, build_pool
from .runtime.litert import Runtime, select_runtime
from .metrics import RequestMetrics

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Classification:
    model: str
    backend: str
    device: str | None
    predictions: list
    preprocess_ms: float
    inference_ms: float
    total_ms: float

    def to_json(self) -> dict:
        return {
            "model": self.model,
            "backend": self.backend,
            "device": self.device,
            "predictions": [p.to_json() for p in self.predictions],
            "timing_ms": {"preprocess": round(self.preprocess_ms, 3), "inference": round(self.inference_ms, 3),
                          "total": round(self.total_ms, 3)},
        }


class Hub:
    def __init__(self, config: Config, on_event: Callable[[str, dict], None] | None = None) -> None:
        self.config = config
        self.runtime: Runtime = select_runtime()
        self.pool: TpuPool = build_pool(self.runtime, config.edgetpu.enabled, config.edgetpu.devices,
                                        config.edgetpu.library, config.testing.simulated_edgetpu)
        self.metrics = RequestMetrics()
        self.registry = Registry(config, self.runtime, self.pool, on_event)
        self.started_at = time.time()
        self.version = __version__

    def start(self, watch: bool = True) -> None:
        self.registry.start(watch=watch)

    def close(self) -> None:
        self.registry.close()

    def parse_top_k(self, raw: object, default: int = 3) -> int:
        if raw is None or raw == "":
            return default
        try:
            k = int(raw)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise BadInput(f"top_k must be a whole number, not {raw!r}") from None
        if not 1 <= k <= self.config.limits.max_top_k:
            raise BadInput(f"top_k must be from 1 to {self.config.limits.max_top_k}")
        return k

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

    def classify(self, name: str, image: bytes, k: int, api: str = "rest") -> Classification:
        started = time.perf_counter()
        entry = self.registry.get(name)
        entry.require_ready()
        spec = entry.spec
        assert spec is not None
        if spec.task != "image-classification":
            raise BadInput(f"model {name!r} is a {spec.task} model; it does not take images")
        try:
            tensor = preprocess(image, spec.inputs[0], spec.preprocess, self.config.limits.max_image_pixels)
        except HubError as exc:
            self.metrics.record(name, api, "none", exc.code)
            raise
        prepared = time.perf_counter()
        entry, result = self.run(name, [tensor], api, started)
        predictions = top_k(result.outputs[0], spec.outputs[0], spec.labels, k)
        return Classification(name, result.backend, result.device, predictions, (prepared - started) * 1000,
                              result.inference_ms, (time.perf_counter() - started) * 1000)

    def inject_fault(self, device: str, gone: bool | None, fail_next: int | None) -> dict:
        """Tests only ([testing] fault_injection): break or mend a simulated Edge TPU."""
        for acc in self.pool.accelerators:
            if acc.name == device and isinstance(acc, SimulatedAccelerator):
                plan = acc.inject(gone, fail_next)
                return {"device": device, "gone": plan.gone, "fail_next": plan.fail_next}
        raise BadInput(f"no simulated Edge TPU named {device!r}")

    def status(self) -> dict:
        return {
            "version": self.version,
            "runtime": {"name": self.runtime.name, "version": self.runtime.version},
            "edgetpu": self.pool.to_json(),
            "ready": self.registry.ready,
            "uptime_s": round(time.time() - self.started_at, 1),
            "models": [e.to_json() for e in self.registry.entries()],
        }
