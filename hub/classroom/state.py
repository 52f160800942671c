"""One class at a time: its join code, the tablets in it, their answers, and what to ask next.

Kept in memory only. Nothing here holds a picture or a recording: an answer is a question, what
the tablet answered, whether it was right and how long it took. Ending the class drops it all.
"""
from __future__ import annotations

import csv
import io
import re
import secrets
import threading
import time
from dataclasses import asdict, dataclass, field

from ..errors import BadInput, ClassStateError

CODE_ALPHABET = "ACDEFHJKMNPRTUVWXY3479"  # no 0/O, 1/I/L, 2/Z, 5/S, 6/G, 8/B: easy to read across a room
CODE_LENGTH = 5
NICKNAME = re.compile(r"^[\w][\w .'-]{0,19}$", re.UNICODE)
# Difficulty levels: the multiplication tables asked at each one.
LEVELS = {1: (1, 5, 1, 5), 2: (1, 10, 1, 5), 3: (2, 10, 2, 10), 4: (2, 12, 2, 12), 5: (6, 12, 6, 12)}


@dataclass
class Answer:
    student_id: str
    a: int
    b: int
    given: str
    correct: bool
    response_ms: int
    mode: str  # "handwriting" | "speech" | "typed"
    at: float

    def to_json(self, nickname: str) -> dict:
        return {**asdict(self), "nickname": nickname, "expected": self.a * self.b}


@dataclass
class Student:
    id: str
    nickname: str
    joined_at: float
    sid: str | None = None
    connected: bool = True
    level: int = 1
    answers: list[Answer] = field(default_factory=list)

    def figures(self) -> dict:
        total = len(self.answers)
        right = sum(a.correct for a in self.answers)
        times = sorted(a.response_ms for a in self.answers)
        return {"id": self.id, "nickname": self.nickname, "connected": self.connected, "level": self.level,
                "answers": total, "correct": right, "accuracy": round(right / total, 3) if total else None,
                "median_response_ms": times[len(times) // 2] if times else None}


@dataclass
class Question:
    a: int
    b: int
    level: int

    def to_json(self) -> dict:
        return {"a": self.a, "b": self.b, "level": self.level, "text": f"{self.a} × {self.b}"}


class Classroom:
    def __init__(self, max_students: int):
        self.max_students = max_students
        self.code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
        self.started_at = time.time()
        self.paused = False
        self.students: dict[str, Student] = {}
        self._streak_start: dict[str, int] = {}
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
            student = Student(secrets.token_hex(4), nickname, time.time(), sid)
            self.students[student.id] = student
            return student

    def by_sid(self, sid: str) -> Student | None:
        with self.lock:
            return next((s for s in self.students.values() if s.sid == sid), None)

    def question_for(self, student: Student) -> Question:
        lo_a, hi_a, lo_b, hi_b = LEVELS[student.level]
        return Question(secrets.choice(range(lo_a, hi_a + 1)), secrets.choice(range(lo_b, hi_b + 1)), student.level)

    def record(self, student: Student, data: object) -> tuple[Answer, Question]:
        if self.paused:
            raise ClassStateError("the teacher has paused the class", "paused")
        if not isinstance(data, dict):
            raise BadInput("send {a, b, given, response_ms}")
        try:
            a, b = int(data["a"]), int(data["b"])
            response_ms = int(data.get("response_ms", 0))
        except (KeyError, TypeError, ValueError):
            raise BadInput("an answer needs whole numbers a, b and response_ms") from None
        given = str(data.get("given", "")).strip()[:8]
        mode = str(data.get("mode", "typed"))
        if not (0 <= a <= 20 and 0 <= b <= 20 and 0 <= response_ms <= 3_600_000):
            raise BadInput("a and b must be from 0 to 20, response_ms from 0 to 3600000")
        if mode not in ("handwriting", "speech", "typed"):
            raise BadInput("mode must be handwriting, speech or typed")
        answer = Answer(student.id, a, b, given, given == str(a * b), response_ms, mode, time.time())
        with self.lock:
            student.answers.append(answer)
            # up a level after 3 right in a row within 8 s; down after 2 wrong in the last 3
            before = student.level
            streak = student.answers[self._streak_start.get(student.id, 0):]
            recent = streak[-3:]
            if len(recent) == 3 and all(x.correct and x.response_ms <= 8000 for x in recent) and student.level < 5:
                student.level += 1
            elif sum(not x.correct for x in student.answers[-3:]) >= 2 and student.level > 1 and \
                    not student.answers[-1].correct:
                student.level -= 1
            if student.level != before:
                self._streak_start[student.id] = len(student.answers)
        return answer, self.question_for(student)

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
        right = sum(a.correct for a in answers)
        return {"code": self.code, "paused": self.paused, "tablets": connected, "answers": len(answers),
                "accuracy": round(right / len(answers), 3) if answers else None}

    def snapshot(self) -> dict:
        with self.lock:
            return {**self.figures(), "started_at": self.started_at,
                    "students": [s.figures() for s in self.students.values()]}

    def csv(self) -> str:
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(["nickname", "question", "expected", "given", "correct", "response_ms", "mode", "time"])
        with self.lock:
            rows = sorted(((s.nickname, a) for s in self.students.values() for a in s.answers), key=lambda r: r[1].at)
        for nickname, a in rows:
            writer.writerow([nickname, f"{a.a} x {a.b}", a.a * a.b, a.given, "yes" if a.correct else "no",
                             a.response_ms, a.mode, time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(a.at))])
        return out.getvalue()


class ClassRegistry:
    """The hub runs one class at a time (one Pi, one room)."""

    def __init__(self, max_students: int):
        self.max_students = max_students
        self.current: Classroom | None = None
        self._lock = threading.Lock()

    def start(self) -> Classroom:
        with self._lock:
            if self.current is not None:
                raise ClassStateError(f"class {self.current.code} is still running; end it first", "class_running")
            self.current = Classroom(self.max_students)
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
