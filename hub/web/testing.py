"""/api/testing: seams for exercising accelerator failures on machines without one.

Registered only with `[testing] fault_injection = true`; in production the routes do not exist.
"""
from __future__ import annotations

from flask import Blueprint, current_app, jsonify, request

from ..accelerators.simulated import SimulatedAccelerator
from ..errors import BadInput

bp = Blueprint("testing", __name__, url_prefix="/api/testing")


def _flag(body: dict, key: str) -> bool | None:
    value = body.get(key)
    if value is not None and not isinstance(value, bool):
        raise BadInput(f"{key} must be true or false")
    return value


@bp.post("/faults")
def inject_fault():
    """Break, wedge or mend a simulated accelerator: {"device": "sim:0", "gone"|"fail_next"|"hang": ...}."""
    body = request.get_json(silent=True)
    body = body if isinstance(body, dict) else {}
    fail_next = body.get("fail_next")
    if fail_next is not None and (isinstance(fail_next, bool) or not isinstance(fail_next, int) or fail_next < 0):
        raise BadInput("fail_next must be a whole number")
    device = str(body.get("device", "sim:0"))
    acc = current_app.extensions["classroom_hub"].pool.find(device)
    if not isinstance(acc, SimulatedAccelerator):
        raise BadInput(f"no simulated accelerator named {device!r}")
    plan = acc.inject(_flag(body, "gone"), fail_next, _flag(body, "hang"))
    return jsonify({"device": device, "gone": plan.gone, "fail_next": plan.fail_next, "hang": plan.hang})
