"""Connections (issue 13, item 3): one laptop cannot take the server's threads, slow requests are cut.

Real server, real sockets. The flooding "laptop" uses its own loopback address (127.0.0.x), as a
second device on the room's Wi-Fi would; pupils and the teacher use 127.0.0.1.
"""
from __future__ import annotations

import socket
import time

import pytest
import requests
import socketio
import websocket

from tests.conftest import wait_for
from tests.drawing import png, render
from tests.hostile import class_socket, engineio_socket

LAPTOP = "127.0.0.9"


def connect_from(address: str, port: int) -> socket.socket:
    sock = socket.socket()
    sock.bind((address, 0))
    sock.settimeout(5)
    sock.connect(("127.0.0.1", port))
    return sock


def closed_by_hub(sock: socket.socket, within_s: float) -> bool:
    """True when the hub closes the connection within `within_s` (a read gives EOF or a reset)."""
    sock.settimeout(within_s)
    try:
        while True:
            if not sock.recv(65536):
                return True
    except (ConnectionResetError, BrokenPipeError):
        return True
    except (TimeoutError, socket.timeout):
        return False


def metric(hub, name: str) -> float:
    line = next(x for x in hub.get("/metrics").text.splitlines() if x.startswith(name + " "))
    return float(line.split()[-1])


def half_header(sock: socket.socket) -> None:
    sock.sendall(b"GET /v2/health/ready HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")


@pytest.fixture
def guarded_hub(start_hub, models_dir):
    return start_hub(models_dir, server={"connections_per_address": 8, "header_timeout_s": 2.0,
                                         "body_timeout_s": 3.0, "idle_timeout_s": 15.0, "threads": 32})


def test_one_address_holds_at_most_its_share_and_everyone_else_is_answered(start_hub, models_dir):
    hub = start_hub(models_dir, server={"connections_per_address": 8, "header_timeout_s": 60.0, "threads": 32})
    held = [connect_from(LAPTOP, hub.port) for _ in range(40)]
    for sock in held:
        try:
            half_header(sock)
        except OSError:  # already closed by the hub: that is the point
            pass
    refused = [sock for sock in held if closed_by_hub(sock, 0.5)]
    assert len(refused) == 40 - 8, "exactly connections_per_address may stay open"
    for _ in range(20):  # the pupils and the teacher, from their own address
        answer = requests.get(hub.url + "/v2/health/ready", timeout=5)
        assert answer.status_code == 200
    drawing = hub.post("/api/models/digits/classify", data=png(render(7)), headers={"Content-Type": "image/png"})
    assert drawing.json()["predictions"][0]["label"] == "7"
    assert "the most one device may ([server] connections_per_address)" in hub.log()
    assert metric(hub, 'classroom_hub_connections_cut_total{reason="per_address"}') == 32
    for sock in held:
        sock.close()
    # once the laptop lets go, it may connect again
    wait_for(lambda: not closed_by_hub(connect_from(LAPTOP, hub.port), 0.3), timeout_s=10)


def test_a_header_that_never_finishes_is_cut_and_frees_its_thread(guarded_hub):
    hub = guarded_hub
    slow = [connect_from(LAPTOP, hub.port) for _ in range(8)]
    for sock in slow:
        half_header(sock)
    started = time.monotonic()
    assert all(closed_by_hub(sock, 10) for sock in slow)
    assert time.monotonic() - started < 8  # header_timeout_s = 2, checked about once a second
    assert "its request header took too long ([server] header_timeout_s)" in hub.log()
    assert metric(hub, 'classroom_hub_connections_cut_total{reason="slow_header"}') == 8
    assert "Traceback" not in hub.log()


def test_a_body_that_never_finishes_is_cut(guarded_hub):
    hub = guarded_hub
    sock = connect_from(LAPTOP, hub.port)
    sock.sendall(b"POST /api/models/digits/classify HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: image/png\r\n"
                 b"Content-Length: 100000\r\n\r\n" + b"\x89PNG")
    dripping_until = time.monotonic() + 10
    cut = False
    while time.monotonic() < dripping_until and not cut:  # a byte a second: never idle long enough
        try:
            sock.sendall(b"\0")
        except OSError:
            cut = True
            break
        cut = closed_by_hub(sock, 1.0)
    assert cut, "a drip-fed body was never cut"
    assert "its request body took too long ([server] body_timeout_s)" in hub.log()
    assert requests.get(hub.url + "/v2/health/ready", timeout=5).status_code == 200


def read_to_end(sock: socket.socket, within_s: float) -> bytes:
    """Everything the hub sends until its FIN (its side closed); fails if none comes in time."""
    sock.settimeout(within_s)
    got = b""
    while chunk := sock.recv(65536):
        got += chunk
    return got


CLOSING = [  # answered, then closed by the hub: the client never closes its side
    b"GET /v2/health/live HTTP/1.0\r\n\r\n",
    b"GET /v2/health/live HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
    b"GARBAGE\r\n\r\n",
    b"GET /nope HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
]


def test_a_client_that_never_closes_its_side_stalls_no_one(guarded_hub):
    """Closing a connection, the hub sends its FIN and then reads until the client closes too (2 s
    at most), so that bytes the client still sends do not turn the answer into a reset. That wait
    was on gunicorn's main thread: each of these stopped the whole hub for 2 s."""
    hub = guarded_hub
    laptop = [connect_from(LAPTOP, hub.port) for _ in CLOSING]
    for sock, ask in zip(laptop, CLOSING):
        sock.sendall(ask)
    for _ in range(5):  # while the four wait for the laptop to close: a fresh connection each time
        assert requests.get(hub.url + "/v2/health/ready", timeout=1.5).status_code == 200
    answers = [read_to_end(sock, 1.5) for sock in laptop]  # whole, and the hub's side closed at once
    assert [a.split(b" ", 2)[1] for a in answers] == [b"200", b"200", b"400", b"404"]
    assert all(a.rstrip().endswith(b"}") for a in answers)
    # The hub closes them itself once 2 s pass, and the laptop may use its 8 connections again.
    wait_for(lambda: metric(hub, 'classroom_hub_connections_cut_total{reason="slow_close"}') == 4, timeout_s=10)
    again = [connect_from(LAPTOP, hub.port) for _ in range(8)]
    for sock in again:
        half_header(sock)
    assert not closed_by_hub(again[-1], 0.5), "a closed connection still counted against its address"
    for sock in laptop + again:
        sock.close()
    assert "Traceback" not in hub.log()


def test_a_tablet_that_never_reads_its_replies_is_dropped(guarded_hub):
    """Engine.IO kept every reply for a client that sends and never reads: the worker was killed
    in seconds. Past 256 packets waiting, the connection is dropped; the others go on."""
    hub = guarded_hub
    ws = class_socket(hub.port, LAPTOP, receive_buffer=4096)
    sent, deadline = 0, time.monotonic() + 90
    while "messages waiting for it to read them" not in hub.log():  # each asks for a reply, none read
        assert time.monotonic() < deadline, f"not dropped after {sent} unread replies"
        try:
            for _ in range(500):
                ws.send(f'42/class,{sent}["next",{{}}]')
                sent += 1
        except (OSError, websocket.WebSocketException):
            break  # the hub has shut it: the log line is being written
    wait_for(lambda: "messages waiting for it to read them" in hub.log(), timeout_s=10)
    assert metric(hub, "classroom_hub_socketio_dropped_total") >= 1
    pupil = socketio.Client(reconnection=False)
    pupil.connect(hub.url, namespaces=["/class"], transports=["websocket"], wait_timeout=10)
    assert "join a class first" in pupil.call("next", {}, namespace="/class", timeout=10)["error"]
    pupil.disconnect()
    ws.shutdown()  # the socket, without a close handshake the hub no longer reads
    assert "Traceback" not in hub.log()


def test_a_silent_connection_costs_no_thread_and_websockets_have_no_deadline(guarded_hub):
    hub = guarded_hub
    silent = [connect_from(f"127.0.0.{10 + i}", hub.port) for i in range(40)]  # more than the 32 threads
    tablet = socketio.Client(reconnection=False)
    tablet.connect(hub.url, namespaces=["/class"], transports=["websocket"], wait_timeout=10)
    time.sleep(4)  # past body_timeout_s: an open WebSocket must not be cut as a slow request
    assert tablet.connected
    reply = tablet.call("classify", {"model": "digits", "image": png(render(2))}, namespace="/class", timeout=15)
    assert reply["predictions"][0]["label"] == "2"
    assert requests.get(hub.url + "/v2/health/ready", timeout=5).status_code == 200
    tablet.disconnect()
    for sock in silent:
        sock.close()


@pytest.mark.parametrize("request_bytes,status", [
    (b"GET /" + b"a" * 5000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414),
    (b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 9000 + b"\r\n\r\n", 431),
    (b"GET / HTTP/1.1\r\nHost: x\r\nBad Name: 1\r\n\r\n", 400),
    (b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
    (b"GET / HTTP/9.9\r\nHost: x\r\n\r\n", 400),
])
def test_what_the_server_itself_refuses_is_json_too(module_hubs, module_models, request_bytes, status):
    hub = module_hubs(module_models)
    with socket.create_connection(("127.0.0.1", hub.port), timeout=5) as sock:
        sock.sendall(request_bytes)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(f"HTTP/1.1 {status} ".encode()), head
    assert b"Content-Type: application/json" in head
    import json

    assert json.loads(body)["code"] in ("bad_input", "payload_too_large")
    assert "Traceback" not in hub.log()


def test_a_device_holds_a_few_live_connections_and_the_hub_itself_any(module_hubs, module_models):
    import websocket

    hub = module_hubs(module_models)  # defaults: websockets_per_address = 4
    held = [engineio_socket(hub.port, LAPTOP) for _ in range(4)]
    with pytest.raises(websocket.WebSocketBadStatusException) as refused:
        engineio_socket(hub.port, LAPTOP)
    assert refused.value.status_code == 429
    assert b'"code": "too_many_connections"' in refused.value.resp_body
    held[0].close()  # one closed: one more may open
    wait_for(lambda: _opens(hub, LAPTOP))
    kiosk_and_admin = [engineio_socket(hub.port, "127.0.0.1") for _ in range(20)]  # the hub's own machine
    assert all(ws.recv().startswith("0") for ws in kiosk_and_admin)
    for ws in held[1:] + kiosk_and_admin:
        ws.close()


def _opens(hub, address: str) -> bool:
    import websocket

    try:
        engineio_socket(hub.port, address).close()
        return True
    except websocket.WebSocketBadStatusException:
        return False


def test_large_bodies_in_flight_share_a_budget_and_small_requests_go_on(start_hub, models_dir):
    hub = start_hub(models_dir, limits={"max_body_bytes": 1 << 20, "bodies_budget_bytes": 2 << 20})
    slow = []
    for i in range(2):  # two devices each start a 1 MB upload and stall: the budget is full
        sock = connect_from(f"127.0.0.{30 + i}", hub.port)
        sock.sendall(b"POST /api/models/digits/classify HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: image/png\r\n"
                     b"Content-Length: 1048576\r\n\r\n\x89PNG")
        slow.append(sock)
    wait_for(lambda: metric(hub, "classroom_hub_bodies_held_bytes") == 2 * 1048576)
    third = connect_from("127.0.0.32", hub.port)
    third.sendall(b"POST /api/models/digits/classify HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: image/png\r\n"
                  b"Content-Length: 900000\r\n\r\n")
    answer = third.recv(65536)
    assert answer.startswith(b"HTTP/1.1 503 ") and b"Retry-After: 1" in answer
    assert b'"code": "overloaded"' in answer and b"bodies_budget_bytes" not in answer
    drawing = hub.post("/api/models/digits/classify", data=png(render(1)), headers={"Content-Type": "image/png"})
    assert drawing.status_code == 200  # a drawing is small: never held up by the budget
    for sock in slow:
        sock.close()
    wait_for(lambda: metric(hub, "classroom_hub_bodies_held_bytes") == 0)
    big = png(render(8)) + b"\0" * 700_000  # a large body is taken again once there is room
    assert hub.post("/api/models/digits/classify", data=big, headers={"Content-Type": "image/png"}).status_code != 503
