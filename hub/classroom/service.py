"""The classroom as one object the web layers share: the teacher's auth, the class, live events.

REST (teacher controls) and Socket.IO (tablets, dashboard) both go through here, and every
change to the class is announced once, through `announce`, to whoever listens (the dashboard).
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Callable

from ..config import Config
from .auth import TeacherAuth
from .state import Answer, ClassRegistry, Classroom, Student

log = logging.getLogger(__name__)
Listener = Callable[[str, dict], None]


class ClassroomService:
    def __init__(self, config: Config, announce_pin=print):
        self.config = config
        self.auth = TeacherAuth(config.teacher, Path(config.classroom.data_dir), announce_pin)
        self.classes = ClassRegistry(config.classroom.max_students)
        self._listeners: list[Listener] = []

    def listen(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def announce(self, kind: str, data: dict) -> None:
        for listener in list(self._listeners):
            try:
                listener(kind, data)
            except Exception:  # noqa: BLE001 - a broken listener must not stop the class
                log.exception("live event listener failed on %s", kind)

    # --- what the teacher does -------------------------------------------------------------------

    def start_class(self) -> Classroom:
        room = self.classes.start()
        log.info("class started")  # no code, no names: logs hold nothing about pupils
        self.announce("class_state", {"state": "running", **room.snapshot()})
        return room

    def set_paused(self, paused: bool) -> Classroom:
        room = self.classes.require()
        room.paused = paused
        self.announce("class_state", {"state": "paused" if paused else "running", **room.figures()})
        return room

    def kick(self, student_id: str) -> Student:
        room = self.classes.require()
        student = room.kick(student_id)
        self.announce("student_kicked", {"student_id": student.id, "sid": student.sid})
        return student

    def end_class(self) -> Classroom:
        room = self.classes.end()
        log.info("class ended after %d answers", sum(len(s.answers) for s in room.students.values()))
        self.announce("class_ended", {"code": room.code, "sids": [s.sid for s in room.students.values() if s.sid]})
        return room

    # --- what tablets do -------------------------------------------------------------------------

    def joined(self, student: Student) -> None:
        self.announce("student_joined", student.figures())

    def left(self, student: Student) -> None:
        student.connected = False
        student.sid = None
        self.announce("student_left", student.figures())

    def answered(self, student: Student, answer: Answer) -> None:
        self.announce("answer", {**answer.to_json(student.nickname), "student": student.figures()})
