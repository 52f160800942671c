"""Memory bounded on every path (issue 13, items 1 and 2): picture bombs and Socket.IO attachment
floods, against the real server running inside a memory cgroup as tight as the unit's MemoryMax."""
from __future__ import annotations

import json
import struct
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

import cv2
import numpy as np
import pytest
import requests
import socketio
import websocket

from hub.adapters.budget import DecodeBudget
from hub.adapters.image import reduction, working_bytes
from hub.adapters.image_header import MAX_SCANS, read_header
from hub.config import LimitsConfig
from hub.errors import BadInput, Overloaded, PayloadTooLarge
from tests.conftest import ROOT, wait_for
from tests.drawing import png, render
from tests.hostile import STOPPED_TAKING, class_socket, closed_by_hub, png_bomb, rss, unit_memory_max

# --- the budget itself --------------------------------------------------------------------------

def test_one_decode_over_the_limit_is_refused_before_anything_is_held():
    budget = DecodeBudget(per_decode_bytes=100, in_flight_bytes=150, wait_s=0.2)
    with pytest.raises(PayloadTooLarge) as refused:
        with budget.reserve(101, "the picture"):
            pass
    assert "max_decode_bytes" in refused.value.message
    assert budget.held == 0


def test_decodes_in_flight_share_the_budget_and_a_waiting_one_gets_the_room_freed():
    budget = DecodeBudget(per_decode_bytes=100, in_flight_bytes=150, wait_s=5)
    first_holding, release_first, second_done = threading.Event(), threading.Event(), threading.Event()

    def first():
        with budget.reserve(100, "the picture"):
            first_holding.set()
            release_first.wait(5)

    def second():
        with budget.reserve(100, "the picture"):
            second_done.set()

    threading.Thread(target=first).start()
    assert first_holding.wait(5)
    waiter = threading.Thread(target=second)
    waiter.start()
    assert not second_done.wait(0.3)  # 200 > 150: it waits while the first holds its 100
    release_first.set()
    assert second_done.wait(5)
    waiter.join(5)
    assert budget.held == 0


def test_no_room_within_the_wait_is_a_503_with_retry_after():
    budget = DecodeBudget(per_decode_bytes=100, in_flight_bytes=150, wait_s=0.1)
    with budget.reserve(100, "the picture"):
        with pytest.raises(Overloaded) as busy:
            with budget.reserve(100, "the picture"):
                pass
    assert busy.value.status == 503 and busy.value.retry_after_s >= 1
    assert budget.held == 0


# --- the estimate holds what decoding really takes ------------------------------------------------

PEAK_SCRIPT = r"""
import sys, json, numpy as np, cv2
sys.path.insert(0, sys.argv[1])
from hub.adapters.image import preprocess, working_bytes, reduction
from hub.adapters.image_header import read_header
from hub.manifest import Preprocess, TensorSpec
data = open(sys.argv[2], "rb").read()
spec = TensorSpec("x", (1, 224, 224, 3), "uint8")
prep = Preprocess(color=sys.argv[3], crop_to_content=sys.argv[3] == "gray")
if prep.crop_to_content:
    spec = TensorSpec("x", (1, 8, 8, 1), "uint8")
header = read_header(data)
estimate = working_bytes(header, reduction(header, (spec.shape[2], spec.shape[1])))
hwm = lambda: int(open("/proc/self/status").read().split("VmHWM:")[1].split()[0]) * 1024
preprocess(open(sys.argv[4], "rb").read(), spec, prep, 10 ** 9)  # once small: libraries and threads set up
open("/proc/self/clear_refs", "w").write("5")  # reset the high-water mark to what is resident now
before = hwm()
preprocess(data, spec, prep, 10 ** 9)
print(json.dumps({"estimate": estimate, "used": hwm() - before}))
"""


# --- JPEGs libjpeg must hold whole while decoding, whatever the scale asked -------------------------

def _segment(marker: int, body: bytes) -> bytes:
    return bytes([0xFF, marker]) + struct.pack(">H", len(body) + 2) + body


_ONE_CODE = bytes([1] + [0] * 15) + bytes([0])  # a Huffman table of one 1-bit code, for symbol 0


def lossless_jpeg(w: int, h: int, sampling: tuple[int, ...] = (0x11, 0x11, 0x11)) -> bytes:
    """A lossless (SOF3) R, G, B JPEG whose every difference is 0: one bit a sample. libjpeg-turbo
    decodes it at full size whatever scale is asked."""
    ids = (82, 71, 66)
    frame = struct.pack(">BHHB", 8, h, w, 3) + b"".join(bytes([i, s, 0]) for i, s in zip(ids, sampling))
    scan = bytes([3]) + b"".join(bytes([i, 0]) for i in ids) + bytes([1, 0, 0])  # predictor 1
    hmax, vmax = max(s >> 4 for s in sampling), max(s & 15 for s in sampling)
    samples = sum(-(-w * (s >> 4) // hmax) * -(-h * (s & 15) // vmax) for s in sampling)
    return (b"\xff\xd8" + _segment(0xC4, b"\x00" + _ONE_CODE) + _segment(0xC3, frame) + _segment(0xDA, scan)
            + bytes(-(-samples // 8)) + b"\xff\xd9")


def jpeg_scan_per_component(w: int, h: int) -> bytes:
    """A baseline 4:4:4 JPEG sent one scan per component (every block flat grey: two bits): libjpeg
    keeps every coefficient of the picture until the last scan, as for a progressive one."""
    out = (b"\xff\xd8" + _segment(0xDB, bytes([0]) + bytes([1] * 64)) + _segment(0xC4, b"\x00" + _ONE_CODE)
           + _segment(0xC4, b"\x10" + _ONE_CODE)
           + _segment(0xC0, struct.pack(">BHHB", 8, h, w, 3) + b"".join(bytes([i, 0x11, 0]) for i in (1, 2, 3))))
    blocks = -(-w // 8) * -(-h // 8)
    for component in (1, 2, 3):
        out += _segment(0xDA, bytes([1, component, 0x00, 0, 63, 0])) + bytes(-(-blocks * 2 // 8))
    return out + b"\xff\xd9"


def progressive_jpeg(image: np.ndarray, sampling: int = cv2.IMWRITE_JPEG_SAMPLING_FACTOR_444) -> bytes:
    return cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_PROGRESSIVE, 1, cv2.IMWRITE_JPEG_QUALITY, 90,
                                        cv2.IMWRITE_JPEG_SAMPLING_FACTOR, sampling])[1].tobytes()


def jpeg_scans_repeated(w: int, h: int, repeats: int) -> bytes:
    """A progressive JPEG with its last scan (a refinement: a few bytes for a flat picture) sent
    `repeats` more times: each one is another pass over every block of the picture."""
    data = progressive_jpeg(np.full((h, w, 3), 128, np.uint8))
    end = data.rindex(b"\xff\xd9")
    last = data.rindex(b"\xff\xda")  # in entropy-coded data an 0xFF is always followed by 0 or RSTn
    return data[:end] + data[last:end] * repeats + data[end:]


def _picture(kind: str, h: int = 2400, w: int = 3200) -> bytes:
    rng = np.random.default_rng(1)
    if kind.startswith("progressive"):  # a photo-like picture: smooth, with some grain
        image = cv2.resize(rng.integers(0, 255, (max(1, h // 16), max(1, w // 16), 3), np.uint8), (w, h))
        image = cv2.add(image, rng.integers(0, 8, (h, w, 3), np.uint8))
        return progressive_jpeg(image, cv2.IMWRITE_JPEG_SAMPLING_FACTOR_420 if kind.endswith("420")
                                else cv2.IMWRITE_JPEG_SAMPLING_FACTOR_444)
    if kind == "lossless":
        return lossless_jpeg(w, h)
    if kind == "scan-per-component":
        return jpeg_scan_per_component(w, h)
    if kind == "rgba8":
        image = np.zeros((h, w, 4), np.uint8)
        image[h // 3:2 * h // 3, w // 4:3 * w // 4] = (20, 20, 20, 255)
        return cv2.imencode(".png", image)[1].tobytes()
    if kind == "rgba16":
        image = np.zeros((h, w, 4), np.uint16)
        image[h // 3:2 * h // 3, w // 4:3 * w // 4] = (0, 0, 0, 65535)
        return cv2.imencode(".png", image)[1].tobytes()
    if kind == "rgb16":
        return cv2.imencode(".png", rng.integers(0, 65535, (h, w, 3), np.uint16))[1].tobytes()
    if kind == "gray16":
        return cv2.imencode(".png", rng.integers(0, 65535, (h, w), np.uint16))[1].tobytes()
    if kind == "jpeg":
        return cv2.imencode(".jpg", rng.integers(0, 255, (h, w, 3), np.uint8))[1].tobytes()
    return cv2.imencode(".bmp", rng.integers(0, 255, (h, w, 3), np.uint8))[1].tobytes()


@pytest.mark.parametrize("kind,color", [("rgba8", "rgb"), ("rgba8", "gray"), ("rgba16", "rgb"), ("rgb16", "rgb"),
                                        ("gray16", "rgb"), ("jpeg", "rgb"), ("bmp", "rgb"),
                                        ("progressive444", "rgb"), ("progressive420", "rgb"), ("lossless", "rgb"),
                                        ("scan-per-component", "rgb")])
def test_the_reserved_bytes_cover_what_decoding_really_takes(tmp_path, kind, color):
    """Measured in a fresh process (its resident high-water mark, after a small picture of the same
    kind has set up the libraries and their threads), so the budget is honest."""
    path, small = tmp_path / f"{kind}.bin", tmp_path / f"{kind}-small.bin"
    path.write_bytes(_picture(kind))
    small.write_bytes(_picture(kind, 120, 160))
    out = subprocess.run([sys.executable, "-c", PEAK_SCRIPT, str(ROOT), str(path), color, str(small)],
                         capture_output=True, text=True, check=True)
    figures = json.loads(out.stdout)
    assert figures["used"] > 0
    assert figures["used"] <= figures["estimate"], figures


def test_a_jpeg_decoded_whole_reserves_its_whole_picture_buffer_and_a_lossless_one_its_full_size():
    """libjpeg's buffer of the whole picture, 2 bytes a DCT coefficient in 8x8 blocks rounded up to
    whole MCUs, whatever the scale: 286 MiB for a 7071x7071 progressive 4:4:4 JPEG of 859 KB, which
    reserved 9 MB before."""
    assert read_header(_picture("jpeg", 120, 160)).whole_image_bytes == 0  # baseline: a few rows at a time
    flat = np.full((7071, 7071, 3), 128, np.uint8)
    full = read_header(progressive_jpeg(flat))
    assert full.whole_image_bytes == 3 * 7072 * 7072 * 2
    assert working_bytes(full, reduction(full, (224, 224))) > full.whole_image_bytes
    halves = read_header(progressive_jpeg(flat, cv2.IMWRITE_JPEG_SAMPLING_FACTOR_420))
    assert halves.whole_image_bytes == (7072 * 7072 + 2 * 3536 * 3536) * 2
    assert read_header(jpeg_scan_per_component(7071, 7071)).whole_image_bytes == 3 * 7072 * 7072 * 2
    lossless = read_header(lossless_jpeg(7071, 7071))
    assert lossless.lossless and reduction(lossless, (224, 224)) == 1
    assert working_bytes(lossless, 8) == working_bytes(lossless, 1) > 2 * 7071 * 7071 * 3
    limits = LimitsConfig()
    for header in (full, halves, lossless):  # over one decode's share: 413 before anything is decoded
        assert working_bytes(header, reduction(header, (224, 224))) > limits.max_decode_bytes


def test_ordinary_progressive_phone_photos_still_fit_the_default_limits():
    """12 MP: 36 MB of coefficients in 4:2:0 (five such decodes at once fit the budget), 72 MB in 4:4:4."""
    limits = LimitsConfig()
    photo = np.full((3000, 4000, 3), 128, np.uint8)
    for sampling, coefficients, at_once in ((cv2.IMWRITE_JPEG_SAMPLING_FACTOR_420, 36_096_000, 5),
                                            (cv2.IMWRITE_JPEG_SAMPLING_FACTOR_444, 72_000_000, 2)):
        header = read_header(progressive_jpeg(photo, sampling))
        assert header.whole_image_bytes == coefficients
        reserved = working_bytes(header, reduction(header, (224, 224)))
        assert reserved <= limits.max_decode_bytes and at_once * reserved <= limits.decode_budget_bytes


def test_a_progressive_jpeg_of_endless_scans_is_refused_from_its_header():
    """One scan repeated 60,000 times (2 MB) took 35 s of CPU to decode, even at 1/8 scale."""
    assert read_header(jpeg_scans_repeated(640, 480, MAX_SCANS - 10)).width == 640  # 10 scans of its own
    with pytest.raises(BadInput) as refused:
        read_header(jpeg_scans_repeated(2000, 2000, 60_000))
    assert refused.value.status == 400 and f"more than {MAX_SCANS} scans" in refused.value.message
    with pytest.raises(BadInput):
        read_header(jpeg_scans_repeated(640, 480, MAX_SCANS - 9))


def test_the_walk_over_a_jpeg_s_markers_stays_cheap():
    with pytest.raises(BadInput, match="markers"):  # 5 million empty markers, 10 MB
        read_header(b"\xff\xd8" + _segment(0xC0, struct.pack(">BHHB", 8, 8, 8, 1) + b"\x01\x11\x00")
                    + b"\xff\x01" * 5_000_000 + b"\xff\xd9")
    restarts = cv2.imencode(".jpg", np.random.default_rng(2).integers(0, 255, (480, 640, 3), np.uint8),
                            [cv2.IMWRITE_JPEG_RST_INTERVAL, 1])[1].tobytes()
    assert read_header(restarts).whole_image_bytes == 0  # 4800 RST markers in its one scan: skipped


# --- the real server under the unit's memory cap --------------------------------------------------

@pytest.fixture
def capped_hub(capped_hubs, models_dir):
    return capped_hubs(models_dir)


def test_picture_bombs_four_at_a_time_over_rest_and_socketio_never_kill_the_worker(capped_hub):
    hub, cap = capped_hub
    worker = hub.worker_pid
    bomb = png_bomb()  # 7000x7000, 16-bit, fully transparent RGBA: ~380 KB, 392 MB decoded
    assert len(bomb) < 500_000

    def over_rest(_):
        return hub.post("/api/models/digits/classify", data=bomb, headers={"Content-Type": "image/png"},
                        timeout=60)

    def over_socketio(_):
        client = socketio.Client(reconnection=False)
        client.connect(hub.url, namespaces=["/class"], transports=["websocket"], wait_timeout=10)
        try:
            return client.call("classify", {"model": "digits", "image": bomb}, namespace="/class", timeout=60)
        finally:
            client.disconnect()

    for _ in range(3):  # again and again, as a pupil would
        with ThreadPoolExecutor(8) as pool:
            rest = list(pool.map(over_rest, range(4)))
            live = list(pool.map(over_socketio, range(4)))
        for answer in rest:
            assert answer.status_code == 413, answer.text
            assert answer.json()["code"] == "payload_too_large"
            assert "max_decode_bytes" in answer.json()["error"]
        for reply in live:
            assert reply["code"] == "payload_too_large", reply
    assert hub.proc.poll() is None and hub.worker_pid == worker, hub.log()
    assert cap.oom_kills == 0
    assert cap.peak_bytes < unit_memory_max()
    counted = hub.get("/metrics").text
    assert 'classroom_hub_decodes_refused_total{reason="too_large"} 24' in counted
    assert "classroom_hub_decode_bytes_held 0" in counted
    drawing = hub.post("/api/models/digits/classify", data=png(render(3)), headers={"Content-Type": "image/png"})
    assert drawing.status_code == 200 and drawing.json()["predictions"][0]["label"] == "3"


def test_progressive_and_lossless_jpeg_bombs_at_once_are_refused_and_a_progressive_photo_is_not(capped_hub):
    """A 7071x7071 progressive JPEG of 859 KB took 288 MiB to decode (reserved: 9), a lossless one
    286 MB: three at once killed the worker under the unit's cap. Now 413 before decoding."""
    hub, cap = capped_hub
    worker = hub.worker_pid
    flat = np.full((7071, 7071, 3), 128, np.uint8)
    bombs = [progressive_jpeg(flat), progressive_jpeg(flat, cv2.IMWRITE_JPEG_SAMPLING_FACTOR_420),
             lossless_jpeg(7071, 7071, (0x22, 0x11, 0x11)), jpeg_scan_per_component(7071, 7071)]

    def send(data):
        return hub.post("/api/models/digits/classify", data=data, headers={"Content-Type": "image/jpeg"},
                        timeout=60)

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(send, bombs * 2))
    for answer in answers:
        assert answer.status_code == 413, answer.text
        assert answer.json()["code"] == "payload_too_large" and "max_decode_bytes" in answer.json()["error"]
    scans = send(jpeg_scans_repeated(2000, 2000, 60_000))
    assert scans.status_code == 400 and "scans" in scans.json()["error"], scans.text
    assert hub.proc.poll() is None and hub.worker_pid == worker, hub.log()
    assert cap.oom_kills == 0
    page = np.full((3000, 4000, 3), 255, np.uint8)  # a 12 MP progressive phone photo of a written 3
    page[:, 500:3500] = render(3, size=3000)
    photo = send(progressive_jpeg(page, cv2.IMWRITE_JPEG_SAMPLING_FACTOR_420))
    assert photo.status_code == 200 and photo.json()["predictions"][0]["label"] == "3", photo.text


def test_a_message_announcing_endless_attachments_is_dropped_at_once(capped_hub):
    hub, cap = capped_hub
    ws = class_socket(hub.port)
    ws.send('45999999-/class,["classify",{"model":"digits","image":{"_placeholder":true,"num":0}}]')
    assert closed_by_hub(ws)
    assert "announced 999999 binary attachments" in hub.log()


def test_attachments_over_the_body_limit_are_dropped_and_nothing_is_kept(capped_hub):
    hub, cap = capped_hub
    worker = hub.worker_pid
    before = rss(worker)
    ws = class_socket(hub.port)
    ws.settimeout(10)
    ws.send('452-/class,["classify",{"model":"digits","image":{"_placeholder":true,"num":0},'
            '"audio":{"_placeholder":true,"num":1}}]')
    frame = b"\0" * (8 * 1024 * 1024)  # under the 10 MB body limit one by one, over it together
    sent = 0
    try:
        for _ in range(40):
            ws.send_binary(frame)
            sent += 1
    except STOPPED_TAKING as exc:
        stopped = repr(exc)
    else:
        stopped = "never"
    assert closed_by_hub(ws), f"{sent} frames taken, sending stopped by {stopped}; the hub's log:\n{hub.log()[-3000:]}"
    assert sent < 40, "the hub kept taking frames"
    assert "binary attachments over" in hub.log()
    wait_for(lambda: rss(worker) < before + 64 * 1024 * 1024, timeout_s=10)
    assert cap.oom_kills == 0 and hub.worker_pid == worker
    tablet = socketio.Client(reconnection=False)  # everyone else goes on
    tablet.connect(hub.url, namespaces=["/class"], transports=["websocket"], wait_timeout=10)
    reply = tablet.call("classify", {"model": "digits", "image": png(render(5))}, namespace="/class", timeout=15)
    tablet.disconnect()
    assert reply["predictions"][0]["label"] == "5"


def test_one_websocket_message_over_the_body_limit_is_refused_while_it_arrives(capped_hub):
    hub, cap = capped_hub
    worker = hub.worker_pid
    ws = class_socket(hub.port)
    header = websocket.ABNF(fin=0, opcode=websocket.ABNF.OPCODE_BINARY, data=b"\0" * (4 * 1024 * 1024))
    cont = websocket.ABNF(fin=0, opcode=websocket.ABNF.OPCODE_CONT, data=b"\0" * (4 * 1024 * 1024))
    sent = 0
    try:
        ws.send_frame(header)
        for _ in range(100):  # 400 MB in one message if nothing stopped it
            ws.send_frame(cont)
            sent += 1
    except STOPPED_TAKING:
        pass
    assert sent < 100
    assert cap.oom_kills == 0 and hub.worker_pid == worker
    assert requests.get(hub.url + "/v2/health/ready", timeout=5).status_code == 200


def test_websocket_compression_is_not_offered_so_no_frame_can_inflate(capped_hub):
    import base64
    import os
    import socket

    hub, _ = capped_hub
    key = base64.b64encode(os.urandom(16)).decode()
    with socket.create_connection(("127.0.0.1", hub.port), timeout=10) as raw:
        raw.sendall((f"GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: 127.0.0.1:{hub.port}\r\n"
                     f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                     "Sec-WebSocket-Version: 13\r\n"
                     "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\r\n").encode())
        head = b""
        while b"\r\n\r\n" not in head:
            head += raw.recv(4096)
    status, *headers = head.split(b"\r\n\r\n")[0].decode().split("\r\n")
    assert status.startswith("HTTP/1.1 101"), status
    assert not any(h.lower().startswith("sec-websocket-extensions") for h in headers), headers


def test_messages_waiting_to_be_handled_are_bounded_per_connection_and_together():
    from hub.memory import BodiesBudget
    from hub.web.socket_limits import _Inbox

    budget = BodiesBudget(per_item=10, total=20)
    inbox = _Inbox(limit=10, budget=budget, stall_s=0.2)
    inbox.append(b"x" * 8)
    inbox.append(b"y" * 8)  # over this connection's limit now: the next append must wait for a pop
    with pytest.raises(OSError):
        inbox.append(b"z")
    assert budget.held == 16
    threading.Timer(0.05, lambda: inbox.pop(0)).start()
    inbox.stall_s = 5
    inbox.append(b"z")  # waits for the pop, then goes in
    assert inbox.size == 9 and list(inbox) == [b"y" * 8, b"z"]
    assert budget.held == 17  # the popped message is being handled: still held until the next pop

    other = _Inbox(limit=10, budget=budget, stall_s=0.2)  # another tablet's connection, same hub
    with pytest.raises(OSError):
        other.append(b"w" * 8)  # 17 + 8 > 20: no room in the hub's budget
    assert budget.held == 17
    inbox.close()  # the first connection ends: everything it held goes back
    assert budget.held == 0
    other.append(b"w" * 8)
    assert budget.held == 8


@pytest.mark.parametrize("packet", ["42/class," + "[" * 100_000 + "]" * 100_000,
                                    '42/class,["classify",' + "9" * 5000 + "]",
                                    '42/class,["classify",NaN]', "49/class,", '42/class,["classify",{"a":]'])
def test_a_packet_socketio_cannot_decode_drops_that_client_with_one_line(module_hubs, module_models, packet):
    hub = module_hubs(module_models)
    ws = class_socket(hub.port)
    ws.send(packet)
    assert closed_by_hub(ws)
    assert "a malformed Socket.IO packet" in hub.log()
    assert "Traceback" not in hub.log() and "message handler error" not in hub.log()
    tablet = socketio.Client(reconnection=False)
    tablet.connect(hub.url, namespaces=["/class"], transports=["websocket"], wait_timeout=10)
    tablet.disconnect()
