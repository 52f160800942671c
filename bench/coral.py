"""What the benchmarks, the bundling script and the tests share about Coral's test pictures and
models: the ImageNet classes a person would name each picture by, and the raw invoke time of a
model file. No imports from tests/ (scripts/bundle_coral.py runs without the test packages)."""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np

# What a person would call each ImageNet test picture in ../shared/coral, as ImageNet classes
# (any one of them in the top 3 counts).
PICTURES = {
    "cat.bmp": {"tabby, tabby cat", "tiger cat", "Egyptian cat"},
    "bird.bmp": {"chickadee"},
    "sunflower.bmp": {"daisy"},  # ImageNet has no sunflower; daisy is its nearest class
    "dragonfly.bmp": {"dragonfly, darning needle, devil's darning needle, sewing needle, snake feeder, snake "
                      "doctor, mosquito hawk, skeeter hawk", "damselfly"},
}


def interpreter(path: Path, threads: int = 1):
    from ai_edge_litert.interpreter import Interpreter

    it = Interpreter(model_path=str(path), num_threads=threads)
    it.allocate_tensors()
    return it


def invoke_ms(path: Path, threads: int = 1, invokes: int = 200) -> dict:
    """The raw interpreter on zeros, after 10 warm-up invokes: p50 and p99 in ms."""
    it = interpreter(path, threads)
    inp = it.get_input_details()[0]
    it.set_tensor(inp["index"], np.zeros(inp["shape"], inp["dtype"]))
    for _ in range(10):
        it.invoke()
    times = []
    for _ in range(invokes):
        started = time.perf_counter()
        it.invoke()
        times.append((time.perf_counter() - started) * 1000)
    return {"p50": round(float(np.percentile(times, 50)), 2), "p99": round(float(np.percentile(times, 99)), 2)}
