"""Teach the hub on an Edge TPU: the examples' numbers are made where the embedder is placed (the
simulated accelerator: its CPU file in a real interpreter, faults under test control), a device
that fails mid-lesson moves the teaching to the CPU without losing an example, and a saved model
runs its backbone on the accelerator and its trained layer on the CPU, offered by What is this?"""
from __future__ import annotations

import cv2
import pytest

from tests.conftest import BUNDLED, call, copy_model, need_coral, wait_for


@pytest.fixture(scope="module")
def tpu_teaching(tmp_path_factory, in_process):
    root = tmp_path_factory.mktemp("teach-tpu-models")
    copy_model(BUNDLED / "embedder", root)
    app = in_process(root, testing={"simulated_edgetpu": 2, "fault_injection": True})
    http, _ = app.teacher()
    assert http.post("/api/classes", json={"activity": "teach-the-hub"}).status_code == 201
    assert http.post("/api/teach", json={"name": "pets", "labels": ["cat", "bird"]}).status_code == 201
    yield app, http
    app.end_class()


def photo(name: str, flip: bool = False) -> bytes:
    picture = cv2.imread(str(need_coral() / name))
    return cv2.imencode(".jpg", cv2.flip(picture, 1) if flip else picture)[1].tobytes()


def embedder(app) -> dict:
    return app.hub.registry.get("embedder").to_json()


def give(http, label: str, data: bytes):
    return http.post(f"/api/teach/pets/examples?label={label}", data=data, headers={"Content-Type": "image/jpeg"})


def test_examples_are_made_on_the_accelerator_and_on_the_cpu_when_it_fails(tpu_teaching):
    app, http = tpu_teaching
    model = embedder(app)
    assert model["backend"] == "simulated"
    device = model["device"]
    first = give(http, "cat", photo("cat.bmp"))
    assert first.status_code == 201 and first.get_json()["backend"] == "simulated"

    assert http.post("/api/testing/faults", json={"device": device, "gone": True}).status_code == 200
    during = give(http, "bird", photo("bird.bmp"))  # the device failed: the example is made on the CPU
    assert during.status_code == 201, during.get_json()
    assert during.get_json()["backend"] == "cpu" and during.get_json()["total"] == 2
    assert give(http, "cat", photo("cat.bmp", flip=True)).get_json()["backend"] == "cpu"
    status = http.post("/api/teach/pets/train").get_json()
    assert status["counts"] == [2, 1] and status["ready"]
    kiosk = app.app.test_client().get("/api/classes/current/public").get_json()  # anyone: no names
    assert kiosk["teach"] == {"name": "pets", "kind": "pictures", "examples": "photos", "labels": ["cat", "bird"],
                              "counts": [2, 1], "frozen": False, "ready": True}

    http.post("/api/testing/faults", json={"device": device, "gone": False})
    wait_for(lambda: embedder(app)["backend"] == "simulated")
    back = give(http, "bird", photo("bird.bmp", flip=True))
    assert back.get_json()["backend"] == "simulated" and back.get_json()["total"] == 4
    tried = http.post("/api/teach/pets/classify", data=photo("bird.bmp"), headers={"Content-Type": "image/jpeg"})
    assert tried.get_json()["predictions"][0]["label"] == "bird"


def test_a_saved_model_runs_its_backbone_on_the_accelerator_and_what_is_this_offers_it(tpu_teaching):
    app, http = tpu_teaching
    for label, name in (("cat", "cat.bmp"), ("bird", "bird.bmp")):
        for flip in (False, True):
            assert give(http, label, photo(name, flip)).status_code == 201
    saved = http.post("/api/teach/pets/save")
    assert saved.status_code == 201 and saved.get_json()["status"] == "ready", saved.get_json()
    model = app.hub.registry.get("pets").to_json()
    assert model["task"] == "taught-classification" and model["backend"] == "simulated", model
    answer = http.post("/api/models/pets/classify", data=photo("cat.bmp"), headers={"Content-Type": "image/jpeg"})
    assert answer.get_json()["backend"] == "simulated" and answer.get_json()["predictions"][0]["label"] == "cat"
    offered = [m["name"] for m in app.classroom.activities() if m["name"] == "what-is-this"]
    assert offered and http.post("/api/classes/current/activity", json={"activity": "what-is-this"}).status_code == 200
    tablet = app.tablet()
    joined = call(tablet, "join", {"code": app.classroom.classes.current.code, "nickname": "Ola"})
    assert "pets" in [m["name"] for m in joined["activity"]["models"]]
    reply = call(tablet, "answer", {"model": "pets", "image": photo("bird.bmp")})
    assert reply["given"] == "bird" and reply["result"]["unsure_below"] == 0.5
