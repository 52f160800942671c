"""/v2 infer in front of Flask: the route a program calls over and over, answered without Flask's
request machinery and the Socket.IO middleware (a request context, URL matching, a Response
object), which were a third of a small request's time here: the digits model at one connection
went from 0.46 to 0.31 ms p50 (docs/PERFORMANCE.md).

The lane takes exactly `POST /v2/models/NAME[/versions/V]/infer` with a Content-Length within
`[limits] max_body_bytes`. Anything else (a chunked body, one over the limit, another method or
path) goes on to Flask as before, unread. Both answer with the same bytes: both call
hub/web/v2.py `answer_infer`, and errors are mapped by hub/web/errors.py's own functions. The lane
sits inside HostCheck, so a name the hub does not answer to is refused before it.
"""
from __future__ import annotations

import logging
import re
import time

from werkzeug.http import HTTP_STATUS_CODES

from ..errors import HubError
from ..service import Hub
from .bodies import dumps
from .errors import DISCONNECTED, INTERNAL, hub_error_parts
from .v2 import answer_infer

log = logging.getLogger(__name__)

ROUTE = re.compile(r"/v2/models/([^/]+)(?:/versions/([^/]+))?/infer")
_REASONS = {code: phrase.upper() for code, phrase in HTTP_STATUS_CODES.items()}  # as Flask writes them


class _EndedEarly(Exception):
    """The body ended (or stalled past the server's time-out) before its Content-Length."""


class InferLane:
    def __init__(self, app, the_hub: Hub, max_body_bytes: int) -> None:
        self.app = app  # the Socket.IO middleware, then Flask
        self.hub = the_hub
        self.max_body_bytes = max_body_bytes

    def __call__(self, environ, start_response):
        match = ROUTE.fullmatch(environ.get("PATH_INFO", "")) if environ.get("REQUEST_METHOD") == "POST" else None
        length = environ.get("CONTENT_LENGTH") or ""
        if (match is None or not length.isascii() or not length.isdigit() or int(length) > self.max_body_bytes
                or "HTTP_TRANSFER_ENCODING" in environ):
            return self.app(environ, start_response)
        started = time.perf_counter()
        headers: dict = {}
        try:
            raw = _body(environ, int(length))
            body, content_type, headers = answer_infer(self.hub, match.group(1), match.group(2), raw,
                                                       environ.get("HTTP_INFERENCE_HEADER_CONTENT_LENGTH"), started)
            status = 200
        except HubError as exc:
            status, payload, headers = hub_error_parts(exc)
            body, content_type = dumps(payload) + b"\n", "application/json"
        except _EndedEarly:
            status, body, content_type = 400, dumps(DISCONNECTED) + b"\n", "application/json"
        except Exception:  # noqa: BLE001 - as Flask's handler for the unexpected: logged, a 500 in JSON
            log.exception("unexpected error while answering a request")
            status, body, content_type = 500, dumps(INTERNAL) + b"\n", "application/json"
        start_response(f"{status} {_REASONS.get(status, '')}",
                       [("Content-Type", content_type), ("Content-Length", str(len(body))), *headers.items()])
        return [body]


def _body(environ, length: int) -> bytes | bytearray:
    """All `length` bytes: the server's own buffer when it read a large body whole (hub/worker.py
    `WholeBody.take_all`), else read from the stream."""
    stream = environ["wsgi.input"]
    take = getattr(stream, "take_all", None)
    try:
        raw = take() if take is not None else stream.read(length)
    except OSError:  # the client went away or stalled mid-body (gunicorn's NoMoreData, a time-out)
        raise _EndedEarly() from None
    if len(raw) != length:
        raise _EndedEarly()
    return raw
