"""Request bodies, bounded at the edge: every route reads them through here (or through Flask's
`request.get_json`, which this module's JSON provider backs), so a malformed body is one clear
400 or 413 instead of a traceback.

- A streamed body (Transfer-Encoding: chunked, no Content-Length) over `[limits] max_body_bytes`
  is 413. Werkzeug hands gunicorn's stream to the app cut at the limit and raises only on a
  further read, so `request.get_data()` would silently return the first max_body_bytes.
- JSON is parsed by orjson: measured here, a 224 x 224 x 3 /v2 tensor (690 KB of JSON) takes
  1.8 ms against Python's json 7.0 ms, and orjson refuses `NaN` and `Infinity` as JSON does.
- JSON nested deeper than MAX_JSON_DEPTH is refused before parsing (orjson's own limit is 1,024
  levels; Python's json would recurse once per level, and a 200 KB `[[[[...` raised RecursionError).
- A chunked body the server cannot parse (a bad chunk size) is 400, not a 500.
"""
from __future__ import annotations

import json
import re
from typing import Any

import orjson
from flask import Flask, Request, request
from flask.json.provider import DefaultJSONProvider
from gunicorn.http.errors import ParseException
from werkzeug.exceptions import ClientDisconnected, RequestEntityTooLarge
from werkzeug.utils import cached_property
from werkzeug.wsgi import LimitedStream, get_input_stream

from ..errors import BadInput

MAX_JSON_DEPTH = 32  # a /v2 request with a nested rank-8 tensor needs about 12

_STRINGS = re.compile(r'"(?:[^"\\]|\\.)*"', re.S)
_NOT_BRACKETS = re.compile(r"[^\[\]{}]+")


def too_deep(text: str | bytes | bytearray, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether JSON text nests more than about `limit` levels (or its brackets do not pair up),
    found without recursion: drop strings and everything but brackets, then peel innermost pairs,
    one level or more a pass. A flat tensor costs two counts; a deeply bracketed text about what
    parsing does."""
    if isinstance(text, (bytes, bytearray)):
        if text.count(b"[") + text.count(b"{") <= limit:
            return False
        text = bytes(text).decode("latin-1")  # brackets and quotes are ASCII; UTF-8's other bytes are not
    if text.count("[") + text.count("{") <= limit:
        return False
    text = _NOT_BRACKETS.sub("", _STRINGS.sub("", text))
    for _ in range(limit):
        if not text:
            return False
        peeled = text.replace("[]", "").replace("{}", "")
        if len(peeled) == len(text):
            return True  # brackets that do not pair up: not JSON the hub can use either
        text = peeled
    return bool(text)


def loads(data: str | bytes | bytearray | memoryview, **kwargs: Any) -> Any:
    """JSON parsed by orjson (in C: a 690 KB /v2 tensor in 1.8 ms, where Python's json took 7.0),
    refusing (ValueError) deep nesting, NaN and Infinity as JSON does; never RecursionError.
    Bytes in UTF-16 or UTF-32 (which JSON's RFC allowed once, and Python's json reads) are
    decoded first. `kwargs` (Flask's and python-socketio's) ask for nothing orjson does not do."""
    if isinstance(data, memoryview):
        data = bytes(data)
    if too_deep(data):
        raise ValueError(f"JSON nested more than {MAX_JSON_DEPTH} levels deep")
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        if isinstance(data, (bytes, bytearray)) and json.detect_encoding(data) != "utf-8":
            return loads(bytes(data).decode(json.detect_encoding(data), "surrogatepass"))
        raise


# Answers: numpy arrays written as they are (a /v2 output), dict keys that are not strings made
# strings as Python's json does, dates left to Flask's own `default` (HTTP dates, as before).
DUMPS_OPTIONS = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_DATETIME


def dumps(obj: Any, default=None, sort_keys: bool = False) -> bytes:
    """orjson's compact JSON; NaN and Infinity become null, which JSON can carry."""
    return orjson.dumps(obj, default=default, option=DUMPS_OPTIONS | (orjson.OPT_SORT_KEYS if sort_keys else 0))


class BoundedJSONProvider(DefaultJSONProvider):
    """Flask's JSON through orjson: `request.get_json()` and `flask.json.loads` bounded (`loads`),
    and `jsonify` answers written in C. Indented output (Flask's debug mode) stays Python's."""

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        return loads(s, **kwargs)

    def dumps(self, obj: Any, **kwargs: Any) -> str:
        if kwargs.get("indent") is not None:
            return super().dumps(obj, **kwargs)
        return dumps(obj, self.default, kwargs.get("sort_keys", self.sort_keys)).decode()

    def response(self, *args: Any, **kwargs: Any):
        if (self.compact is None and self._app.debug) or self.compact is False:
            return super().response(*args, **kwargs)
        body = dumps(self._prepare_response_obj(args, kwargs), self.default, self.sort_keys)
        return self._app.response_class(body + b"\n", mimetype=self.mimetype)


def whole_body() -> bytes | bytearray:
    """The request's body, all of it: the server's own buffer when it read the body whole
    (hub/worker.py `WholeBody.take_all`), else through Werkzeug, whose `get_data` copies a body
    twice more (a 668 KB tensor three times in memory at once, per request in flight). Past
    `max_body_bytes` it is Werkzeug's 413; a body that ends early is Werkzeug's 400 too."""
    take = getattr(request.environ.get("wsgi.input"), "take_all", None)
    length, limit = request.content_length, request.max_content_length
    if take is None or length is None or (limit is not None and length > limit):
        return request.get_data(cache=False)
    try:
        return take()
    except OSError:  # the client went away or stalled mid-body (gunicorn's NoMoreData, a time-out)
        raise ClientDisconnected() from None


def read_json(raw: bytes, what: str = "the request") -> Any:
    """`raw` parsed as JSON, or BadInput (400) saying why."""
    try:
        return loads(raw)
    except UnicodeDecodeError:
        raise BadInput(f"{what} is not valid JSON: it is not UTF-8 text") from None
    except ValueError as exc:  # JSONDecodeError, deep nesting, NaN, a number too large for a double
        if "not valid UTF-8" in str(exc):  # orjson's words for it name Python's internals
            raise BadInput(f"{what} is not valid JSON: it is not UTF-8 text") from None
        raise BadInput(f"{what} is not valid JSON: {exc}") from None


class _Chunks:
    """The server's chunked body, its parse errors a 400: gunicorn raises them (a bad chunk size,
    a missing terminator) as neither OSError nor ValueError, so Werkzeug lets them through as a 500."""

    def __init__(self, stream) -> None:
        self._stream = stream

    def read(self, size: int = -1) -> bytes:
        try:
            return self._stream.read(size)
        except ParseException as exc:
            raise BadInput(f"the request's chunked body is malformed ({exc}); send it again") from None


class WholeBodyStream(LimitedStream):
    """A streamed body up to `limit` bytes, or 413: one byte past the limit is looked for, so a
    body of exactly the limit passes and a longer one is never silently cut."""

    def __init__(self, stream, limit: int) -> None:
        super().__init__(_Chunks(stream), limit, is_max=True)

    def on_exhausted(self) -> None:
        if self._stream.read(1):
            raise RequestEntityTooLarge()

    def readall(self) -> bytes:
        data = super().readall()
        if self.is_exhausted:
            self.on_exhausted()
        return data


class WholeBodyRequest(Request):
    """Flask's request, with streamed bodies over the limit refused (413) rather than cut."""

    @cached_property
    def stream(self):
        limit = self.max_content_length
        if limit is not None and self.content_length is None and "wsgi.input_terminated" in self.environ:
            return WholeBodyStream(self.environ["wsgi.input"], limit)
        return get_input_stream(self.environ, max_content_length=limit)


def bound_bodies(app: Flask) -> None:
    """Install both on the app: its request class gains WholeBodyRequest, its JSON the bounds."""
    if not issubclass(app.request_class, WholeBodyRequest):
        app.request_class = type(app.request_class.__name__, (app.request_class, WholeBodyRequest), {})
    provider = BoundedJSONProvider(app)
    provider.sort_keys = app.json.sort_keys
    app.json = provider
