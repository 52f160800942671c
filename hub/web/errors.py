"""Every error leaves the hub as JSON: {"error": message, "code": ...} and the right status.

`error` is what the Open Inference Protocol asks for; `code` is stable for programs.
"""
from __future__ import annotations

import logging

from flask import Flask, jsonify
from werkzeug.exceptions import ClientDisconnected, HTTPException

from ..errors import HubError

log = logging.getLogger(__name__)


INTERNAL = {"error": "internal error; see the hub's log", "code": "internal_error"}
DISCONNECTED = {"error": "the request's body ended before its Content-Length said; send it again", "code": "bad_input"}


def hub_error_parts(exc: HubError) -> tuple[int, dict, dict]:
    """A HubError's status, JSON and headers, for every edge that answers one (and hub/web/lane.py)."""
    retry_after = exc.details.get("retry_after_s")
    # Overloaded, TooManyAttempts: say when to come back
    return exc.status, exc.to_json(), {} if retry_after is None else {"Retry-After": str(retry_after)}


def hub_error_response(exc: HubError):
    status, body, headers = hub_error_parts(exc)
    response = jsonify(body)
    response.status_code = status
    response.headers.update(headers)
    return response


def http_error_response(exc: HTTPException):
    code = {404: "not_found", 405: "method_not_allowed", 413: "payload_too_large"}.get(exc.code or 500, "http_error")
    message = exc.description or exc.name
    if exc.code == 413:
        message = "the request body is over the configured limit ([limits] max_body_bytes)"
    if isinstance(exc, ClientDisconnected):  # Werkzeug's words blame "the browser (or proxy)"
        code, message = DISCONNECTED["code"], DISCONNECTED["error"]
    response = jsonify({"error": message, "code": code})
    response.status_code = exc.code or 500
    return response


def unexpected_error_response(exc: Exception):
    log.exception("unexpected error while answering a request")
    response = jsonify(INTERNAL)
    response.status_code = 500
    return response


def register_error_handlers(app: Flask) -> None:
    app.register_error_handler(HubError, hub_error_response)
    app.register_error_handler(HTTPException, http_error_response)
    app.register_error_handler(Exception, unexpected_error_response)
