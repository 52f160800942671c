"""/api: the classroom REST API (model list, classify) and the test-only fault switch."""
from __future__ import annotations

from flask import Blueprint, current_app, jsonify, request

from ..errors import BadInput, UnsupportedMediaType
from ..service import Hub

bp = Blueprint("api", __name__, url_prefix="/api")


def hub() -> Hub:
    return current_app.extensions["classroom_hub"]


@bp.get("/models")
def list_models():
    return jsonify(hub().status()["models"])


@bp.get("/status")
def status():
    return jsonify(hub().status())


def image_from_request() -> bytes:
    """The picture as multipart field `image`, or as the raw body with an image/* type."""
    content_type = (request.mimetype or "").lower()
    if content_type == "multipart/form-data":
        upload = request.files.get("image")
        if upload is None:
            raise BadInput("send the picture as the multipart field 'image'")
        return upload.read()
    if content_type.startswith("image/"):
        return request.get_data(cache=False)
    raise UnsupportedMediaType(
        f"Content-Type {content_type or 'missing'}: send an image (image/png, image/jpeg, image/bmp, "
        "image/webp) as the body, or as the multipart field 'image'"
    )


@bp.post("/models/<name>/classify")
def classify(name: str):
    the_hub = hub()
    the_hub.registry.get(name)  # 404 before reading a body for a model that does not exist
    k = the_hub.parse_top_k(request.args.get("top_k"))
    return jsonify(the_hub.classify(name, image_from_request(), k).to_json())


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
    return jsonify(the_hub.inject_fault(str(body.get("device", "sim:0")), gone, fail_next))
