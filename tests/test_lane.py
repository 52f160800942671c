"""/v2 infer answered in front of Flask (hub/web/lane.py): the same answer, status and content type
as Flask's own route gives the same request, for answers and for errors."""
from __future__ import annotations

import io
import json
import socket

import numpy as np
import pytest

from tests.test_inline import digits_body


def send(hub, path: str, body: bytes, headers: str = "", chunked: bool = False) -> tuple[bytes, bytes]:
    """(head, body) of the answer to `body` sent with a Content-Length (the lane in front of Flask,
    hub/web/lane.py) or chunked, without one (past the lane, through Flask)."""
    if chunked:
        framing = f"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n{len(body):x}\r\n".encode() + body
        framing += b"\r\n0\r\n\r\n"
    else:
        framing = f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode() + body
    with socket.create_connection(("127.0.0.1", hub.port), timeout=10) as sock:
        sock.sendall(f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n{headers}".encode()
                     + framing)
        answer = b""
        while data := sock.recv(65536):
            answer += data
    head, _, rest = answer.partition(b"\r\n\r\n")
    return head, rest


def status_and_type(head: bytes) -> tuple[bytes, bytes]:
    lines = head.split(b"\r\n")
    kind = next(line.split(b":", 1)[1].strip() for line in lines if line.lower().startswith(b"content-type:"))
    return lines[0], kind


@pytest.mark.parametrize("case", ["json", "binary", "unknown model", "other version", "not json", "bad header length"])
def test_the_lane_and_flask_answer_alike(zoo_hub, case):
    body, _ = digits_body(zoo_hub)
    path, headers, raw = "/v2/models/digits/infer", "", json.dumps(body).encode()
    if case == "binary":
        x = np.asarray(body["inputs"][0]["data"], np.int8).tobytes()
        tensor = {k: v for k, v in body["inputs"][0].items() if k != "data"}
        head = json.dumps({"inputs": [{**tensor, "parameters": {"binary_data_size": len(x)}}],
                           "parameters": {"binary_data_output": True}}).encode()
        raw, headers = head + x, f"Inference-Header-Content-Length: {len(head)}\r\n"
    elif case == "unknown model":
        path = "/v2/models/no-such-model/infer"
    elif case == "other version":
        path = "/v2/models/digits/versions/7/infer"
    elif case == "not json":
        raw = b"{not json"
    elif case == "bad header length":
        headers = "Inference-Header-Content-Length: 99999\r\n"
    through_flask, through_lane = send(zoo_hub, path, raw, headers, chunked=True), send(zoo_hub, path, raw, headers)
    assert status_and_type(through_lane[0]) == status_and_type(through_flask[0])
    if case == "binary":
        assert all(b"Inference-Header-Content-Length" in head for head in (through_lane[0], through_flask[0]))
    assert through_lane[1] == through_flask[1], (through_lane, through_flask)
    expected = {"json": b"200", "binary": b"200", "unknown model": b"404", "other version": b"404",
                "not json": b"400", "bad header length": b"400"}[case]
    assert through_lane[0].split(b" ")[1] == expected


def test_the_lane_says_so_when_a_body_ends_before_its_length(zoo_app):
    reply = zoo_app.http.post("/v2/models/digits/infer", input_stream=io.BytesIO(b'{"inputs": []}'),
                              content_type="application/json", environ_overrides={"CONTENT_LENGTH": "100"})
    assert reply.status_code == 400
    assert reply.get_json() == {"error": "the request's body ended before its Content-Length said; send it again",
                                "code": "bad_input"}
