"""Move like me: a PE activity. The tablet shows a pose to copy, a partner photographs it, and the
hub checks it by joint angles (pose_check.py) and says what to change.

The pose model is found by what its task gives (a `Pose`), never by a model's or task's name. The photo goes through
the model and is dropped: the class keeps which pose was tried and whether it was managed. The
teacher can lead the whole class ("everyone: star!"): the tablets and the kiosk show the led pose.
"""
from __future__ import annotations

from typing import Any

from ..errors import BadInput
from ..tasks import Picture
from ..tasks.pose import Pose
from .base import Activity, ActivityContext, Checked
from .pose_check import POSES, SKELETON, check_pose


def pose_models(ctx: ActivityContext) -> list[str]:
    """Ready models finding a body's keypoints in a photo, found by what their task gives."""
    return sorted(s.name for s in ctx.models_giving(Pose, Picture) if s.subject == "photos")


def pose_name(data: Any, key: str = "pose") -> str:
    name = data.get(key) if isinstance(data, dict) else None
    if not isinstance(name, str) or name not in POSES:
        raise BadInput(f"choose a pose: {', '.join(POSES)}")
    return name


class MoveLikeMe(Activity):
    name = "move-like-me"
    title = "Move like me"
    summary = "PE: pupils copy a pose, a partner takes a photo, the hub checks it and says what to change"

    def describe(self, ctx: ActivityContext) -> dict:
        models = pose_models(ctx)
        return {**super().describe(ctx), "model": models[0] if models else None,
                "poses": [p.to_json() for p in POSES.values()], "skeleton": [list(b) for b in SKELETON]}

    def available(self, ctx: ActivityContext) -> str:
        return "" if pose_models(ctx) else "no body pose model is ready"

    def lead_choices(self) -> list[dict]:
        return [{"value": p.name, "title": p.title} for p in POSES.values()]

    def lead(self, data: Any) -> dict | None:
        """The pose the teacher asks of everyone, or None to let each pupil choose again."""
        if isinstance(data, dict) and "pose" in data and data["pose"] is None:
            return None
        pose = POSES[pose_name(data)].to_json()
        return {"pose": pose.pop("name"), **pose, "skeleton": [list(b) for b in SKELETON]}

    def new_state(self) -> dict:
        return {"managed": [], "tries": 0}

    def check(self, state: dict, data: Any, media, ctx: ActivityContext, elapsed_ms: int) -> Checked:
        target = POSES[pose_name(data)]
        if not isinstance(media, Picture):
            raise BadInput("send the photo as 'image' (binary)")
        models = pose_models(ctx)
        if not models:
            raise BadInput("no body pose model is ready: ask your teacher")
        prediction = ctx.predict(models[0], media, {})
        pose = prediction.result
        width, height = pose.size or (1, 1)
        verdict = check_pose(target, [k.to_json() for k in pose.keypoints], width, height)
        state["tries"] += 1
        if verdict.matched and target.name not in state["managed"]:
            state["managed"].append(target.name)
        given = "managed it" if verdict.matched else ("not all in the photo" if verdict.missing else "not yet")
        return Checked(target.title, given, None, verdict.matched, "photo",
                       reply={**prediction.to_json(), "pose": target.name, "verdict": verdict.to_json()})

    def pupil_figures(self, state: dict) -> dict:
        return {"managed": [POSES[name].title for name in state["managed"] if name in POSES]}
