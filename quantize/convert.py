"""Keras model -> TFLite flatbuffers: float32 reference and full int8 (batch 1, static shapes)."""
from __future__ import annotations

from typing import Iterator

import numpy as np


def _converter(model, input_shape: tuple[int, ...]):
    import tensorflow as tf

    spec = tf.TensorSpec((1, *input_shape), tf.float32)
    concrete = tf.function(lambda x: model(x, training=False)).get_concrete_function(spec)
    return tf.lite.TFLiteConverter.from_concrete_functions([concrete], model)


def to_float32(model, input_shape: tuple[int, ...]) -> bytes:
    return _converter(model, input_shape).convert()


def to_full_int8(model, input_shape: tuple[int, ...], representative: np.ndarray, io_dtype: str = "int8") -> bytes:
    """Every op and both ends in int8 (or uint8 I/O): what the Edge TPU and fast CPU kernels need."""
    import tensorflow as tf

    def samples() -> Iterator[list[np.ndarray]]:
        for x in representative:
            yield [x[None].astype(np.float32)]

    converter = _converter(model, input_shape)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = samples
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = tf.uint8 if io_dtype == "uint8" else tf.int8
    converter.inference_output_type = tf.uint8 if io_dtype == "uint8" else tf.int8
    return converter.convert()
