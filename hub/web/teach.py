"""/api/teach: teaching the hub over REST, for scripts, tests and the dashboard (hub/teach/).

The teacher (cookie or `Authorization: Bearer`) does everything; a pupil who joined the class
(their resume token as `Authorization: Bearer`) may give examples and try the model, within the
same answer rate as the tablets. Changes come from the hub's own pages only, as /api/classes.
"""
from __future__ import annotations

from flask import Blueprint, Response, current_app, jsonify, request

from ..classroom.state import Student
from ..errors import BadInput, RateLimited, Unauthorized
from ..tasks import Picture
from ..teach.project import TEACHER
from ..teach.service import TeachService
from .api import media_from_request
from .classes import classroom, same_origin_only, teacher_only, teacher_token

bp = Blueprint("teach", __name__, url_prefix="/api/teach")
bp.before_request(same_origin_only)


def teaching() -> TeachService:
    return current_app.extensions["teaching"]


def _body() -> dict:
    body = request.get_json(silent=True)
    return body if isinstance(body, dict) else {}


def _giver() -> tuple[str, Student | None]:
    """Who gives: the teacher, or a pupil of the running class by their token (rate limited)."""
    token = teacher_token()
    if classroom().auth.check(token):
        return TEACHER, None
    room = classroom().classes.current
    student = room.by_token(token) if room is not None and token else None
    if student is None:
        raise Unauthorized("log in as the teacher, or join the class and send your token as Authorization: Bearer")
    wait = student.bucket.take() if student.bucket else 0.0
    if wait:
        raise RateLimited("slow down a little, then send the next one", retry_after_s=max(1, round(wait)))
    return student.id, student


def _picture() -> Picture:
    media = media_from_request()
    if not isinstance(media, Picture):
        raise BadInput("send a photo (image/jpeg, image/png, ...) as the body or the multipart field 'image'")
    return media


@bp.get("")
@teacher_only
def list_projects():
    return jsonify({"projects": teaching().list(), "current": teaching().current})


@bp.post("")
@teacher_only
def create():
    """{"name", "labels": [2 to 10 things], "kind": "pictures" | "poses"}: start teaching."""
    body = _body()
    project = teaching().create(body.get("name"), body.get("labels"), body.get("kind", "pictures"))
    return jsonify(teaching().status(project.name)), 201


@bp.get("/<name>")
@teacher_only
def status(name: str):
    return jsonify(teaching().status(name))


@bp.delete("/<name>")
@teacher_only
def delete(name: str):
    teaching().delete(name)
    return jsonify({"deleted": name})


@bp.post("/<name>/reopen")
@teacher_only
def reopen(name: str):
    """A saved taught model back in this lesson, with its examples; {"labels": [...]} adds things."""
    project = teaching().reopen(name, _body().get("labels"))
    return jsonify(teaching().status(project.name)), 201


@bp.post("/<name>/examples")
def add_example(name: str):
    """?label=L with a picture: one example (the picture is dropped once the hub has its numbers)."""
    given_by, _ = _giver()  # who first (401 tells a stranger nothing), then 404, all before reading a body
    teaching().get(name)
    return jsonify(teaching().add_example(name, request.args.get("label"), _picture(), given_by)), 201


@bp.delete("/<name>/examples")
@teacher_only
def remove_examples(name: str):
    """?given_by=ID (a pupil's id, or @teacher): that one's examples go, and the model learns again."""
    return jsonify({"removed": teaching().remove_examples(name, request.args.get("given_by")),
                    **teaching().status(name)})


@bp.post("/<name>/classify")
def try_it(name: str):
    """What the hub thinks a picture is, with what it has learnt so far."""
    _giver()
    teaching().get(name)
    return jsonify(teaching().classify(name, _picture()))


@bp.post("/<name>/train")
@teacher_only
def train(name: str):
    teaching().train(name)
    return jsonify(teaching().status(name))


@bp.post("/<name>/freeze")
@teacher_only
def freeze(name: str):
    """{"frozen": true}: no more examples, the model stays as it is; false to learn again."""
    frozen = _body().get("frozen", True)
    if not isinstance(frozen, bool):
        raise BadInput("frozen must be true or false")
    teaching().freeze(name, frozen)
    return jsonify(teaching().status(name))


@bp.post("/<name>/current")
@teacher_only
def make_current(name: str):
    """Put this one on the tablets."""
    teaching().show(name)
    return jsonify(teaching().status(name))


@bp.post("/<name>/save")
@teacher_only
def save(name: str):
    """Save as a model in models/: served from now on like any model, by any activity."""
    return jsonify(teaching().save(name)), 201


@bp.get("/<name>/export")
@teacher_only
def export(name: str):
    """The saved model as a zip, for another hub's models folder."""
    file_name, data = teaching().export(name)
    return Response(data, mimetype="application/zip",
                    headers={"Content-Disposition": f'attachment; filename="{file_name}"'})
