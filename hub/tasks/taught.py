"""A model a class taught (hub/teach/): a backbone model, then the layer the class trained.

The folder holds the backbone's files (an image embedding or a pose model, with its Edge TPU build
when there is one) and `head.npz`. The engine runs the backbone like any model, on the Edge TPU
when there is one; `decode` turns its result into the numbers the class's examples were
(hub/teach/features.py, the same function) and applies the trained layer on the CPU: a
classifier like any other, for REST, /v2, Socket.IO and every activity.
"""
from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any, Mapping

import numpy as np

from ..errors import ModelError
from .base import Picture, Prepared, Task
from .classification import Classes, parse_top_k, ranked
from .pose import MOVENET_KEYPOINTS

if TYPE_CHECKING:
    from ..adapters.budget import DecodeBudget
    from ..config import LimitsConfig
    from ..manifest import ModelSpec


class TaughtClassification(Task):
    name = "taught-classification"
    media = (Picture,)
    classifier = True
    gives = Classes

    @staticmethod
    def _parts(spec: "ModelSpec") -> tuple[Task, Any]:
        from ..teach.features import KINDS
        from . import TASKS

        head = spec.head or {}
        backbone = TASKS.get(head.get("backbone_task"))
        features = KINDS.get(head.get("features"))
        if backbone is None or features is None or not features.backbone_fits(backbone):
            raise ModelError("manifest.json: head must give features (one of "
                             f"{', '.join(KINDS)}) and the backbone_task that makes them")
        return backbone, features

    def finish_spec(self, spec: "ModelSpec") -> "ModelSpec":
        """The backbone checked as its own task checks it; the trained layer read, checked against
        its sha256, and matched to the labels and the backbone's output."""
        from ..teach.saved import read_head

        backbone, features = self._parts(spec)
        backbone.finish_spec(dataclasses.replace(spec, labels=()))
        folder = next(iter(spec.variants.values())).path.parent
        head = read_head(folder, spec.head)
        if head.weights.shape[0] != len(spec.labels) or len(spec.labels) < 2:
            raise ModelError(f"the trained layer knows {head.weights.shape[0]} things but the manifest lists "
                             f"{len(spec.labels)}: save the model again")
        size = int(np.prod(spec.outputs[0].shape)) if features.kind == "pictures" else 2 * len(MOVENET_KEYPOINTS)
        if head.weights.shape[1] != size:
            raise ModelError(f"the trained layer takes {head.weights.shape[1]} numbers but the backbone gives {size}: "
                             "save the model again with this backbone")
        return dataclasses.replace(spec, trained=head, activation="softmax")

    def options(self, given: Mapping[str, Any], limits: "LimitsConfig") -> dict:
        return {"top_k": parse_top_k(given.get("top_k"), limits.max_top_k)}

    def prepare(self, media: Picture, spec: "ModelSpec", limits: "LimitsConfig",
                budget: "DecodeBudget") -> "list[np.ndarray] | Prepared":
        backbone, _ = self._parts(spec)
        return backbone.prepare(media, spec, limits, budget)

    def decode(self, outputs: list[np.ndarray], spec: "ModelSpec", options: dict) -> Classes:
        backbone, features = self._parts(spec)
        result = backbone.decode(outputs, dataclasses.replace(spec, labels=()), options)  # its own names, not ours
        return Classes(ranked(spec.trained.scores(features.vector(result)), spec.labels, options.get("top_k", 3)))
