"""Move like me, the PE activity, through the class: the bundled MoveNet model found by its task, a
photo checked by the real model and pose_check.py, what the tablet, the dashboard and the kiosk
hear, and the teacher leading the class. The checker's own angles are tested in test_pose_check.py."""
from __future__ import annotations

import numpy as np
import pytest

from tests.conftest import BUNDLED, CORAL, call, copy_model, received
from tests.drawing import png


@pytest.fixture(scope="module")
def pe_models(tmp_path_factory):
    root = tmp_path_factory.mktemp("pe-models")
    for name in ("movenet", "digits"):
        copy_model(BUNDLED / name, root)
    return root


@pytest.fixture
def pe_class(pe_models, in_process):
    app = in_process(pe_models)
    http, dashboard = app.teacher()
    started = http.post("/api/classes", json={"activity": "move-like-me"})
    assert started.status_code == 201, started.get_json()
    tablet = app.tablet()
    joined = call(tablet, "join", {"code": started.get_json()["code"], "nickname": "Ada"})
    return app, http, dashboard, tablet, joined


def test_the_tablet_is_told_the_poses_and_the_model_found_by_its_task(pe_class):
    _, _, _, _, joined = pe_class
    described = joined["activity"]
    assert described["name"] == "move-like-me" and described["model"] == "movenet"
    names = [p["name"] for p in described["poses"]]
    assert len(names) >= 6 and {"t-pose", "star", "squat"} <= set(names)
    first = described["poses"][0]
    assert {"name", "title", "how", "figure"} <= set(first) and len(first["figure"]) == 17
    keypoints = {p["name"] for p in first["figure"]}
    assert all(a in keypoints and b in keypoints for a, b in described["skeleton"])
    assert joined["question"] is None  # the pupil chooses the pose; nothing is asked


def test_a_photo_with_no_one_in_it_asks_the_pupil_to_step_back(pe_class):
    """The real model on a blank picture: no body part is seen, so the hub asks for the whole body."""
    _, _, dashboard, tablet, _ = pe_class
    reply = call(tablet, "answer", {"pose": "star", "image": png(np.full((400, 300, 3), 200, np.uint8))})
    assert reply["correct"] is False and reply["given"] == "not all in the photo"
    verdict = reply["result"]["verdict"]
    assert not verdict["matched"] and verdict["missing"] and "step back" in verdict["advice"][0].lower()
    assert len(reply["result"]["keypoints"]) == 17 and reply["result"]["picture"] == {"width": 300, "height": 400}
    assert reply["managed"] == []
    (heard,) = received(dashboard, "answer", "/teacher")
    assert (heard["question"], heard["given"], heard["correct"], heard["mode"]) == (
        "Star", "not all in the photo", False, "photo")  # the pose and the verdict, never the photo
    assert heard["student"]["managed"] == []


def test_the_portrait_finds_a_face_and_misses_the_legs(pe_class):
    """grace_hopper.bmp is a head-and-shoulders portrait: the eyes and shoulders are found, and a
    squat cannot be judged without knees."""
    if not (CORAL / "grace_hopper.bmp").exists():
        pytest.skip(f"Coral's test pictures are not in {CORAL} (../shared is absent)")
    _, _, _, tablet, _ = pe_class
    reply = call(tablet, "answer", {"pose": "squat", "image": (CORAL / "grace_hopper.bmp").read_bytes()})
    verdict = reply["result"]["verdict"]
    seen = {k["name"] for k in reply["result"]["keypoints"] if k["score"] >= 0.3}
    assert {"left eye", "right eye", "left shoulder", "right shoulder"} <= seen
    assert not verdict["matched"] and {"left knee", "right knee"} & set(verdict["missing"])


def test_answers_that_cannot_be_judged_are_refused(pe_class):
    _, _, dashboard, tablet, _ = pe_class
    picture = png(np.zeros((64, 64, 3), np.uint8))
    for bad in ({"pose": "moonwalk", "image": picture}, {"image": picture}, {"pose": "star"},
                {"pose": ["star"], "image": picture}, "star"):
        reply = call(tablet, "answer", bad)
        assert reply["code"] == "bad_input", (bad, reply)
    assert received(dashboard, "answer", "/teacher") == []


def test_the_teacher_leads_and_every_tablet_and_the_kiosk_follow(pe_class):
    app, http, _, tablet, _ = pe_class
    choices = {a["name"]: a["lead_choices"] for a in http.get("/api/activities").get_json()}
    assert choices["times-tables"] == [] and {"value": "star", "title": "Star"} in choices["move-like-me"]
    led = http.post("/api/classes/current/lead", json={"pose": "star"})
    assert led.status_code == 200 and led.get_json()["lead"]["pose"] == "star"
    (described,) = received(tablet, "activity", "/class")
    assert described["lead"]["pose"] == "star" and described["lead"]["title"] == "Star"
    kiosk = app.http.get("/api/classes/current/public").get_json()["lead"]
    assert kiosk["title"] == "Star" and len(kiosk["figure"]) == 17 and kiosk["skeleton"]
    # a tablet joining now is told the lead too
    late = app.tablet()
    joined = call(late, "join", {"code": app.classroom.classes.current.code, "nickname": "Bo"})
    assert joined["activity"]["lead"]["pose"] == "star"
    for bad in ({"pose": "moonwalk"}, {}, "star", {"pose": 3}):
        refused = http.post("/api/classes/current/lead", json=bad)
        assert refused.status_code == 400 and refused.get_json()["code"] == "bad_input", bad
    stopped = http.post("/api/classes/current/lead", json={"pose": None})
    assert stopped.status_code == 200 and stopped.get_json()["lead"] is None
    (described,) = received(tablet, "activity", "/class")
    assert "lead" not in described
    # changing activity ends the lead; an activity with nothing to lead refuses one
    http.post("/api/classes/current/lead", json={"pose": "t-pose"})
    assert http.post("/api/classes/current/activity", json={"activity": "times-tables"}).status_code == 200
    assert app.http.get("/api/classes/current/public").get_json()["lead"] is None
    refused = http.post("/api/classes/current/lead", json={"pose": "star"})
    assert refused.status_code == 400 and "nothing to lead" in refused.get_json()["error"]


def test_only_the_teacher_can_lead(pe_class):
    app, _, _, _, _ = pe_class
    stranger = app.app.test_client()
    refused = stranger.post("/api/classes/current/lead", json={"pose": "star"})
    assert refused.status_code == 401 and refused.get_json()["code"] == "unauthorized"
    assert app.http.get("/api/classes/current/public").get_json()["lead"] is None


def test_without_a_pose_model_the_activity_cannot_be_chosen(in_process, tmp_path):
    models = tmp_path / "models"
    models.mkdir()
    copy_model(BUNDLED / "digits", models)
    http, _ = in_process(models).teacher()
    listed = {a["name"]: a for a in http.get("/api/activities").get_json()}
    assert listed["move-like-me"]["unavailable"] == "no body pose model is ready"
