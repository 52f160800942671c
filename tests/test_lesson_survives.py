"""A lesson survives what happens in a classroom, with real parts: the real server, python-socketio
tablets that reconnect by themselves and come back with their seat's token (as the pupils' page
does), and kill -9 of every hub process mid-lesson, then a new start on the same data folder."""
from __future__ import annotations

import csv
import io
import threading

import requests
import socketio

from tests.conftest import TEACHER_PIN


class ResumingTablet:
    """A tablet that, after any reconnect, sends `resume` with the token it was given."""

    def __init__(self, hub, code: str, nickname: str) -> None:
        self.code, self.token, self.resumed = code, None, threading.Event()
        self.question = None
        self.client = socketio.Client(reconnection=True, reconnection_delay=0.2, reconnection_delay_max=0.5)
        self.client.on("connect", self._on_connect, namespace="/class")
        self.client.connect(hub.url, namespaces=["/class"], transports=["websocket"], wait_timeout=10)
        joined = self.call("join", {"code": code, "nickname": nickname})
        assert joined["ok"], joined
        self.token, self.question = joined["token"], joined["question"]

    def _on_connect(self):
        if self.token:  # a reconnect: the seat, by its token (from another thread: the handler must return)
            threading.Thread(target=self._resume, daemon=True).start()

    def _resume(self):
        reply = self.call("resume", {"code": self.code, "token": self.token})
        if reply.get("ok"):
            self.token, self.question = reply["token"], reply["question"]
            self.resumed.set()

    def call(self, event: str, data=None) -> dict:
        return self.client.call(event, data, namespace="/class", timeout=15)

    def answer_right(self, answer_id: str) -> dict:
        q = self.question
        reply = self.call("answer", {"a": q["a"], "b": q["b"], "given": str(q["a"] * q["b"]), "mode": "typed",
                                     "answer_id": answer_id})
        assert reply.get("ok"), reply
        self.question = reply["question"]
        return reply


def test_kill_9_mid_lesson_and_the_lesson_goes_on(bundled_models, start_hub):
    hub = start_hub(bundled_models, classroom={"join_burst": 100})
    teacher = requests.Session()
    assert teacher.post(hub.url + "/api/teacher/login", json={"pin": TEACHER_PIN}, timeout=10).status_code == 200
    code = teacher.post(hub.url + "/api/classes", timeout=10).json()["code"]
    tablets = [ResumingTablet(hub, code, name) for name in ("Ada", "Bo", "Cy")]
    acknowledged = {}
    for i, tablet in enumerate(tablets):
        for n in range(2):
            acknowledged[f"{i}-{n}"] = tablet.answer_right(f"{i}-{n}")
    last = tablets[0].question

    hub.kill_all()  # every hub process, mid-lesson
    hub.restart()   # on the same data folder, as systemd does

    for tablet in tablets:  # each tablet is back by itself: no reload, no code or nickname typed again
        assert tablet.resumed.wait(30), "a tablet did not resume"
    assert tablets[0].question == last  # the question it was looking at
    current = teacher.get(hub.url + "/api/classes/current", timeout=10)  # the teacher's login survived
    assert current.status_code == 200 and current.json()["code"] == code
    assert {s["nickname"]: s["connected"] for s in current.json()["students"]} == {"Ada": True, "Bo": True, "Cy": True}
    assert requests.get(hub.url + "/api/classes/current/public", timeout=10).json()["code"] == code  # the kiosk
    # an answer whose acknowledgement was lost is sent again: the same reply, counted once
    assert tablets[2].call("answer", {"given": "1", "answer_id": "2-1"}) == acknowledged["2-1"]
    tablets[1].answer_right("1-2")
    rows = list(csv.DictReader(io.StringIO(teacher.get(hub.url + "/api/classes/current/export.csv", timeout=10).text)))
    assert sorted(r["nickname"] for r in rows) == ["Ada", "Ada", "Bo", "Bo", "Bo", "Cy", "Cy"]  # none lost or doubled
    assert all(r["correct"] == "yes" for r in rows)
    for tablet in tablets:
        tablet.client.disconnect()
    teacher.post(hub.url + "/api/classes/current/end", timeout=10)
    for path in hub.data_dir.glob("classroom.sqlite3*"):
        assert b"Ada" not in path.read_bytes(), path.name
