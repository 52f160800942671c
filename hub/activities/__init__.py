"""Activities as plug-ins: one module per classroom activity, found by registration.

The teacher picks the class's activity from these; to add one, write its module (an `Activity`
subclass) and register it here, then give the pupils' page its screen (docs/ARCHITECTURE.md).
"""
from __future__ import annotations

from ..errors import BadInput
from .base import Activity, ActivityContext, Checked
from .times_tables import TimesTables
from .what_is_this import WhatIsThis

ACTIVITIES: dict[str, Activity] = {}
DEFAULT = "times-tables"


def register(activity: Activity) -> Activity:
    if activity.name in ACTIVITIES:
        raise ValueError(f"activity {activity.name!r} is registered twice")
    ACTIVITIES[activity.name] = activity
    return activity


for _activity in (TimesTables(), WhatIsThis()):
    register(_activity)


def get(name: object) -> Activity:
    activity = ACTIVITIES.get(name) if isinstance(name, str) else None
    if activity is None:
        raise BadInput(f"choose an activity: {', '.join(ACTIVITIES)}")
    return activity


__all__ = ["ACTIVITIES", "Activity", "ActivityContext", "Checked", "DEFAULT", "get", "register"]
