"""/api/teacher and /api/classes: the teacher's login and class controls (REST).

Every request here that changes something (POST, PUT, PATCH, DELETE) must come from the hub's
own pages: its `Origin` (or, without one, its `Referer`) must be the hub's own scheme, host and
port. A browser always sends `Origin` with such a request today; a form or a text/plain post
that carries the teacher's cookie with neither header is refused too (an old browser, or a page
hiding where it comes from), besides the cookie's SameSite. Programs that send the login as
`Authorization: Bearer <token>`, or send JSON or no body at all (which another site's page
cannot do without the hub's consent), may omit both headers (docs/API.md).
"""
from __future__ import annotations

from functools import wraps
from urllib.parse import urlsplit

from flask import Blueprint, Response, current_app, jsonify, request

from ..classroom.service import ClassroomService
from ..errors import BadInput, CrossOrigin, Unauthorized

bp = Blueprint("classes", __name__, url_prefix="/api")
COOKIE = "hub_teacher"
CHANGES = {"POST", "PUT", "PATCH", "DELETE"}
FORM_TYPES = {"application/x-www-form-urlencoded", "multipart/form-data", "text/plain"}  # sendable by any site
DEFAULT_PORTS = {"http": 80, "https": 443}


def classroom() -> ClassroomService:
    return current_app.extensions["classroom"]


def teacher_token() -> str | None:
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer "):
        return header[7:].strip()
    return request.cookies.get(COOKIE)


def _origin(url: str) -> tuple[str, str, int | None] | None:
    try:
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        return scheme, (parts.hostname or "").lower().rstrip("."), parts.port or DEFAULT_PORTS.get(scheme)
    except ValueError:  # a port that is not a number, a malformed IPv6 address
        return None


@bp.before_request
def same_origin_only():
    if request.method not in CHANGES:
        return
    source = request.headers.get("Origin") or request.headers.get("Referer")
    if source:
        sent, here = _origin(source), _origin(f"{request.scheme}://{request.host}")
        if sent is None or here is None or not sent[1] or sent != here:
            raise CrossOrigin(f"refused: this came from a page of another site ({source[:100]}); the teacher's "
                              "controls work only from the hub's own dashboard (/teacher)")
        return
    by_bearer = request.headers.get("Authorization", "").startswith("Bearer ")
    from_browser = request.mimetype in FORM_TYPES or any(h.startswith("Sec-Fetch-") for h in request.headers.keys())
    if COOKIE in request.cookies and not by_bearer and from_browser:
        raise CrossOrigin("refused: a browser request with the teacher's login but no Origin or Referer header; "
                          "use the hub's own dashboard (/teacher), or send the login as Authorization: Bearer")


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


@bp.post("/classes/current/lead")
@teacher_only
def lead():
    """Ask the whole class for one thing: {"pose": "star"} in Move like me; {"pose": null} stops."""
    room = classroom().lead(request.get_json(silent=True))
    return jsonify(room.snapshot())


@bp.get("/classes/current")
@teacher_only
def current():
    return jsonify(classroom().classes.require().snapshot())


@bp.get("/classes/current/public")
def public():
    """What the kiosk shows: the code and anonymous figures; no names."""
    room = classroom().classes.current
    if room is None:
        return jsonify({"code": None})
    teaching = classroom().context.teaching
    project = teaching.tablet_view() if teaching and room.activity.name == "teach-the-hub" else None
    return jsonify({**room.figures(), "teach": project})


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
