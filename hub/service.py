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
from .adapters import audio
from .adapters.classify import top_k
from .adapters.image import preprocess, quantize_real
from .adapters.microphone import Microphone
from .config import Config
from .engine import InvokeResult
from .errors import BadInput, HubError
from .registry import ModelEntry, Registry
from .runtime.edgetpu import SimulatedAccelerator, TpuPool, build_pool
from .runtime.litert import Runtime, select_runtime
from .metrics import RequestMetrics

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Sound:
    """A spoken answer as it arrived: a WAV file, or raw 16-bit PCM with its sample rate."""

    data: bytes
    sample_rate: int | None = None  # None: data is a WAV file

    def samples(self) -> tuple:
        if self.sample_rate is None:
            return audio.decode_wav(self.data)
        return audio.decode_pcm16(self.data, self.sample_rate)


def audio_tensor(sound: Sound, spec, prep):
    """The recording as the model's input: the same features classroom-quantize trained on."""
    params = audio.FeatureParams.from_json(prep.extra)
    if tuple(spec.shape[1:]) != params.shape:
        raise BadInput(f"the model takes {list(spec.shape)} but its manifest's audio features make "
                       f"{list(params.shape)}; rebuild the model")
    x, rate = sound.samples()
    return quantize_real(audio.features(x, rate, params), spec)


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
        self.microphone = Microphone(config.microphone.source)
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

    def classify(self, name: str, media: bytes | Sound, k: int, api: str = "rest") -> Classification:
        """A picture (bytes) or a recording (Sound) through the model's own preprocessing."""
        started = time.perf_counter()
        entry = self.registry.get(name)
        entry.require_ready()
        spec = entry.spec
        assert spec is not None
        is_sound = isinstance(media, Sound)
        if spec.task == "image-classification" and is_sound:
            raise BadInput(f"model {name!r} classifies pictures; send an image, not audio")
        if spec.task == "audio-classification" and not is_sound:
            raise BadInput(f"model {name!r} classifies recordings; send audio (a WAV), not an image")
        if spec.task not in ("image-classification", "audio-classification"):
            raise BadInput(f"model {name!r} is a {spec.task} model; use /v2 infer")
        try:
            if is_sound:
                tensor = audio_tensor(media, spec.inputs[0], spec.preprocess)
            else:
                tensor = preprocess(media, spec.inputs[0], spec.preprocess, self.config.limits.max_image_pixels)
        except HubError as exc:
            self.metrics.record(name, api, "none", exc.code)
            raise
        prepared = time.perf_counter()
        entry, result = self.run(name, [tensor], api, started)
        predictions = top_k(result.outputs[0], spec.outputs[0], spec.labels, k)
        return Classification(name, result.backend, result.device, predictions, (prepared - started) * 1000,
                              result.inference_ms, (time.perf_counter() - started) * 1000)

    def listen(self, seconds: float, k: int) -> Classification:
        """Record from the hub's own microphone and classify it with [microphone] model."""
        import numpy as np

        samples, rate = self.microphone.record(seconds)
        pcm = (np.clip(samples, -1.0, 1.0) * 32767).astype("<i2").tobytes()
        return self.classify(self.config.microphone.model, Sound(pcm, rate), k, api="microphone")

    def inject_fault(self, device: str, gone: bool | None, fail_next: int | None, hang: bool | None = None) -> dict:
        """Tests only ([testing] fault_injection): break, wedge or mend a simulated Edge TPU."""
        for acc in self.pool.accelerators:
            if acc.name == device and isinstance(acc, SimulatedAccelerator):
                plan = acc.inject(gone, fail_next, hang)
                return {"device": device, "gone": plan.gone, "fail_next": plan.fail_next, "hang": plan.hang}
        raise BadInput(f"no simulated Edge TPU named {device!r}")

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
            "edgetpu": self.pool.to_json(),
            "ready": self.registry.ready,
            "microphone": self.microphone.status.to_json(),
            "uptime_s": round(time.time() - self.started_at, 1),
            "models": [e.to_json() for e in self.registry.entries()],
        }
