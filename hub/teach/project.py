"""One thing the class is teaching the hub: its name, the things to learn, the examples given, and
the model trained from them.

An example is only the numbers a backbone model made of a picture (features.py), the thing it
shows, and who gave it (a pupil's id, the teacher, or an earlier lesson for a reopened model).
The picture itself is never kept. Everything here is guarded by the project's lock; the trained
model (`head`) and its measured accuracy (`evaluation`) are replaced whole by the trainer.
"""
from __future__ import annotations

import json
import re
import threading
import time
from dataclasses import dataclass, field

import numpy as np

from ..errors import BadInput, ClassStateError, LimitReached
from .features import Features
from .trainer import Evaluation, Head

NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,31}$")
LABEL = re.compile(r"^\w[\w '-]{0,23}$", re.UNICODE)
MIN_LABELS, MAX_LABELS = 2, 10
TEACHER, EARLIER = "@teacher", "@earlier"  # who gave an example besides a pupil (ids are hex)
UNSURE_BELOW = 0.5  # a taught model's best guess under this is "not sure"


def plain_name(name: object) -> str:
    if not isinstance(name, str) or not NAME.match(name):
        raise BadInput("the name must be 1 to 32 small letters, digits or dashes, starting with a letter or "
                       "digit, such as \"leaves\" or \"pe-moves\"")
    return name


def check_labels(labels: object) -> tuple[str, ...]:
    if not isinstance(labels, (list, tuple)) or not MIN_LABELS <= len(labels) <= MAX_LABELS:
        raise BadInput(f"give {MIN_LABELS} to {MAX_LABELS} things to learn, such as [\"leaf\", \"pine cone\", \"stone\"]")
    cleaned = []
    for label in labels:
        text = " ".join(label.split()) if isinstance(label, str) else None
        if not text or not LABEL.match(text):
            raise BadInput("each thing to learn is 1 to 24 letters, digits, spaces, ' or -, such as \"pine cone\"")
        if text.casefold() in (c.casefold() for c in cleaned):
            raise BadInput(f"{text!r} is in the list twice")
        cleaned.append(text)
    return tuple(cleaned)


@dataclass
class Example:
    id: int
    label: int
    given_by: str  # a pupil's id, TEACHER or EARLIER
    features: np.ndarray  # float32, 1-D


@dataclass(frozen=True)
class Limits:
    per_thing: int  # examples of one thing, from everyone
    per_pupil: int  # examples from one pupil (or the teacher), of all things


@dataclass
class Project:
    name: str
    labels: tuple[str, ...]
    features: Features
    backbone: str  # the model that makes the examples' numbers
    limits: Limits
    created_at: float = field(default_factory=time.time)
    frozen: bool = False  # no more examples; the model stays as it is
    reopened_from: str | None = None  # the saved model this lesson goes on teaching
    examples: list[Example] = field(default_factory=list)
    head: Head | None = None
    trained_on: int = 0  # examples the head was trained on
    evaluation: Evaluation | None = None
    version: int = 0  # counts changes to the examples: the trainer trains on the newest
    lock: threading.RLock = field(default_factory=threading.RLock, repr=False)
    _per_label: list[int] = field(default_factory=list, repr=False)  # counts kept as examples come and go
    _per_giver: dict[str, int] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self.recount()

    def recount(self) -> None:
        """The counts again from the examples (after the list was replaced whole)."""
        with self.lock:
            self._per_label = [0] * len(self.labels)
            self._per_giver = {}
            for e in self.examples:
                self._per_label[e.label] += 1
                self._per_giver[e.given_by] = self._per_giver.get(e.given_by, 0) + 1

    # ---- examples ---------------------------------------------------------------------------------
    def label_index(self, label: object) -> int:
        for i, known in enumerate(self.labels):
            if isinstance(label, str) and " ".join(label.split()).casefold() == known.casefold():
                return i
        raise BadInput(f"choose one of the things to learn: {', '.join(self.labels)}")

    def check_room(self, label: int, given_by: str) -> None:
        """Refuse an example before the picture is decoded: frozen, or a limit reached."""
        with self.lock:
            if self.frozen:
                raise ClassStateError("the teacher has frozen this model: it is not learning now", "frozen")
            if self._per_label[label] >= self.limits.per_thing:
                raise LimitReached(f"the hub has {self.limits.per_thing} examples of {self.labels[label]} already: "
                                   "show it the other things", "per_thing")
            if given_by != EARLIER and self._per_giver.get(given_by, 0) >= self.limits.per_pupil:
                raise LimitReached(f"you have given {self.limits.per_pupil} examples already: thank you! "
                                   "Let someone else have a go", "per_pupil")

    def add(self, example: Example) -> None:
        with self.lock:
            self.examples.append(example)
            self._per_label[example.label] += 1
            self._per_giver[example.given_by] = self._per_giver.get(example.given_by, 0) + 1
            self.version += 1

    def remove_given_by(self, given_by: str) -> int:
        with self.lock:
            before = len(self.examples)
            self.examples = [e for e in self.examples if e.given_by != given_by]
            removed = before - len(self.examples)
            if removed:
                self.recount()
                self.version += 1
            return removed

    def arrays(self) -> tuple[np.ndarray, np.ndarray, int]:
        """Every example's features and label, with the version they are of."""
        with self.lock:
            if not self.examples:
                return np.zeros((0, 0), np.float32), np.zeros(0, np.int64), self.version
            return (np.stack([e.features for e in self.examples]),
                    np.array([e.label for e in self.examples], dtype=np.int64), self.version)

    def trainable(self) -> bool:
        """At least two things have examples: a model that can tell things apart."""
        with self.lock:
            return len({e.label for e in self.examples}) >= 2

    # ---- what people see --------------------------------------------------------------------------
    def counts(self) -> list[int]:
        with self.lock:
            return list(self._per_label)

    def tablet_view(self) -> dict:
        """What every tablet is told: the things, how many examples each has, whether it can try."""
        with self.lock:
            return {"name": self.name, "kind": self.features.kind, "examples": self.features.examples,
                    "labels": list(self.labels), "counts": self.counts(), "frozen": self.frozen,
                    "ready": self.head is not None}

    def status(self, nicknames: dict[str, str]) -> dict:
        """The dashboard's view: counts per thing and per pupil, accuracy, what it mixes up."""
        with self.lock:
            givers: dict[str, list[int]] = {}
            for e in self.examples:
                givers.setdefault(e.given_by, [0] * len(self.labels))[e.label] += 1
            evaluation = self.evaluation
            out = {**self.tablet_view(), "backbone": self.backbone, "reopened_from": self.reopened_from,
                   "total": len(self.examples), "trained_on": self.trained_on if self.head else 0,
                   "limits": {"per_thing": self.limits.per_thing, "per_pupil": self.limits.per_pupil},
                   "by_pupil": [{"id": who, "nickname": _who(who, nicknames), "counts": counts,
                                 "total": sum(counts)} for who, counts in givers.items()],
                   "accuracy": None}
        if evaluation is not None:
            mixed = evaluation.mixed_up(list(self.labels))
            out["accuracy"] = {"value": evaluation.accuracy, "method": evaluation.method, "tested": evaluation.tested,
                               "confusion": evaluation.confusion, "mixed_up": mixed,
                               "advice": advice(mixed, evaluation.accuracy)}
        return out

    def row(self) -> dict:
        return {"name": self.name, "labels": json.dumps(list(self.labels)), "kind": self.features.kind,
                "backbone": self.backbone, "frozen": int(self.frozen), "reopened_from": self.reopened_from,
                "created_at": self.created_at}


def _who(given_by: str, nicknames: dict[str, str]) -> str:
    if given_by == TEACHER:
        return "the teacher"
    if given_by == EARLIER:
        return "an earlier lesson"
    return nicknames.get(given_by, "a pupil who left")


def advice(mixed: list[dict], accuracy: float | None) -> str:
    """One line for the teacher, in plain words."""
    if accuracy is None:
        return "Give examples of at least two things, two or more of each, to see how well it has learnt."
    if mixed:
        worst = mixed[0]
        return f"It mixes up {worst['a']} and {worst['b']}: show it more of both, in different places and light."
    return "It tells every thing apart on the examples it was tested on. Try it on new things!"
