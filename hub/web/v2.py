"""/v2: the Open Inference Protocol (KServe v2) REST API, so any standard client works.

JSON tensors as the protocol defines them, plus the binary tensor data extension that
tritonclient uses by default (a JSON header of `Inference-Header-Content-Length` bytes, then
the raw tensors in order).
"""
from __future__ import annotations

import json
import math
import time

import numpy as np
from flask import Blueprint, Response, current_app, jsonify, request

from ..errors import BadInput, ModelNotFound
from ..manifest import TensorSpec
from ..registry import READY
from ..service import Hub

bp = Blueprint("v2", __name__, url_prefix="/v2")

MODEL_VERSION = "1"
HEADER_LENGTH = "Inference-Header-Content-Length"
DATATYPES = {
    "BOOL": "bool", "UINT8": "uint8", "UINT16": "uint16", "UINT32": "uint32", "UINT64": "uint64",
    "INT8": "int8", "INT16": "int16", "INT32": "int32", "INT64": "int64",
    "FP16": "float16", "FP32": "float32", "FP64": "float64",
}
V2_NAME = {v: k for k, v in DATATYPES.items()}


def hub() -> Hub:
    return current_app.extensions["classroom_hub"]


def tensor_metadata(spec: TensorSpec) -> dict:
    return {"name": spec.name, "datatype": V2_NAME.get(spec.dtype, spec.dtype.upper()), "shape": list(spec.shape)}


def check_version(version: str | None) -> None:
    if version is not None and version != MODEL_VERSION:
        raise ModelNotFound(f"version {version!r} not found; this hub serves version {MODEL_VERSION}")


@bp.get("")
@bp.get("/")
def server_metadata():
    return jsonify({"name": "classroom-hub", "version": hub().version, "extensions": ["binary_tensor_data"]})


@bp.get("/health/live")
def live():
    return jsonify({"live": True})


@bp.get("/health/ready")
def ready():
    is_ready = hub().registry.ready
    return jsonify({"ready": is_ready}), 200 if is_ready else 503


@bp.get("/models/<name>")
@bp.get("/models/<name>/versions/<version>")
def model_metadata(name: str, version: str | None = None):
    check_version(version)
    entry = hub().registry.get(name)
    spec = entry.spec
    body = {"name": name, "versions": [MODEL_VERSION], "platform": "tensorflow_lite",
            "inputs": [tensor_metadata(t) for t in spec.inputs] if spec else [],
            "outputs": [tensor_metadata(t) for t in spec.outputs] if spec else []}
    if entry.status != READY:
        body["error"] = entry.reason
    return jsonify(body)


@bp.get("/models/<name>/ready")
@bp.get("/models/<name>/versions/<version>/ready")
def model_ready(name: str, version: str | None = None):
    check_version(version)
    entry = hub().registry.get(name)
    is_ready = entry.status == READY
    return jsonify({"name": name, "ready": is_ready}), 200 if is_ready else 503


def _split_body() -> tuple[dict, bytes]:
    raw = request.get_data(cache=False)
    header_length = request.headers.get(HEADER_LENGTH)
    if header_length is not None:
        if not header_length.isdigit() or int(header_length) > len(raw):
            raise BadInput(f"{HEADER_LENGTH} must be a byte count within the body")
        head, tail = raw[:int(header_length)], raw[int(header_length):]
    else:
        head, tail = raw, b""
    try:
        body = json.loads(head)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadInput(f"the request is not valid JSON: {exc}") from None
    if not isinstance(body, dict) or not isinstance(body.get("inputs"), list) or not body["inputs"]:
        raise BadInput("the request needs an 'inputs' list of tensors")
    return body, tail


def _tensor(given: dict, spec: TensorSpec, tail: memoryview, offset: int) -> tuple[np.ndarray, int]:
    """One request tensor as an array of the model's shape and dtype; checks everything."""
    name = given.get("name", spec.name)
    datatype, shape = given.get("datatype"), given.get("shape")
    if datatype not in DATATYPES:
        raise BadInput(f"input {name!r}: datatype {datatype!r} is not an Open Inference Protocol type")
    if DATATYPES[datatype] != spec.dtype:
        raise BadInput(f"input {name!r} has datatype {datatype} but the model takes {V2_NAME.get(spec.dtype)}")
    if not isinstance(shape, list) or [int(x) if isinstance(x, int) else None for x in shape] != list(spec.shape):
        raise BadInput(f"input {name!r} has shape {shape} but the model takes {list(spec.shape)}")
    count = math.prod(spec.shape)
    size = (given.get("parameters") or {}).get("binary_data_size")
    if size is not None:
        if not isinstance(size, int) or size != count * np.dtype(spec.dtype).itemsize or offset + size > len(tail):
            raise BadInput(f"input {name!r}: binary_data_size does not match the shape and the body")
        array = np.frombuffer(tail[offset:offset + size], dtype=spec.dtype)
        return array.reshape(spec.shape), offset + size
    if "data" not in given:
        raise BadInput(f"input {name!r} has no data")
    try:
        values = np.asarray(given["data"])
    except ValueError:
        raise BadInput(f"input {name!r}: data is not a regular array of numbers") from None
    if values.size != count or values.dtype.kind not in "biuf":
        raise BadInput(f"input {name!r}: data holds {values.size} values, the shape needs {count} numbers")
    target = np.dtype(spec.dtype)
    if target.kind in "iu":
        if values.dtype.kind == "f" and not np.all(np.mod(values, 1) == 0):
            raise BadInput(f"input {name!r}: {datatype} data must be whole numbers")
        info = np.iinfo(target)
        if values.min() < info.min or values.max() > info.max:
            raise BadInput(f"input {name!r}: values must be from {info.min} to {info.max} for {datatype}")
    return values.astype(target).reshape(spec.shape), offset


def _wants_binary(body: dict, requested: dict) -> bool:
    if (requested.get("parameters") or {}).get("binary_data") is not None:
        return bool(requested["parameters"]["binary_data"])
    return bool((body.get("parameters") or {}).get("binary_data_output", False))


@bp.post("/models/<name>/infer")
@bp.post("/models/<name>/versions/<version>/infer")
def infer(name: str, version: str | None = None):
    started = time.perf_counter()
    check_version(version)
    the_hub = hub()
    entry = the_hub.registry.get(name)
    entry.require_ready()
    spec = entry.spec
    assert spec is not None
    body, tail = _split_body()
    given = body["inputs"]
    if len(given) != len(spec.inputs):
        raise BadInput(f"the model takes {len(spec.inputs)} input(s), the request has {len(given)}")
    by_name = {g.get("name"): g for g in given if isinstance(g, dict)}
    tensors, offset, view = [], 0, memoryview(tail)
    for i, tensor_spec in enumerate(spec.inputs):
        g = by_name.get(tensor_spec.name) or (given[i] if len(spec.inputs) == 1 and isinstance(given[i], dict) else None)
        if g is None:
            raise BadInput(f"the request has no input named {tensor_spec.name!r}")
        array, offset = _tensor(g, tensor_spec, view, offset)
        tensors.append(array)
    _, result = the_hub.run(name, tensors, "v2", started)
    requested = body.get("outputs") or [{"name": t.name} for t in spec.outputs]
    outputs_by_name = {t.name: (t, result.outputs[i]) for i, t in enumerate(spec.outputs)}
    out_json, blobs = [], []
    for req in requested:
        if not isinstance(req, dict) or req.get("name") not in outputs_by_name:
            raise BadInput(f"unknown output {req.get('name') if isinstance(req, dict) else req!r}")
        tspec, array = outputs_by_name[req["name"]]
        item = {"name": tspec.name, "datatype": V2_NAME.get(str(array.dtype), "BYTES"), "shape": list(array.shape)}
        if _wants_binary(body, req):
            blob = np.ascontiguousarray(array).tobytes()
            item["parameters"] = {"binary_data_size": len(blob)}
            blobs.append(blob)
        else:
            item["data"] = array.reshape(-1).tolist()
        out_json.append(item)
    reply = {"model_name": name, "model_version": MODEL_VERSION, "outputs": out_json}
    if "id" in body:
        reply["id"] = body["id"]
    if not blobs:
        return jsonify(reply)
    head = json.dumps(reply).encode()
    response = Response(head + b"".join(blobs), mimetype="application/octet-stream")
    response.headers[HEADER_LENGTH] = str(len(head))
    return response
