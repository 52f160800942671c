"""What a recipe is: a dataset with its splits and classroom conditions, a model, how to train it."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class Dataset:
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray  # picks between PTQ and QAT; never used to report accuracy
    y_val: np.ndarray
    x_test: np.ndarray  # held out: every reported accuracy
    y_test: np.ndarray
    source: str
    conditions: dict[str, np.ndarray] = field(default_factory=dict)  # x_test as a classroom degrades it
    split: str = ""

    def sha256(self) -> str:
        import hashlib

        h = hashlib.sha256()
        for a in (self.x_train, self.y_train, self.x_val, self.y_val, self.x_test, self.y_test):
            h.update(np.ascontiguousarray(a).tobytes())
        return h.hexdigest()


@dataclass(frozen=True)
class HeldOut:
    """A harder split: a whole group (a speaker) the model never heard in training."""

    name: str
    dataset: Dataset


@dataclass(frozen=True)
class Recipe:
    name: str
    task: str
    labels: tuple[str, ...]
    load: Callable[[int, Path | None], Dataset]
    build: Callable[[], object]
    epochs: int
    preprocess: dict
    held_out: Callable[[int, Path | None], HeldOut] | None = None
    default_data: Path | None = None
    batch_size: int = 32
    licence: str = ""
