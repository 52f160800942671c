"""The serving hot path (issue 17): what it costs the process, checked as behaviour, not timing.

- A large picture's request no longer makes the worker fault its heap back in page by page
  (hub/server.py `tune_malloc`): counted in the real serving process's minor faults.
- JSON bodies go through orjson (hub/web/bodies.py): the same answers, the same refusals.
"""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import requests

from tests.hostile import rss

FAULTS_PER_REQUEST_MAX = 40  # 430 and 1,040 a request before the fixes, 0 to 6 after


def minor_faults(pid: int) -> int:
    """The process's minor page faults so far (/proc/PID/stat, field 10)."""
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[7])


def noise_bmp(width: int = 512, height: int = 341) -> bytes:
    """A 524 KB picture, as large as Coral's cat.bmp: its body and its decoded copy each a few
    hundred KB, under glibc's mmap threshold, so both come from the heap."""
    pixels = np.random.default_rng(7).integers(0, 256, (height, width, 3), dtype=np.uint8)
    return cv2.imencode(".bmp", pixels)[1].tobytes()


def faults_per_request(hub, path: str, body: bytes, content_type: str) -> float:
    session = requests.Session()

    def send() -> None:
        reply = session.post(hub.url + path, data=body, headers={"Content-Type": content_type}, timeout=30)
        assert reply.status_code == 200, reply.text

    for _ in range(10):  # the heap grows to what one request needs
        send()
    before = minor_faults(hub.worker_pid)
    for _ in range(20):
        send()
    return (minor_faults(hub.worker_pid) - before) / 20


def test_a_large_picture_does_not_fault_the_heap_back_in_every_request(zoo_hub):
    body = noise_bmp()
    assert len(body) > 500_000
    per_request = faults_per_request(zoo_hub, "/api/models/imagenet/classify", body, "image/bmp")
    assert per_request < FAULTS_PER_REQUEST_MAX, (
        f"{per_request:.0f} page faults a request: freed memory is going back to the kernel and "
        "coming back at every request (hub/server.py tune_malloc)")


def test_a_224_px_json_tensor_does_not_fault_in_its_parse_every_request(zoo_hub):
    """150,528 numbers as JSON (690 KB): orjson's parse takes about 10 MB for a moment, which a 1 MB
    mmap threshold mapped and unmapped at every request (760 faults)."""
    meta = requests.get(f"{zoo_hub.url}/v2/models/embedder", timeout=10).json()
    tensor = meta["inputs"][0]
    assert tensor["shape"] == [1, 224, 224, 3]
    pixels = np.random.default_rng(9).integers(0, 256, tensor["shape"]).astype(tensor["datatype"].lower())
    body = json.dumps({"inputs": [{**tensor, "data": pixels.reshape(-1).tolist()}]}).encode()
    per_request = faults_per_request(zoo_hub, "/v2/models/embedder/infer", body, "application/json")
    assert per_request < FAULTS_PER_REQUEST_MAX, f"{per_request:.0f} page faults a request (hub/server.py tune_malloc)"


def test_the_serving_worker_collects_again_once_ready_with_start_up_frozen(zoo_hub):
    """Start-up runs with Python's cycle collector off (hub/server.py `collect_from_now_on`); the
    worker that serves must have it back on, or cycles would pile up for the whole lesson."""
    text = requests.get(f"{zoo_hub.url}/metrics", timeout=10).text
    values = dict(line.split() for line in text.splitlines() if line.startswith("classroom_hub_gc_"))
    assert values["classroom_hub_gc_enabled"] == "1", text
    assert int(values["classroom_hub_gc_frozen_objects"]) > 50_000, values  # the imports, the app, the models


def test_v2_answers_equal_for_json_and_binary_bodies_and_json_written_from_the_array(zoo_hub):
    """The tensor sent as a JSON list and as raw bytes gives the same outputs; the JSON answer's
    numbers (orjson writing the output array itself) are the binary answer's, value for value."""
    meta = requests.get(f"{zoo_hub.url}/v2/models/digits", timeout=10).json()
    tensor = meta["inputs"][0]
    x = np.random.default_rng(3).integers(-128, 128, tensor["shape"]).astype(np.int8)
    as_json = {"inputs": [{**tensor, "data": x.reshape(-1).tolist()}]}
    answer = requests.post(f"{zoo_hub.url}/v2/models/digits/infer", json=as_json, timeout=10).json()
    head = json.dumps({"inputs": [{**tensor, "parameters": {"binary_data_size": x.nbytes}}],
                       "outputs": [{"name": meta["outputs"][0]["name"], "parameters": {"binary_data": True}}]}
                      ).encode()
    reply = requests.post(f"{zoo_hub.url}/v2/models/digits/infer", data=head + x.tobytes(),
                          headers={"Inference-Header-Content-Length": str(len(head))}, timeout=10)
    split = int(reply.headers["Inference-Header-Content-Length"])
    binary = np.frombuffer(reply.content[split:], np.int8)
    assert answer["outputs"][0]["datatype"] == "INT8"
    assert answer["outputs"][0]["data"] == binary.tolist()


def test_json_in_utf16_is_read_and_bytes_that_are_not_text_are_refused(zoo_app):
    body = {"inputs": [{"name": "x", "shape": [1, 8, 8, 1], "datatype": "INT8", "data": [0] * 64}]}
    utf16 = json.dumps(body).encode("utf-16")
    reply = zoo_app.http.post("/v2/models/digits/infer", data=utf16, content_type="application/json")
    assert reply.status_code == 200, reply.get_json()
    reply = zoo_app.http.post("/v2/models/digits/infer", data=b'{"inputs": "\xff\xfe\xfa"}',
                              content_type="application/json")
    assert reply.status_code == 400 and reply.get_json()["error"].endswith("it is not UTF-8 text")


@pytest.mark.parametrize("text, words", [
    ('{"inputs": [1e400]}', "infinity"),
    ('{"inputs": [NaN]}', "not valid JSON"),
    ('{"pin": Infinity}', "not valid JSON"),
    ("[" * 40 + "]" * 40, "nested more than 32 levels"),
    ('{"inputs": [{"data": [1, 2,]}]}', "not valid JSON"),
])
def test_json_json_does_not_allow_is_400(zoo_app, text, words):
    reply = zoo_app.http.post("/v2/models/digits/infer", data=text, content_type="application/json")
    assert reply.status_code == 400 and words in reply.get_json()["error"]


def test_whole_floats_for_an_int8_model_answer_as_the_same_ints(zoo_app):
    """The packed fast path refuses floats; the careful path behind it still takes whole ones."""
    values = np.random.default_rng(5).integers(-128, 128, 64)
    answers = []
    for data in (values.tolist(), [float(v) for v in values]):
        body = {"inputs": [{"name": "x", "shape": [1, 8, 8, 1], "datatype": "INT8", "data": data}]}
        reply = zoo_app.http.post("/v2/models/digits/infer", json=body)
        assert reply.status_code == 200, reply.get_json()
        answers.append(reply.get_json()["outputs"])
    assert answers[0] == answers[1]


@pytest.mark.parametrize("dtype, data, packed", [
    ("uint8", [0, 255, 7], [0, 255, 7]),
    ("int8", [-128, 127, True], [-128, 127, 1]),
    ("float32", [1, 2.5, -3e38], [1.0, 2.5, -3e38]),
    ("uint8", [True, 0, 2], [1, 0, 2]),  # bytes go through bytearray, which takes what array.array takes
    ("uint8", [0, 256, 1], None),  # out of range
    ("uint8", [-1, 0, 1], None),
    ("uint8", [0, None, 1], None),
    ("uint8", [0, "1", 1], None),
    ("uint8", [0, 1.5, 1], None),  # not whole
    ("int8", [0, "1", 1], None),  # a string
    ("float32", [0, 1e39, 1], None),  # float32's infinity
    ("uint8", [[0, 1, 2]], None),  # nested
    ("float16", [0, 1, 2], None),  # no typed array for it: numpy's path
])
def test_flat_lists_are_packed_in_one_pass_or_left_to_the_careful_path(dtype, data, packed):
    from hub.web.v2 import _packed

    result = _packed(data, dtype, 3)
    if packed is None:
        assert result is None
    else:
        assert result.dtype == np.dtype(dtype) and result.tolist() == np.array(packed, dtype).tolist()


def test_the_servers_master_process_does_not_load_the_app(zoo_hub):
    """gunicorn's master only starts and watches the worker: numpy, OpenCV, LiteRT and Flask
    (85 MB of it, counted again in every process's memory) belong in the worker alone."""
    loaded = Path(f"/proc/{zoo_hub.proc.pid}/maps").read_text()
    for library in ("cv2", "_multiarray_umath", "litert", "orjson"):
        assert library not in loaded, f"the master process has loaded {library} (hub/startup.py)"
    assert "_multiarray_umath" in Path(f"/proc/{zoo_hub.worker_pid}/maps").read_text()


def raw_request(port: int, data: bytes, shut: bool = False) -> bytes:
    """Bytes sent as they are on one connection (`shut`: then no more); all that comes back until the hub closes."""
    import socket

    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(data)
        if shut:
            sock.shutdown(socket.SHUT_WR)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
        return answer


def post_head(path: str, length: int, extra: str = "") -> bytes:
    return (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: image/bmp\r\n"
            f"Content-Length: {length}\r\n{extra}\r\n").encode()


def test_a_large_body_read_whole_leaves_the_next_pipelined_request_intact(zoo_hub):
    """The body is read straight from the socket (hub/worker.py _read_whole_body): a request sent
    right behind it, in the same packets, is the next one answered."""
    body = noise_bmp(300, 200)
    assert len(body) > 64 * 1024
    data = post_head("/api/models/imagenet/classify", len(body)) + body + \
        b"GET /v2/health/ready HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    answer = raw_request(zoo_hub.port, data)
    assert answer.count(b"HTTP/1.1 200 OK") == 2, answer[:400]
    assert b'"predictions"' in answer and answer.rstrip().endswith(b'{"ready":true}')


def test_a_body_cut_short_is_a_400_that_closes_that_connection_and_nothing_else(zoo_hub):
    body = noise_bmp(300, 200)
    answer = raw_request(zoo_hub.port, post_head("/api/models/imagenet/classify", len(body)) + body[:100_000],
                         shut=True)
    assert answer.startswith(b"HTTP/1.1 400 ") and b"Connection: close" in answer
    assert b"ended before its Content-Length" in answer and b'"code":"bad_input"' in answer
    assert requests.get(f"{zoo_hub.url}/v2/health/ready", timeout=10).status_code == 200


def test_a_client_waiting_for_100_continue_gets_it_and_its_answer(zoo_hub):
    import socket

    body = noise_bmp(300, 200)
    with socket.create_connection(("127.0.0.1", zoo_hub.port), timeout=10) as sock:
        sock.sendall(post_head("/api/models/imagenet/classify", len(body), "Expect: 100-continue\r\n"))
        assert sock.recv(64).startswith(b"HTTP/1.1 100 Continue")
        sock.sendall(body)
        answer = b""
        while b'"predictions"' not in answer:
            chunk = sock.recv(65536)
            assert chunk, answer
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 200 OK")


def test_a_large_multipart_upload_is_read_whole_and_parsed(zoo_hub):
    """Werkzeug's form parser reads the whole-body input in pieces (read, readinto): the same
    answer as the picture sent as the body."""
    body = noise_bmp(300, 200)
    as_form = requests.post(f"{zoo_hub.url}/api/models/imagenet/classify", files={"image": ("x.bmp", body, "image/bmp")},
                            timeout=30)
    as_body = requests.post(f"{zoo_hub.url}/api/models/imagenet/classify", data=body,
                            headers={"Content-Type": "image/bmp"}, timeout=30)
    assert as_form.status_code == 200 and as_body.status_code == 200, as_form.text
    assert as_form.json()["predictions"] == as_body.json()["predictions"]


def rss_mb(pid: int) -> float:
    return rss(pid) / (1 << 20)


def test_memory_a_burst_left_free_goes_back_once_the_requests_stop(zoo_hub):
    """24 clients at once, each sending a 690 KB JSON tensor: the worker grows by the bodies and
    parses in flight; a second after the last request the free memory inside the heap goes
    back to the kernel (hub/worker.py trim_heap), instead of staying with the process."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    from tests.conftest import wait_for

    meta = requests.get(f"{zoo_hub.url}/v2/models/embedder", timeout=10).json()["inputs"][0]
    pixels = np.random.default_rng(13).integers(0, 256, meta["shape"]).astype(np.uint8)
    body = json.dumps({"inputs": [{**meta, "data": pixels.reshape(-1).tolist()}]}).encode()

    def client(_) -> None:
        with requests.Session() as session:
            for _ in range(3):
                reply = session.post(f"{zoo_hub.url}/v2/models/embedder/infer", data=body,
                                     headers={"Content-Type": "application/json"}, timeout=60)
                assert reply.status_code == 200, reply.text

    client(0)
    before = peak = rss_mb(zoo_hub.worker_pid)
    done = threading.Event()

    def watch() -> None:
        nonlocal peak
        while not done.wait(0.02):
            peak = max(peak, rss_mb(zoo_hub.worker_pid))

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        with ThreadPoolExecutor(24) as pool:
            list(pool.map(client, range(24)))
    finally:
        done.set()
        watcher.join()
    grown = peak - before
    assert grown > 15, f"the burst grew the worker by only {grown:.0f} MB: this test no longer shows anything"
    wait_for(lambda: rss_mb(zoo_hub.worker_pid) < before + grown / 2, timeout_s=10)
