"""/api/models, classify and predict: the real hub on 127.0.0.1 over real HTTP (one process for the
module), and every bad input in process (Flask's test client, the real app, engine and interpreter)."""
from __future__ import annotations

import io
import struct
import zlib

import cv2
import numpy as np
import pytest

from tests.conftest import CORAL
from tests.drawing import photo, png, render

CAT_LABELS = {"tiger cat", "Egyptian cat", "tabby, tabby cat"}


def test_models_list_reports_cpu_backend_and_why_not_tpu(zoo_hub):
    models = zoo_hub.get("/api/models").json()
    digits = next(m for m in models if m["name"] == "digits")
    assert digits["status"] == "ready"
    assert digits["backend"] == "cpu"
    assert digits["task"] == "image-classification"
    assert digits["labels"] == 10
    assert digits["input"]["dtype"] == "int8" and digits["input"]["shape"] == [1, 8, 8, 1]
    assert digits["reason"] is None


@pytest.mark.parametrize("ink_dark,transparent", [(True, False), (False, False), (True, True), (False, True)])
def test_canvas_drawings_of_either_polarity_are_read(zoo_hub, ink_dark, transparent):
    right = 0
    for digit in range(10):
        image = render(digit, pen=18, slant=0.1, ink_dark=ink_dark, transparent=transparent)
        reply = zoo_hub.post("/api/models/digits/classify", data=png(image), headers={"Content-Type": "image/png"})
        assert reply.status_code == 200, reply.text
        right += reply.json()["predictions"][0]["index"] == digit
    assert right >= 9  # one miss in ten allowed: handwriting is not a font


def test_photo_of_paper_as_multipart(zoo_hub):
    right = 0
    for digit in range(10):
        reply = zoo_hub.post("/api/models/digits/classify?top_k=2",
                         files={"image": ("digit.jpg", photo(digit, seed=digit), "image/jpeg")})
        assert reply.status_code == 200, reply.text
        body = reply.json()
        assert len(body["predictions"]) == 2
        right += body["predictions"][0]["label"] == str(digit)
    assert right >= 9


def test_classify_answer_shape(zoo_hub):
    body = zoo_hub.post("/api/models/digits/classify?top_k=3", data=png(render(7)),
                    headers={"Content-Type": "image/png"}).json()
    assert set(body) >= {"model", "backend", "predictions", "timing_ms"}
    assert body["model"] == "digits" and body["backend"] == "cpu"
    assert [set(p) for p in body["predictions"]] == [{"index", "label", "name", "score"}] * 3
    scores = [p["score"] for p in body["predictions"]]
    assert scores == sorted(scores, reverse=True) and 0 < scores[0] <= 1
    timing = body["timing_ms"]
    assert 0 <= timing["preprocess"] <= timing["total"] and 0 <= timing["inference"] <= timing["total"]


def _classify_jpeg(zoo_hub, data: bytes) -> list:
    reply = zoo_hub.post("/api/models/digits/classify?top_k=10", data=data, headers={"Content-Type": "image/jpeg"})
    assert reply.status_code == 200, reply.text
    return [(p["label"], round(p["score"], 2)) for p in reply.json()["predictions"]]


def test_exif_orientation_is_applied(zoo_hub):
    """A phone stores a portrait photo sideways with EXIF orientation 6; the hub must turn it."""
    upright = cv2.imdecode(np.frombuffer(photo(7, seed=1), np.uint8), cv2.IMREAD_COLOR)
    stored = cv2.rotate(upright, cv2.ROTATE_90_COUNTERCLOCKWISE)  # as the sensor saw it
    exif = b"Exif\x00\x00" + b"MM\x00\x2a\x00\x00\x00\x08" + b"\x00\x01" + \
        b"\x01\x12\x00\x03\x00\x00\x00\x01\x00\x06\x00\x00" + b"\x00\x00\x00\x00"
    app1 = b"\xff\xe1" + struct.pack(">H", len(exif) + 2) + exif
    sideways = cv2.imencode(".jpg", stored, [cv2.IMWRITE_JPEG_QUALITY, 95])[1].tobytes()
    tagged = sideways[:2] + app1 + sideways[2:]
    straight = cv2.imencode(".jpg", upright, [cv2.IMWRITE_JPEG_QUALITY, 95])[1].tobytes()
    assert _classify_jpeg(zoo_hub, tagged)[0][0] == _classify_jpeg(zoo_hub, straight)[0][0] == "7"
    assert _classify_jpeg(zoo_hub, sideways) != _classify_jpeg(zoo_hub, tagged)


def test_coral_mobilenet_sees_the_cat(zoo_hub, coral):
    reply = zoo_hub.post("/api/models/mobilenet/classify?top_k=3", data=(CORAL / "cat.bmp").read_bytes(),
                     headers={"Content-Type": "image/bmp"})
    assert reply.status_code == 200, reply.text
    top = reply.json()["predictions"]
    assert top[0]["label"] in CAT_LABELS
    assert {p["label"] for p in top} <= CAT_LABELS | {"lynx, catamount"}
    same = zoo_hub.post("/api/models/mobilenet/predict?top_k=3", data=(CORAL / "cat.bmp").read_bytes(),
                    headers={"Content-Type": "image/bmp"})  # predict answers a classifier's task result too
    assert same.json()["predictions"] == top and same.json()["task"] == "image-classification"


# ---- bad input: a clear JSON error, never a crash ------------------------------------------------

def _png_header_only(width: int, height: int) -> bytes:
    """A tiny valid-looking PNG that declares a huge picture: a decompression bomb."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b"")


BAD_IMAGES = [
    ("empty", b"", "image/png", 400),
    ("not an image", b"hello, this is text", "image/png", 415),
    ("truncated png", png(render(3))[:300], "image/png", 400),
    ("truncated jpeg", photo(3)[:2000], "image/jpeg", 400),
    ("decompression bomb", _png_header_only(60000, 60000), "image/png", 413),
    ("wrong content type", png(render(3)), "text/plain", 415),
    ("no content type", png(render(3)), "", 415),
]


@pytest.mark.parametrize("route", ["classify", "predict"])
@pytest.mark.parametrize("name,data,content_type,status", BAD_IMAGES, ids=[b[0] for b in BAD_IMAGES])
def test_bad_images_get_clear_errors(zoo_app, route, name, data, content_type, status):
    reply = zoo_app.http.post(f"/api/models/digits/{route}", data=data, headers={"Content-Type": content_type})
    assert reply.status_code == status, reply.text
    body = reply.get_json()
    assert body["error"] and body["code"]
    assert zoo_app.http.get("/v2/health/live").status_code == 200


def test_blank_canvas_is_a_400(zoo_app):
    blank = np.full((200, 200, 3), 255, np.uint8)
    reply = zoo_app.http.post("/api/models/digits/classify", data=png(blank), headers={"Content-Type": "image/png"})
    assert reply.status_code == 400 and "blank" in reply.get_json()["error"]


def test_multipart_without_image_field(zoo_app):
    reply = zoo_app.http.post("/api/models/digits/classify", data={"picture": (io.BytesIO(png(render(1))), "a.png")},
                          content_type="multipart/form-data")
    assert reply.status_code == 400 and "'image'" in reply.get_json()["error"]


def test_body_over_limit_is_413(zoo_app):
    reply = zoo_app.http.post("/api/models/digits/classify", data=b"\x89PNG" + b"\x00" * 70000,
                          headers={"Content-Type": "image/png"})
    assert reply.status_code == 413 and reply.get_json()["code"] == "payload_too_large"


def test_predict_answers_for_any_task_and_classify_only_for_classifiers(zoo_app):
    from tests.test_audio_features import tone, wav_bytes

    drawn = zoo_app.http.post("/api/models/digits/predict?top_k=1", data=png(render(4, pen=18)),
                          headers={"Content-Type": "image/png"}).get_json()
    assert drawn["task"] == "image-classification" and drawn["predictions"][0]["label"] == "4"
    heard = zoo_app.http.post("/api/models/spoken-digits/predict", data=wav_bytes(tone(0.5), 8000),
                          headers={"Content-Type": "audio/wav"}).get_json()
    assert heard["task"] == "audio-classification" and len(heard["predictions"]) == 3
    wrong = zoo_app.http.post("/api/models/spoken-digits/predict", data=png(render(4)),
                              headers={"Content-Type": "image/png"})
    assert wrong.status_code == 400 and "takes a recording" in wrong.get_json()["error"]


@pytest.mark.parametrize("path", ["/api/models/nope/classify", "/api/models/..%2F..%2Fetc/classify",
                                  "/api/models/%2e%2e/classify", "/api/models/digits%2F..%2Fdigits/classify"])
def test_unknown_and_path_like_model_names_are_404(zoo_hub, path):
    reply = zoo_hub.post(path, data=png(render(1)), headers={"Content-Type": "image/png"})
    assert reply.status_code == 404
    assert reply.json()["error"]


@pytest.mark.parametrize("top_k", ["zero", "0", "-1", "100000", "2.5"])
def test_bad_top_k(zoo_app, top_k):
    reply = zoo_app.http.post(f"/api/models/digits/classify?top_k={top_k}", data=png(render(1)),
                          headers={"Content-Type": "image/png"})
    assert reply.status_code == 400 and "top_k" in reply.get_json()["error"]


def test_metrics_count_requests_per_model_and_backend(in_process, module_models):
    app = in_process(module_models)  # its own counters
    for _ in range(3):
        app.http.post("/api/models/digits/classify", data=png(render(4)), headers={"Content-Type": "image/png"})
    app.http.post("/api/models/digits/classify", data=b"junk", headers={"Content-Type": "image/png"})
    text = app.http.get("/metrics").text
    assert 'classroom_hub_requests_total{model="digits",api="rest",backend="cpu",outcome="ok"} 3' in text
    assert 'outcome="unsupported_media_type"} 1' in text
    assert 'classroom_hub_latency_seconds_count{model="digits",backend="cpu",stage="total"} 3' in text
    assert 'classroom_hub_queue_depth{model="digits"} 0' in text
    assert 'classroom_hub_model_backend{model="digits",backend="cpu",device=""} 1' in text
    assert 'classroom_hub_info{' in text
