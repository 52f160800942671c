"""Tasks as plug-ins: one module per kind of model output, found by registration.

A manifest's `task` names one of these. To add a task, write its module (a `Task` subclass:
`prepare`, `decode`, its `Result`) and register it here; see docs/ARCHITECTURE.md.
"""
from __future__ import annotations

from ..errors import ModelError
from ..plugins import Registry
from .base import Media, Picture, Prepared, Result, Sound, Task
from .classification import AudioClassification, ImageClassification
from .embedding import ImageEmbedding
from .pose import PoseEstimation
from .taught import TaughtClassification
from .tensor import TensorTask

TASKS: Registry[Task] = Registry("task", lambda names: ModelError(f"the task must be one of {names}"))
register = TASKS.register
get = TASKS.require

for _task in (ImageClassification(), AudioClassification(), ImageEmbedding(), PoseEstimation(), TaughtClassification(),
              TensorTask()):
    register(_task)


__all__ = ["Media", "Picture", "Prepared", "Result", "Sound", "Task", "TASKS", "get", "register"]
