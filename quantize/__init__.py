"""classroom-quantize: train or load a Keras model, quantize it, measure it, write it to models/.

The workstation half. Needs the `quantize` extra (TensorFlow); hub/ never imports this.
"""
import os

# tensorflow-model-optimization needs Keras 2 (tf-keras); set before TensorFlow is imported.
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
