"""/api: the classroom REST API (model list, classify) and the test-only fault switch."""
from __future__ import annotations

from flask import Blueprint, current_app, jsonify, request

from ..errors import BadInput, UnsupportedMediaType
from ..service import Hub, Sound

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


def media_from_request() -> bytes | Sound:
    """A picture (image/* body or multipart 'image') or a recording (WAV, or 16-bit PCM with its rate)."""
    content_type = (request.mimetype or "").lower()
    if content_type == "multipart/form-data":
        if "image" in request.files:
            return request.files["image"].read()
        if "audio" in request.files:
            return Sound(request.files["audio"].read())
        raise BadInput("send the picture as the multipart field 'image', or a WAV as the field 'audio'")
    if content_type.startswith("image/"):
        return request.get_data(cache=False)
    if content_type in WAV_TYPES:
        return Sound(request.get_data(cache=False))
    if content_type in PCM_TYPES:
        rate = request.mimetype_params.get("rate") or request.args.get("sample_rate")
        return Sound(request.get_data(cache=False), _rate(rate))
    raise UnsupportedMediaType(
        f"Content-Type {content_type or 'missing'}: send an image (image/png, image/jpeg, image/bmp, "
        "image/webp) or a recording (audio/wav, or audio/L16;rate=N for 16-bit PCM) as the body, "
        "or the multipart field 'image' or 'audio'"
    )


@bp.post("/models/<name>/classify")
def classify(name: str):
    the_hub = hub()
    the_hub.registry.get(name)  # 404 before reading a body for a model that does not exist
    k = the_hub.parse_top_k(request.args.get("top_k"))
    return jsonify(the_hub.classify(name, media_from_request(), k).to_json())


@bp.post("/testing/faults")
def inject_fault():
    """Break or mend a simulated Edge TPU; exists only with [testing] fault_injection = true."""
    the_hub = hub()
    if not the_hub.config.testing.fault_injection:
        return jsonify({"error": "fault injection is off", "code": "not_found"}), 404
    body = request.get_json(silent=True) or {}
    gone = body.get("gone")
    fail_next = body.get("fail_next")
    if gone is not None and not isinstance(gone, bool):
        raise BadInput("gone must be true or false")
    if fail_next is not None and (not isinstance(fail_next, int) or fail_next < 0):
        raise BadInput("fail_next must be a whole number")
    hang = body.get("hang")
    if hang is not None and not isinstance(hang, bool):
        raise BadInput("hang must be true or false")
    return jsonify(the_hub.inject_fault(str(body.get("device", "sim:0")), gone, fail_next, hang))
