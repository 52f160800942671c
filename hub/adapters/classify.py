"""From an output tensor to ranked classes (cf. pycoral's adapters.classify.get_classes)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..manifest import TensorSpec


@dataclass(frozen=True)
class Class:
    index: int
    label: str
    score: float

    def to_json(self) -> dict:
        return {"index": self.index, "label": self.label, "score": round(self.score, 6)}


def dequantize(output: np.ndarray, spec: TensorSpec) -> np.ndarray:
    values = output.astype(np.float32).reshape(-1)
    if spec.scale and not spec.dtype.startswith("float"):
        values = spec.scale * (values - spec.zero_point)
    return values


def scores(output: np.ndarray, spec: TensorSpec) -> np.ndarray:
    """Probabilities: the model's own when it ends in softmax, else a softmax of its logits.

    Quantized softmax outputs need not sum to 1 (small classes round to 0), so only values
    outside [0, 1] are taken for logits.
    """
    values = dequantize(output, spec)
    if values.min() < -1e-6 or values.max() > 1.0 + 1e-3:
        exp = np.exp(values - values.max())
        values = exp / exp.sum()
    return values


def top_k(output: np.ndarray, spec: TensorSpec, labels: tuple[str, ...], k: int) -> list[Class]:
    probs = scores(output, spec)
    k = min(k, probs.size)
    best = np.argpartition(-probs, k - 1)[:k]
    best = best[np.argsort(-probs[best], kind="stable")]
    return [Class(int(i), labels[i] if i < len(labels) else str(i), float(probs[i])) for i in best]
