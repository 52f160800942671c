"""Every malformed request is a 4xx with the hub's JSON error, never a 500 (issue 13, item 6).

One table of bad requests: the seven the issue found and every one the review of the routes found.
Each runs in process (its exact status and code, a JSON error body, and no exception logged), and
the whole table is replayed against the real server (gunicorn), whose log must then hold no
traceback. The chunked body over the limit and `Inference-Header-Content-Length` are also sent as
raw bytes on a socket, as no HTTP library would send them.
"""
from __future__ import annotations

import json
import logging
import socket
import struct
from dataclasses import dataclass, field

import pytest
import requests

from tests.drawing import png, render
from tests.test_audio_features import tone, wav_bytes

LIMIT = 512 * 1024  # [limits] max_body_bytes for these hubs: room for a 200 KB deep JSON body
INFER = "/v2/models/digits/infer"
CLASSIFY = "/api/models/spoken-digits/classify"
OK_TENSOR = {"name": "serving_default_x:0", "datatype": "INT8", "shape": [1, 8, 8, 1], "data": [0] * 64}
OK = {"inputs": [OK_TENSOR]}
OUTPUT = "StatefulPartitionedCall:0"


@dataclass
class Bad:
    name: str
    path: str
    body: bytes | None
    status: int
    code: str
    headers: dict = field(default_factory=dict)
    method: str = "POST"


def v2(name: str, body, status: int = 400, code: str = "bad_input", **headers) -> Bad:
    raw = body if isinstance(body, bytes) else (body.encode() if isinstance(body, str) else json.dumps(body).encode())
    return Bad(name, INFER, raw, status, code, {"Content-Type": "application/json", **headers})


def tensor(**changes) -> dict:
    return {"inputs": [{**OK_TENSOR, **changes}]}


def wav(bits: int = 16, channels: int = 1, rate: int = 8000, align: int | None = None,
        declared: int | None = None, tag: int = 1) -> bytes:
    align = channels * bits // 8 if align is None else align
    samples = bytes(range(256)) * 32
    fmt = struct.pack("<HHIIHH", tag, channels, rate, rate * align, align, bits)
    return (b"RIFF" + struct.pack("<I", 36 + len(samples)) + b"WAVEfmt " + struct.pack("<I", 16) + fmt
            + b"data" + struct.pack("<I", len(samples) if declared is None else declared) + samples)


def recording(name: str, body: bytes, status: int = 400, code: str = "bad_input",
              content_type: str = "audio/wav", query: str = "") -> Bad:
    return Bad(name, CLASSIFY + query, body, status, code, {"Content-Type": content_type} if content_type else {})


def login(name: str, body: bytes) -> Bad:
    return Bad(name, "/api/teacher/login", body, 400, "bad_input", {"Content-Type": "application/json"})


DEEP = "[" * 100_000 + "]" * 100_000
GOOD_WAV = wav_bytes(tone(), 8000)

TABLE = [
    # the seven the issue found
    v2("v2 parameters not an object", {**OK, "parameters": [1]}),
    v2("v2 outputs not a list", {**OK, "outputs": {"name": OUTPUT}}),
    v2("v2 a list for an input's name", tensor(name=[1])),
    v2("v2 a list for an output's name", {**OK, "outputs": [{"name": [1]}]}),
    v2("v2 100k-deep JSON", DEEP),
    v2("v2 non-numeric Inference-Header-Content-Length", OK, **{"Inference-Header-Content-Length": "abc"}),
    recording("WAV with 0 bits per sample", wav(bits=0, align=0)),
    # /v2: every field of the wrong JSON type
    v2("v2 parameters a string", {**OK, "parameters": "binary"}),
    v2("v2 outputs a number", {**OK, "outputs": 5}),
    v2("v2 an output without a name", {**OK, "outputs": [{}]}),
    v2("v2 an output that is a string", {**OK, "outputs": [OUTPUT]}),
    v2("v2 an unknown output", {**OK, "outputs": [{"name": "nope"}]}),
    Bad("v2 a doubled slash in the path", "/v2/models//digits/infer", json.dumps(OK).encode(), 404, "not_found",
        {"Content-Type": "application/json"}),
    # each repeat was a copy of the output in the answer: 200,000 of the embedder's made 489 MB of one
    v2("v2 one output asked for 10,000 times", {**OK, "outputs": [{"name": OUTPUT}] * 10_000}),
    v2("v2 a list for a datatype", tensor(datatype=["INT8"])),
    v2("v2 null datatype", tensor(datatype=None)),
    v2("v2 a string for a shape", tensor(shape="1,8,8,1")),
    v2("v2 true in a shape", tensor(shape=[True, 8, 8, True])),
    v2("v2 a negative shape", tensor(shape=[1, -8, 8, 1])),
    v2("v2 a huge number in a shape", tensor(shape=[10 ** 400, 8, 8, 1])),
    v2("v2 an input's parameters a list", tensor(parameters=[1])),
    v2("v2 binary_data_size a string", tensor(parameters={"binary_data_size": "64"})),
    v2("v2 binary_data_size negative", tensor(parameters={"binary_data_size": -1})),
    v2("v2 binary_data_output a list", {**OK, "parameters": {"binary_data_output": [1]}}),
    v2("v2 an output's binary_data a string",
       {**OK, "outputs": [{"name": OUTPUT, "parameters": {"binary_data": "yes"}}]}),
    v2("v2 id an object", {**OK, "id": {"a": 1}}),
    v2("v2 inputs an object", {"inputs": {"a": 1}}),
    v2("v2 inputs null", {"inputs": None}),
    v2("v2 an input that is a string", {"inputs": ["x"]}),
    v2("v2 the body a list", [OK]),
    v2("v2 the body a string", '"inputs"'),
    v2("v2 the body null", "null"),
    v2("v2 data null", tensor(data=None)),
    v2("v2 data an object", tensor(data={"a": 1})),
    v2("v2 data strings", tensor(data=["a"] * 64)),
    v2("v2 data objects", tensor(data=[{}] * 64)),
    v2("v2 data beyond 64 bits", tensor(data=[10 ** 30] * 64)),
    v2("v2 data ragged", tensor(data=[[1], [1, 2]])),
    v2("v2 data of infinities", tensor(data=[1e999] * 64)),
    v2("v2 NaN", json.dumps(OK).replace("[0, 0", "[NaN, 0", 1)),
    v2("v2 -Infinity", json.dumps(OK).replace("[0, 0", "[-Infinity, 0", 1)),
    v2("v2 a number of 5000 digits", json.dumps(OK).replace("[0, 0", "[" + "9" * 5000 + ", 0", 1)),
    v2("v2 deep JSON inside inputs", '{"inputs": ' + DEEP + "}"),
    v2("v2 deep JSON never closed", "[" * 100_000),
    v2("v2 deep objects", '{"a": ' * 40_000 + "1" + "}" * 40_000),
    v2("v2 not UTF-8", b'{"inputs": "\xff\xfe"}'),
    v2("v2 UTF-16 nonsense", b"\xff\xfe\xfd\xfc"),
    v2("v2 an empty body", b""),
    v2("v2 header length superscript two", OK, **{"Inference-Header-Content-Length": "\u00b2"}),
    v2("v2 header length negative", OK, **{"Inference-Header-Content-Length": "-1"}),
    v2("v2 header length of 5000 digits", OK, **{"Inference-Header-Content-Length": "9" * 5000}),
    v2("v2 header length past the body", OK, **{"Inference-Header-Content-Length": "100000"}),
    v2("v2 header length a float", OK, **{"Inference-Header-Content-Length": "1e3"}),
    Bad("v2 unknown model", "/v2/models/nope/infer", json.dumps(OK).encode(), 404, "model_not_found"),
    Bad("v2 unknown version", "/v2/models/digits/versions/x/infer", json.dumps(OK).encode(), 404, "model_not_found"),
    Bad("v2 GET on infer", INFER, None, 405, "method_not_allowed", method="GET"),
    # recordings: headers declaring what no recording has
    recording("WAV with 64 bits per sample", wav(bits=64)),
    recording("WAV with 1000 channels", wav(channels=1000, align=2000)),
    recording("WAV with 0 channels", wav(channels=0, align=2)),
    recording("WAV at 0 Hz", wav(rate=0)),
    recording("WAV at 10^9 Hz", wav(rate=10 ** 9)),
    recording("WAV with data larger than the file", wav(declared=10 ** 9)),
    recording("WAV with an odd block align", wav(align=3)),
    recording("WAV of 16-bit floats", wav(tag=3)),
    recording("WAV empty body", b""),
    recording("WAV only a header", GOOD_WAV[:40] + struct.pack("<I", 0)),
    recording("PCM rate letters", b"\x00\x01" * 800, content_type="audio/L16", query="?sample_rate=abc"),
    recording("PCM rate zero", b"\x00\x01" * 800, content_type="audio/L16;rate=0"),
    recording("PCM rate of 30 digits", b"\x00\x01" * 800, content_type="audio/L16", query="?sample_rate=" + "9" * 30),
    recording("PCM rate a float", b"\x00\x01" * 800, content_type="audio/L16", query="?sample_rate=16000.5"),
    recording("PCM empty", b"", content_type="audio/L16;rate=16000"),
    # the query string
    recording("top_k negative", GOOD_WAV, query="?top_k=-1"),
    recording("top_k zero", GOOD_WAV, query="?top_k=0"),
    recording("top_k absurd", GOOD_WAV, query="?top_k=1000000000"),
    recording("top_k of 3000 digits", GOOD_WAV, query="?top_k=" + "9" * 3000),  # gunicorn: lines <= 4094 bytes
    recording("top_k a float", GOOD_WAV, query="?top_k=1e9"),
    recording("top_k NaN", GOOD_WAV, query="?top_k=nan"),
    recording("top_k Infinity", GOOD_WAV, query="?top_k=inf"),
    recording("top_k not UTF-8", GOOD_WAV, query="?top_k=%ff"),
    recording("top_k repeated, the first wrong", GOOD_WAV, query="?top_k=0&top_k=3"),
    # the Content-Type
    recording("text/plain", GOOD_WAV, 415, "unsupported_media_type", content_type="text/plain"),
    recording("no Content-Type", GOOD_WAV, 415, "unsupported_media_type", content_type=""),
    recording("JSON to classify", b'{"audio": 1}', 415, "unsupported_media_type", content_type="application/json"),
    recording("multipart without the field",
              b'--x\r\nContent-Disposition: form-data; name="other"\r\n\r\nhi\r\n--x--\r\n',
              content_type="multipart/form-data; boundary=x"),
    recording("multipart without a boundary", b"garbage", content_type="multipart/form-data"),
    recording("a picture to an audio model", png(render(3)), content_type="image/png"),
    Bad("classify an unknown model", "/api/models/nope/classify", GOOD_WAV, 404, "model_not_found",
        {"Content-Type": "audio/wav"}),
    # JSON bodies of the teacher's routes go through the same bounded parser
    login("login 100k-deep JSON", DEEP.encode()),
    login("login NaN", b'{"pin": NaN}'),
    login("login not UTF-8", b'{"pin": "\xff"}'),
    login("login a number for the PIN", b'{"pin": 2468}'),
    login("login a list for the PIN", b'{"pin": ["2468"]}'),
    Bad("an unknown route", "/api/nope", None, 404, "not_found", method="GET"),
]


@pytest.fixture(scope="module")
def app(in_process, module_models):
    return in_process(module_models, limits={"max_body_bytes": LIMIT})


@pytest.fixture(scope="module")
def real(module_hubs, module_models):
    return module_hubs(module_models, limits={"max_body_bytes": LIMIT})


def check_error(status: int, body: bytes, content_type: str, case: Bad) -> None:
    assert status == case.status, body[:300]
    assert content_type.startswith("application/json"), content_type
    answer = json.loads(body)
    assert answer["code"] == case.code, answer
    assert isinstance(answer["error"], str) and answer["error"], answer


@pytest.mark.parametrize("case", TABLE, ids=[c.name for c in TABLE])
def test_in_process_every_malformed_request_is_its_4xx_and_logs_no_exception(app, case, caplog):
    with caplog.at_level(logging.WARNING):
        reply = app.http.open(case.path, method=case.method, data=case.body, headers=case.headers)
    check_error(reply.status_code, reply.get_data(), reply.content_type, case)
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR], caplog.text


def test_the_table_holds_the_seven_the_issue_found():
    names = {c.name for c in TABLE}
    assert {"v2 parameters not an object", "v2 outputs not a list", "v2 a list for an input's name",
            "v2 a list for an output's name", "v2 100k-deep JSON", "v2 non-numeric Inference-Header-Content-Length",
            "WAV with 0 bits per sample"} <= names
    assert len(names) == len(TABLE)


def test_an_error_repeats_little_of_what_was_sent(app):
    """Two messages repeated the whole value: over Socket.IO a 9 MB `split` queued a 9 MB reply."""
    reply = app.http.post(CLASSIFY + "?top_k=" + "9x" * 50_000, data=GOOD_WAV, headers={"Content-Type": "audio/wav"})
    assert reply.status_code == 400 and "top_k" in reply.get_json()["error"]
    assert len(reply.get_json()["error"]) < 100
    from hub.errors import MESSAGE_MAX, BadInput
    assert len(BadInput("x" * 100_000).to_json()["error"]) == MESSAGE_MAX


def test_well_formed_requests_still_answer(app):
    """The checks refuse what is wrong, not what the protocol allows."""
    assert app.http.post(INFER, json=OK).status_code == 200
    assert app.http.post(INFER, json={**OK, "id": "a", "parameters": None, "outputs": None}).status_code == 200
    assert app.http.post(INFER, json={**OK, "id": "[{" * 5000}).status_code == 200  # brackets in a string: no depth
    nested = tensor(data=[[[[0]] * 8] * 8], parameters={"binary_data_size": None})
    assert app.http.post(INFER, json=nested).status_code == 200
    reply = app.http.post(INFER, json={**OK, "outputs": [{"name": OUTPUT, "parameters": {"binary_data": False}}]})
    assert reply.status_code == 200 and len(reply.get_json()["outputs"][0]["data"]) == 10
    assert app.http.post(CLASSIFY + "?top_k=2&top_k=0", data=GOOD_WAV,
                         headers={"Content-Type": "audio/wav"}).status_code == 200  # the first top_k counts


# --- the real server ------------------------------------------------------------------------------

def raw_request(hub, request: bytes, timeout_s: float = 15) -> tuple[int, dict, bytes]:
    """Send bytes as they are; read one response (status, headers, body)."""
    with socket.create_connection(("127.0.0.1", hub.port), timeout=timeout_s) as s:
        s.sendall(request)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = s.recv(65536)
            assert chunk, data
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        headers = {k.strip().lower(): v.strip() for k, v in (line.split(":", 1) for line in lines[1:])}
        while len(body) < int(headers["content-length"]):
            chunk = s.recv(65536)
            assert chunk
            body += chunk
    return int(lines[0].split()[1]), headers, body


def chunked(path: str, body: bytes, content_type: str = "application/json", size: int = 8192) -> bytes:
    chunks = b"".join(b"%x\r\n" % len(body[i:i + size]) + body[i:i + size] + b"\r\n"
                      for i in range(0, len(body), size))
    return (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {content_type}\r\n"
            "Transfer-Encoding: chunked\r\n\r\n").encode() + chunks + b"0\r\n\r\n"


def padded(length: int) -> bytes:
    """A valid /v2 request of exactly `length` bytes."""
    body = json.dumps(OK).encode()
    return body[:-1] + b" " * (length - len(body)) + b"}"


CHUNKED_OVER = [
    ("v2 infer", INFER, padded(LIMIT + 1), "application/json"),
    ("v2 infer, far over", INFER, padded(4 * LIMIT), "application/json"),
    ("classify a picture", "/api/models/digits/classify", png(render(3)) + b"\x00" * LIMIT, "image/png"),
    ("classify a recording", CLASSIFY, GOOD_WAV + b"\x00" * LIMIT, "audio/wav"),
    ("teacher login", "/api/teacher/login", b'{"pin": "' + b"1" * LIMIT + b'"}', "application/json"),
]


@pytest.mark.parametrize("path,body,content_type", [c[1:] for c in CHUNKED_OVER], ids=[c[0] for c in CHUNKED_OVER])
def test_real_server_a_chunked_body_over_the_limit_is_413_not_cut(real, path, body, content_type):
    status, headers, answer = raw_request(real, chunked(path, body, content_type))
    check_error(status, answer, headers["content-type"], Bad("", path, None, 413, "payload_too_large"))


def test_real_server_chunked_bodies_within_the_limit_still_answer(real):
    for length in (200, LIMIT):  # exactly the limit is allowed
        status, _, answer = raw_request(real, chunked(INFER, padded(length)))
        assert status == 200, answer
        assert json.loads(answer)["model_name"] == "digits"


BROKEN_CHUNKS = [
    ("a chunk size that is not hexadecimal", b"zz\r\nabc\r\n0\r\n\r\n"),
    ("a chunk longer than its size", b"3\r\nabcdef\r\n0\r\n\r\n"),
]


@pytest.mark.parametrize("chunks", [c[1] for c in BROKEN_CHUNKS], ids=[c[0] for c in BROKEN_CHUNKS])
def test_real_server_a_malformed_chunked_body_is_400(real, chunks):
    """gunicorn raises its parse errors while the app reads the body; Werkzeug let them through as a 500."""
    request = (f"POST {INFER} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
               "Transfer-Encoding: chunked\r\n\r\n").encode() + chunks
    status, headers, answer = raw_request(real, request)
    check_error(status, answer, headers["content-type"], Bad("", INFER, None, 400, "bad_input"))
    assert "Traceback" not in real.log()


@pytest.mark.parametrize("value", [b"abc", b"\xb2", b"-1", b"9" * 5000, b"1e3", b"100000"])
def test_real_server_a_bad_inference_header_content_length_is_400(real, value):
    body = json.dumps(OK).encode()
    request = (b"POST " + INFER.encode() + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
               b"Content-Length: %d\r\nInference-Header-Content-Length: " % len(body) + value + b"\r\n\r\n" + body)
    status, headers, answer = raw_request(real, request)
    check_error(status, answer, headers["content-type"], Bad("", INFER, None, 400, "bad_input"))


def test_real_server_answers_the_whole_table_and_logs_no_traceback(real):
    for case in TABLE:
        reply = requests.request(case.method, real.url + case.path, data=case.body, headers=case.headers,
                                 timeout=15)
        check_error(reply.status_code, reply.content, reply.headers.get("Content-Type", ""), case)
    raw_request(real, chunked(INFER, padded(2 * LIMIT)))
    assert real.get("/v2/health/ready").status_code == 200
    log = real.log()
    assert "Traceback" not in log and "internal error" not in log and " ERROR " not in log, log[-4000:]
