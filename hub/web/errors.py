"""Every error leaves the hub as JSON: {"error": message, "code": ...} and the right status.

`error` is what the Open Inference Protocol asks for; `code` is stable for programs.
"""
from __future__ import annotations

import logging

from flask import Flask, jsonify
from werkzeug.exceptions import ClientDisconnected, HTTPException

from ..errors import HubError

log = logging.getLogger(__name__)


def hub_error_response(exc: HubError):
    response = jsonify(exc.to_json())
    response.status_code = exc.status
    retry_after = exc.details.get("retry_after_s")
    if retry_after is not None:  # Overloaded, TooManyAttempts: say when to come back
        response.headers["Retry-After"] = str(retry_after)
    return response


def http_error_response(exc: HTTPException):
    code = {404: "not_found", 405: "method_not_allowed", 413: "payload_too_large"}.get(exc.code or 500, "http_error")
    message = exc.description or exc.name
    if exc.code == 413:
        message = "the request body is over the configured limit ([limits] max_body_bytes)"
    if isinstance(exc, ClientDisconnected):  # Werkzeug's words blame "the browser (or proxy)"
        code, message = "bad_input", "the request's body ended before its Content-Length said; send it again"
    response = jsonify({"error": message, "code": code})
    response.status_code = exc.code or 500
    return response


def unexpected_error_response(exc: Exception):
    log.exception("unexpected error while answering a request")
    response = jsonify({"error": "internal error; see the hub's log", "code": "internal_error"})
    response.status_code = 500
    return response


def register_error_handlers(app: Flask) -> None:
    app.register_error_handler(HubError, hub_error_response)
    app.register_error_handler(HTTPException, http_error_response)
    app.register_error_handler(Exception, unexpected_error_response)
