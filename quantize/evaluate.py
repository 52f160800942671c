"""Measure a .tflite variant in the runtime the hub uses (LiteRT): accuracy, agreement, speed, size."""
from __future__ import annotations

import gzip
import time
from dataclasses import dataclass

import numpy as np

from hub.runtime.litert import select_runtime

from .errors import QuantizeError


@dataclass(frozen=True)
class Evaluation:
    accuracy: float
    predictions: np.ndarray


def quantize_input(x: np.ndarray, detail: dict) -> np.ndarray:
    scale, zero = detail["quantization"]
    if not scale:
        return x.astype(detail["dtype"])
    info = np.iinfo(detail["dtype"])
    return np.clip(np.round(x / scale + zero), info.min, info.max).astype(detail["dtype"])


class Runner:
    """One interpreter on one thread, as a hub worker runs it."""

    def __init__(self, content: bytes):
        try:
            self.interpreter = select_runtime().Interpreter(model_content=content, num_threads=1)
            self.interpreter.allocate_tensors()
        except (RuntimeError, ValueError) as exc:
            raise QuantizeError(f"LiteRT cannot run this model: {exc}") from None
        self.input = self.interpreter.get_input_details()[0]
        self.output = self.interpreter.get_output_details()[0]

    def predict(self, x: np.ndarray) -> np.ndarray:
        predictions = np.empty(len(x), np.int64)
        for i, sample in enumerate(x):
            self.interpreter.set_tensor(self.input["index"], quantize_input(sample[None], self.input))
            self.interpreter.invoke()
            predictions[i] = int(np.argmax(self.interpreter.get_tensor(self.output["index"])[0]))
        return predictions

    def median_invoke_ms(self, sample: np.ndarray, runs: int = 300) -> float:
        self.interpreter.set_tensor(self.input["index"], quantize_input(sample[None], self.input))
        for _ in range(20):
            self.interpreter.invoke()
        times = []
        for _ in range(runs):
            started = time.perf_counter()
            self.interpreter.invoke()
            times.append(time.perf_counter() - started)
        return float(np.median(times) * 1000)


def evaluate(content: bytes, x: np.ndarray, y: np.ndarray) -> Evaluation:
    predictions = Runner(content).predict(x)
    return Evaluation(float(np.mean(predictions == y)), predictions)


def gzip_size(content: bytes) -> int:
    """What pruning and clustering buy: the file compresses (downloads, SD card), not shrinks."""
    return len(gzip.compress(content, compresslevel=9, mtime=0))
