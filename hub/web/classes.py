"""/api/teacher and /api/classes: the teacher's login and class controls (REST)."""
from __future__ import annotations

from functools import wraps

from flask import Blueprint, Response, current_app, jsonify, request

from ..classroom.service import ClassroomService
from ..errors import BadInput, Unauthorized

bp = Blueprint("classes", __name__, url_prefix="/api")
COOKIE = "hub_teacher"


def classroom() -> ClassroomService:
    return current_app.extensions["classroom"]


def teacher_token() -> str | None:
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer "):
        return header[7:].strip()
    return request.cookies.get(COOKIE)


def teacher_only(view):
    @wraps(view)
    def wrapped(*args, **kwargs):
        if not classroom().auth.check(teacher_token()):
            raise Unauthorized("log in as the teacher first (POST /api/teacher/login with the PIN)")
        return view(*args, **kwargs)

    return wrapped


@bp.post("/teacher/login")
def login():
    body = request.get_json(silent=True) or {}
    pin = body.get("pin")
    if not isinstance(pin, str):
        raise BadInput('send {"pin": "1234"}')
    token = classroom().auth.login(pin, request.remote_addr or "?")
    response = jsonify({"ok": True, "token": token})
    hours = classroom().config.teacher.session_hours
    response.set_cookie(COOKIE, token, max_age=int(hours * 3600), httponly=True, samesite="Strict",
                        secure=request.is_secure)
    return response


@bp.post("/teacher/logout")
def logout():
    classroom().auth.logout(teacher_token())
    response = jsonify({"ok": True})
    response.delete_cookie(COOKIE)
    return response


@bp.get("/teacher/session")
def session():
    return jsonify({"teacher": classroom().auth.check(teacher_token())})


@bp.get("/activities")
def list_activities():
    """What the teacher can choose for the class, and why one cannot run now."""
    return jsonify(classroom().activities())


@bp.post("/classes")
@teacher_only
def start_class():
    """Start a class; {"activity": "what-is-this"} chooses its activity (times tables by default)."""
    body = request.get_json(silent=True)
    activity = body.get("activity") if isinstance(body, dict) else None
    room = classroom().start_class(activity)
    return jsonify({"code": room.code, **room.snapshot()}), 201


@bp.post("/classes/current/activity")
@teacher_only
def set_activity():
    """Switch the running class to another activity; every tablet follows."""
    body = request.get_json(silent=True)
    room = classroom().set_activity(body.get("activity") if isinstance(body, dict) else None)
    return jsonify(room.snapshot())


@bp.get("/classes/current")
@teacher_only
def current():
    return jsonify(classroom().classes.require().snapshot())


@bp.get("/classes/current/public")
def public():
    """What the kiosk shows: the code and anonymous figures; no names."""
    room = classroom().classes.current
    return jsonify(room.figures() if room else {"code": None})


@bp.post("/classes/current/pause")
@teacher_only
def pause():
    return jsonify(classroom().set_paused(True).figures())


@bp.post("/classes/current/resume")
@teacher_only
def resume():
    return jsonify(classroom().set_paused(False).figures())


def student_id_from_body() -> str:
    body = request.get_json(silent=True)
    student_id = body.get("student_id") if isinstance(body, dict) else None
    if not isinstance(student_id, str):
        raise BadInput('send {"student_id": "..."}')
    return student_id


@bp.post("/classes/current/kick")
@teacher_only
def kick():
    """Remove a pupil: released, cannot rejoin unless let back in; answers kept (marked removed)."""
    return jsonify({"kicked": classroom().kick(student_id_from_body()).id})


@bp.post("/classes/current/let-back")
@teacher_only
def let_back():
    """The next join with this pupil's nickname takes the seat (a new tablet, or a removed pupil)."""
    return jsonify({"let_back": classroom().let_back(student_id_from_body()).id})


@bp.post("/classes/current/forget")
@teacher_only
def forget():
    """Delete a pupil who is not connected and all their answers from the class, for good."""
    return jsonify({"forgotten": classroom().forget(student_id_from_body()).id})


@bp.get("/classes/current/export.csv")
@teacher_only
def export():
    room = classroom().classes.require()
    return Response(room.csv(), mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="class-{room.code}.csv"',
                             "Cache-Control": "no-store"})


@bp.post("/microphone/listen")
@teacher_only
def listen():
    """The kiosk station's microphone: record, classify, and show the dashboard what was heard."""
    body = request.get_json(silent=True)
    body = body if isinstance(body, dict) else {}
    seconds = body.get("seconds", 1.5)
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)):
        raise BadInput("seconds must be a number")
    the_hub = current_app.extensions["classroom_hub"]
    result = the_hub.listen(float(seconds), {"top_k": body.get("top_k")})
    classroom().heard(result.model, result.result.predictions[0].label)
    return jsonify(result.to_json())


@bp.post("/classes/current/end")
@teacher_only
def end():
    """End the class: every tablet is told and released, and its answers are deleted."""
    room = classroom().end_class()
    return jsonify({"ended": room.code, "deleted_answers": sum(len(s.answers) for s in room.students.values())})
