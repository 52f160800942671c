"""Teaching the hub poses, end to end on the real MoveNet: examples made from a person's keypoints,
the model trained, saved and served as a `taught-classification` model whose backbone is the pose
model. The only person in ../shared/coral is a head-and-shoulders portrait (grace_hopper.bmp), so
the two "poses" here are the portrait upright and tilted; a whole-body photo is a PE lesson's
(the trainer's own pose tests use the stick figures of hub/activities/pose_check.py)."""
from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from tests.conftest import BUNDLED, copy_model, need_coral
from tests.drawing import png


@pytest.fixture(scope="module")
def pose_lesson(tmp_path_factory, in_process):
    root = tmp_path_factory.mktemp("teach-pose-models")
    copy_model(BUNDLED / "movenet", root)
    app = in_process(root)
    http, _ = app.teacher()
    assert http.post("/api/classes", json={"activity": "teach-the-hub"}).status_code == 201
    made = http.post("/api/teach", json={"name": "posture", "labels": ["upright", "tilted"], "kind": "poses"})
    assert made.status_code == 201, made.get_json()
    yield app, http, root
    app.end_class()


def portrait(degrees: float, scale: float = 1.0, shift: int = 0) -> bytes:
    picture = cv2.imread(str(need_coral() / "grace_hopper.bmp"))
    h, w = picture.shape[:2]
    turn = cv2.getRotationMatrix2D((w / 2, h / 2), degrees, scale)
    turn[0, 2] += shift
    return png(cv2.warpAffine(picture, turn, (w, h), borderMode=cv2.BORDER_REPLICATE))


def send(http, path: str, data: bytes):
    return http.post(path, data=data, headers={"Content-Type": "image/png"})


def test_a_pose_model_is_taught_saved_and_served_from_keypoints(pose_lesson):
    app, http, models = pose_lesson
    given = {"upright": 0, "tilted": 0}
    for label, base in (("upright", 0.0), ("tilted", 14.0)):
        for degrees, scale, shift in ((-2, 1.0, 0), (0, 0.97, 6), (2, 0.95, -6), (1, 1.0, 10)):
            reply = send(http, f"/api/teach/posture/examples?label={label}", portrait(base + degrees, scale, shift))
            if reply.status_code == 201:
                given[label] += 1
            else:  # a view where MoveNet loses a shoulder is refused, and says why
                assert reply.get_json()["code"] == "not_seen", reply.get_json()
    assert min(given.values()) >= 2, given
    status = http.post("/api/teach/posture/train").get_json()
    assert status["ready"] and status["counts"] == [given["upright"], given["tilted"]]
    assert status["accuracy"]["method"] == "leave-one-out"

    saved = http.post("/api/teach/posture/save")
    assert saved.status_code == 201 and saved.get_json()["status"] == "ready", saved.get_json()
    manifest = json.loads((models / "posture" / "manifest.json").read_text())
    assert manifest["head"]["features"] == "poses" and manifest["head"]["backbone_task"] == "pose-estimation"
    assert {v["file"] for v in manifest["variants"].values()} == {
        "movenet_single_pose_lightning_ptq.tflite", "movenet_single_pose_lightning_ptq_edgetpu.tflite"}
    answer = send(http, "/api/models/posture/classify", portrait(0.0))
    body = answer.get_json()
    assert answer.status_code == 200 and body["task"] == "taught-classification", body
    assert {p["label"] for p in body["predictions"]} == {"upright", "tilted"}
    assert abs(sum(p["score"] for p in body["predictions"]) - 1) < 1e-3
    tried = send(http, "/api/teach/posture/classify", portrait(0.0)).get_json()  # the same layer, two paths
    assert [p["label"] for p in tried["predictions"]] == [p["label"] for p in body["predictions"]]
    # a photo of no one, through the saved model: the same plain refusal as while teaching
    empty = send(http, "/api/models/posture/classify", png(np.full((400, 300, 3), 200, np.uint8)))
    assert empty.status_code == 400 and empty.get_json()["code"] == "not_seen"
