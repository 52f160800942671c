"""Socket.IO: /class for tablets, /teacher for the dashboard. Async mode pinned to "threading".

"threading" runs on gunicorn's gthread worker with simple-websocket, which Flask-SocketIO
documents for this mode; it keeps real threads for the engine. Every handler answers through
the acknowledgement: a result, or {"error", "code"}; a bad payload never drops the connection.
The default CORS policy (the hub's own origin only) is kept on purpose.
"""
from __future__ import annotations

import logging
from functools import wraps

from flask import request
from flask_socketio import SocketIO, disconnect, join_room

from ..classroom.service import ClassroomService
from ..errors import BadInput, HubError
from ..service import Hub, Sound

log = logging.getLogger(__name__)
ASYNC_MODE = "threading"
CLASS_ROOM = "tablets"
TEACHERS = "teachers"
STATS_INTERVAL_S = 2.0


def replies(handler):
    """Turn HubErrors (and surprises) into an error reply instead of a dropped connection."""

    @wraps(handler)
    def wrapped(*args):
        try:
            return handler(*args)
        except HubError as exc:
            return exc.to_json()
        except Exception:  # noqa: BLE001 - one tablet's bad request must not end its connection
            log.exception("unexpected error in a Socket.IO handler")
            return {"error": "internal error; see the hub's log", "code": "internal_error"}

    return wrapped


def create_socketio(app, hub: Hub, classroom: ClassroomService) -> SocketIO:
    socketio = SocketIO(app, async_mode=ASYNC_MODE, max_http_buffer_size=hub.config.limits.max_body_bytes,
                        ping_interval=10, ping_timeout=20, logger=False, engineio_logger=False)

    def teacher_event(kind: str, data: dict) -> None:
        socketio.emit(kind, data, namespace="/teacher", to=TEACHERS)

    def on_class_event(kind: str, data: dict) -> None:
        if kind == "class_ended":
            socketio.emit("class_ended", {"message": "the class has ended; thank you!"}, namespace="/class",
                          to=CLASS_ROOM)
            for sid in data.get("sids", []):
                _disconnect_later(socketio, sid, "/class")
        elif kind == "student_kicked" and data.get("sid"):
            socketio.emit("kicked", {"message": "the teacher has taken you out of the class"}, namespace="/class",
                          to=data["sid"])
            _disconnect_later(socketio, data["sid"], "/class")
        elif kind == "class_state":
            socketio.emit("class_state", {"state": data.get("state"), "paused": data.get("paused")},
                          namespace="/class", to=CLASS_ROOM)
        teacher_event(kind, {k: v for k, v in data.items() if k != "sids"})

    classroom.listen(on_class_event)

    # --- /class: tablets -------------------------------------------------------------------------

    def current_student():
        room = classroom.classes.current
        student = room.by_sid(request.sid) if room else None
        if student is None:
            raise BadInput("join a class first (event 'join' with {code, nickname})")
        return room, student

    @socketio.on("join", namespace="/class")
    @replies
    def on_join(data=None):
        data = data if isinstance(data, dict) else {}
        room = classroom.classes.by_code(data.get("code"))
        student = room.join(data.get("nickname"), request.sid)
        join_room(CLASS_ROOM)
        classroom.joined(student)
        return {"ok": True, "student_id": student.id, "nickname": student.nickname, "paused": room.paused,
                "question": room.question_for(student).to_json()}

    @socketio.on("next", namespace="/class")
    @replies
    def on_next(data=None):
        room, student = current_student()
        return {"question": room.question_for(student).to_json()}

    @socketio.on("answer", namespace="/class")
    @replies
    def on_answer(data=None):
        room, student = current_student()
        answer, question = room.record(student, data)
        classroom.answered(student, answer)
        return {"ok": True, "correct": answer.correct, "expected": answer.a * answer.b,
                "level": student.level, "question": question.to_json()}

    @socketio.on("classify", namespace="/class")
    @replies
    def on_classify(data=None):
        if not isinstance(data, dict) or not isinstance(data.get("model"), str):
            raise BadInput("send {model, image: bytes} or {model, audio: bytes[, sample_rate]}")
        k = hub.parse_top_k(data.get("top_k"))
        if isinstance(data.get("image"), (bytes, bytearray)):
            media = bytes(data["image"])
        elif isinstance(data.get("audio"), (bytes, bytearray)):
            rate = data.get("sample_rate")
            if rate is not None and (isinstance(rate, bool) or not isinstance(rate, int)):
                raise BadInput("sample_rate must be a whole number of Hz")
            media = Sound(bytes(data["audio"]), rate)
        else:
            raise BadInput("send the picture as 'image' or the recording as 'audio', as binary")
        return hub.classify(data["model"], media, k, api="socketio").to_json()

    @socketio.on("disconnect", namespace="/class")
    def on_class_disconnect(*_):
        room = classroom.classes.current
        student = room.by_sid(request.sid) if room else None
        if student is not None:
            classroom.left(student)

    # --- /teacher: the dashboard -----------------------------------------------------------------

    @socketio.on("connect", namespace="/teacher")
    def on_teacher_connect(auth=None):
        token = (auth or {}).get("token") if isinstance(auth, dict) else None
        if not classroom.auth.check(token or request.cookies.get("hub_teacher")):
            return False  # refused: the client sees a connect_error
        join_room(TEACHERS)
        socketio.emit("snapshot", snapshot(), namespace="/teacher", to=request.sid)
        return True

    def snapshot() -> dict:
        room = classroom.classes.current
        return {"class": room.snapshot() if room else None, "hub": stats()}

    def stats() -> dict:
        models = []
        for entry in hub.registry.entries():
            data = entry.to_json()
            models.append({"name": data["name"], "status": data["status"], "backend": data.get("backend"),
                           "device": data.get("device"), "queue_depth": data.get("queue_depth"),
                           "fallbacks": data.get("fallbacks"), "task": data.get("task"),
                           "latency": hub.metrics.recent(data["name"])})
        return {"models": models, "edgetpu": hub.pool.to_json(), "runtime": hub.runtime.name,
                "microphone": hub.microphone.status.to_json()}

    def stats_loop() -> None:
        while True:
            socketio.sleep(STATS_INTERVAL_S)
            try:
                teacher_event("stats", stats())
            except Exception:  # noqa: BLE001 - the dashboard feed must outlive any one failure
                log.exception("stats broadcast failed")

    socketio.start_background_task(stats_loop)
    socketio.teacher_event = teacher_event  # the Hub's engine events go here too
    return socketio


def _disconnect_later(socketio: SocketIO, sid: str, namespace: str) -> None:
    """Let the goodbye message leave first, then release the tablet."""

    def later() -> None:
        socketio.sleep(0.2)
        try:
            socketio.server.disconnect(sid, namespace=namespace)
        except Exception:  # noqa: BLE001 - it may already be gone
            pass

    socketio.start_background_task(later)


__all__ = ["ASYNC_MODE", "create_socketio", "disconnect"]
