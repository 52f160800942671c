"""The classroom as one object the web layers share: the teacher's auth, the class, its activity.

REST (teacher controls) and Socket.IO (tablets, dashboard) both go through here, and every
change to the class is published once on the hub's event bus (hub/events.py). The class and the
teacher's sessions are kept in the class database (store.py), so a restarted hub resumes them.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from .. import activities
from ..activities import Activity, ActivityContext
from ..config import Config
from ..errors import ClassStateError
from ..events import EventBus
from .auth import TeacherAuth
from .state import Answer, AnswerLimits, ClassRegistry, Classroom, Student
from .store import Store, open_store

log = logging.getLogger(__name__)


class ClassroomService:
    def __init__(self, config: Config, bus: EventBus, context: ActivityContext, announce_pin=print,
                 store: Store | None = None):
        self.config = config
        self.bus = bus
        self.context = context
        data_dir = Path(config.classroom.data_dir)
        self.store = store or open_store(data_dir, config.classroom.durable)
        self.auth = TeacherAuth(config.teacher, data_dir, announce_pin, self.store)
        self.classes = ClassRegistry(config.classroom.max_students,
                                     AnswerLimits(config.classroom.answer_burst, config.classroom.answers_per_s),
                                     self.store, config.classroom.expire_hours)
        room = self.classes.restore()
        if room is not None:
            log.info("class resumed after a restart (%d pupils, %d answers)", len(room.students),
                     sum(len(s.answers) for s in room.students.values()))

    def close(self) -> None:
        self.store.close()

    # --- activities ------------------------------------------------------------------------------

    def activities(self) -> list[dict]:
        """Every activity, with why it cannot run now (for the teacher's menu)."""
        current = self.classes.current
        return [{"name": a.name, "title": a.title, "summary": a.summary, "unavailable": a.available(self.context)
                 or None, "current": bool(current and current.activity is a), "lead_choices": a.lead_choices()}
                for a in activities.ACTIVITIES.values()]

    def describe(self, activity: Activity, room: Classroom | None = None) -> dict:
        """What a tablet draws: the activity as it describes itself, and the teacher's lead in it."""
        described = activity.describe(self.context)
        if room is not None and room.activity is activity and room.lead is not None:
            described["lead"] = room.lead
        return described

    # --- what the teacher does -------------------------------------------------------------------

    def _choose(self, activity_name: object) -> Activity:
        activity = activities.get(activity_name)
        why_not = activity.available(self.context)
        if why_not:
            raise ClassStateError(f"{activity.title} cannot run now: {why_not}", "activity_unavailable")
        return activity

    def start_class(self, activity_name: object = None) -> Classroom:
        activity = self._choose(activity_name if activity_name is not None else activities.DEFAULT)
        room = self.classes.start(activity)
        log.info("class started (%s)", activity.name)  # no code, no names: logs hold nothing about pupils
        self.bus.publish("class_state", {"state": "running", **room.snapshot()})
        return room

    def set_activity(self, activity_name: object) -> Classroom:
        room = self.classes.require()
        activity = self._choose(activity_name)
        room.set_activity(activity)
        self.bus.publish("activity", {**room.snapshot(), "described": self.describe(activity, room)})
        return room

    def lead(self, data: Any) -> Classroom:
        """The teacher asks the whole class for one thing (a pose); every tablet and the kiosk show it."""
        room = self.classes.require()
        activity = room.activity
        room.set_lead(activity.lead(data), activity)
        self.bus.publish("activity", {**room.snapshot(), "described": self.describe(room.activity, room)})
        return room

    def set_paused(self, paused: bool) -> Classroom:
        room = self.classes.require()
        room.set_paused(paused)
        self.bus.publish("class_state", {"state": "paused" if paused else "running", **room.figures()})
        return room

    def kick(self, student_id: object) -> Student:
        """Remove a pupil: the tablet is released and cannot rejoin unless let back in; the pupil's
        answers stay in the export, marked removed."""
        room = self.classes.require()
        student, sid = room.remove(student_id)
        self.bus.publish("student_kicked", {"student_id": student.id, "sid": sid,
                                            "student": room.student_figures(student)})
        return student

    def let_back(self, student_id: object) -> Student:
        room = self.classes.require()
        student = room.let_back(student_id)
        self.bus.publish("student_left", room.student_figures(student))
        return student

    def forget(self, student_id: object) -> Student:
        room = self.classes.require()
        student = room.forget(student_id)
        self.bus.publish("student_forgotten", {"student_id": student.id})
        return student

    def end_class(self) -> Classroom:
        room = self.classes.end()
        log.info("class ended after %d answers", sum(len(s.answers) for s in room.students.values()))
        self.bus.publish("class_ended", {"code": room.code, "sids": [s.sid for s in room.students.values() if s.sid]})
        return room

    # --- what tablets do -------------------------------------------------------------------------

    def join(self, code: object, nickname: object, sid: str, address: str = "") -> tuple[Classroom, Student, str]:
        """A new seat (or one the teacher let back in) for this connection; `address`, the device's
        (empty for the hub's own machine), may take `[classroom] seats_per_address` new seats."""
        per_address = self.config.classroom.seats_per_address
        return self._seat(code, sid, lambda room: room.join(nickname, sid, address, per_address))

    def resume(self, code: object, token: object, sid: str, address: str = "") -> tuple[Classroom, Student, str]:
        """The seat the token belongs to, on this connection (after a drop, a reload, a restart)."""
        return self._seat(code, sid, lambda room: room.resume(token, sid, address))

    def _seat(self, code: object, sid: str, take) -> tuple[Classroom, Student, str]:
        """One seat per connection: a connection that holds a seat cannot take another."""
        room = self.classes.by_code(code)
        if room.by_sid(sid) is not None:
            raise ClassStateError("this tablet has already joined the class", "already_joined")
        student, token = take(room)
        self.bus.publish("student_joined", room.student_figures(student))
        return room, student, token

    def answer(self, room: Classroom, student: Student, data: Any, media=None) -> tuple[Answer | None, dict]:
        """The activity judges the answer; the dashboard hears it. Returns the tablet's reply."""
        answer, reply = room.answer(student, data, media, self.context)
        if answer is not None:
            self.bus.publish("answer", {**answer.to_json(student.nickname), "student": room.student_figures(student)})
        return answer, reply

    def left(self, room: Classroom, student: Student) -> None:
        room.left(student)
        self.bus.publish("student_left", room.student_figures(student))

    def heard(self, model: str, label: str) -> None:
        self.bus.publish("heard", {"model": model, "label": label})


