"""Classification of a picture or a recording: ranked classes with labels and scores.

As pycoral's adapters/classify.py: dequantize, then scores; but how the output becomes
probabilities is said by the manifest (`output.activation`), not guessed from the values.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Mapping

import numpy as np

from ..adapters import audio
from ..adapters.image import preprocess, quantize_real
from ..errors import BadInput, ModelError
from .base import Picture, Result, Sound, Task
from .naming import naming

if TYPE_CHECKING:
    from ..adapters.budget import DecodeBudget
    from ..config import LimitsConfig
    from ..manifest import ModelSpec, TensorSpec

ACTIVATIONS = ("softmax", "logits", "sigmoid")  # what the model's output already is (manifest output.activation)


@dataclass(frozen=True)
class Class:
    index: int
    label: str  # the model's own label, in full
    score: float
    name: str = ""  # what a pupil reads (naming.py); the label when not given

    def __post_init__(self) -> None:
        if not self.name:
            object.__setattr__(self, "name", self.label)

    def to_json(self) -> dict:
        return {"index": self.index, "label": self.label, "name": self.name, "score": round(self.score, 6)}


@dataclass(frozen=True)
class Classes(Result):
    predictions: list[Class]

    def to_json(self) -> dict:
        return {"predictions": [p.to_json() for p in self.predictions]}


def dequantize(output: np.ndarray, spec: "TensorSpec") -> np.ndarray:
    values = output.astype(np.float32).reshape(-1)
    if spec.scale and not spec.dtype.startswith("float"):
        values = spec.scale * (values - spec.zero_point)
    return values


def scores(output: np.ndarray, spec: "TensorSpec", activation: str) -> np.ndarray:
    """Probabilities: the model's own after softmax or sigmoid; a softmax of its logits."""
    values = dequantize(output, spec)
    if activation == "logits":
        exp = np.exp(values - values.max())
        values = exp / exp.sum()
    return values


def top_k(output: np.ndarray, spec: "TensorSpec", labels: tuple[str, ...], k: int,
          activation: str = "softmax") -> list[Class]:
    """The k best classes pupils may see: hidden ones (unfit for a classroom) are left out before
    ranking, so the k are the best of the rest; scores stay the model's own probabilities."""
    probs = scores(output, spec, activation)
    names = naming(labels)
    ranked = probs
    if names.hidden.any():
        ranked = probs.copy()
        ranked[np.flatnonzero(names.hidden[: probs.size])] = -np.inf
    k = min(k, probs.size - int(names.hidden[: probs.size].sum()))
    if k <= 0:
        return []
    # A stable sort of them all, not argpartition: classes with equal scores (an int8 output has
    # many) come in index order, so every machine gives the same answer (tests/test_arm64.py).
    best = np.argsort(-ranked, kind="stable")[:k]
    return [Class(int(i), labels[i] if i < len(labels) else str(i), float(probs[i]), names.name(int(i)))
            for i in best]


def ranked(scores: np.ndarray, labels: tuple[str, ...], k: int) -> list[Class]:
    """The k best of probabilities whose labels are already names a pupil reads (a class's own words)."""
    best = np.argsort(-scores, kind="stable")[: min(k, scores.size)]
    return [Class(int(i), labels[i], float(scores[i])) for i in best]


def parse_top_k(raw: object, limit: int, default: int = 3) -> int:
    if raw is None or raw == "":
        return default
    if isinstance(raw, bool):
        raise BadInput(f"top_k must be a whole number, not {str(raw)[:40]!r}")
    try:
        k = int(raw)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise BadInput(f"top_k must be a whole number, not {str(raw)[:40]!r}") from None
    if not 1 <= k <= limit:
        raise BadInput(f"top_k must be from 1 to {limit}")
    return k


@dataclass(frozen=True)
class Word:
    """One word of a spoken answer: where it is in the recording (ms) and the model's input for it."""

    start_ms: int
    end_ms: int
    inputs: list


class Classification(Task):
    classifier = True
    gives = Classes

    def finish_spec(self, spec: "ModelSpec") -> "ModelSpec":
        """Labels numbered where a drop-in has none (or too few, as Coral's files may); a manifest's
        labels must match the classes."""
        if len(spec.outputs) != 1:
            raise ModelError(f"a {self.name} model has one output tensor; this one has {len(spec.outputs)}")
        classes = spec.outputs[0].shape[-1]
        labels = spec.labels
        if spec.source == "derived" and len(labels) < classes:
            labels = labels + tuple(str(i) for i in range(len(labels), classes))
        if len(labels) != classes:
            raise ModelError(f"the model has {classes} classes but {len(labels)} labels: fix the labels")
        if spec.activation not in ACTIVATIONS:
            raise ModelError(f"output.activation {spec.activation!r} must be one of {', '.join(ACTIVATIONS)}")
        naming(labels)  # the friendly names, worked out once at load rather than on the first photo
        return dataclasses.replace(spec, labels=labels)

    def options(self, given: Mapping[str, Any], limits: "LimitsConfig") -> dict:
        return {"top_k": parse_top_k(given.get("top_k"), limits.max_top_k)}

    def decode(self, outputs: list[np.ndarray], spec: "ModelSpec", options: dict) -> Classes:
        return Classes(top_k(outputs[0], spec.outputs[0], spec.labels, options.get("top_k", 3), spec.activation))


class ImageClassification(Classification):
    name = "image-classification"
    media = (Picture,)

    def prepare(self, media: Picture, spec: "ModelSpec", limits: "LimitsConfig",
                budget: "DecodeBudget") -> list[np.ndarray]:
        return [preprocess(media.data, spec.inputs[0], spec.preprocess, limits.max_image_pixels, budget)]


class AudioClassification(Classification):
    name = "audio-classification"
    media = (Sound,)

    def finish_spec(self, spec: "ModelSpec") -> "ModelSpec":
        spec = super().finish_spec(spec)
        params = audio.FeatureParams.from_json(spec.preprocess.extra)
        if tuple(spec.inputs[0].shape[1:]) != params.shape:
            raise ModelError(f"the model takes {list(spec.inputs[0].shape)} but its manifest's audio features "
                             f"make {list(params.shape)}; rebuild the model")
        return spec

    def prepare(self, media: Sound, spec: "ModelSpec", limits: "LimitsConfig",
                budget: "DecodeBudget") -> list[np.ndarray]:
        params = audio.FeatureParams.from_json(spec.preprocess.extra)
        pcm = audio.read_sound(media.data, media.sample_rate)  # the header checked; nothing decoded yet
        with budget.reserve(audio.decode_bytes(pcm, params), "the recording"):
            return [quantize_real(audio.clip_features(pcm, params), spec.inputs[0])]

    def prepare_words(self, media: Sound, spec: "ModelSpec", limits: "LimitsConfig",
                      budget: "DecodeBudget") -> list[Word]:
        """A whole answer said in one go: each word found (at most audio.MAX_WORDS), and its tensors
        made exactly as `prepare` makes one recording's, from that word's part of it; [] for silence."""
        params = audio.FeatureParams.from_json(spec.preprocess.extra)
        pcm = audio.read_sound(media.data, media.sample_rate)
        with budget.reserve(audio.scan_bytes(pcm), "the recording"):
            spans = audio.find_words(pcm)
        words = []
        for start, stop in spans:
            piece = audio.part(pcm, start, stop)
            with budget.reserve(audio.decode_bytes(piece, params), "the recording"):
                inputs = [quantize_real(audio.clip_features(piece, params), spec.inputs[0])]
            words.append(Word(start * 1000 // pcm.rate, -(-stop * 1000 // pcm.rate), inputs))
        return words
