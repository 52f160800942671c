"""What a taught model learns from: the numbers a backbone model gives for one example.

Two kinds, each found by the result its backbone's task gives (never by a model's name):
- `pictures`: an `Embedding` (Coral's MobileNet v1 extractor: 1024 values), as it is; the trainer
  normalises it.
- `poses`: a `Pose` (MoveNet's 17 keypoints), normalised to the body: in pixels (a keypoint's x and
  y are fractions of the picture's own width and height), centred between the hips (or the
  shoulders), scaled by the torso's length (or 1.5 shoulder widths when the hips are not seen), so where the pupil stands and how far from the camera
  do not count, only the shape of the body. A keypoint not seen is 0 (the centre).

The same function makes the examples (hub/teach/project.py) and serves a saved model
(hub/tasks/taught.py), so a model sees at serving time exactly what it learnt from.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..errors import BadInput, NotSeen
from ..tasks.embedding import Embedding
from ..tasks.pose import MOVENET_KEYPOINTS, Pose

MIN_SCORE = 0.3  # a keypoint below this is not seen (as Move like me)
MIN_SEEN = 5  # fewer keypoints than this is not a body the hub can learn from (a portrait shows 7)
NO_BODY = "The hub cannot see a whole person: step back so your body is in the photo."


@dataclass(frozen=True)
class Features:
    kind: str  # what a teach project and a saved model's manifest say ("pictures", "poses")
    gives: type  # the Result the backbone model's task gives
    examples: str  # what a pupil gives, in words ("photos", "poses")
    vector: Callable[[object], np.ndarray]  # the backbone's result -> float32 features

    def backbone_fits(self, task) -> bool:
        return task.gives is self.gives


def _embedding(result: object) -> np.ndarray:
    assert isinstance(result, Embedding)
    return np.asarray(result.values, dtype=np.float32).reshape(-1)


def _middle(points: dict[str, tuple[float, float]], a: str, b: str) -> tuple[float, float]:
    return ((points[a][0] + points[b][0]) / 2, (points[a][1] + points[b][1]) / 2)


def pose_vector(keypoints: list, size: tuple[int, int] | None) -> np.ndarray:
    """34 numbers: each keypoint's (x, y) from the body's centre in torso lengths, 0 when not seen.
    `keypoints` as the pose task gives them (name, x, y, score; x and y fractions of the picture)."""
    width, height = size or (1, 1)
    points = {k.name: (k.x * width, k.y * height) for k in keypoints
              if k.score >= MIN_SCORE and math.isfinite(k.x) and math.isfinite(k.y)}
    # Both shoulders, always: MoveNet finds a "face" and a shoulder or two in a sunflower; a person
    # seen from the front or the back shows both.
    if len(points) < MIN_SEEN or not {"left shoulder", "right shoulder"} <= points.keys():
        raise NotSeen(NO_BODY)
    shoulders = _middle(points, "left shoulder", "right shoulder")
    hips = _middle(points, "left hip", "right hip") if {"left hip", "right hip"} <= points.keys() else None
    centre = hips or shoulders
    if hips is not None:
        scale = math.dist(hips, shoulders)
    else:  # a portrait: the shoulders' width stands in for the torso
        scale = math.dist(points["left shoulder"], points["right shoulder"]) * 1.5
    if scale <= 1e-6:
        raise NotSeen(NO_BODY)
    out = np.zeros((len(MOVENET_KEYPOINTS), 2), dtype=np.float32)
    for i, name in enumerate(MOVENET_KEYPOINTS):
        if name in points:
            out[i] = ((points[name][0] - centre[0]) / scale, (points[name][1] - centre[1]) / scale)
    return out.reshape(-1)


def _pose(result: object) -> np.ndarray:
    assert isinstance(result, Pose)
    return pose_vector(result.keypoints, result.size)


PICTURES = Features("pictures", Embedding, "photos", _embedding)
POSES = Features("poses", Pose, "poses", _pose)
KINDS = {f.kind: f for f in (PICTURES, POSES)}


def kind(name: object) -> Features:
    if not isinstance(name, str) or name not in KINDS:
        raise BadInput(f"kind must be one of {', '.join(KINDS)}")
    return KINDS[name]
