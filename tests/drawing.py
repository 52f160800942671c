"""Handwriting-like digits for tests and benchmarks: strokes as a child draws them on a canvas.

Each digit is a few polylines in a unit box; `render` adds slant, size, position and pen width,
on a canvas (either polarity, optionally transparent) or as a photo of paper (uneven light,
noise, JPEG). Generated here, so no test depends on downloaded data.
"""
from __future__ import annotations

import math

import cv2
import numpy as np


def _ellipse(cx: float, cy: float, rx: float, ry: float, start: float = 0, end: float = 360, n: int = 40):
    return [(cx + rx * math.cos(math.radians(a)), cy + ry * math.sin(math.radians(a)))
            for a in np.linspace(start, end, n)]


STROKES: dict[int, list[list[tuple[float, float]]]] = {
    0: [_ellipse(0.5, 0.5, 0.32, 0.46)],
    1: [[(0.35, 0.2), (0.58, 0.03), (0.5, 0.97)]],
    2: [_ellipse(0.5, 0.3, 0.32, 0.25, 190, 380, 20) + [(0.15, 0.95), (0.88, 0.95)]],
    3: [_ellipse(0.48, 0.27, 0.3, 0.23, 200, 450, 20) + _ellipse(0.48, 0.72, 0.34, 0.25, 270, 520, 20)],
    4: [[(0.62, 0.03), (0.12, 0.65), (0.9, 0.65)], [(0.66, 0.3), (0.66, 0.97)]],
    5: [[(0.85, 0.04), (0.28, 0.04), (0.22, 0.45)] + _ellipse(0.5, 0.68, 0.34, 0.28, 230, 500, 24)],
    6: [[(0.72, 0.03), (0.35, 0.35)] + _ellipse(0.5, 0.7, 0.3, 0.27, 200, 560, 30)],
    7: [[(0.1, 0.06), (0.9, 0.06), (0.42, 0.97)]],
    8: [_ellipse(0.5, 0.27, 0.26, 0.23, 90, 450), _ellipse(0.5, 0.73, 0.31, 0.25, -90, 270)],
    9: [_ellipse(0.5, 0.3, 0.3, 0.26, 0, 360), [(0.8, 0.3), (0.74, 0.97)]],
}


def render(digit: int, size: int = 280, pen: int = 16, slant: float = 0.0, scale: float = 0.7,
           offset: tuple[float, float] = (0.0, 0.0), ink_dark: bool = True, transparent: bool = False) -> np.ndarray:
    """A canvas drawing: BGR, or BGRA with a transparent background when `transparent`."""
    box = size * scale
    ox, oy = (size - box * 0.75) / 2 + offset[0] * size, (size - box) / 2 + offset[1] * size
    ink = np.zeros((size, size), np.uint8)
    for stroke in STROKES[digit]:
        pts = [(ox + (x + slant * (0.5 - y)) * box * 0.75, oy + y * box) for x, y in stroke]
        cv2.polylines(ink, [np.round(np.array(pts)).astype(np.int32)], False, 255, pen, cv2.LINE_AA)
    fg, bg = (0, 255) if ink_dark else (255, 0)
    if transparent:
        colour = np.full((size, size, 3), fg, np.uint8)
        return np.dstack([colour, ink])
    image = np.where(ink[..., None] > 0, fg * (ink[..., None] / 255.0) + bg * (1 - ink[..., None] / 255.0), bg)
    return np.repeat(image.astype(np.uint8), 3, axis=2) if image.ndim == 3 and image.shape[2] == 1 else image


def photo(digit: int, seed: int = 0, size: int = 640) -> bytes:
    """A phone photo of the digit written on paper: dark ink, uneven light, grain, JPEG."""
    rng = np.random.default_rng(seed)
    drawing = render(digit, size, pen=int(size * 0.045), slant=float(rng.uniform(-0.2, 0.2)), scale=0.55,
                     offset=(float(rng.uniform(-0.08, 0.08)), float(rng.uniform(-0.08, 0.08))))
    gray = drawing[..., 0].astype(np.float32) if drawing.ndim == 3 else drawing.astype(np.float32)
    ys, xs = np.mgrid[0:size, 0:size] / size
    light = 0.75 + 0.25 * (xs * rng.uniform(0.3, 1.0) + ys * rng.uniform(0.0, 0.6)) / 1.6
    paper = np.clip(gray * 0.8 + 40, 0, 255) * light + rng.normal(0, 6, (size, size))
    bgr = np.dstack([paper * 0.95, paper, paper * 1.02])
    ok, jpeg = cv2.imencode(".jpg", np.clip(bgr, 0, 255).astype(np.uint8), [cv2.IMWRITE_JPEG_QUALITY, 85])
    assert ok
    return jpeg.tobytes()


def png(image: np.ndarray) -> bytes:
    ok, data = cv2.imencode(".png", image)
    assert ok
    return data.tobytes()
