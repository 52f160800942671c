"""What is this?: a pupil photographs something and the hub says what it sees.

The tablet sends the photo with its answer; the hub classifies it, tells the tablet the top
classes and records only the friendly name of the best one (never the picture) for the dashboard:
the name a pupil read, not the model's long label (tasks/naming.py).
Models that read drawings (cropped to their strokes, such as the digits model) come last.
"""
from __future__ import annotations

from typing import Any

from ..errors import BadInput
from ..tasks import Picture
from .base import Activity, ActivityContext, Checked

TOP = 3


def picture_models(ctx: ActivityContext) -> list[str]:
    specs = ctx.classifiers_of(Picture)
    return [s.name for s in sorted(specs, key=lambda s: (s.preprocess.crop_to_content, s.name))]


class WhatIsThis(Activity):
    name = "what-is-this"
    title = "What is this?"
    summary = "Pupils photograph things and the hub says what it sees"

    def describe(self, ctx: ActivityContext) -> dict:
        return {**super().describe(ctx), "models": picture_models(ctx)}

    def available(self, ctx: ActivityContext) -> str:
        return "" if picture_models(ctx) else "no picture model is ready"

    def check(self, state: dict, data: Any, media, ctx: ActivityContext, elapsed_ms: int) -> Checked:
        models = picture_models(ctx)
        model = data.get("model") if isinstance(data, dict) else None
        if model is None and models:
            model = models[0]
        if model not in models:
            raise BadInput(f"choose one of the picture models: {', '.join(models) or 'none is ready'}")
        if not isinstance(media, Picture):
            raise BadInput("send the photo as 'image' (binary)")
        prediction = ctx.predict(model, media, {"top_k": TOP})
        predictions = prediction.result.predictions
        seen = predictions[0].name if predictions else "nothing it knows"
        return Checked("a photo", seen, mode="photo", reply=prediction.to_json())
