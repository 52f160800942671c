"""/api: the classroom REST API: the models, the hub's status, classify and predict."""
from __future__ import annotations

from flask import Blueprint, current_app, jsonify, request

from .. import spoken
from ..errors import BadInput, UnsupportedMediaType
from ..service import Hub
from ..tasks import Media, Picture, Sound
from .bodies import whole_body

bp = Blueprint("api", __name__, url_prefix="/api")


def hub() -> Hub:
    return current_app.extensions["classroom_hub"]


@bp.get("/models")
def list_models():
    return jsonify(hub().status()["models"])


@bp.get("/status")
def status():
    return jsonify(hub().status())


WAV_TYPES = {"audio/wav", "audio/wave", "audio/x-wav", "audio/vnd.wave"}
PCM_TYPES = {"audio/l16", "audio/pcm"}


def _rate(raw: str | None) -> int:
    try:
        return int(raw or "")
    except ValueError:
        raise BadInput("raw PCM needs its sample rate: ?sample_rate=16000 or Content-Type audio/L16;rate=16000") \
            from None


def media_from_request() -> Media:
    """A picture (image/* body or multipart 'image') or a recording (WAV, or 16-bit PCM with its rate)."""
    content_type = (request.mimetype or "").lower()
    if content_type == "multipart/form-data":
        if "image" in request.files:
            return Picture(request.files["image"].read())
        if "audio" in request.files:
            return Sound(request.files["audio"].read())
        raise BadInput("send the picture as the multipart field 'image', or a WAV as the field 'audio'")
    if content_type.startswith("image/"):
        return Picture(whole_body())
    if content_type in WAV_TYPES:
        return Sound(whole_body())
    if content_type in PCM_TYPES:
        rate = request.mimetype_params.get("rate") or request.args.get("sample_rate")
        return Sound(whole_body(), _rate(rate))
    raise UnsupportedMediaType(
        f"Content-Type {content_type or 'missing'}: send an image (image/png, image/jpeg, image/bmp, "
        "image/webp) or a recording (audio/wav, or audio/L16;rate=N for 16-bit PCM) as the body, "
        "or the multipart field 'image' or 'audio'"
    )


def options_from_request() -> dict:
    return dict(request.args.items())


@bp.post("/models/<name>/classify")
def classify(name: str):
    """A classifier's ranked classes for a picture or a recording; with ?split=1, for each word of
    a recording (a whole answer said in one go)."""
    the_hub = hub()
    the_hub.task_of(name)  # 404 or 503 before reading a body for a model that cannot answer
    options = options_from_request()
    if spoken.wants_split(options):  # a whole answer said in one go: each word's classes
        return jsonify(spoken.classify_words(the_hub, name, media_from_request(), options))
    return jsonify(the_hub.predict(name, media_from_request(), options, classify=True).to_json())


@bp.post("/models/<name>/predict")
def predict(name: str):
    """Any model with a task that takes media: the task's result (same bodies as classify)."""
    the_hub = hub()
    the_hub.task_of(name)
    return jsonify(the_hub.predict(name, media_from_request(), options_from_request()).to_json())
