"""What every task is: media in, the model's input tensors; output tensors out, a typed result.

A task module (`classification.py`, ...) defines a `Task` subclass and registers it in
`hub/tasks/__init__.py` under the name a manifest gives as `task`. The service, REST, /v2 and
Socket.IO dispatch through the registry; nothing else in the hub branches on a task's name.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Mapping

import numpy as np

from ..errors import BadInput

if TYPE_CHECKING:
    from ..adapters.budget import DecodeBudget
    from ..config import LimitsConfig
    from ..manifest import ModelSpec


@dataclass(frozen=True)
class Picture:
    """A picture as it arrived (PNG, JPEG, BMP or WebP bytes)."""

    data: bytes
    what = "a picture"
    send = "an image (PNG, JPEG, BMP or WebP)"


@dataclass(frozen=True)
class Sound:
    """A recording as it arrived: a WAV file, or raw 16-bit PCM with its sample rate."""

    data: bytes
    sample_rate: int | None = None  # None: data is a WAV file
    what = "a recording"
    send = "audio (a WAV, or 16-bit PCM with its sample rate)"

    def samples(self) -> tuple:
        from ..adapters import audio

        if self.sample_rate is None:
            return audio.decode_wav(self.data)
        return audio.decode_pcm16(self.data, self.sample_rate)


Media = Picture | Sound


@dataclass(frozen=True)
class Prepared:
    """What `prepare` returns when `decode` must know something about this media besides its
    tensors (where a letterboxed picture sits, for pose): the tensors, and `notes` that `decode`
    receives merged into its `options`. A plain list of tensors means no notes."""

    inputs: list
    notes: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, prepared: "Prepared | list[np.ndarray]") -> "Prepared":
        return prepared if isinstance(prepared, Prepared) else cls(list(prepared))


class Result:
    """A task's typed result; `to_json` is what every front end answers with."""

    def to_json(self) -> dict:
        raise NotImplementedError


class Task:
    name = ""  # what a manifest says as `task`
    media: tuple[type, ...] = ()  # what it takes from a tablet: (Picture,), (Sound,), or () (tensors only)
    classifier = False  # answers POST /api/models/NAME/classify and Socket.IO `classify`
    gives: type | None = None  # the Result subclass `decode` returns: how activities find their models

    def finish_spec(self, spec: "ModelSpec") -> "ModelSpec":
        """Once, at load: fill in what the folder may leave out, and refuse (ModelError) a model
        this task cannot serve."""
        return spec

    def options(self, given: Mapping[str, Any], limits: "LimitsConfig") -> dict:
        """The request's options (query string, or Socket.IO payload), checked; {} by default."""
        return {}

    def prepare(self, media: Media, spec: "ModelSpec", limits: "LimitsConfig",
                budget: "DecodeBudget") -> "list[np.ndarray] | Prepared":
        """The model's input tensors, from the media (or a `Prepared` with notes for `decode`).
        Bounded in memory: reserve in `budget` what the decode will hold at its peak, estimated
        from the header, before decoding."""
        raise NotImplementedError

    def decode(self, outputs: list[np.ndarray], spec: "ModelSpec", options: dict) -> Result:
        """The typed result; `options` are the request's, with the notes of `prepare` merged in."""
        raise NotImplementedError

    def require_media(self, media: Media, model: str) -> None:
        if not self.media:
            raise BadInput(f"model {model!r} is a {self.name} model: send tensors to /v2/models/{model}/infer")
        if not isinstance(media, self.media):
            wanted = " or ".join(kind.what for kind in self.media)
            raise BadInput(f"model {model!r} takes {wanted}, not {media.what}: send "
                           + " or ".join(kind.send for kind in self.media))

    def describe(self) -> dict:
        return {"name": self.name, "media": [kind.__name__.lower() for kind in self.media],
                "classifier": self.classifier}
