"""Socket.IO: `/class` for tablets, `/teacher` for the dashboard, as class-based namespaces.

Async mode is pinned to "threading": it runs on gunicorn's gthread worker with simple-websocket,
which Flask-SocketIO documents for this mode, and keeps real threads for the engine. Every
handler answers through the acknowledgement: a result, or {"error", "code"}; a bad payload never
drops the connection. The default CORS policy (the hub's own origin only) is kept on purpose.

`Live` listens on the hub's one event bus and fans each event out; it starts no thread of its
own until the server calls `start_broadcasts` (in-process tests never do).
"""
from __future__ import annotations

import logging
import threading
from functools import wraps

from flask import request
from flask_socketio import Namespace, SocketIO, join_room

from .. import spoken
from ..classroom.service import ClassroomService
from ..errors import BadInput, HubError, RateLimited
from ..ratelimit import TokenBucket, trusted
from ..service import Hub
from ..tasks import Media, Picture, Sound
from . import socket_limits

log = logging.getLogger(__name__)
ASYNC_MODE = "threading"
CLASS_ROOM = "tablets"
TEACHERS = "teachers"
STATS_INTERVAL_S = 2.0
MODEL_EVENTS = {"fallback", "recovered", "models_changed"}


def replies(handler):
    """Turn HubErrors (and surprises) into an error reply instead of a dropped connection."""

    @wraps(handler)
    def wrapped(namespace, data=None, *_more):  # what a client sends past the one payload is ignored
        try:
            return handler(namespace, data)
        except HubError as exc:
            return exc.to_json()
        except Exception:  # noqa: BLE001 - one tablet's bad request must not end its connection
            log.exception("unexpected error in a Socket.IO handler")
            return {"error": "internal error; see the hub's log", "code": "internal_error"}

    return wrapped


def _device() -> str:
    """The tablet's address, for the seats one device may take; empty for the hub's own machine."""
    address = request.remote_addr or "?"
    return "" if trusted(address) else address


class AddressLimits:
    """A token bucket per client address (joins): a laptop cannot fill or churn the seats."""

    MAX_ADDRESSES = 4096  # memory bound: beyond it the oldest are forgotten

    def __init__(self, burst: int, per_s: float) -> None:
        self.burst, self.per_s = burst, per_s
        self._buckets: dict[str, TokenBucket] = {}
        self._lock = threading.Lock()

    def take(self, address: str) -> None:
        with self._lock:
            bucket = self._buckets.pop(address, None) or TokenBucket(self.burst, self.per_s)
            self._buckets[address] = bucket  # most recent last
            while len(self._buckets) > self.MAX_ADDRESSES:
                del self._buckets[next(iter(self._buckets))]
        wait = bucket.take()
        if wait:
            raise RateLimited("too many joins from this tablet; wait a moment", retry_after_s=max(1, round(wait)))


def media_from(data: dict) -> Media | None:
    """A picture ('image') or a recording ('audio', with 'sample_rate' for raw PCM), as binary."""
    if isinstance(data.get("image"), (bytes, bytearray)):
        return Picture(bytes(data["image"]))
    if isinstance(data.get("audio"), (bytes, bytearray)):
        rate = data.get("sample_rate")
        if rate is not None and (isinstance(rate, bool) or not isinstance(rate, int)):
            raise BadInput("sample_rate must be a whole number of Hz")
        return Sound(bytes(data["audio"]), rate)
    return None


class ClassNamespace(Namespace):
    """Tablets: join (or resume with the seat's token), next, answer, classify, predict."""

    def __init__(self, hub: Hub, classroom: ClassroomService) -> None:
        super().__init__("/class")
        self.hub, self.classroom = hub, classroom
        config = hub.config.classroom
        self._joins = AddressLimits(config.join_burst, config.joins_per_s)

    def _current(self):
        room = self.classroom.classes.current
        student = room.by_sid(request.sid) if room else None
        if student is None:
            raise BadInput("join a class first (event 'join' with {code, nickname})")
        return room, student

    def _seated(self, room, student, token: str) -> dict:
        join_room(CLASS_ROOM)
        return {"ok": True, "student_id": student.id, "nickname": student.nickname, "token": token,
                "paused": room.paused, "activity": self.classroom.describe(room.activity, room),
                "question": room.question_for(student)}

    @replies
    def on_join(self, data=None):
        self._joins.take(request.remote_addr or "?")
        data = data if isinstance(data, dict) else {}
        room, student, token = self.classroom.join(data.get("code"), data.get("nickname"), request.sid, _device())
        return self._seated(room, student, token)

    @replies
    def on_resume(self, data=None):
        """A tablet back after a drop, a reload or a hub restart: its seat, with no retyping."""
        self._joins.take(request.remote_addr or "?")
        data = data if isinstance(data, dict) else {}
        room, student, token = self.classroom.resume(data.get("code"), data.get("token"), request.sid, _device())
        return self._seated(room, student, token)

    @replies
    def on_next(self, data=None):
        room, student = self._current()
        return {"question": room.question_for(student)}

    @replies
    def on_answer(self, data=None):
        room, student = self._current()
        data = data if isinstance(data, dict) else {}
        _, reply = self.classroom.answer(room, student, data, media_from(data))
        return reply

    def _predict(self, data, classify: bool):
        if not isinstance(data, dict) or not isinstance(data.get("model"), str):
            raise BadInput("send {model, image: bytes} or {model, audio: bytes[, sample_rate]}")
        media = media_from(data)
        if media is None:
            raise BadInput("send the picture as 'image' or the recording as 'audio', as binary")
        return self.hub.predict(data["model"], media, data, api="socketio", classify=classify).to_json()

    @replies
    def on_classify(self, data=None):
        if isinstance(data, dict) and spoken.wants_split(data):  # a whole answer said in one go
            media = media_from(data)
            if not isinstance(data.get("model"), str) or media is None:
                raise BadInput("send {model, audio: bytes[, sample_rate], split: true}")
            return spoken.classify_words(self.hub, data["model"], media, data, api="socketio")
        return self._predict(data, classify=True)

    @replies
    def on_predict(self, data=None):
        return self._predict(data, classify=False)

    def on_disconnect(self, *_):
        room = self.classroom.classes.current
        student = room.by_sid(request.sid) if room else None
        if student is not None:
            self.classroom.left(room, student)


class TeacherNamespace(Namespace):
    """The dashboard: refused without the teacher's login; a snapshot at connect, then live events.

    Each connection is kept with the login it was made with, and dropped when that login ends:
    at logout and when the PIN changes (the auth tells us), and at expiry (checked before every
    broadcast to the room, `prune`, so nothing is sent to a dashboard whose login has run out;
    the stats broadcast makes that at least every STATS_INTERVAL_S)."""

    def __init__(self, live: "Live") -> None:
        super().__init__("/teacher")
        self.live = live
        self.auth = live.classroom.auth
        self._logins: dict[str, str] = {}  # sid -> the key of the login it connected with
        self._lock = threading.Lock()
        self.auth.on_sessions_ended(self.end)

    def on_connect(self, auth=None):
        token = auth.get("token") if isinstance(auth, dict) else None
        key = self.auth.session_key(token or request.cookies.get("hub_teacher"))
        if key is None:
            return False  # refused: the client sees a connect_error
        with self._lock:
            self._logins[request.sid] = key
        if not self.auth.valid(key):  # the login ended while this connection was being made
            with self._lock:
                self._logins.pop(request.sid, None)
            return False
        join_room(TEACHERS)
        self.live.socketio.emit("snapshot", self.live.snapshot(), namespace="/teacher", to=request.sid)
        return True

    def on_disconnect(self, *_):
        with self._lock:
            self._logins.pop(request.sid, None)

    def end(self, keys: set[str] | None) -> None:
        """Drop the dashboards of these logins (None: every one)."""
        with self._lock:
            sids = [sid for sid, key in self._logins.items() if keys is None or key in keys]
        for sid in sids:
            self._drop(sid)

    def prune(self) -> None:
        """Drop every dashboard whose login is no longer valid (expired): before each broadcast."""
        with self._lock:
            logins = list(self._logins.items())
        for sid, key in logins:
            if not self.auth.valid(key):
                self._drop(sid)

    def _drop(self, sid: str) -> None:
        with self._lock:
            self._logins.pop(sid, None)
        server = self.live.socketio.server
        try:
            server.leave_room(sid, TEACHERS, namespace="/teacher")  # at once: no broadcast reaches it from now
            server.disconnect(sid, namespace="/teacher")
        except Exception:  # noqa: BLE001 - it may already be gone
            log.debug("teacher connection already gone", exc_info=True)


class Live:
    """The Socket.IO side of the hub: its namespaces, and the bus's events fanned out."""

    def __init__(self, socketio: SocketIO, hub: Hub, classroom: ClassroomService) -> None:
        self.socketio, self.hub, self.classroom = socketio, hub, classroom
        socketio.on_namespace(ClassNamespace(hub, classroom))
        self.teachers = TeacherNamespace(self)
        socketio.on_namespace(self.teachers)
        hub.bus.subscribe(self.on_event)
        self._broadcasting = threading.Event()

    def to_teachers(self, kind: str, data: dict) -> None:
        self.teachers.prune()  # a dashboard whose login expired hears nothing more
        self.socketio.emit(kind, data, namespace="/teacher", to=TEACHERS)

    def to_tablets(self, kind: str, data: dict, to: str = CLASS_ROOM) -> None:
        self.socketio.emit(kind, data, namespace="/class", to=to)

    def on_event(self, kind: str, data: dict) -> None:
        if kind in MODEL_EVENTS:
            self.to_teachers("model_state", {"event": kind, **data})
            return
        if kind == "teach":  # the tablets (in Teach the hub) hear what they draw; the dashboard the whole status
            room = self.classroom.classes.current
            if room is not None and room.activity.name == "teach-the-hub":
                self.to_tablets("teach", {"project": data.get("tablets")})
            self.to_teachers("teach", {k: v for k, v in data.items() if k != "tablets"})
            return
        if kind == "class_ended":
            self.to_tablets("class_ended", {"message": "the class has ended; thank you!"})
            for sid in data.get("sids", []):
                self._disconnect_later(sid)
        elif kind == "student_kicked" and data.get("sid"):
            self.to_tablets("kicked", {"message": "the teacher has taken you out of the class"}, to=data["sid"])
            self._disconnect_later(data["sid"])
        elif kind == "class_state":
            self.to_tablets("class_state", {"state": data.get("state"), "paused": data.get("paused")})
        elif kind == "activity":
            self.to_tablets("activity", data["described"])
        self.to_teachers(kind, {k: v for k, v in data.items() if k not in ("sid", "sids", "described")})

    def _disconnect_later(self, sid: str) -> None:
        """Let the goodbye message leave first, then release the tablet."""

        def later() -> None:
            self.socketio.sleep(0.2)
            try:
                self.socketio.server.disconnect(sid, namespace="/class")
            except Exception:  # noqa: BLE001 - it may already be gone
                pass

        self.socketio.start_background_task(later)

    def snapshot(self) -> dict:
        room = self.classroom.classes.current
        teaching = self.classroom.context.teaching
        project = teaching.current_project() if teaching else None
        return {"class": room.snapshot() if room else None, "hub": self.stats(),
                "activities": self.classroom.activities(),
                "teach": teaching.status(project.name) if project else None}

    def stats(self) -> dict:
        models = []
        for entry in self.hub.registry.entries():
            data = entry.to_json()
            models.append({"name": data["name"], "status": data["status"], "backend": data.get("backend"),
                           "device": data.get("device"), "queue_depth": data.get("queue_depth"),
                           "fallbacks": data.get("fallbacks"), "task": data.get("task"),
                           "latency": self.hub.metrics.recent(data["name"])})
        return {"models": models, "accelerators": self.hub.pool.to_json(), "runtime": self.hub.runtime.name,
                "microphone": self.hub.microphone.status.to_json()}

    def start_broadcasts(self) -> None:
        """The dashboard's figures every STATS_INTERVAL_S; started once, by the serving process."""
        if self._broadcasting.is_set():
            return
        self._broadcasting.set()
        self.socketio.start_background_task(self._stats_loop)

    def _stats_loop(self) -> None:
        while True:
            self.socketio.sleep(STATS_INTERVAL_S)
            try:
                self.to_teachers("stats", self.stats())
            except Exception:  # noqa: BLE001 - the dashboard feed must outlive any one failure
                log.exception("stats broadcast failed")


def create_live(app, hub: Hub, classroom: ClassroomService) -> Live:
    socketio = SocketIO(app, async_mode=ASYNC_MODE, max_http_buffer_size=hub.config.limits.max_body_bytes,
                        ping_interval=10, ping_timeout=20, logger=False, engineio_logger=False,
                        # WebSocket only: each long-polling session took a thread of its own, outside
                        # `websockets_per_address`; 4,000 from one laptop and no tablet could connect
                        transports=["websocket"],
                        async_handlers=False,  # one connection's messages in order, on its own thread
                        json=socket_limits.PacketJSON)
    guard = socket_limits.bound(socketio.server, hub.config.limits.max_body_bytes, app.extensions["bodies"])
    live = Live(socketio, hub, classroom)
    live.attachment_guard = guard  # its counts are in /metrics
    return live
