"""The class itself, in process: codes, nicknames, adaptive difficulty, CSV."""
from __future__ import annotations

import csv
import io

import pytest

from hub.classroom.state import CODE_ALPHABET, CODE_LENGTH, LEVELS, ClassRegistry, Classroom
from hub.errors import BadInput, ClassStateError


def answer(room, student, right: bool, ms: int = 2000):
    q = room.question_for(student)
    given = str(q.a * q.b) if right else str(q.a * q.b + 1)
    return room.record(student, {"a": q.a, "b": q.b, "given": given, "response_ms": ms})


def test_codes_are_readable_across_a_room():
    codes = {Classroom(30).code for _ in range(200)}
    assert all(len(c) == CODE_LENGTH and set(c) <= set(CODE_ALPHABET) for c in codes)
    assert not set("0O1IL2Z5S8B") & set(CODE_ALPHABET)
    assert len(codes) > 190


def test_difficulty_follows_the_students_own_answers():
    room = Classroom(30)
    s = room.join("Ada", "sid-1")
    assert s.level == 1
    for _ in range(3):
        answer(room, s, True)
    assert s.level == 2
    q = room.question_for(s)
    lo_a, hi_a, lo_b, hi_b = LEVELS[2]
    assert lo_a <= q.a <= hi_a and lo_b <= q.b <= hi_b
    for _ in range(2):
        answer(room, s, True, ms=20000)  # right but slow: no promotion
    answer(room, s, True, ms=20000)
    assert s.level == 2
    answer(room, s, False)
    answer(room, s, False)
    assert s.level == 1
    other = room.join("Alan", "sid-2")
    assert other.level == 1  # each student's level is their own


def test_nicknames_and_rejoining():
    room = Classroom(2)
    a = room.join("  Ada ", "sid-1")
    assert a.nickname == "Ada"
    with pytest.raises(ClassStateError, match="taken"):
        room.join("ADA", "sid-9")
    a.connected, a.sid = False, None
    assert room.join("ada", "sid-3") is a and a.connected  # the same tablet after a drop
    room.join("Bo", "sid-4")
    with pytest.raises(ClassStateError, match="full"):
        room.join("Cy", "sid-5")
    for bad in ("", " ", "<b>", "x" * 21, None, 7):
        with pytest.raises(BadInput):
            Classroom(5).join(bad, "s")


def test_csv_has_one_row_per_answer_and_no_other_data():
    room = Classroom(5)
    s = room.join("Ada", "sid")
    room.record(s, {"a": 3, "b": 4, "given": "12", "response_ms": 1200, "mode": "speech"})
    rows = list(csv.DictReader(io.StringIO(room.csv())))
    assert len(rows) == 1 and rows[0]["question"] == "3 x 4" and rows[0]["mode"] == "speech"
    assert set(rows[0]) == {"nickname", "question", "expected", "given", "correct", "response_ms", "mode", "time"}


def test_one_class_at_a_time():
    classes = ClassRegistry(30)
    room = classes.start()
    with pytest.raises(ClassStateError, match="still running"):
        classes.start()
    with pytest.raises(BadInput):
        classes.by_code("WRONG")
    assert classes.by_code(room.code.lower()) is room
    assert classes.end() is room and classes.current is None
    with pytest.raises(ClassStateError):
        classes.require()
