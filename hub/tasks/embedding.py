"""Image embedding: a picture as a vector of numbers (a classifier without its last layer).

For Coral's MobileNet v1 embedding extractor (1024 values per picture): what "Teach the hub"
learns from (hub/teach/). The picture is prepared as a classifier's is; the output is dequantized
and given as it is. `POST /api/models/{name}/predict` answers `{"embedding": [...], "size": N}`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ..adapters.image import preprocess
from ..errors import ModelError
from .base import Picture, Result, Task
from .classification import dequantize

if TYPE_CHECKING:
    from ..adapters.budget import DecodeBudget
    from ..config import LimitsConfig
    from ..manifest import ModelSpec


@dataclass(frozen=True)
class Embedding(Result):
    values: np.ndarray  # float32, 1-D

    def to_json(self) -> dict:
        return {"embedding": [round(v, 6) for v in self.values.tolist()], "size": int(self.values.size)}


class ImageEmbedding(Task):
    name = "image-embedding"
    media = (Picture,)
    gives = Embedding

    def finish_spec(self, spec: "ModelSpec") -> "ModelSpec":
        """One picture in, one vector out ([1, N] or [1, 1, 1, N], as Coral's extractor)."""
        if len(spec.outputs) != 1 or int(np.prod(spec.outputs[0].shape)) != spec.outputs[0].shape[-1]:
            raise ModelError(f"an {self.name} model gives one vector; this one gives "
                             + ", ".join(str(list(t.shape)) for t in spec.outputs))
        if spec.preprocess.kind != "image":
            raise ModelError(f"an {self.name} model's input.preprocess must be kind \"image\"")
        return spec

    def prepare(self, media: Picture, spec: "ModelSpec", limits: "LimitsConfig",
                budget: "DecodeBudget") -> list[np.ndarray]:
        return [preprocess(media.data, spec.inputs[0], spec.preprocess, limits.max_image_pixels, budget)]

    def decode(self, outputs: list[np.ndarray], spec: "ModelSpec", options: dict) -> Embedding:
        return Embedding(dequantize(outputs[0], spec.outputs[0]))
