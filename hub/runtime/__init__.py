"""Inference runtimes: the LiteRT/tflite_runtime shim, the CPU and the Edge TPU."""
