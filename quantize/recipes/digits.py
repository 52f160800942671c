"""Handwritten digits: scikit-learn's bundled 8x8 digits (UCI optdigits test set), 0..16 per pixel.

The hub turns a photo or a canvas drawing into the same thing (bright strokes, cropped,
4x4-block counts), so the model sees at serve time what it saw in training. Inputs are
scaled to [0, 1] here (value_range [0, 1] in the manifest), so every layer can be quantized.

No augmentation, on purpose: shifted and faded copies raised held-out accuracy (99.7%) but
lowered what counts, drawings read through the hub (95% to 88%), because the hub already
centres, binarises and thickens strokes; shifted training digits only taught a different input.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..conditions import image_conditions
from .base import Dataset, Recipe

LABELS = tuple(str(i) for i in range(10))


def load_digits_dataset(seed: int, data_dir: Path | None = None) -> Dataset:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    x = (digits.images.astype(np.float32) / 16.0)[..., None]  # (n, 8, 8, 1) in [0, 1]
    y = digits.target.astype(np.int64)
    x_rest, x_test, y_rest, y_test = train_test_split(x, y, test_size=0.2, stratify=y, random_state=seed)
    x_train, x_val, y_train, y_val = train_test_split(x_rest, y_rest, test_size=0.1, stratify=y_rest,
                                                      random_state=seed)
    return Dataset(x_train, y_train, x_val, y_val, x_test, y_test,
                   "sklearn.datasets.load_digits (UCI optdigits), 80/20 stratified, 10% of train for validation",
                   conditions=image_conditions(x_test, (0.0, 1.0), seed),
                   split="stratified 20% held out")


def build_digits_model():
    import tf_keras as keras

    return keras.Sequential([
        keras.layers.Input((8, 8, 1)),
        keras.layers.Conv2D(32, 3, padding="same", activation="relu"),
        keras.layers.Conv2D(64, 3, padding="same", activation="relu"),
        keras.layers.MaxPooling2D(),
        keras.layers.Conv2D(64, 3, padding="same", activation="relu"),
        keras.layers.Flatten(),
        keras.layers.Dropout(0.3),
        keras.layers.Dense(96, activation="relu"),
        keras.layers.Dense(10, activation="softmax"),
    ])


DIGITS = Recipe(
    name="digits",
    task="image-classification",
    labels=LABELS,
    load=load_digits_dataset,
    build=build_digits_model,
    epochs=30,
    preprocess={"kind": "image", "color": "gray", "value_range": [0.0, 1.0], "ink": "light_on_dark",
                "crop_to_content": True},
    licence="scikit-learn's copy of UCI optdigits (CC BY 4.0)",
)
