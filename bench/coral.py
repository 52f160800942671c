"""What the benchmarks, the bundling script and the tests share about Coral's test pictures and
models: the ImageNet classes a person would name each picture by, the raw invoke time of a model
file, and the views a pupil's camera could take of a picture (crops, tilts, light). No imports from tests/ (scripts/bundle_coral.py runs without the test packages)."""
from __future__ import annotations

import time
from pathlib import Path

import cv2
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


def crop(picture: np.ndarray, fraction: float, x: float = 0.5, y: float = 0.5) -> np.ndarray:
    """`fraction` of each side, placed at (x, y) of the room left around it (0 left/top, 1 right/bottom)."""
    h, w = picture.shape[:2]
    ch, cw = round(h * fraction), round(w * fraction)
    top, left = round((h - ch) * y), round((w - cw) * x)
    return picture[top:top + ch, left:left + cw]


def rotate(picture: np.ndarray, degrees: float) -> np.ndarray:
    """Tilted about its centre, the corners filled by reflection."""
    h, w = picture.shape[:2]
    turn = cv2.getRotationMatrix2D((w / 2, h / 2), degrees, 1.0)
    return cv2.warpAffine(picture, turn, (w, h), borderMode=cv2.BORDER_REFLECT)


def light(picture: np.ndarray, gain: float, gamma: float = 1.0) -> np.ndarray:
    """Brighter or dimmer (`gain`), harsher (`gamma` over 1)."""
    values = (picture.astype(np.float32) / 255) ** gamma * gain
    return np.clip(values * 255, 0, 255).astype(np.uint8)
