"""The class itself, in process: codes, nicknames, the activities' questions and levels, CSV."""
from __future__ import annotations

import csv
import io

import pytest

from hub import activities
from hub.activities.times_tables import LEVELS
from hub.classroom.state import CODE_ALPHABET, CODE_LENGTH, CSV_COLUMNS, ClassRegistry, Classroom
from hub.errors import BadInput, ClassStateError


def answer(room, student, right: bool, ms: int = 2000):
    q = room.question_for(student)
    given = str(q["a"] * q["b"]) if right else str(q["a"] * q["b"] + 1)
    answer, _ = room.record(student, {"a": q["a"], "b": q["b"], "given": given, "response_ms": ms})
    return answer


def level(room, student) -> int:
    return room.student_figures(student)["level"]


def test_codes_are_readable_across_a_room():
    codes = {Classroom(30).code for _ in range(200)}
    assert all(len(c) == CODE_LENGTH and set(c) <= set(CODE_ALPHABET) for c in codes)
    assert not set("0O1IL2Z5S8B") & set(CODE_ALPHABET)
    assert len(codes) > 190


def test_difficulty_follows_the_students_own_answers():
    room = Classroom(30)
    s = room.join("Ada", "sid-1")
    assert level(room, s) == 1
    for _ in range(3):
        answer(room, s, True)
    assert level(room, s) == 2
    q = room.question_for(s)
    lo_a, hi_a, lo_b, hi_b = LEVELS[2]
    assert lo_a <= q["a"] <= hi_a and lo_b <= q["b"] <= hi_b and q["level"] == 2
    for _ in range(3):
        answer(room, s, True, ms=20000)  # right but slow: no promotion
    assert level(room, s) == 2
    answer(room, s, False)
    assert level(room, s) == 2  # one slip is not enough
    answer(room, s, False)
    assert level(room, s) == 1
    other = room.join("Alan", "sid-2")
    assert level(room, other) == 1  # each student's level is their own


def test_answers_are_checked_by_the_activity():
    room = Classroom(30)
    s = room.join("Ada", "sid-1")
    for bad in (None, {}, {"a": "x", "b": 2}, {"a": "3", "b": 4}, {"a": True, "b": 4}, {"a": 3.9, "b": 4},
                {"a": 3, "b": 99}, {"a": 3, "b": 4, "mode": "telepathy"},
                {"a": 3, "b": 4, "response_ms": -1}, {"a": 3, "b": 4, "response_ms": True}):
        with pytest.raises(BadInput):
            room.record(s, bad)
    assert s.answers == []
    right, _ = room.record(s, {"a": 3, "b": 4, "given": " 12 ", "mode": "typed"})
    wrong, _ = room.record(s, {"a": 3, "b": 4, "given": "13", "mode": "handwriting"})
    assert (right.correct, right.expected, right.prompt) == (True, "12", "3 × 4")
    assert (wrong.correct, wrong.given, wrong.mode) == (False, "13", "handwriting")
    room.paused = True
    with pytest.raises(ClassStateError, match="paused"):
        room.record(s, {"a": 3, "b": 4, "given": "12"})


def test_the_activity_can_change_and_each_keeps_its_own_state():
    room = Classroom(30)
    s = room.join("Ada", "sid-1")
    for _ in range(3):
        answer(room, s, True)
    room.set_activity(activities.get("what-is-this"))
    assert room.question_for(s) is None  # nothing to ask: the pupil photographs things
    assert "level" not in room.student_figures(s)
    with pytest.raises(BadInput, match="picture model"):  # no hub models here: nothing to photograph with
        room.record(s, {"model": "none"}, None, _NoModels())
    room.set_activity(activities.get("times-tables"))
    assert level(room, s) == 2  # back where the pupil was
    assert room.figures()["activity"] == {"name": "times-tables", "title": "Times tables"}
    with pytest.raises(BadInput, match="choose an activity"):
        activities.get("karaoke")


class _NoModels:
    def ready_models(self):
        return []


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
    assert len(rows) == 1 and rows[0]["question"] == "3 × 4" and rows[0]["mode"] == "speech"
    assert rows[0]["activity"] == "times-tables" and rows[0]["correct"] == "yes" and rows[0]["expected"] == "12"
    assert list(rows[0]) == CSV_COLUMNS


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
