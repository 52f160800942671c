"""Times tables: flashcards answered by writing (a digit per box) or speaking, at the pupil's level.

The tablet reads each written digit (or spoken digit) with the hub's digit models, then sends
the answer; the level goes up after three right in a row within 8 s, and down after two wrong
in the last three. The digit models are found by what they do (a classifier of pictures, or of
recordings, whose labels are 0 to 9), never by name.
"""
from __future__ import annotations

import secrets
from typing import Any

from ..errors import BadInput
from ..tasks import Picture, Sound
from .base import Activity, ActivityContext, Checked, whole_number

# Difficulty levels: the multiplication tables asked at each one.
LEVELS = {1: (1, 5, 1, 5), 2: (1, 10, 1, 5), 3: (2, 10, 2, 10), 4: (2, 12, 2, 12), 5: (6, 12, 6, 12)}
DIGITS = tuple(str(d) for d in range(10))
MODES = {"handwriting": Picture, "speech": Sound}  # how the pupil answers -> what the model must classify
FAST_MS = 8000


def digit_models(ctx: ActivityContext) -> dict[str, str]:
    """mode -> the first ready model (by name) classifying that mode's media into the digits 0-9."""
    found: dict[str, str] = {}
    for mode, media in MODES.items():
        readers = sorted(s.name for s in ctx.classifiers_of(media) if tuple(s.labels) == DIGITS)
        if readers:
            found[mode] = readers[0]
    return found


class TimesTables(Activity):
    name = "times-tables"
    title = "Times tables"
    summary = "Flashcards answered by writing, speaking or typing, at each pupil's own level"

    def describe(self, ctx: ActivityContext) -> dict:
        models = digit_models(ctx)
        return {**super().describe(ctx), "modes": [{"mode": m, "model": models[m]} for m in MODES if m in models]
                + [{"mode": "typed", "model": None}]}

    def new_state(self) -> dict:
        return {"level": 1, "recent": []}  # recent: [correct and fast] since the level last changed

    def question(self, state: dict) -> dict:
        """The question asked and not yet answered, or a new one at the pupil's level."""
        if "asked" in state:
            return dict(state["asked"])
        level = state["level"]
        lo_a, hi_a, lo_b, hi_b = LEVELS[level]
        a, b = secrets.choice(range(lo_a, hi_a + 1)), secrets.choice(range(lo_b, hi_b + 1))
        state["asked"] = {"a": a, "b": b, "level": level, "text": f"{a} × {b}"}
        return dict(state["asked"])

    def check(self, state: dict, data: Any, media, ctx: ActivityContext, elapsed_ms: int) -> Checked:
        """The answer to the question the hub asked (a and b, when sent, must be that question's),
        answered once; the level follows the hub's own timing."""
        asked = state.get("asked")
        if asked is None:
            raise BadInput("there is no question to answer: ask for the next one ('next')")
        if not isinstance(data, dict):
            raise BadInput("an answer needs {given, mode}")
        sent = {k: data[k] for k in ("a", "b") if k in data}
        if sent and {k: whole_number(data, k, 0, 20) for k in sent} != {k: asked[k] for k in sent}:
            raise BadInput("that is not the question you were asked: answer the one on your screen")
        given = data.get("given")
        if not isinstance(given, (str, int)) or isinstance(given, bool) or not str(given).strip():
            raise BadInput("an answer needs what the pupil answered ('given')")
        given = str(given).strip()[:8]
        mode = str(data.get("mode", "typed"))
        if mode not in (*MODES, "typed"):
            raise BadInput("mode must be handwriting, speech or typed")
        a, b = asked["a"], asked["b"]
        del state["asked"]  # answered: the same question is never counted twice
        correct = given == str(a * b)
        self._level(state, correct, elapsed_ms)
        return Checked(f"{a} × {b}", given, str(a * b), correct, mode)

    @staticmethod
    def _level(state: dict, correct: bool, response_ms: int) -> None:
        recent = state["recent"]
        recent.append([correct, correct and response_ms <= FAST_MS])
        last3 = recent[-3:]
        if len(last3) == 3 and all(fast for _, fast in last3) and state["level"] < 5:
            state["level"] += 1
            recent.clear()
        elif not correct and sum(not ok for ok, _ in last3) >= 2 and state["level"] > 1:
            state["level"] -= 1
            recent.clear()
        del recent[:-3]

    def pupil_figures(self, state: dict) -> dict:
        return {"level": state["level"]}
