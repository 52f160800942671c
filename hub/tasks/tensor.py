"""A model the hub knows nothing about (a drop-in that is not a picture model): tensors in and
out, over /v2 only. It takes no media, so REST predict and Socket.IO refuse it with the reason."""
from __future__ import annotations

from .base import Task


class TensorTask(Task):
    name = "tensor"
