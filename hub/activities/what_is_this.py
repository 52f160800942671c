"""What is this?: a pupil photographs something and the hub says what it sees.

Offered models are the ready picture classifiers whose manifest says they look at photos
(`subject`: never a model that reads drawn digits). The tablet sends the photo with its answer;
the hub classifies it, tells the tablet the top three by their friendly names (tasks/naming.py)
and whether it is sure (the top score against the model's own `output.unsure_below`), and
records only the friendly name of the best one, never the picture, for the dashboard.
"""
from __future__ import annotations

from typing import Any

from ..errors import BadInput
from ..tasks import Picture
from .base import Activity, ActivityContext, Checked

TOP = 3


def photo_models(ctx: ActivityContext) -> list:
    """The ready classifiers of photos, by name."""
    return sorted((s for s in ctx.classifiers_of(Picture) if s.subject == "photos"), key=lambda s: s.name)


class WhatIsThis(Activity):
    name = "what-is-this"
    title = "What is this?"
    summary = "Pupils photograph things and the hub says what it sees"

    def describe(self, ctx: ActivityContext) -> dict:
        return {**super().describe(ctx),
                "models": [{"name": s.name, "title": s.title or s.name, "about": s.about} for s in photo_models(ctx)]}

    def available(self, ctx: ActivityContext) -> str:
        return "" if photo_models(ctx) else "no model for photos is ready"

    def check(self, state: dict, data: Any, media, ctx: ActivityContext, elapsed_ms: int) -> Checked:
        specs = {s.name: s for s in photo_models(ctx)}
        model = data.get("model") if isinstance(data, dict) else None
        if model is None and specs:
            model = next(iter(specs))
        if not isinstance(model, str) or model not in specs:
            raise BadInput(f"choose one of the models for photos: {', '.join(specs) or 'none is ready'}")
        if not isinstance(media, Picture):
            raise BadInput("send the photo as 'image' (binary)")
        prediction = ctx.predict(model, media, {"top_k": TOP})
        predictions = prediction.result.predictions
        sure = bool(predictions) and predictions[0].score >= specs[model].unsure_below
        if not predictions:
            seen = "nothing it knows"
        else:
            seen = predictions[0].name if sure else f"not sure (maybe {predictions[0].name})"
        return Checked("a photo", seen, mode="photo",
                       reply={**prediction.to_json(), "sure": sure, "unsure_below": specs[model].unsure_below})
