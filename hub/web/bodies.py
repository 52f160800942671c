"""Request bodies, bounded at the edge: every route reads them through here (or through Flask's
`request.get_json`, which this module's JSON provider backs), so a malformed body is one clear
400 or 413 instead of a traceback.

- A streamed body (Transfer-Encoding: chunked, no Content-Length) over `[limits] max_body_bytes`
  is 413. Werkzeug hands gunicorn's stream to the app cut at the limit and raises only on a
  further read, so `request.get_data()` would silently return the first max_body_bytes.
- JSON nested deeper than MAX_JSON_DEPTH is refused before parsing: Python's json recurses once
  per level and a 200 KB `[[[[...` raises RecursionError.
- `NaN` and `Infinity`, which Python's json accepts but JSON does not, are refused.
- A chunked body the server cannot parse (a bad chunk size) is 400, not a 500.
"""
from __future__ import annotations

import json
import re
from typing import Any

from flask import Flask, Request
from flask.json.provider import DefaultJSONProvider
from gunicorn.http.errors import ParseException
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.utils import cached_property
from werkzeug.wsgi import LimitedStream, get_input_stream

from ..errors import BadInput

MAX_JSON_DEPTH = 32  # a /v2 request with a nested rank-8 tensor needs about 12

_STRINGS = re.compile(r'"(?:[^"\\]|\\.)*"', re.S)
_NOT_BRACKETS = re.compile(r"[^\[\]{}]+")


def too_deep(text: str, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether JSON text nests more than about `limit` levels (or its brackets do not pair up),
    found without recursion: drop strings and everything but brackets, then peel innermost pairs,
    one level or more a pass. Costs about what parsing does."""
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


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def loads(data: str | bytes | bytearray, **kwargs: Any) -> Any:
    """json.loads, refusing (ValueError) deep nesting, NaN and Infinity; never RecursionError."""
    if isinstance(data, (bytes, bytearray)):
        data = bytes(data).decode(json.detect_encoding(data), "surrogatepass")  # as json.loads does
    if too_deep(data):
        raise ValueError(f"JSON nested more than {MAX_JSON_DEPTH} levels deep")
    kwargs.setdefault("parse_constant", _no_constant)
    try:
        return json.loads(data, **kwargs)
    except RecursionError:  # not reached after too_deep; kept so no parse can ever raise it
        raise ValueError(f"JSON nested more than {MAX_JSON_DEPTH} levels deep") from None
    except ValueError as exc:
        if isinstance(exc, json.JSONDecodeError) or "integer string conversion" not in str(exc):
            raise
        raise ValueError("a number in it has more than 4300 digits") from None  # not Python's own advice


class BoundedJSONProvider(DefaultJSONProvider):
    """Flask's JSON, with `loads` bounded: `request.get_json()` and `flask.json.loads` use it."""

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        return loads(s, **kwargs)


def read_json(raw: bytes, what: str = "the request") -> Any:
    """`raw` parsed as JSON, or BadInput (400) saying why."""
    try:
        return loads(raw)
    except UnicodeDecodeError:
        raise BadInput(f"{what} is not valid JSON: it is not UTF-8 text") from None
    except ValueError as exc:  # JSONDecodeError, deep nesting, NaN, a number of over 4300 digits
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
