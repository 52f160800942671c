"""Teach the hub: the class shows the hub examples of new things, and it learns them live.

The teacher says what to learn (hub/teach/: a name and 2 to 10 things); each tablet photographs
an example and taps the thing it shows, or asks the hub what it thinks a new photo is. The photo
goes through the backbone model and is dropped: the class keeps the example's numbers, who gave
it and which thing it shows, and the answers list says "showed the hub: leaf" or what it guessed.
"""
from __future__ import annotations

from typing import Any

from ..errors import BadInput, ClassStateError
from ..tasks import Picture
from .base import Activity, ActivityContext, Checked


class TeachTheHub(Activity):
    name = "teach-the-hub"
    title = "Teach the hub"
    summary = "The class shows the hub examples of new things; it learns them, then guesses"

    def describe(self, ctx: ActivityContext) -> dict:
        return {**super().describe(ctx), "project": ctx.teaching.tablet_view() if ctx.teaching else None}

    def available(self, ctx: ActivityContext) -> str:
        return ctx.teaching.available() if ctx.teaching else "teaching is not set up on this hub"

    def new_state(self) -> dict:
        return {"given": 0, "tries": 0}

    def check(self, state: dict, data: Any, media, ctx: ActivityContext, elapsed_ms: int) -> Checked:
        teaching = ctx.teaching
        project = teaching.current_project() if teaching else None
        if project is None:
            raise ClassStateError("the teacher has not said what to teach the hub yet", "nothing_to_teach")
        if not isinstance(data, dict):
            raise BadInput("send {label, image} to teach the hub, or {try: true, image} to try it")
        if not isinstance(media, Picture):
            raise BadInput("send the photo as 'image' (binary)")
        if data.get("try") is True:
            result = teaching.classify(project.name, media)
            best = result["predictions"][0]["name"]
            state["tries"] = state.get("tries", 0) + 1
            return Checked("what is this? (trying the hub)", best if result["sure"] else f"not sure (maybe {best})",
                           mode="photo", reply=result)
        added = teaching.add_example(project.name, data.get("label"), media, ctx.pupil or "")
        state["given"] = state.get("given", 0) + 1
        return Checked("showed the hub", added["label"], mode="photo", reply={**added, "taught": True})

    def pupil_figures(self, state: dict) -> dict:
        return {"examples": state.get("given", 0), "tries": state.get("tries", 0)}
