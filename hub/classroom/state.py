"""One class at a time: its join code, its activity, the tablets in it and their answers.

Kept in memory only. Nothing here holds a picture or a recording: an answer is what was asked,
what the pupil answered (what the hub read), whether it was right and how long it took. What a
question is and how it is judged belongs to the class's activity (hub/activities/).
"""
from __future__ import annotations

import csv
import io
import re
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from .. import activities
from ..activities import Activity, ActivityContext, Checked
from ..errors import BadInput, ClassStateError, RateLimited
from ..ratelimit import TokenBucket

CODE_ALPHABET = "ACDEFHJKMNPRTUVWXY3479"  # no 0/O, 1/I/L, 2/Z, 5/S, 6/G, 8/B: easy to read across a room
CODE_LENGTH = 5
NICKNAME = re.compile(r"^[\w][\w .'-]{0,19}$", re.UNICODE)
CSV_COLUMNS = ["nickname", "activity", "question", "expected", "given", "correct", "response_ms", "mode", "time"]


@dataclass
class Answer:
    student_id: str
    activity: str
    prompt: str
    given: str
    expected: str | None
    correct: bool | None  # None: nothing to get right
    response_ms: int
    mode: str  # "handwriting" | "speech" | "typed" | "photo"
    at: float

    def to_json(self, nickname: str) -> dict:
        return {"student_id": self.student_id, "nickname": nickname, "activity": self.activity,
                "question": self.prompt, "given": self.given, "expected": self.expected, "correct": self.correct,
                "response_ms": self.response_ms, "mode": self.mode, "at": self.at}


@dataclass(frozen=True)
class AnswerLimits:
    burst: int = 5
    per_s: float = 1.0


@dataclass
class Student:
    id: str
    nickname: str
    joined_at: float
    sid: str | None = None
    connected: bool = True
    answers: list[Answer] = field(default_factory=list)
    states: dict[str, dict] = field(default_factory=dict)  # activity name -> the pupil's state in it
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)  # one answer at a time
    asked_at: float = field(default_factory=time.monotonic)  # when the pupil was last asked (the hub's clock)
    bucket: TokenBucket | None = field(default=None, repr=False)  # answers a pupil may send
    def state(self, activity: Activity) -> dict:
        return self.states.setdefault(activity.name, activity.new_state())

    def figures(self, activity: Activity) -> dict:
        judged = [a for a in self.answers if a.correct is not None]
        right = sum(bool(a.correct) for a in judged)
        times = sorted(a.response_ms for a in self.answers)
        return {"id": self.id, "nickname": self.nickname, "connected": self.connected,
                "answers": len(self.answers), "correct": right,
                "accuracy": round(right / len(judged), 3) if judged else None,
                "median_response_ms": times[len(times) // 2] if times else None,
                **activity.pupil_figures(self.state(activity))}


class Classroom:
    def __init__(self, max_students: int, activity: Activity | None = None, limits: AnswerLimits = AnswerLimits()):
        self.max_students = max_students
        self.limits = limits
        self.code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
        self.started_at = time.time()
        self.paused = False
        self.activity = activity or activities.get(activities.DEFAULT)
        self.students: dict[str, Student] = {}
        self.lock = threading.RLock()

    def join(self, nickname: object, sid: str) -> Student:
        if not isinstance(nickname, str) or not NICKNAME.match(nickname.strip()):
            raise BadInput("choose a nickname of 1 to 20 letters or digits")
        nickname = nickname.strip()
        with self.lock:
            for s in self.students.values():
                if s.nickname.lower() == nickname.lower():
                    if not s.connected:  # the same tablet back after a drop: give it its place again
                        s.sid, s.connected = sid, True
                        return s
                    raise ClassStateError(f"the nickname {nickname!r} is taken in this class; choose another",
                                          "nickname_taken")
            if len(self.students) >= self.max_students:
                raise ClassStateError("the class is full", "class_full")
            student = Student(secrets.token_hex(4), nickname, time.time(), sid,
                              bucket=TokenBucket(self.limits.burst, self.limits.per_s))
            self.students[student.id] = student
            return student

    def by_sid(self, sid: str) -> Student | None:
        with self.lock:
            return next((s for s in self.students.values() if s.sid == sid), None)

    def set_activity(self, activity: Activity) -> None:
        with self.lock:
            self.activity = activity

    def question_for(self, student: Student) -> dict | None:
        """The pupil's next question, issued (and timed) by the hub: only this one can be answered."""
        with student.lock, self.lock:
            question = self.activity.question(student.state(self.activity))
            student.asked_at = time.monotonic()
            return question

    def record(self, student: Student, data: Any, media=None,
               ctx: ActivityContext | None = None) -> tuple[Answer, Checked]:
        """Have the activity judge the answer, and keep what it judged. The time it took is the
        hub's own (from the question to the answer); what a tablet says of it is not used."""
        if self.paused:
            raise ClassStateError("the teacher has paused the class", "paused")
        activity = self.activity
        with student.lock:  # the pupil's own answers one at a time; a photo's inference blocks no one else
            wait = student.bucket.take() if student.bucket else 0.0
            if wait:
                raise RateLimited("slow down a little, then answer again", retry_after_s=max(1, round(wait)))
            elapsed_ms = min(3_600_000, int((time.monotonic() - student.asked_at) * 1000))
            checked: Checked = activity.check(student.state(activity), data, media, ctx, elapsed_ms)
            student.asked_at = time.monotonic()
            answer = Answer(student.id, activity.name, checked.prompt, checked.given, checked.expected,
                            checked.correct, elapsed_ms, checked.mode, time.time())
            with self.lock:
                student.answers.append(answer)
        return answer, checked

    def kick(self, student_id: str) -> Student:
        with self.lock:
            student = self.students.pop(student_id, None)
        if student is None:
            raise BadInput(f"no tablet {student_id!r} in this class")
        return student

    def figures(self) -> dict:
        """Anonymous class figures, for the kiosk."""
        with self.lock:
            answers = [a for s in self.students.values() for a in s.answers]
            connected = sum(s.connected for s in self.students.values())
        judged = [a for a in answers if a.correct is not None]
        right = sum(bool(a.correct) for a in judged)
        return {"code": self.code, "paused": self.paused, "tablets": connected, "answers": len(answers),
                "accuracy": round(right / len(judged), 3) if judged else None,
                "activity": {"name": self.activity.name, "title": self.activity.title}}

    def snapshot(self) -> dict:
        with self.lock:
            return {**self.figures(), "started_at": self.started_at,
                    "students": [s.figures(self.activity) for s in self.students.values()]}

    def student_figures(self, student: Student) -> dict:
        with self.lock:
            return student.figures(self.activity)

    def csv(self) -> str:
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(CSV_COLUMNS)
        with self.lock:
            rows = sorted(((s.nickname, a) for s in self.students.values() for a in s.answers), key=lambda r: r[1].at)
        for nickname, a in rows:
            correct = "" if a.correct is None else ("yes" if a.correct else "no")
            writer.writerow([nickname, a.activity, a.prompt, a.expected or "", a.given, correct, a.response_ms, a.mode,
                             time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(a.at))])
        return out.getvalue()


class ClassRegistry:
    """The hub runs one class at a time (one Pi, one room)."""

    def __init__(self, max_students: int, limits: AnswerLimits = AnswerLimits()):
        self.max_students = max_students
        self.limits = limits
        self.current: Classroom | None = None
        self._lock = threading.Lock()

    def start(self, activity: Activity | None = None) -> Classroom:
        with self._lock:
            if self.current is not None:
                raise ClassStateError(f"class {self.current.code} is still running; end it first", "class_running")
            self.current = Classroom(self.max_students, activity, self.limits)
            return self.current

    def require(self) -> Classroom:
        current = self.current
        if current is None:
            raise ClassStateError("no class is running; the teacher starts one", "no_class")
        return current

    def by_code(self, code: object) -> Classroom:
        current = self.current
        if not isinstance(code, str) or current is None or code.strip().upper() != current.code:
            raise BadInput("that class code is not running here; check the code on the screen")
        return current

    def end(self) -> Classroom:
        with self._lock:
            ended = self.require()
            self.current = None
            return ended
