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

FAULTS_PER_REQUEST_MAX = 40  # 430 a request before the fix, for this picture; 0 to 1 after


def minor_faults(pid: int) -> int:
    """The process's minor page faults so far (/proc/PID/stat, field 10)."""
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[7])


def noise_bmp(width: int = 512, height: int = 341) -> bytes:
    """A 524 KB picture, as large as Coral's cat.bmp: its body and its decoded copy each a few
    hundred KB, under glibc's mmap threshold, so both come from the heap."""
    pixels = np.random.default_rng(7).integers(0, 256, (height, width, 3), dtype=np.uint8)
    return cv2.imencode(".bmp", pixels)[1].tobytes()


def test_a_large_picture_does_not_fault_the_heap_back_in_every_request(zoo_hub):
    body = noise_bmp()
    assert len(body) > 500_000
    session = requests.Session()

    def classify() -> None:
        reply = session.post(f"{zoo_hub.url}/api/models/imagenet/classify", data=body,
                             headers={"Content-Type": "image/bmp"}, timeout=30)
        assert reply.status_code == 200, reply.text

    for _ in range(10):  # the heap grows to what one request needs
        classify()
    before = minor_faults(zoo_hub.worker_pid)
    for _ in range(20):
        classify()
    per_request = (minor_faults(zoo_hub.worker_pid) - before) / 20
    assert per_request < FAULTS_PER_REQUEST_MAX, (
        f"{per_request:.0f} page faults a request: freed memory is going back to the kernel and "
        "coming back at every request (hub/server.py tune_malloc)")


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
