"""The class itself, in process: codes, nicknames, the activities' questions and levels, CSV."""
from __future__ import annotations

import csv
import io

import pytest

from hub import activities
from hub.activities.times_tables import LEVELS
from hub.classroom.state import CODE_ALPHABET, CODE_LENGTH, CSV_COLUMNS, AnswerLimits, ClassRegistry, Classroom
from hub.errors import BadInput, ClassStateError, RateLimited
from hub.ratelimit import TokenBucket

UNLIMITED = AnswerLimits(burst=10_000, per_s=10_000)


def answer(room, student, right: bool, seconds: float = 2.0):
    """The pupil answers the question the hub asks, after `seconds` by the hub's clock."""
    q = room.question_for(student)
    student.asked_at -= seconds  # as if the pupil had taken that long
    given = str(q["a"] * q["b"]) if right else str(q["a"] * q["b"] + 1)
    answer, _ = room.answer(student, {"a": q["a"], "b": q["b"], "given": given, "response_ms": 1})
    assert 1000 * seconds <= answer.response_ms < 1000 * seconds + 1000  # the hub's time, not the tablet's
    return answer


def level(room, student) -> int:
    return room.student_figures(student)["level"]


def test_codes_are_readable_across_a_room():
    codes = {Classroom(30).code for _ in range(200)}
    assert all(len(c) == CODE_LENGTH and set(c) <= set(CODE_ALPHABET) for c in codes)
    assert not set("0O1IL2Z5S8B") & set(CODE_ALPHABET)
    assert len(codes) > 190


def test_difficulty_follows_the_students_own_answers():
    room = Classroom(30, limits=UNLIMITED)
    s, _ = room.join("Ada", "sid-1")
    assert level(room, s) == 1
    for _ in range(3):
        answer(room, s, True)
    assert level(room, s) == 2
    q = room.question_for(s)
    lo_a, hi_a, lo_b, hi_b = LEVELS[2]
    assert lo_a <= q["a"] <= hi_a and lo_b <= q["b"] <= hi_b and q["level"] == 2
    for _ in range(3):
        answer(room, s, True, seconds=20)  # right but slow: no promotion
    assert level(room, s) == 2
    answer(room, s, False)
    assert level(room, s) == 2  # one slip is not enough
    answer(room, s, False)
    assert level(room, s) == 1
    other, _ = room.join("Alan", "sid-2")
    assert level(room, other) == 1  # each student's level is their own


def test_answers_are_checked_against_the_question_the_hub_asked():
    room = Classroom(30, limits=UNLIMITED)
    s, _ = room.join("Ada", "sid-1")
    with pytest.raises(BadInput, match="no question"):
        room.answer(s, {"given": "1"})  # nothing asked yet
    q = room.question_for(s)
    a, b = q["a"], q["b"]
    other = (a % 12) + 1
    for bad in (None, "12", {"a": "x", "b": b}, {"a": str(a), "b": b}, {"a": True, "b": b}, {"a": a + 0.5, "b": b},
                {"a": a, "b": 99}, {"a": other, "b": b, "given": str(other * b)},  # a question not asked
                {"a": a, "b": b, "given": str(a * b), "mode": "telepathy"}, {"a": a, "b": b}, {"given": " "},
                {"given": True}):
        with pytest.raises(BadInput):
            room.answer(s, bad)
    assert s.answers == []
    right, _ = room.answer(s, {"a": a, "b": b, "given": f" {a * b} ", "mode": "typed", "response_ms": 0})
    assert (right.correct, right.expected, right.prompt, right.mode) == (True, str(a * b), f"{a} × {b}", "typed")
    q = room.question_for(s)  # the next one, already asked in the reply
    if (q["a"], q["b"]) != (a, b):  # (by chance the same question may come again: then it is a new one)
        with pytest.raises(BadInput, match="not the question"):  # used up: the same answer never counts twice
            room.answer(s, {"a": a, "b": b, "given": str(a * b)})
    wrong, _ = room.answer(s, {"given": "1000", "mode": "handwriting"})  # a and b may be left out
    assert (wrong.correct, wrong.given, wrong.prompt) == (False, "1000", f"{q['a']} × {q['b']}")
    room.paused = True
    with pytest.raises(ClassStateError, match="paused"):
        room.answer(s, {"given": "12"})


def test_a_script_is_slowed_down_and_a_child_never_is():
    now = [0.0]
    bucket = TokenBucket(5, 1.0, clock=lambda: now[0])
    assert [bucket.take() for _ in range(5)] == [0.0] * 5  # a streak of quick answers
    assert bucket.take() == pytest.approx(1.0)  # the sixth at once must wait a second
    for _ in range(200):  # a quick child: an answer every 1.2 s, for four minutes
        now[0] += 1.2
        assert bucket.take() == 0.0
    room = Classroom(30)  # the default: 5 at once, then 1 a second
    s, _ = room.join("Bot", "sid-1")
    refused = 0
    for _ in range(30):
        room.question_for(s)
        try:
            room.answer(s, {"given": "1"})
        except RateLimited as exc:
            refused += 1
            assert exc.status == 429 and exc.retry_after_s >= 1
    assert refused >= 24 and len(s.answers) <= 6


def test_the_activity_can_change_and_each_keeps_its_own_state():
    room = Classroom(30, limits=UNLIMITED)
    s, _ = room.join("Ada", "sid-1")
    for _ in range(3):
        answer(room, s, True)
    room.set_activity(activities.get("what-is-this"))
    assert room.question_for(s) is None  # nothing to ask: the pupil photographs things
    assert "level" not in room.student_figures(s)
    with pytest.raises(BadInput, match="models for photos: none is ready"):  # no hub models here
        room.answer(s, {"model": "none"}, None, _NoModels())
    room.set_activity(activities.get("times-tables"))
    room.question_for(s)
    room.set_activity(activities.get("what-is-this"))
    room.set_activity(activities.get("times-tables"))
    assert level(room, s) == 2  # back where the pupil was
    assert room.figures()["activity"] == {"name": "times-tables", "title": "Times tables"}
    with pytest.raises(BadInput, match="choose an activity"):
        activities.get("karaoke")


class _NoModels:
    def ready_models(self):
        return []

    def classifiers_of(self, media):
        return []

    def for_pupil(self, student_id):
        return self


def test_one_device_takes_a_few_seats_not_the_class():
    """A laptop joined, left and joined again under new names, a second apart, until the class of
    60 was full and real pupils got class_full. A device now takes `per_address` new seats."""
    room = Classroom(60, limits=UNLIMITED)
    joined = [room.join(f"ghost{i}", f"sid-{i}", "192.168.4.66", per_address=4) for i in range(4)]
    laptop = [ghost for ghost, _ in joined]
    for ghost in laptop:
        room.left(ghost)  # gone from the class, still holding its seat
    with pytest.raises(ClassStateError) as refused:
        room.join("ghost4", "sid-4", "192.168.4.66", per_address=4)
    assert refused.value.code == "too_many_seats" and refused.value.status == 409
    assert room.join("Ada", "sid-a", "192.168.4.20", per_address=4)[0].nickname == "Ada"  # another tablet
    for i in range(10):  # the hub's own machine (no address) and a hub behind a NAT (0) are not limited
        room.join(f"kiosk{i}", f"sid-k{i}", "", per_address=4)
        room.join(f"nat{i}", f"sid-n{i}", "10.0.0.1", per_address=0)
    # A seat taken out by the teacher, or resumed on another tablet, no longer counts for the laptop.
    room.remove(laptop[0].id)
    room.resume(joined[1][1], "sid-t", "192.168.4.21")
    assert [room.join(f"ghost{i}", f"sid-g{i}", "192.168.4.66", per_address=4)[0].nickname for i in (5, 6)] \
        == ["ghost5", "ghost6"]
    with pytest.raises(ClassStateError, match="already has 4 names"):
        room.join("ghost7", "sid-g7", "192.168.4.66", per_address=4)


def test_one_seat_per_pupil_and_only_the_token_brings_an_offline_pupil_back():
    room = Classroom(2)
    a, token = room.join("  Ada ", "sid-1")
    assert a.nickname == "Ada" and len(token) >= 32 and token not in repr(a.row())  # only its hash is kept
    with pytest.raises(ClassStateError, match="taken"):
        room.join("ADA", "sid-9")
    room.left(a)
    with pytest.raises(ClassStateError, match="taken"):  # offline: no takeover by nickname (any case)
        room.join("ada", "sid-9")
    with pytest.raises(ClassStateError) as wrong:
        room.resume("a guessed token", "sid-9")
    assert wrong.value.code == "no_seat"
    back, token2 = room.resume(token, "sid-3")  # the same tablet after a drop: its own seat
    assert back is a and a.connected and a.sid == "sid-3" and token2 != token
    with pytest.raises(ClassStateError):
        room.resume(token, "sid-4")  # a token is good for one comeback: the next one is token2
    room.join("Bo", "sid-4")
    with pytest.raises(ClassStateError, match="full"):
        room.join("Cy", "sid-5")
    for bad in ("", " ", "<b>", "x" * 21, None, 7):
        with pytest.raises(BadInput):
            Classroom(5).join(bad, "s")


def test_remove_means_removed_until_the_teacher_lets_the_pupil_back():
    room = Classroom(5, limits=UNLIMITED)
    a, token = room.join("Ada", "sid-1")
    answer(room, a, True)
    room.remove(a.id)
    assert a.removed and not a.connected
    for attempt in (lambda: room.join("Ada", "sid-2"), lambda: room.resume(token, "sid-2")):
        with pytest.raises(ClassStateError) as refused:
            attempt()
        assert refused.value.code in ("removed", "no_seat")
    rows = list(csv.DictReader(io.StringIO(room.csv())))
    assert [(r["nickname"], r["removed"]) for r in rows] == [("Ada", "yes")]  # the answers stay, marked
    room.let_back(a.id)
    again, _ = room.join("ada", "sid-3")
    assert again is a and a.connected and not a.removed and len(a.answers) == 1
    with pytest.raises(ClassStateError, match="remove Ada first"):
        room.forget(a.id)
    room.remove(a.id)
    room.forget(a.id)
    assert room.students == {} and list(csv.DictReader(io.StringIO(room.csv()))) == []


def test_csv_has_one_row_per_answer_and_no_other_data():
    room = Classroom(5)
    s, _ = room.join("Ada", "sid")
    q = room.question_for(s)
    room.answer(s, {"given": str(q["a"] * q["b"]), "mode": "speech"})
    rows = list(csv.DictReader(io.StringIO(room.csv())))
    assert len(rows) == 1 and rows[0]["question"] == f"{q['a']} × {q['b']}" and rows[0]["mode"] == "speech"
    assert rows[0]["activity"] == "times-tables" and rows[0]["correct"] == "yes"
    assert rows[0]["expected"] == str(q["a"] * q["b"])
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


def test_the_class_survives_a_restart_and_ending_it_leaves_nothing_behind(tmp_path):
    """Two registries on one database file, as a hub before and after kill -9."""
    from hub.classroom.store import FILE_NAME, Store

    db = tmp_path / FILE_NAME
    before = ClassRegistry(30, UNLIMITED, Store(db))
    room = before.start(activities.get("times-tables"))
    ada, token = room.join("Zebedee", "sid-1")
    for right in (True, True, True, False):
        answer(room, ada, right)
    asked = room.question_for(ada)
    room.set_paused(True)
    bo, _ = room.join("Bo", "sid-2")
    room.remove(bo.id)
    # the process dies here: nothing is closed, nothing flushed by hand

    after = ClassRegistry(30, UNLIMITED, Store(db))
    back = after.restore()
    assert back is not None and back.code == room.code and back.paused and back.activity.name == "times-tables"
    ada2 = next(s for s in back.students.values() if s.nickname == "Zebedee")
    assert not ada2.connected and back.student_figures(ada2)["level"] == 2 and len(ada2.answers) == 4
    assert [a.correct for a in ada2.answers] == [True, True, True, False]
    assert back.csv() == room.csv()
    seat, _ = back.resume(token, "sid-9")  # the tablet comes back with its token, no retyping
    assert seat is ada2 and back.question_for(ada2) == asked  # and is asked the same question again
    assert next(s for s in back.students.values() if s.nickname == "Bo").removed
    after.end()
    files = [p for p in tmp_path.iterdir() if p.name.startswith(FILE_NAME)]
    assert files and all(b"Zebedee" not in p.read_bytes() for p in files)  # neither the database nor its WAL
    assert ClassRegistry(30, UNLIMITED, Store(db)).restore() is None


def test_a_class_left_running_expires(tmp_path):
    from hub.classroom.store import FILE_NAME, Store

    db = tmp_path / FILE_NAME
    room = ClassRegistry(30, UNLIMITED, Store(db), expire_hours=-1).start()  # its expiry already passed
    room.join("Ada", "sid-1")
    assert ClassRegistry(30, UNLIMITED, Store(db)).restore() is None
    assert all(b"Ada" not in p.read_bytes() for p in tmp_path.iterdir())


@pytest.mark.parametrize("typed", ["=1+1", "@SUM(1)", "+1", "-1", "\t=1", "\r=1"])
def test_the_export_never_hands_a_spreadsheet_a_formula(typed):
    room = Classroom(5, limits=UNLIMITED)
    s, _ = room.join("Ada", "sid")
    room.question_for(s)
    answer, _ = room.answer(s, {"given": typed, "mode": "typed"})
    assert answer.given == typed.strip()[:8]  # kept as typed
    (row,) = list(csv.DictReader(io.StringIO(room.csv())))
    assert row["given"] == "'" + typed.strip()[:8]  # a spreadsheet shows it as text


def test_what_the_teacher_leads_survives_a_restart_until_the_activity_changes(tmp_path):
    from hub.classroom.store import FILE_NAME, Store

    db = tmp_path / FILE_NAME
    before = ClassRegistry(30, UNLIMITED, Store(db))
    room = before.start(activities.get("move-like-me"))
    pe = activities.get("move-like-me")
    room.set_lead(pe.lead({"pose": "star"}), pe)
    back = ClassRegistry(30, UNLIMITED, Store(db)).restore()  # after kill -9
    assert back.lead["pose"] == "star" and back.figures()["lead"]["title"] == "Star"
    back.set_activity(activities.get("times-tables"))  # switching ends the lead, for good
    assert back.lead is None
    back.set_activity(activities.get("move-like-me"))
    assert ClassRegistry(30, UNLIMITED, Store(db)).restore().lead is None
    with pytest.raises(ClassStateError) as refused:  # checked by an activity the class has left since
        back.set_lead({"pose": "star"}, activities.get("times-tables"))
    assert refused.value.code == "activity_changed" and back.lead is None
