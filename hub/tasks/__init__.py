"""Tasks as plug-ins: one module per kind of model output, found by registration.

A manifest's `task` names one of these. To add a task, write its module (a `Task` subclass:
`prepare`, `decode`, its `Result`) and register it here; see docs/ARCHITECTURE.md.
"""
from __future__ import annotations

from ..errors import ModelError
from .base import Media, Picture, Result, Sound, Task
from .classification import AudioClassification, ImageClassification
from .tensor import TensorTask

TASKS: dict[str, Task] = {}


def register(task: Task) -> Task:
    if task.name in TASKS:
        raise ValueError(f"task {task.name!r} is registered twice")
    TASKS[task.name] = task
    return task


for _task in (ImageClassification(), AudioClassification(), TensorTask()):
    register(_task)


def get(name: str) -> Task:
    task = TASKS.get(name)
    if task is None:
        raise ModelError(f"task {name!r} is not one of {', '.join(sorted(TASKS))}")
    return task


__all__ = ["Media", "Picture", "Result", "Sound", "Task", "TASKS", "get", "register"]
