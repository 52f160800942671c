"""Activities as plug-ins: one module per classroom activity, found by registration.

The teacher picks the class's activity from these; to add one, write its module (an `Activity`
subclass) and register it here, then give the pupils' page its screen (docs/ARCHITECTURE.md).
"""
from __future__ import annotations

from ..errors import BadInput
from ..plugins import Registry
from .base import Activity, ActivityContext, Checked
from .move_like_me import MoveLikeMe
from .teach import TeachTheHub
from .times_tables import TimesTables
from .what_is_this import WhatIsThis

ACTIVITIES: Registry[Activity] = Registry("activity", lambda names: BadInput(f"choose an activity: {names}"))
DEFAULT = "times-tables"
register = ACTIVITIES.register
get = ACTIVITIES.require

for _activity in (TimesTables(), WhatIsThis(), MoveLikeMe(), TeachTheHub()):
    register(_activity)


__all__ = ["ACTIVITIES", "Activity", "ActivityContext", "Checked", "DEFAULT", "get", "register"]
