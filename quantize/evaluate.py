"""Measure a .tflite variant in the runtime the hub uses (LiteRT): accuracy and invoke latency."""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from hub.runtime.litert import select_runtime


@dataclass(frozen=True)
class Evaluation:
    accuracy: float
    predictions: np.ndarray
    median_invoke_ms: float


def quantize_input(x: np.ndarray, detail: dict) -> np.ndarray:
    scale, zero = detail["quantization"]
    if not scale:
        return x.astype(detail["dtype"])
    info = np.iinfo(detail["dtype"])
    return np.clip(np.round(x / scale + zero), info.min, info.max).astype(detail["dtype"])


def evaluate(content: bytes, x: np.ndarray, y: np.ndarray) -> Evaluation:
    interpreter = select_runtime().Interpreter(model_content=content, num_threads=1)
    interpreter.allocate_tensors()
    inp, out = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
    predictions, times = np.empty(len(x), np.int64), []
    for i, sample in enumerate(x):
        interpreter.set_tensor(inp["index"], quantize_input(sample[None], inp))
        started = time.perf_counter()
        interpreter.invoke()
        times.append(time.perf_counter() - started)
        predictions[i] = int(np.argmax(interpreter.get_tensor(out["index"])[0]))
    return Evaluation(float(np.mean(predictions == y)), predictions, float(np.median(times) * 1000))
