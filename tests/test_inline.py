"""Quick /v2 requests answered by gunicorn's main thread itself (hub/inline.py, hub/worker.py).

What is checked: which bytes count as one whole quick request (not a body still arriving, not
two pipelined); which models are quick (never one on an accelerator); that a real hub answers a
kept-alive connection's quick request on its main thread, with the same answer, and eight busy
clients all theirs; that requests it must not take there (another route, a body over the limit,
many numbers out) go to a thread as before; and that a client that never reads its answers
stalls no one else.
"""
from __future__ import annotations

import json
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import requests

from hub import inline
from tests.hostile import OneWrite

BODY = b'{"inputs": []}'


def request(body: bytes = BODY, path: bytes = b"/v2/models/digits/infer", extra: bytes = b"",
            version: bytes = b"HTTP/1.1", method: bytes = b"POST") -> bytes:
    return (method + b" " + path + b" " + version + b"\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            + extra + b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)


@pytest.mark.parametrize("raw, name", [
    (request(), "digits"),
    (request(path=b"/v2/models/digits/versions/1/infer"), "digits"),
    (request(path=b"/v2/models/my.model-2/infer"), "my.model-2"),
    (request(extra=b"Connection: keep-alive\r\n"), "digits"),
    (request()[:-1], None),  # the body's last byte has not come yet
    (request() + b"P", None),  # something after it: pipelined, left to a thread
    (request() + request(), None),
    (request(method=b"GET"), None),
    (request(version=b"HTTP/1.0"), None),
    (request(path=b"/v2/models/digits"), None),
    (request(path=b"/v2/models/digits/infer?x=1"), None),
    (request(path=b"/api/models/digits/classify"), None),
    (request(path=b"/v2/models/%2e%2e/infer"), None),
    (request(extra=b"Transfer-Encoding: chunked\r\n"), None),
    (request(extra=b"Expect: 100-continue\r\n"), None),
    (request(extra=b"Upgrade: websocket\r\n"), None),
    (request(extra=b"Content-Length: 14\r\n"), None),  # two lengths
    (request(extra=b"no colon here\r\n"), None),
    (request().replace(b"Content-Length: 14", b"Content-Length: +14"), None),
    (request().split(b"\r\n\r\n")[0], None),  # the header not finished
    (b"", None),
])
def test_one_whole_infer_request_is_recognised_and_nothing_else(raw, name):
    assert inline.infer_request(raw) == name


def test_quick_models_are_ready_cpu_only_fast_and_small_out(zoo_app):
    registry = zoo_app.hub.registry
    x = np.zeros(registry.get("digits").spec.inputs[0].shape, np.int8)
    for _ in range(30):  # the engine's average invoke time settles from its start value (1 ms)
        registry.infer("digits", [x], timeout_s=10)
    assert registry.quick("digits", inline.QUICK_MS, inline.OUTPUT_MAX_VALUES)
    assert not registry.quick("digits", inline.QUICK_MS, 9)  # ten numbers out
    assert not registry.quick("digits", 0.0, inline.OUTPUT_MAX_VALUES)  # no invoke is that quick
    assert not registry.quick("no-such-model", inline.QUICK_MS, inline.OUTPUT_MAX_VALUES)


def kept(hub) -> dict[str, int]:
    text = requests.get(hub.url + "/metrics", timeout=10).text
    return {line.split('"')[1]: int(float(line.split()[-1])) for line in text.splitlines()
            if line.startswith("classroom_hub_requests_kept_total{")}


def digits_body(hub) -> tuple[dict, list]:
    meta = requests.get(f"{hub.url}/v2/models/digits", timeout=10).json()
    x = np.random.default_rng(5).integers(-128, 128, meta["inputs"][0]["shape"]).astype(np.int8)
    body = {"inputs": [{**meta["inputs"][0], "data": x.reshape(-1).tolist()}]}
    expected = requests.post(f"{hub.url}/v2/models/digits/infer", json=body, timeout=10).json()["outputs"]
    return body, expected


IDLE_S = 0.05  # ten times the 5 ms a serving thread waits for a connection's next request


def test_a_quick_request_after_a_pause_is_answered_by_the_main_thread_the_same(zoo_hub):
    """A connection idle for longer than a serving thread keeps it is back on gunicorn's poller;
    its next quick request is answered right there, with the answer a thread gives."""
    body, expected = digits_body(zoo_hub)
    before = kept(zoo_hub)
    client = OneWrite(zoo_hub)
    try:
        for _ in range(6):
            status, answer = client.post("/v2/models/digits/infer", json.dumps(body).encode())
            assert status == 200 and json.loads(answer)["outputs"] == expected
            time.sleep(IDLE_S)
    finally:
        client.close()
    after = kept(zoo_hub)
    assert after["main_thread"] - before["main_thread"] == 5, (before, after)  # all but a new connection's first


def test_busy_connections_hand_quick_requests_to_the_main_thread_and_every_answer_is_right(zoo_hub):
    """Eight clients sending request after request: while others are being answered, a thread
    hands a connection's quick next request back to the main thread (`GuardedWorker.handle`),
    and most end up answered there. Every client gets its own answers, in order, whichever
    thread wrote them."""
    body, expected = digits_body(zoo_hub)
    raw = json.dumps(body).encode()
    bodies = [json.dumps({**body, "id": f"c{i}"}).encode() for i in range(8)]
    before = kept(zoo_hub)
    errors: list = []

    def client(i: int) -> None:
        one = OneWrite(zoo_hub)
        try:
            for n in range(100):
                status, answer = one.post("/v2/models/digits/infer", bodies[i] if n % 2 else raw)
                reply = json.loads(answer)
                if status != 200 or reply["outputs"] != expected or reply.get("id") != (f"c{i}" if n % 2 else None):
                    errors.append((i, n, status, reply))
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append((i, repr(exc)))
        finally:
            one.close()

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(client, range(8)))
    assert errors == []
    # most of the 800: 760-770 here, and 20-25 when threads kept their connections instead
    assert kept(zoo_hub)["main_thread"] - before["main_thread"] >= 400


def test_other_requests_after_a_pause_still_go_to_a_thread(zoo_hub):
    """Not quick: another route, a model with many numbers out, a body over the inline limit."""
    body, _ = digits_body(zoo_hub)
    big = json.dumps({**body, "padding": "x" * inline.INLINE_MAX_BYTES}).encode()
    models = [m["name"] for m in requests.get(f"{zoo_hub.url}/api/models", timeout=10).json()]
    small = None
    if "imagenet" in models:  # 1,001 numbers out; its tensor sent small, as raw bytes
        meta = requests.get(f"{zoo_hub.url}/v2/models/imagenet", timeout=10).json()["inputs"][0]
        raw = np.zeros(meta["shape"], np.uint8).tobytes()
        head = json.dumps({"inputs": [{**meta, "parameters": {"binary_data_size": len(raw)}}]}).encode()
        small = (head + raw, {"Inference-Header-Content-Length": str(len(head))})
    client = OneWrite(zoo_hub)
    try:
        assert client.post("/v2/models/digits/infer", json.dumps(body).encode())[0] == 200  # a new connection's first
        before = kept(zoo_hub)
        for _ in range(3):
            time.sleep(IDLE_S)
            assert client.get("/v2/health/ready")[0] == 200
            time.sleep(IDLE_S)
            assert client.post("/v2/models/digits/infer", big)[0] in (200, 400)
            if small is not None:
                time.sleep(IDLE_S)
                status, answer = client.post("/v2/models/imagenet/infer", small[0], "application/octet-stream",
                                             small[1])
                assert status == 200, answer
        after = kept(zoo_hub)
        time.sleep(IDLE_S)  # and the same connection's quick request is still taken there
        assert client.post("/v2/models/digits/infer", json.dumps(body).encode())[0] == 200
    finally:
        client.close()
    assert after["main_thread"] == before["main_thread"], (before, after)
    assert kept(zoo_hub)["main_thread"] == after["main_thread"] + 1


def test_a_client_that_never_reads_its_answers_stalls_no_one(zoo_hub):
    """A laptop sends quick requests one after another and never reads an answer: its answers
    fill both sockets' buffers. The main thread must never be the one left waiting to write them:
    another client's requests, with pauses that put its connection on the poller, are all answered."""
    body, expected = digits_body(zoo_hub)
    raw = json.dumps(body).encode()
    one = (f"POST /v2/models/digits/infer HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
           f"Content-Length: {len(raw)}\r\n\r\n").encode() + raw
    silent = socket.create_connection(("127.0.0.1", zoo_hub.port))
    silent.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    stop = threading.Event()

    def send_and_never_read() -> None:
        while not stop.is_set():
            try:
                silent.sendall(one)
            except OSError:
                return
            time.sleep(0.002)  # one request at a time in the hub's buffer, as a quick one looks

    sender = threading.Thread(target=send_and_never_read, daemon=True)
    sender.start()
    try:
        with requests.Session() as session:
            for _ in range(40):
                started = time.monotonic()
                reply = session.post(f"{zoo_hub.url}/v2/models/digits/infer", json=body, timeout=10)
                assert reply.status_code == 200 and reply.json()["outputs"] == expected
                assert time.monotonic() - started < 2.0
                time.sleep(0.01)
    finally:
        stop.set()
        try:
            silent.shutdown(socket.SHUT_RDWR)  # wakes a sendall blocked on the full buffer
        except OSError:
            pass
        silent.close()
        sender.join(10)


def test_a_model_on_an_accelerator_is_never_quick_and_is_once_it_falls_back(models_dir):
    """An accelerator can hang, and the main thread must never wait on one: the (simulated) Edge
    TPU's model is left to threads; back on the CPU after a fault, it is quick again."""
    from hub.config import load_config
    from hub.service import Hub

    hub = Hub(load_config(environ={}, overrides={"models": {"dir": str(models_dir)},
                                                 "testing": {"simulated_edgetpu": 1, "probe_interval_s": 60}}))
    hub.start(watch=False)
    try:
        engine = hub.registry.get("digits").engine
        assert engine.status()["backend"] == "simulated"
        x = np.zeros((1, 8, 8, 1), np.int8)
        for _ in range(30):  # the average invoke time settles well under 1 ms
            engine.submit([x]).result(timeout=10)
        assert not hub.registry.quick("digits", inline.QUICK_MS, inline.OUTPUT_MAX_VALUES)
        (device,) = hub.pool.accelerators
        device.inject(gone=True)
        assert engine.submit([x]).result(timeout=10).backend == "cpu"  # fell back mid-request
        for _ in range(30):
            engine.submit([x]).result(timeout=10)
        assert hub.registry.quick("digits", inline.QUICK_MS, inline.OUTPUT_MAX_VALUES)
    finally:
        hub.close()
