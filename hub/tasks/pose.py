"""Pose estimation of one person: named keypoints with scores, where they are in the picture.

For MoveNet single-pose (Lightning 192 px, Thunder 256 px): the picture goes in letterboxed, so
the body is not stretched, and each keypoint's (y, x, score) comes out as fractions of the input;
decode undoes the letterbox, so x and y are fractions of the picture the pupil sent.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ..adapters.image import (
    Letterbox,
    decoded,
    image_size,
    letterbox,
    quantize,
    to_color,
)
from ..errors import ModelError
from .base import Picture, Prepared, Result, Task

if TYPE_CHECKING:
    from ..adapters.budget import DecodeBudget
    from ..config import LimitsConfig
    from ..manifest import ModelSpec

# MoveNet's keypoints in output order (COCO's 17): the names when a manifest gives no labels
MOVENET_KEYPOINTS = (
    "nose", "left eye", "right eye", "left ear", "right ear", "left shoulder", "right shoulder",
    "left elbow", "right elbow", "left wrist", "right wrist", "left hip", "right hip",
    "left knee", "right knee", "left ankle", "right ankle",
)
OUTPUT_SHAPE = (1, 1, len(MOVENET_KEYPOINTS), 3)


@dataclass(frozen=True)
class Keypoint:
    name: str
    x: float  # fraction of the picture's width, from its left edge
    y: float  # fraction of its height, from the top
    score: float

    def to_json(self) -> dict:
        return {"name": self.name, "x": round(self.x, 6), "y": round(self.y, 6), "score": round(self.score, 6)}


@dataclass(frozen=True)
class Pose(Result):
    keypoints: list[Keypoint]
    size: tuple[int, int] | None = None  # the picture's (width, height) as decoded: angles need its shape

    def to_json(self) -> dict:
        out: dict = {"keypoints": [k.to_json() for k in self.keypoints]}
        if self.size:
            out["picture"] = {"width": self.size[0], "height": self.size[1]}
        return out


class PoseEstimation(Task):
    name = "pose-estimation"
    media = (Picture,)
    gives = Pose

    def finish_spec(self, spec: "ModelSpec") -> "ModelSpec":
        """A single-pose model (one [1, H, W, 3] picture in, [1, 1, 17, 3] out); labels, when the
        manifest gives them, name the 17 keypoints."""
        if len(spec.inputs) != 1 or len(spec.inputs[0].shape) != 4 or spec.inputs[0].shape[-1] != 3:
            raise ModelError(f"a {self.name} model takes one colour picture [1, height, width, 3]; this one takes "
                             + ", ".join(str(list(t.shape)) for t in spec.inputs))
        if spec.preprocess.kind != "image" or spec.preprocess.color != "rgb":
            raise ModelError(f"a {self.name} model's input.preprocess must be kind \"image\", color \"rgb\"")
        if len(spec.outputs) != 1 or tuple(spec.outputs[0].shape) != OUTPUT_SHAPE:
            raise ModelError(
                f"the model's output is {', '.join(str(list(t.shape)) for t in spec.outputs)}, but a {self.name} "
                f"model gives {list(OUTPUT_SHAPE)} (y, x and score of 17 keypoints, as MoveNet single-pose): "
                "use MoveNet Lightning or Thunder single-pose, or give the model the task it has")
        if spec.labels and len(spec.labels) != len(MOVENET_KEYPOINTS):
            raise ModelError(f"the model finds {len(MOVENET_KEYPOINTS)} keypoints but its manifest names "
                             f"{len(spec.labels)}: list 17 labels, or none for MoveNet's names")
        return spec

    def prepare(self, media: Picture, spec: "ModelSpec", limits: "LimitsConfig",
                budget: "DecodeBudget") -> Prepared:
        """Decoded within the decode budget as a classifier's picture is, then letterboxed: the
        letterbox travels to `decode` in the notes."""
        size = image_size(spec.inputs[0])
        with decoded(media.data, size, limits.max_image_pixels, budget) as picture:
            boxed, box = letterbox(picture, size)
            height, width = picture.shape[:2]
        tensor = quantize(to_color(boxed, spec.preprocess.color), spec.inputs[0], spec.preprocess.value_range)
        return Prepared([tensor], {"letterbox": box, "picture_size": (width, height)})

    def decode(self, outputs: list[np.ndarray], spec: "ModelSpec", options: dict) -> Pose:
        out = spec.outputs[0]
        values = outputs[0].astype(np.float32).reshape(-1, 3)
        if out.scale and not out.dtype.startswith("float"):
            values = out.scale * (values - out.zero_point)
        box: Letterbox | None = options.get("letterbox")  # None: tensors that did not come from prepare
        names = spec.labels or MOVENET_KEYPOINTS
        keypoints = []
        for name, (y, x, score) in zip(names, values.tolist()):
            if box is not None:
                x, y = box.to_picture(x, y)
            # a keypoint guessed in the padding is at the picture's edge, not outside it
            keypoints.append(Keypoint(name, min(max(x, 0.0), 1.0), min(max(y, 0.0), 1.0), score))
        return Pose(keypoints, options.get("picture_size"))
