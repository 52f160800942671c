"""Every TFLite flavour of one Keras model: float32, dynamic range, float16, full int8 (int8 or
uint8 I/O), and int8 after quantization-aware training, pruning or weight clustering.

All conversions use batch 1 and the model's static input shape, which is what the hub and
the Edge TPU need. QAT, pruning and clustering fine-tune a copy of the trained model with
tensorflow-model-optimization, which only works on tf-keras (TF_USE_LEGACY_KERAS=1).
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from .errors import QuantizeError
from .progress import epoch_callback


@dataclass(frozen=True)
class VariantSpec:
    name: str
    description: str
    int8: bool  # full integer: a candidate to ship and to compile for the Edge TPU
    trained: str | None = None  # "qat" | "pruned" | "clustered": needs a fine-tuned copy


VARIANTS = (
    VariantSpec("float32", "float32 reference", False),
    VariantSpec("dynamic", "dynamic range (int8 weights, float activations)", False),
    VariantSpec("float16", "float16 weights", False),
    VariantSpec("int8", "full int8, int8 I/O (post-training)", True),
    VariantSpec("int8-uint8io", "full int8, uint8 I/O (post-training)", True),
    VariantSpec("qat-int8", "quantization-aware training, full int8", True, "qat"),
    VariantSpec("pruned-int8", "50% pruned, then full int8", True, "pruned"),
    VariantSpec("clustered-int8", "16 weight clusters, then full int8", True, "clustered"),
)
VARIANT_NAMES = tuple(v.name for v in VARIANTS)


def _converter(model, input_shape: tuple[int, ...]):
    import tensorflow as tf

    spec = tf.TensorSpec((1, *input_shape), tf.float32)
    concrete = tf.function(lambda x: model(x, training=False)).get_concrete_function(spec)
    return tf.lite.TFLiteConverter.from_concrete_functions([concrete], getattr(model, "loaded", model))


def _representative(samples: np.ndarray) -> Callable[[], Iterator[list[np.ndarray]]]:
    def generate() -> Iterator[list[np.ndarray]]:
        for x in samples:
            yield [x[None].astype(np.float32)]

    return generate


def _convert(converter, what: str) -> bytes:
    try:
        return converter.convert()
    except Exception as exc:  # noqa: BLE001 - the converter raises many types; name the step and the cause
        first = str(exc).strip().splitlines()[0][:400] if str(exc).strip() else type(exc).__name__
        raise QuantizeError(f"the TFLite converter could not make the {what} model: {first}") from None


def convert(model, input_shape: tuple[int, ...], kind: str, representative: np.ndarray | None = None) -> bytes:
    """One Keras model to one TFLite flavour: float32, dynamic, float16, int8 or int8-uint8io."""
    import tensorflow as tf

    converter = _converter(model, input_shape)
    if kind == "float32":
        return _convert(converter, kind)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if kind == "dynamic":
        return _convert(converter, kind)
    if kind == "float16":
        converter.target_spec.supported_types = [tf.float16]
        return _convert(converter, kind)
    if kind not in ("int8", "int8-uint8io"):
        raise ValueError(kind)
    if representative is None or len(representative) == 0:
        raise QuantizeError("full int8 needs representative data (calibration samples)")
    converter.representative_dataset = _representative(representative)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    io = tf.uint8 if kind == "int8-uint8io" else tf.int8
    converter.inference_input_type = io
    converter.inference_output_type = io
    return _convert(converter, kind)


def _fine_tune(model, x, y, epochs: int, batch_size: int, desc: str, callbacks=()) -> None:
    import tf_keras as keras

    model.compile(optimizer=keras.optimizers.Adam(1e-4 if desc == "qat" else 5e-4),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x, y, epochs=epochs, batch_size=batch_size, verbose=0,
              callbacks=[*callbacks, epoch_callback(f"fine-tune {desc}", epochs)])


def _clone(model):
    import tf_keras as keras

    copy = keras.models.clone_model(model)
    copy.set_weights(model.get_weights())
    return copy


def quantization_aware(model, x, y, epochs: int, batch_size: int):
    """Fine-tune with fake-quant nodes so the weights settle where int8 rounding hurts least."""
    import tensorflow_model_optimization as tfmot

    try:
        qat = tfmot.quantization.keras.quantize_model(_clone(model))
    except (RuntimeError, ValueError) as exc:
        raise QuantizeError(f"quantization-aware training cannot wrap this model: {exc}") from None
    _fine_tune(qat, x, y, epochs, batch_size, "qat")
    return qat


def pruned(model, x, y, epochs: int, batch_size: int, sparsity: float = 0.5):
    """Half the weights set to zero (magnitude pruning): same file size, much smaller gzip."""
    import tensorflow_model_optimization as tfmot

    schedule = tfmot.sparsity.keras.ConstantSparsity(sparsity, begin_step=0, frequency=10)
    wrapped = tfmot.sparsity.keras.prune_low_magnitude(_clone(model), pruning_schedule=schedule)
    _fine_tune(wrapped, x, y, epochs, batch_size, "pruned", [tfmot.sparsity.keras.UpdatePruningStep()])
    return tfmot.sparsity.keras.strip_pruning(wrapped)


def clustered(model, x, y, epochs: int, batch_size: int, clusters: int = 16):
    """Each layer's weights share 16 values: compresses well, a step towards smaller downloads."""
    import tensorflow_model_optimization as tfmot

    init = tfmot.clustering.keras.CentroidInitialization.KMEANS_PLUS_PLUS
    wrapped = tfmot.clustering.keras.cluster_weights(_clone(model), number_of_clusters=clusters,
                                                     cluster_centroids_init=init)
    _fine_tune(wrapped, x, y, epochs, batch_size, "clustered")
    return tfmot.clustering.keras.strip_clustering(wrapped)
