"""Handwritten digits: scikit-learn's bundled 8x8 digits (UCI optdigits test set), 0..16 per pixel.

The hub turns a photo or a canvas drawing into the same thing (bright strokes, cropped,
4x4-block counts), so the model sees at serve time what it saw in training.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

LABELS = tuple(str(i) for i in range(10))


@dataclass(frozen=True)
class Dataset:
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    source: str


@dataclass(frozen=True)
class Recipe:
    name: str
    task: str
    labels: tuple[str, ...]
    load: Callable[[int], Dataset]
    build: Callable[[], object]
    epochs: int
    preprocess: dict


def load_digits_dataset(seed: int) -> Dataset:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    x = digits.images.astype(np.float32)[..., None]  # (n, 8, 8, 1), 0..16
    y = digits.target.astype(np.int64)
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.2, stratify=y, random_state=seed)
    return Dataset(x_train, y_train, x_test, y_test, "sklearn.datasets.load_digits (UCI optdigits), 80/20 stratified")


def build_digits_model():
    import tf_keras as keras

    return keras.Sequential([
        keras.layers.Input((8, 8, 1)),
        keras.layers.Rescaling(1 / 16.0),
        keras.layers.Conv2D(16, 3, padding="same", activation="relu"),
        keras.layers.Conv2D(32, 3, padding="same", activation="relu"),
        keras.layers.MaxPooling2D(),
        keras.layers.Conv2D(64, 3, padding="same", activation="relu"),
        keras.layers.Flatten(),
        keras.layers.Dense(64, activation="relu"),
        keras.layers.Dense(10, activation="softmax"),
    ])


DIGITS = Recipe(
    name="digits",
    task="image-classification",
    labels=LABELS,
    load=load_digits_dataset,
    build=build_digits_model,
    epochs=40,
    preprocess={"kind": "image", "color": "gray", "value_range": [0.0, 16.0], "ink": "light_on_dark",
                "crop_to_content": True},
)
