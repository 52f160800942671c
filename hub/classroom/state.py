"""One class at a time: its join code, its activity, the pupils' seats and their answers.

The class lives in memory for speed and is written through to the class database
(`store.py`) before the hub acknowledges anything, so a restarted hub resumes it. Nothing here
holds a picture or a recording: an answer is what was asked, what the pupil answered (what the
hub read), whether it was right and how long it took. What a question is and how it is judged
belongs to the class's activity (hub/activities/).

Seats: a pupil joins once with a nickname and gets a secret resume token (only its hash is
kept); after any drop the tablet comes back with the token. A nickname whose pupil is offline
comes back only with that token, or after the teacher lets them back in. A removed pupil cannot
rejoin unless let back in; their answers stay (marked removed) until the teacher forgets them.
"""
from __future__ import annotations

import csv
import hashlib
import io
import json
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
from .store import Store, dumps

CODE_ALPHABET = "ACDEFHJKMNPRTUVWXY3479"  # no 0/O, 1/I/L, 2/Z, 5/S, 6/G, 8/B: easy to read across a room
CODE_LENGTH = 5
NICKNAME = re.compile(r"^[\w][\w .'-]{0,19}$", re.UNICODE)
CSV_COLUMNS = ["nickname", "activity", "question", "expected", "given", "correct", "response_ms", "mode", "time",
               "removed"]
ANSWER_ID = re.compile(r"^[\w-]{1,64}$")
LEAD = "lead"  # the meta key keeping what the teacher leads (Classroom.set_lead)


FORMULA_START = ("=", "+", "-", "@", "\t", "\r")  # what makes a spreadsheet run a cell (OWASP CSV injection)


def spreadsheet_safe(value: object) -> object:
    """A text cell a spreadsheet would run as a formula, quoted with a leading apostrophe."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


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

    def row(self) -> dict:
        return {"student_id": self.student_id, "activity": self.activity, "prompt": self.prompt, "given": self.given,
                "expected": self.expected, "correct": None if self.correct is None else int(self.correct),
                "response_ms": self.response_ms, "mode": self.mode, "at": self.at}

    @classmethod
    def from_row(cls, r: dict) -> "Answer":
        return cls(r["student_id"], r["activity"], r["prompt"], r["given"], r["expected"],
                   None if r["correct"] is None else bool(r["correct"]), r["response_ms"], r["mode"], r["at"])


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
    token_hash: str | None = None  # of the secret resume token the tablet keeps
    removed: bool = False  # taken out by the teacher: cannot rejoin unless let back in
    let_back: bool = False  # the teacher lets the next join with this nickname take the seat
    answers: list[Answer] = field(default_factory=list)
    states: dict[str, dict] = field(default_factory=dict)  # activity name -> the pupil's state in it
    last_answer: dict | None = None  # {"id", "reply"}: the reply again when a tablet resends an answer
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)  # one answer at a time
    asked_at: float = field(default_factory=time.monotonic)  # when the pupil was last asked (the hub's clock)
    bucket: TokenBucket | None = field(default=None, repr=False)  # answers a pupil may send
    address: str = ""  # the device it was last seated from (not kept across a restart)

    def state(self, activity: Activity) -> dict:
        return self.states.setdefault(activity.name, activity.new_state())

    def figures(self, activity: Activity) -> dict:
        judged = [a for a in self.answers if a.correct is not None]
        right = sum(bool(a.correct) for a in judged)
        times = sorted(a.response_ms for a in self.answers)
        return {"id": self.id, "nickname": self.nickname, "connected": self.connected, "removed": self.removed,
                "let_back": self.let_back, "answers": len(self.answers), "correct": right,
                "accuracy": round(right / len(judged), 3) if judged else None,
                "median_response_ms": times[len(times) // 2] if times else None,
                **activity.pupil_figures(self.state(activity))}

    def row(self) -> dict:
        return {"id": self.id, "nickname": self.nickname, "joined_at": self.joined_at, "token_hash": self.token_hash,
                "removed": int(self.removed), "let_back": int(self.let_back), "states": dumps(self.states),
                "last_answer": dumps(self.last_answer) if self.last_answer else None}


class Classroom:
    def __init__(self, max_students: int, activity: Activity | None = None, limits: AnswerLimits = AnswerLimits(),
                 store: Store | None = None, code: str | None = None, started_at: float | None = None):
        self.max_students = max_students
        self.limits = limits
        self.store = store or Store(None)
        self.code = code or "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
        self.started_at = started_at or time.time()
        self.paused = False
        self.activity = activity or activities.get(activities.DEFAULT)
        self.lead: dict | None = None  # what the teacher asks of everyone now (Activity.lead)
        self.students: dict[str, Student] = {}
        self.lock = threading.RLock()

    # ---- seats -------------------------------------------------------------------------------------
    def _seat(self, student: Student, sid: str) -> str:
        """Bind the tablet's connection to the seat and give it a new resume token."""
        token = secrets.token_urlsafe(24)
        student.sid, student.connected, student.token_hash = sid, True, token_hash(token)
        student.removed = student.let_back = False
        student.bucket = student.bucket or TokenBucket(self.limits.burst, self.limits.per_s)
        student.asked_at = time.monotonic()
        return token

    def join(self, nickname: object, sid: str, address: str = "", per_address: int = 0) -> tuple[Student, str]:
        """A seat for a new nickname (or one the teacher let back in), and its resume token. A device
        (`address`; empty for the hub's own machine) may take at most `per_address` new seats (0: any)."""
        if not isinstance(nickname, str) or not NICKNAME.match(nickname.strip()):
            raise BadInput("choose a nickname of 1 to 20 letters or digits")
        nickname = nickname.strip()
        with self.lock:
            student = next((s for s in self.students.values() if s.nickname.lower() == nickname.lower()), None)
            if student is not None and not student.let_back:
                if student.removed:
                    raise ClassStateError("the teacher has taken you out of this class", "removed")
                raise ClassStateError(f"the nickname {nickname!r} is taken in this class; choose another, or ask "
                                      "the teacher to let you back in", "nickname_taken")
            if student is None:
                if sum(not s.removed for s in self.students.values()) >= self.max_students:
                    raise ClassStateError("the class is full", "class_full")
                if address and per_address and sum(
                        not s.removed and s.address == address for s in self.students.values()) >= per_address:
                    raise ClassStateError(f"this tablet already has {per_address} names in the class; carry on "
                                          "with one of them, or ask your teacher", "too_many_seats")
                student = Student(secrets.token_hex(4), nickname, time.time())
                self.students[student.id] = student
            student.address = address
            token = self._seat(student, sid)
            self.store.put_student(student.row())
            return student, token

    def resume(self, token: object, sid: str, address: str = "") -> tuple[Student, str]:
        """The seat the token belongs to, back on this connection, with a fresh token."""
        if not isinstance(token, str) or not token:
            raise BadInput("send {code, token}: the token the hub gave at join")
        wanted = token_hash(token)
        with self.lock:
            student = next((s for s in self.students.values() if s.token_hash == wanted), None)
            if student is None:
                raise ClassStateError("that seat is not in this class any more: join again", "no_seat")
            if student.removed:
                raise ClassStateError("the teacher has taken you out of this class", "removed")
            student.address = address
            new_token = self._seat(student, sid)
            self.store.put_student(student.row())
            return student, new_token

    def by_token(self, token: object) -> Student | None:
        """The seat a pupil's resume token belongs to (not removed): a pupil's own REST calls."""
        if not isinstance(token, str) or not token:
            return None
        wanted = token_hash(token)
        with self.lock:
            return next((s for s in self.students.values() if s.token_hash == wanted and not s.removed), None)

    def by_sid(self, sid: str) -> Student | None:
        with self.lock:
            return next((s for s in self.students.values() if s.sid == sid), None)

    def left(self, student: Student) -> None:
        with self.lock:
            student.connected, student.sid = False, None

    def remove(self, student_id: object) -> tuple[Student, str | None]:
        """Take the pupil out; returns the connection it had, for the caller to release."""
        with self.lock:
            student = self._student(student_id)
            sid = student.sid
            student.removed, student.let_back, student.connected, student.sid = True, False, False, None
            student.token_hash = None
            self.store.put_student(student.row())
        return student, sid

    def let_back(self, student_id: object) -> Student:
        """The next join with this nickname takes the seat (a pupil on a new tablet, or removed)."""
        with self.lock:
            student = self._student(student_id)
            if student.connected:
                raise ClassStateError(f"{student.nickname} is connected now", "connected")
            student.let_back = True
            self.store.put_student(student.row())
            return student

    def forget(self, student_id: object) -> Student:
        """The pupil and every answer of theirs deleted from the class, for good."""
        with self.lock:
            student = self._student(student_id)
            if student.connected:
                raise ClassStateError(f"remove {student.nickname} first", "connected")
            del self.students[student.id]
            self.store.forget_student(student.id)
            return student

    def _student(self, student_id: object) -> Student:
        student = self.students.get(student_id) if isinstance(student_id, str) else None
        if student is None:
            raise BadInput(f"no pupil {str(student_id)[:40]!r} in this class")
        return student

    # ---- the activity ------------------------------------------------------------------------------
    def set_activity(self, activity: Activity) -> None:
        with self.lock:
            self.activity = activity
            self.store.set_class(activity=activity.name)
            if self.lead is not None:  # a lead belongs to the activity it was given in
                self.set_lead(None, activity)

    def set_lead(self, lead: dict | None, activity: Activity) -> None:
        """What the teacher asks of everyone now in `activity` (checked by it); kept with the class's
        code and activity, so a hub that restarts leads the same pose (nothing about a pupil is in it)."""
        with self.lock:
            if activity is not self.activity:  # switched while the lead was being checked
                raise ClassStateError(f"the class is now doing {self.activity.title}; choose again",
                                      "activity_changed")
            self.lead = lead
            self.store.set_meta(LEAD, {"code": self.code, "activity": self.activity.name, "lead": lead}
                                if lead is not None else None)

    def set_paused(self, paused: bool) -> None:
        with self.lock:
            self.paused = paused
            self.store.set_class(paused=paused)

    def question_for(self, student: Student) -> dict | None:
        """The pupil's question, issued (and timed) by the hub: only this one can be answered. The
        one already asked and not yet answered is asked again (a tablet back after a drop)."""
        with student.lock, self.lock:
            state = student.state(self.activity)
            before = dumps(state)
            question = self.activity.question(state)
            student.asked_at = time.monotonic()
            if dumps(state) != before:  # a new question was asked: keep it (asked again: nothing to write)
                self.store.put_student(student.row())
            return question

    def answer(self, student: Student, data: Any, media=None,
               ctx: ActivityContext | None = None) -> tuple[Answer | None, dict]:
        """Have the activity judge the answer, keep it, and say what the tablet is told. The time
        it took is the hub's own. An answer sent again with the same `answer_id` (a tablet that
        did not hear the reply) gets the same reply and is not counted twice: (None, reply)."""
        if self.paused:
            raise ClassStateError("the teacher has paused the class", "paused")
        answer_id = data.get("answer_id") if isinstance(data, dict) else None
        if answer_id is not None and (not isinstance(answer_id, str) or not ANSWER_ID.match(answer_id)):
            raise BadInput("answer_id must be 1 to 64 letters, digits, - or _")
        activity = self.activity
        with student.lock:  # the pupil's own answers one at a time; a photo's inference blocks no one else
            if answer_id and student.last_answer and student.last_answer["id"] == answer_id:
                return None, student.last_answer["reply"]
            wait = student.bucket.take() if student.bucket else 0.0
            if wait:
                raise RateLimited("slow down a little, then answer again", retry_after_s=max(1, round(wait)))
            elapsed_ms = min(3_600_000, int((time.monotonic() - student.asked_at) * 1000))
            state = student.state(activity)
            checked: Checked = activity.check(state, data, media, ctx.for_pupil(student.id) if ctx else None,
                                              elapsed_ms)
            answer = Answer(student.id, activity.name, checked.prompt, checked.given, checked.expected,
                            checked.correct, elapsed_ms, checked.mode, time.time())
            reply = {"ok": True, "correct": answer.correct, "expected": answer.expected, "given": answer.given,
                     **activity.pupil_figures(state), "question": activity.question(state)}
            if checked.reply:
                reply["result"] = checked.reply
            student.asked_at = time.monotonic()
            student.last_answer = {"id": answer_id, "reply": reply} if answer_id else None
            with self.lock:
                self.store.add_answer(answer.row(), student.row())  # on disk before the tablet hears
                student.answers.append(answer)
        return answer, reply

    # ---- what the dashboard, kiosk and export show ----------------------------------------------------
    def figures(self) -> dict:
        """Anonymous class figures, for the kiosk."""
        with self.lock:
            answers = [a for s in self.students.values() for a in s.answers]
            connected = sum(s.connected for s in self.students.values())
            seats = sum(not s.removed for s in self.students.values())
        judged = [a for a in answers if a.correct is not None]
        right = sum(bool(a.correct) for a in judged)
        return {"code": self.code, "paused": self.paused, "tablets": connected, "seats": seats,
                "max_students": self.max_students, "answers": len(answers),
                "accuracy": round(right / len(judged), 3) if judged else None,
                "activity": {"name": self.activity.name, "title": self.activity.title}, "lead": self.lead}

    def snapshot(self, feed: int = 50) -> dict:
        """The class for the dashboard: figures, every pupil, and the newest `feed` answers (a
        dashboard that reconnects rebuilds its feed from them, missing nothing)."""
        with self.lock:
            answers = sorted(((s, a) for s in self.students.values() for a in s.answers), key=lambda r: r[1].at)
            return {**self.figures(), "started_at": self.started_at,
                    "students": [s.figures(self.activity) for s in self.students.values()],
                    "feed": [a.to_json(s.nickname) for s, a in answers[-feed:]]}

    def student_figures(self, student: Student) -> dict:
        with self.lock:
            return student.figures(self.activity)

    def csv(self) -> str:
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(CSV_COLUMNS)
        with self.lock:
            rows = sorted(((s, a) for s in self.students.values() for a in s.answers), key=lambda r: r[1].at)
        for s, a in rows:
            correct = "" if a.correct is None else ("yes" if a.correct else "no")
            writer.writerow([spreadsheet_safe(cell) for cell in (
                s.nickname, a.activity, a.prompt, a.expected or "", a.given, correct, a.response_ms, a.mode,
                time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(a.at)), "yes" if s.removed else "")])
        return out.getvalue()


class ClassRegistry:
    """The hub runs one class at a time (one Pi, one room), kept in `store` across restarts."""

    def __init__(self, max_students: int, limits: AnswerLimits = AnswerLimits(), store: Store | None = None,
                 expire_hours: float = 12.0):
        self.max_students = max_students
        self.limits = limits
        self.store = store or Store(None)
        self.expire_s = expire_hours * 3600
        self.current: Classroom | None = None
        self._lock = threading.Lock()

    def restore(self) -> Classroom | None:
        """The class the hub was running when it stopped, unless it expired (then deleted)."""
        loaded = self.store.load_class()
        if loaded is None:
            return None
        row, students, answers = loaded
        if row["expires_at"] < time.time():
            self.store.erase_class()
            return None
        try:
            activity = activities.get(row["activity"])
        except BadInput:
            activity = activities.get(activities.DEFAULT)
        room = Classroom(self.max_students, activity, self.limits, self.store, row["code"], row["started_at"])
        room.paused = bool(row["paused"])
        led = self.store.meta(LEAD)
        if isinstance(led, dict) and (led.get("code"), led.get("activity")) == (room.code, activity.name):
            room.lead = led.get("lead")
        for r in students:
            student = Student(r["id"], r["nickname"], r["joined_at"], None, False, r["token_hash"], bool(r["removed"]),
                              bool(r["let_back"]), states=json.loads(r["states"]),
                              last_answer=json.loads(r["last_answer"]) if r["last_answer"] else None,
                              bucket=TokenBucket(self.limits.burst, self.limits.per_s))
            room.students[student.id] = student
        for r in answers:
            if r["student_id"] in room.students:
                room.students[r["student_id"]].answers.append(Answer.from_row(r))
        self.current = room
        return room

    def start(self, activity: Activity | None = None) -> Classroom:
        with self._lock:
            if self.current is not None:
                raise ClassStateError(f"class {self.current.code} is still running; end it first", "class_running")
            room = Classroom(self.max_students, activity, self.limits, self.store)
            self.store.start_class(room.code, room.started_at, room.started_at + self.expire_s, room.activity.name)
            self.current = room
            return room

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
            if ended.lead is not None:
                self.store.set_meta(LEAD, None)
            self.store.erase_class()
            return ended
