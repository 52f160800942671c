"""What every classroom activity is: what a tablet is asked, how an answer is checked, the
pupil's own state (level, streak), and what the dashboard, kiosk and export show.

An activity module (`times_tables.py`, ...) defines an `Activity` subclass and registers it in
`hub/activities/__init__.py`. The class (hub/classroom/) records what the activity checked; the
pages draw what `describe` tells them, never a model name of their own.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import BadInput

if TYPE_CHECKING:
    from ..service import Hub, Prediction
    from ..tasks import Media


@dataclass(frozen=True)
class Checked:
    """An answer as the activity judged it; the class stores it as given here (never media)."""

    prompt: str  # what was asked, in words: "3 × 4", "a photo"
    given: str  # what the pupil answered (what the hub read, for writing and speech)
    expected: str | None = None  # the right answer, where there is one
    correct: bool | None = None  # None: nothing to get right (a photo of anything)
    mode: str = "typed"  # how: "handwriting", "speech", "typed", "photo"
    reply: dict | None = None  # extra for the tablet only (a prediction's classes)


class ActivityContext:
    """What an activity may use of the hub: the ready models, and predictions on them."""

    def __init__(self, hub: "Hub") -> None:
        self._hub = hub
        self.teaching: Any = None  # the class's TeachService (hub/teach/), set by the app factory
        self.pupil: str | None = None  # the id of the pupil whose answer is being judged (`for_pupil`)

    def for_pupil(self, student_id: str) -> "ActivityContext":
        """The same context, saying whose answer it is (an activity that keeps who gave what)."""
        ctx = copy.copy(self)
        ctx.pupil = student_id
        return ctx

    def ready_models(self) -> list:
        return [e.spec for e in self._hub.registry.entries() if e.status == "ready" and e.spec is not None]

    def classifiers_of(self, media: type) -> list:
        """Ready models whose task (asked of the task registry) classifies this kind of media."""
        return self._ready_where(lambda task: task.classifier, media)

    def models_giving(self, result: type, media: type) -> list:
        """Ready models whose task gives this kind of result (Pose, ...) from this kind of media."""
        return self._ready_where(lambda task: task.gives is result, media)

    def _ready_where(self, fits, media: type) -> list:
        from .. import tasks

        return [spec for spec in self.ready_models()
                if (task := tasks.TASKS.get(spec.task)) is not None and fits(task) and media in task.media]

    def predict(self, model: str, media: "Media", options: dict, api: str = "socketio") -> "Prediction":
        return self._hub.predict(model, media, options, api=api)


class Activity:
    name = ""  # what the teacher's request and the pages use: "times-tables"
    title = ""  # what people read: "Times tables"
    summary = ""  # one line for the teacher's menu

    def describe(self, ctx: ActivityContext) -> dict:
        """What a tablet needs to draw the activity: its modes and the models behind them."""
        return {"name": self.name, "title": self.title, "summary": self.summary}

    def available(self, ctx: ActivityContext) -> str:
        """"" when it can run on this hub now, else why not (the teacher cannot choose it then)."""
        return ""

    def lead_choices(self) -> list[dict]:
        """What the teacher can lead with: [{"value", "title"}] for the dashboard; [] for nothing."""
        return []

    def lead(self, data: Any) -> dict | None:
        """What the teacher asks of the whole class at once ("everyone: star!"), checked: what the
        tablets and the kiosk show, or None to stop leading. Most activities have nothing to lead."""
        raise BadInput(f"{self.title} has nothing to lead")

    def new_state(self) -> dict:
        """A pupil's own state in this activity (kept with the class)."""
        return {}

    def question(self, state: dict) -> dict | None:
        """What to ask the pupil next (remember it in `state`: only the question the hub asked can
        be answered); None for an activity with no questions."""
        return None

    def check(self, state: dict, data: Any, media: "Media | None", ctx: ActivityContext, elapsed_ms: int) -> Checked:
        """Judge one answer against what was asked (raise BadInput for one that cannot be judged)
        and update `state`; `elapsed_ms` is the hub's own time from the question to the answer."""
        raise NotImplementedError

    def pupil_figures(self, state: dict) -> dict:
        """What the dashboard shows of a pupil beyond the counts every activity has."""
        return {}


def whole_number(data: Any, key: str, low: int, high: int) -> int:
    """data[key] as a whole number from low to high (not a string, a fraction or true), or BadInput."""
    value = data.get(key) if isinstance(data, dict) else None
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise BadInput(f"an answer needs {key} as a whole number from {low} to {high}")
    return value
