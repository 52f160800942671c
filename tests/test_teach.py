"""Teach the hub (issue 15), in process: the real registry, the bundled embedder and MoveNet, Flask's and
Flask-SocketIO's test clients. Five things taught from crops and flips of Coral's test pictures and
named on views they never saw, by the project and by the saved model; tablets giving examples and
trying over Socket.IO while the dashboard watches; the picture gone from memory once it is numbers;
poses as features (translation and scale do not count) and a trainer fed hand-built figures.
The real server end to end: tests/test_teach_server.py."""
from __future__ import annotations

import gc
import hashlib
import io
import json
import math
import zipfile

import cv2
import numpy as np
import pytest

from bench.coral import crop, light, rotate
from hub.activities.pose_check import POSES
from hub.errors import BadInput
from hub.tasks.pose import MOVENET_KEYPOINTS, Keypoint
from hub.teach import trainer
from hub.teach.features import MIN_SCORE, NO_BODY, pose_vector
from tests.conftest import BUNDLED, CORAL, call, copy_model, wait_for
from tests.drawing import png

THINGS = {"cat": "cat.bmp", "bird": "bird.bmp", "sunflower": "sunflower.bmp", "dragonfly": "dragonfly.bmp",
          "person": "grace_hopper.bmp"}


# ---- pictures and views of them ------------------------------------------------------------------
def photo(thing: str) -> np.ndarray:
    path = CORAL / THINGS[thing]
    if not path.exists():
        pytest.skip(f"Coral's test pictures are not in {CORAL} (../shared is absent)")
    return cv2.imread(str(path))


def scaled(p: np.ndarray, factor: float) -> np.ndarray:
    return cv2.resize(p, None, fx=factor, fy=factor, interpolation=cv2.INTER_AREA)


# The examples a class gives: the whole photo, its mirror, two corner crops, a flipped crop.
EXAMPLE_VIEWS = {
    "whole": lambda p: p,
    "flipped": lambda p: cv2.flip(p, 1),
    "crop 80% top left": lambda p: crop(p, 0.8, 0, 0),
    "crop 80% bottom right": lambda p: crop(p, 0.8, 1, 1),
    "flipped crop 85% centre": lambda p: cv2.flip(crop(p, 0.85), 1),
}
# Views no example used: other crops (closer, elsewhere), and a crop tilted, smaller or darker.
HELD_OUT_VIEWS = {
    "crop 65% centre": lambda p: crop(p, 0.65),
    "crop 70% top right": lambda p: crop(p, 0.7, 1, 0),
    "crop 75% bottom left": lambda p: crop(p, 0.75, 0, 1),
    "crop 75% tilted 8 degrees": lambda p: rotate(crop(p, 0.75, 0.3, 0.6), -8),
    "crop 90% at half size": lambda p: scaled(crop(p, 0.9, 0.6, 0.4), 0.5),
    "crop 80% darker": lambda p: light(crop(p, 0.8, 0.5, 0.2), 0.7),
}


def bmp(p: np.ndarray) -> bytes:
    ok, data = cv2.imencode(".bmp", p)
    assert ok
    return data.tobytes()


# ---- the hub ---------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def teach_app(teach_models, in_process):
    return in_process(teach_models, classroom={"answer_burst": 100, "answers_per_s": 100})


class Heard:
    """Every event a Flask-SocketIO test client has received so far, kept (get_received empties its queue)."""

    def __init__(self, client, namespace: str) -> None:
        self.client, self.namespace, self.events = client, namespace, []

    def __call__(self, name: str) -> list:
        self.events += self.client.get_received(self.namespace)
        return [e["args"][0] if e["args"] else None for e in self.events if e["name"] == name]


@pytest.fixture
def lesson(teach_app):
    """A class running "Teach the hub": (app, the teacher's HTTP client, what the dashboard heard)."""
    teach_app.end_class()
    http, dashboard = teach_app.teacher()
    started = http.post("/api/classes", json={"activity": "teach-the-hub"})
    assert started.status_code == 201, started.get_json()
    yield teach_app, http, Heard(dashboard, "/teacher")
    teach_app.end_class()


def add(http, project: str, label: str, picture: bytes, content_type: str = "image/png"):
    return http.post(f"/api/teach/{project}/examples?label={label}", data=picture, content_type=content_type)


def no_bytes_in(value, path: str = "") -> list[str]:
    """Where bytes (or a long string that could hide them) sit in a JSON-like value."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        return [path]
    if isinstance(value, str):
        return [path] if len(value) > 500 else []
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in no_bytes_in(v, f"{path}.{k}")]
    if isinstance(value, (list, tuple)):
        return [p for i, v in enumerate(value) for p in no_bytes_in(v, f"{path}[{i}]")]
    return []


# ---- 1. five things, taught through REST -----------------------------------------------------------
def test_five_things_taught_from_crops_and_flips_name_views_they_never_saw(lesson):
    app, http, _ = lesson
    labels = list(THINGS)
    pictures = {thing: photo(thing) for thing in labels}
    created = http.post("/api/teach", json={"name": "coral-five", "labels": labels})
    assert created.status_code == 201, created.get_json()
    assert (created.get_json()["backbone"], created.get_json()["ready"]) == ("embedder", False)
    for thing, picture in pictures.items():
        for view, make in EXAMPLE_VIEWS.items():
            given = add(http, "coral-five", thing, png(make(picture)))
            assert given.status_code == 201, (thing, view, given.get_json())
    status = http.post("/api/teach/coral-five/train").get_json()
    per_thing = len(EXAMPLE_VIEWS)
    assert status["counts"] == [per_thing] * 5 and status["total"] == status["trained_on"] == 5 * per_thing
    assert status["ready"] is True
    assert status["by_pupil"] == [{"id": "@teacher", "nickname": "the teacher", "counts": [per_thing] * 5,
                                   "total": 5 * per_thing}]
    accuracy = status["accuracy"]
    assert accuracy["method"] == "leave-one-out" and accuracy["tested"] == 5 * per_thing
    assert sum(map(sum, accuracy["confusion"])) == accuracy["tested"]
    assert accuracy["value"] == pytest.approx(np.trace(accuracy["confusion"]) / accuracy["tested"])
    assert accuracy["value"] >= 0.9, accuracy

    held_out = {(thing, view): png(make(pictures[thing])) for thing in labels for view, make in HELD_OUT_VIEWS.items()}
    by_project = {}
    for (thing, view), picture in held_out.items():
        reply = http.post("/api/teach/coral-five/classify", data=picture, content_type="image/png")
        assert reply.status_code == 200, reply.get_json()
        body = reply.get_json()
        by_project[(thing, view)] = body["predictions"]
        assert body["predictions"][0]["label"] == thing, (thing, view, body["predictions"])
        scores = [p["score"] for p in body["predictions"]]
        assert scores == sorted(scores, reverse=True) and len(scores) == 3 and 0 < sum(scores) <= 1.000001
        assert body["sure"] == (scores[0] >= body["unsure_below"])

    saved = http.post("/api/teach/coral-five/save")
    assert saved.status_code == 201, saved.get_json()
    assert saved.get_json()["model"] == "coral-five" and saved.get_json()["examples"] == 5 * per_thing
    wait_for(lambda: app.hub.registry.get("coral-five").status == "ready", 20)
    for (thing, view), picture in held_out.items():  # the saved model: hub/tasks/taught.py, not the project
        reply = app.http.post("/api/models/coral-five/classify", data=picture, content_type="image/png")
        assert reply.status_code == 200, reply.get_json()
        body = reply.get_json()
        assert body["task"] == "taught-classification"
        assert body["predictions"][0]["label"] == thing, (thing, view, body["predictions"])
        assert [p["label"] for p in body["predictions"]] == [p["label"] for p in by_project[(thing, view)]]
        assert [p["score"] for p in body["predictions"]] == pytest.approx(
            [p["score"] for p in by_project[(thing, view)]], abs=1e-5)
    top_k = app.http.post("/api/models/coral-five/classify?top_k=5", data=held_out[("cat", "crop 65% centre")],
                          content_type="image/png").get_json()["predictions"]
    assert sorted(p["label"] for p in top_k) == sorted(labels)
    listed = {m["name"]: m for m in app.http.get("/api/models").get_json()}
    assert listed["coral-five"]["task"] == "taught-classification"


def test_names_and_things_to_learn_are_checked(lesson):
    _, http, _ = lesson
    for body in ({"name": "Leaves", "labels": ["a", "b"]}, {"name": "-leaves", "labels": ["a", "b"]},
                 {"name": "x" * 33, "labels": ["a", "b"]}, {"name": "pine cones", "labels": ["a", "b"]},
                 {"name": "../up", "labels": ["a", "b"]}, {"name": 7, "labels": ["a", "b"]},
                 {"labels": ["a", "b"]}, {"name": "ok", "labels": ["leaf"]},
                 {"name": "ok", "labels": [f"thing {i}" for i in range(11)]}, {"name": "ok", "labels": "leaf, stone"},
                 {"name": "ok", "labels": ["leaf", " LEAF "]}, {"name": "ok", "labels": ["leaf", ""]},
                 {"name": "ok", "labels": ["leaf", 3]}, {"name": "ok", "labels": ["leaf", "x" * 25]},
                 {"name": "ok", "labels": ["leaf", "stone"], "kind": "sounds"}):
        refused = http.post("/api/teach", json=body)
        assert refused.status_code == 400 and refused.get_json()["code"] == "bad_input", (body, refused.get_json())
    assert http.get("/api/teach").get_json() == {"projects": [], "current": None}
    made = http.post("/api/teach", json={"name": "leaves-2", "labels": ["  pine   cone ", "oak leaf", "stone"]})
    assert made.status_code == 201 and made.get_json()["labels"] == ["pine cone", "oak leaf", "stone"]
    # a label is matched as the tablet's button sends it, whatever its case and spaces
    given = add(http, "leaves-2", "Pine%20Cone", png(photo("sunflower")))
    assert given.status_code == 201 and given.get_json()["label"] == "pine cone"


# ---- 3. tablets over Socket.IO, the dashboard watching ---------------------------------------------
def test_tablets_give_examples_and_try_while_the_dashboard_watches(lesson):
    app, http, dashboard = lesson
    code = app.classroom.classes.current.code
    tablets = [app.tablet() for _ in range(3)]
    heard = [Heard(t, "/class") for t in tablets]
    joined = [call(t, "join", {"code": code, "nickname": n}) for t, n in zip(tablets, ("Ada", "Bo", "Cy"))]
    assert all(j["ok"] for j in joined), joined
    assert joined[0]["activity"]["name"] == "teach-the-hub" and joined[0]["activity"]["project"] is None
    cat, bird = photo("cat"), photo("bird")
    early = call(tablets[0], "answer", {"label": "cat", "image": png(cat)})
    assert early["code"] == "nothing_to_teach" and early["error"], early

    created = http.post("/api/teach", json={"name": "pets", "labels": ["cat", "bird"]})
    assert created.status_code == 201
    for h in heard:  # every tablet is told what to teach, without asking
        told = wait_for(lambda h=h: [e for e in h("teach") if e["project"] and e["project"]["name"] == "pets"])
        assert told[-1]["project"]["labels"] == ["cat", "bird"] and told[-1]["project"]["examples"] == "photos"
    late = app.tablet()
    rejoined = call(late, "join", {"code": code, "nickname": "Di"})
    assert rejoined["activity"]["project"]["name"] == "pets"

    examples = {0: [("cat", cat), ("cat", cv2.flip(cat, 1))], 1: [("bird", bird), ("bird", cv2.flip(bird, 1))],
                2: [("cat", crop(cat, 0.8, 0, 0)), ("bird", crop(bird, 0.8, 1, 1))]}
    for i, given in examples.items():
        for n, (label, picture) in enumerate(given, 1):
            reply = call(tablets[i], "answer", {"label": label.upper(), "image": png(picture), "answer_id": f"{i}-{n}"})
            assert reply["ok"] and reply["given"] == label and reply["examples"] == n and reply["tries"] == 0, reply
            assert reply["result"]["taught"] is True and reply["result"]["label"] == label
    for bad, code in (({"label": "dog", "image": png(cat)}, "bad_input"), ({"label": "cat"}, "bad_input"),
                      ({"label": "cat", "image": "not bytes"}, "bad_input"), (["cat"], "bad_input"),
                      ({"label": "cat", "image": b"this is not a picture"}, "unsupported_media_type")):
        refused = call(tablets[0], "answer", bad)
        assert refused.get("code") == code and refused.get("error"), (bad, refused)

    status = wait_for(lambda: (s := http.get("/api/teach/pets").get_json())["ready"] and s["trained_on"] == 6 and s)
    assert status["counts"] == [3, 3]
    assert {p["nickname"]: p["counts"] for p in status["by_pupil"]} == {"Ada": [2, 0], "Bo": [0, 2], "Cy": [1, 1]}
    tried = call(tablets[1], "answer", {"try": True, "image": png(crop(cat, 0.7, 1, 0))})
    assert tried["ok"] and tried["tries"] == 1 and tried["examples"] == 2
    guess = tried["result"]["predictions"]
    assert guess[0]["label"] == "cat" and tried["result"]["sure"] == (guess[0]["score"] >= 0.5)
    assert tried["given"] == ("cat" if tried["result"]["sure"] else "not sure (maybe cat)")
    ready = wait_for(lambda: [e for e in heard[2]("teach") if e["project"] and e["project"]["ready"]])
    assert ready[-1]["project"]["counts"] == [3, 3]

    def measured():
        done = [e for e in dashboard("teach") if e["project"] == "pets" and e["status"]["accuracy"]
                and e["status"]["total"] == 6]
        return done[-1]["status"] if done else None

    seen = wait_for(measured)
    assert {p["nickname"]: p["total"] for p in seen["by_pupil"]} == {"Ada": 2, "Bo": 2, "Cy": 2}
    assert seen["accuracy"]["method"] == "leave-one-out" and seen["accuracy"]["tested"] == 6
    assert isinstance(seen["accuracy"]["advice"], str) and seen["accuracy"]["advice"].endswith(("!", "."))
    answers = dashboard("answer")
    shown = [a for a in answers if a["question"] == "showed the hub"]
    assert sorted((a["nickname"], a["given"]) for a in shown) == [
        ("Ada", "cat"), ("Ada", "cat"), ("Bo", "bird"), ("Bo", "bird"), ("Cy", "bird"), ("Cy", "cat")]
    assert [a["given"] for a in answers if a["question"] == "what is this? (trying the hub)"] == [tried["given"]]
    assert all(a["mode"] == "photo" for a in answers)
    assert no_bytes_in(dashboard.events) == [], "the dashboard was sent picture bytes"
    assert no_bytes_in([e for h in heard for e in h.events]) == []
    snapshot = app.app.extensions["live"].snapshot()
    assert snapshot["teach"]["name"] == "pets" and snapshot["teach"]["total"] == 6

    # the teacher freezes it: the tablets are told, examples are refused, trying goes on
    assert http.post("/api/teach/pets/freeze", json={"frozen": True}).get_json()["frozen"] is True
    wait_for(lambda: [e for e in heard[0]("teach") if e["project"] and e["project"]["frozen"]])
    frozen = call(tablets[0], "answer", {"label": "cat", "image": png(cat)})
    assert frozen["code"] == "frozen", frozen
    assert call(tablets[0], "answer", {"try": True, "image": png(bird)})["ok"]


def test_choosing_the_activity_in_a_running_class_and_deleting_the_project(lesson):
    app, http, dashboard = lesson
    assert http.post("/api/classes/current/activity", json={"activity": "times-tables"}).status_code == 200
    tablet = app.tablet()
    heard = Heard(tablet, "/class")
    call(tablet, "join", {"code": app.classroom.classes.current.code, "nickname": "Eve"})
    http.post("/api/teach", json={"name": "first", "labels": ["cat", "bird"]})
    http.post("/api/teach", json={"name": "second", "labels": ["sunflower", "dragonfly"]})
    assert http.get("/api/teach").get_json()["current"] == "second"
    switched = http.post("/api/classes/current/activity", json={"activity": "teach-the-hub"})
    assert switched.status_code == 200, switched.get_json()
    described = wait_for(lambda: heard("activity"))[-1]
    assert described["name"] == "teach-the-hub" and described["project"]["name"] == "second"
    assert http.post("/api/teach/first/current").status_code == 200
    listed = http.get("/api/teach").get_json()
    assert listed["current"] == "first" and [p["current"] for p in listed["projects"]] == [True, False]
    deleted = http.delete("/api/teach/first")
    assert deleted.status_code == 200 and deleted.get_json() == {"deleted": "first"}
    assert http.get("/api/teach/first").status_code == 404
    assert wait_for(lambda: [e for e in dashboard("teach") if e.get("deleted")])[-1]["project"] == "first"
    assert http.get("/api/teach").get_json()["current"] == "second"  # the tablets show what is left
    assert wait_for(lambda: [e for e in heard("teach") if e["project"] and e["project"]["name"] == "second"])


# ---- 4. the picture is not kept in memory after its embedding ---------------------------------------
class Fingerprint:
    """What identifies a picture without holding it: its length, hash, a few 1 KB slices, and its
    decoded pixels' shape and hash (both colour orders)."""

    def __init__(self, data: bytes, pixels: np.ndarray) -> None:
        self.size, self.sha = len(data), hashlib.sha256(data).hexdigest()
        self.slices = [data[i:i + 1024] for i in range(len(data) // 4, len(data) - 1024, len(data) // 4)][:3]
        self.shape = pixels.shape
        self.pixel_shas = {hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()
                           for a in (pixels, pixels[..., ::-1])}

    def ids(self) -> set[int]:
        return {id(s) for s in self.slices}


def _reachable():
    """Every object reachable from what the garbage collector tracks (untracked containers,
    bytes and arrays included)."""
    seen: set[int] = set()
    stack = gc.get_objects()
    while stack:
        obj = stack.pop()
        if id(obj) in seen:
            continue
        seen.add(id(obj))
        yield obj
        if isinstance(obj, np.ndarray) and obj.base is not None:
            stack.append(obj.base)
        stack.extend(gc.get_referents(obj))


def _holders(fingerprints: list[Fingerprint]) -> list[str]:
    ours = set().union(*(f.ids() for f in fingerprints))
    found = []
    for obj in _reachable():
        if id(obj) in ours:
            continue
        if isinstance(obj, (bytes, bytearray, memoryview)) or (isinstance(obj, io.BytesIO) and not obj.closed):
            try:
                data = bytes(obj) if not isinstance(obj, io.BytesIO) else obj.getvalue()
            except (ValueError, TypeError):
                continue
            if len(data) < 1024:
                continue
            for f in fingerprints:
                whole = len(data) == f.size and hashlib.sha256(data).hexdigest() == f.sha
                if whole or any(s in data for s in f.slices):
                    found.append(f"{type(obj).__name__} of {len(data)} bytes holding the picture")
        elif isinstance(obj, np.ndarray):
            for f in fingerprints:
                if obj.shape[:2] in (f.shape[:2], f.shape[1::-1]):
                    found.append(f"an array {obj.shape} {obj.dtype}: the picture's size")
                elif obj.nbytes == math.prod(f.shape) and obj.dtype == np.uint8 and \
                        hashlib.sha256(np.ascontiguousarray(obj).tobytes()).hexdigest() in f.pixel_shas:
                    found.append(f"an array {obj.shape} holding the picture's pixels")
    return found


def _unique_picture(seed: int, thing: str) -> tuple[bytes, Fingerprint]:
    """A photo at a size nothing else here uses, with noise: no other object can hold its bytes or pixels."""
    rng = np.random.default_rng(seed)
    pixels = cv2.resize(photo(thing), (251 + seed, 333 + seed), interpolation=cv2.INTER_AREA)
    pixels = np.clip(pixels.astype(np.int16) + rng.integers(-12, 13, pixels.shape), 0, 255).astype(np.uint8)
    data = png(pixels) if seed % 2 else bmp(pixels)
    return data, Fingerprint(data, pixels)


def test_the_picture_is_not_kept_in_memory_after_its_embedding(lesson):
    app, http, _ = lesson
    http.post("/api/teach", json={"name": "memory", "labels": ["cat", "bird"]})
    tablet = app.tablet()
    call(tablet, "join", {"code": app.classroom.classes.current.code, "nickname": "Fay"})
    fingerprints = []
    for seed, (thing, how) in enumerate([("cat", "rest"), ("bird", "rest"), ("cat", "socket"), ("bird", "socket")]):
        data, fingerprint = _unique_picture(seed + 1, thing)
        fingerprints.append(fingerprint)
        if how == "rest":
            reply = add(http, "memory", thing, data, "image/png" if (seed + 1) % 2 else "image/bmp")
            assert reply.status_code == 201, reply.get_json()
            del reply
        else:
            assert call(tablet, "answer", {"label": thing, "image": data})["ok"]
        del data
    wait_for(lambda: http.get("/api/teach/memory").get_json()["ready"])
    data, fingerprint = _unique_picture(7, "cat")  # tried, not taught
    fingerprints.append(fingerprint)
    assert call(tablet, "answer", {"try": True, "image": data})["result"]["predictions"][0]["label"] == "cat"
    data, fingerprint = _unique_picture(9, "bird")
    fingerprints.append(fingerprint)
    tried = http.post("/api/teach/memory/classify", data=data, content_type="image/png")
    assert tried.status_code == 200 and tried.get_json()["predictions"][0]["label"] == "bird"
    del data, tried
    gc.collect()
    assert _holders(fingerprints) == []
    # the check finds a picture that is kept: a bytes, a slice of it inside a bigger buffer, the pixels
    data, fingerprint = _unique_picture(11, "sunflower")
    middle = len(data) // 2
    kept = [data, b"header" + data[middle - 100:middle + 1500], cv2.imdecode(np.frombuffer(data, np.uint8), 1)]
    del data
    assert sorted(_holders([fingerprint])) == [
        "an array (344, 262, 3) uint8: the picture's size", "bytes of 1606 bytes holding the picture",
        f"bytes of {fingerprint.size} bytes holding the picture"]
    del kept


# ---- 6. poses -------------------------------------------------------------------------------------
def figure_keypoints(figure: dict, score: float = 0.9) -> list[Keypoint]:
    return [Keypoint(n, figure[n][0], figure[n][1], score) for n in MOVENET_KEYPOINTS]


def moved(keypoints: list[Keypoint], dx: float, dy: float, factor: float, size: tuple[int, int],
          to: tuple[int, int]) -> list[Keypoint]:
    """The same body `factor` times bigger and shifted by (dx, dy) pixels, in a picture of size `to`."""
    (w, h), (tw, th) = size, to
    return [Keypoint(k.name, (k.x * w * factor + dx) / tw, (k.y * h * factor + dy) / th, k.score) for k in keypoints]


def test_pose_features_do_not_depend_on_where_the_pupil_stands_or_how_far():
    size = (300, 400)
    for name, pose in POSES.items():
        points = figure_keypoints(pose.figure)
        vector = pose_vector(points, size)
        assert vector.shape == (34,) and vector.dtype == np.float32 and np.isfinite(vector).all()
        for dx, dy, factor, to in ((40, -25, 1.0, size), (-60, 10, 0.5, size), (120, 300, 2.5, (1280, 1200)),
                                   (0, 0, 1.0, (600, 800))):
            assert pose_vector(moved(points, dx, dy, factor, size, to), to) == pytest.approx(vector, abs=1e-4), name
        # centred between the hips, a torso long: the hips' middle is 0, the shoulders' a length away
        xy = vector.reshape(17, 2)
        hips = (xy[MOVENET_KEYPOINTS.index("left hip")] + xy[MOVENET_KEYPOINTS.index("right hip")]) / 2
        shoulders = (xy[MOVENET_KEYPOINTS.index("left shoulder")] + xy[MOVENET_KEYPOINTS.index("right shoulder")]) / 2
        assert hips == pytest.approx([0, 0], abs=1e-6)
        assert np.linalg.norm(shoulders - hips) == pytest.approx(1, abs=1e-5)
    star = figure_keypoints(POSES["star"].figure)
    # pixels count, not fractions: the same fractions on a wider picture are a different shape
    assert not np.allclose(pose_vector(star, (300, 400)), pose_vector(star, (600, 400)), atol=1e-3)
    # a keypoint not seen is 0; too few seen, or no shoulders, is no body
    unseen = [Keypoint(k.name, k.x, k.y, MIN_SCORE / 2) if k.name == "left wrist" else k for k in star]
    assert pose_vector(unseen, size).reshape(17, 2)[MOVENET_KEYPOINTS.index("left wrist")].tolist() == [0, 0]
    nan = [Keypoint(k.name, math.nan, k.y, k.score) if k.name == "right wrist" else k for k in star]
    assert pose_vector(nan, size).reshape(17, 2)[MOVENET_KEYPOINTS.index("right wrist")].tolist() == [0, 0]
    faint = [Keypoint(k.name, k.x, k.y, 0.9 if i < 5 else 0.1) for i, k in enumerate(star)]
    headless = [Keypoint(k.name, k.x, k.y, 0.1 if "shoulder" in k.name else 0.9) for k in star]
    squashed = [Keypoint(k.name, 0.5, 0.5, k.score) for k in star]
    for body in (faint, headless, squashed, []):
        with pytest.raises(BadInput, match="step back"):
            pose_vector(body, size)


def jittered(figure: dict, rng: np.random.Generator, size=(300, 400)) -> tuple[list[Keypoint], tuple[int, int]]:
    """The figure as a camera could see it: each keypoint a few pixels off, the body moved and scaled."""
    w, h = size
    factor, dx, dy = rng.uniform(0.6, 1.4), rng.uniform(-80, 80), rng.uniform(-60, 60)
    points = [Keypoint(n, (x * w + rng.normal(0, 4)) / w, (y * h + rng.normal(0, 4)) / h, float(rng.uniform(0.5, 1)))
              for n, (x, y) in figure.items()]
    return moved(points, dx, dy, factor, size, (640, 480)), (640, 480)


def test_a_pose_model_is_trained_from_keypoints_and_names_new_ones():
    rng = np.random.default_rng(15)
    names = list(POSES)
    features, labels, held, held_labels = [], [], [], []
    for label, name in enumerate(names):
        for n in range(14):
            points, size = jittered(dict(POSES[name].figure), rng)
            (features if n < 6 else held).append(pose_vector(points, size))
            (labels if n < 6 else held_labels).append(label)
    head = trainer.train(np.stack(features), np.array(labels), len(names))
    guesses = head.scores(np.stack(held)).argmax(axis=1)
    assert (guesses == np.array(held_labels)).mean() >= 0.95, [
        (names[t], names[g]) for t, g in zip(held_labels, guesses) if t != g]
    evaluation = trainer.evaluate(np.stack(features), np.array(labels), len(names))
    assert evaluation.method == "leave-one-out" and evaluation.tested == len(labels) and evaluation.accuracy >= 0.9
    again = trainer.train(np.stack(features), np.array(labels), len(names))  # the same examples, the same layer
    assert again.weights.tobytes() == head.weights.tobytes() and again.bias.tobytes() == head.bias.tobytes()


def test_a_pose_project_refuses_a_photo_with_no_one_in_it(lesson):
    app, http, _ = lesson
    made = http.post("/api/teach", json={"name": "pe-moves", "labels": ["star", "squat"], "kind": "poses"})
    assert made.status_code == 201, made.get_json()
    assert (made.get_json()["backbone"], made.get_json()["examples"], made.get_json()["kind"]) == (
        "movenet", "poses", "poses")
    empty = add(http, "pe-moves", "star", png(np.full((400, 300, 3), 200, np.uint8)))
    assert empty.status_code == 400 and empty.get_json() == {"error": NO_BODY, "code": "not_seen"}
    flower = add(http, "pe-moves", "star", png(photo("sunflower")))  # a photo of no one
    assert flower.status_code == 400 and "step back" in flower.get_json()["error"]
    assert http.get("/api/teach/pe-moves").get_json()["total"] == 0
    tablet = app.tablet()
    call(tablet, "join", {"code": app.classroom.classes.current.code, "nickname": "Gus"})
    refused = call(tablet, "answer", {"label": "star", "image": png(np.zeros((300, 300, 3), np.uint8))})
    assert refused["code"] == "not_seen" and "step back" in refused["error"]
    untrained = http.post("/api/teach/pe-moves/classify", data=png(photo("cat")), content_type="image/png")
    assert untrained.status_code == 409 and untrained.get_json()["code"] == "not_trained"


# ---- what the hub needs, and what a saved model carries ----------------------------------------------------
def test_without_a_backbone_nothing_can_be_taught(in_process, tmp_path):
    models = tmp_path / "models"
    models.mkdir()
    copy_model(BUNDLED / "embedder", models)  # photos, but no pose model
    app = in_process(models)
    http, _ = app.teacher()
    http.post("/api/classes", json={"activity": "teach-the-hub"})
    refused = http.post("/api/teach", json={"name": "moves", "labels": ["star", "squat"], "kind": "poses"})
    assert refused.status_code == 409 and refused.get_json()["code"] == "no_backbone", refused.get_json()
    assert "poses" in refused.get_json()["error"]
    assert http.post("/api/teach", json={"name": "things", "labels": ["a", "b"]}).status_code == 201
    app.end_class()
    bare = tmp_path / "bare"
    bare.mkdir()
    copy_model(BUNDLED / "digits", bare)  # neither
    http, _ = in_process(bare).teacher()
    listed = {a["name"]: a for a in http.get("/api/activities").get_json()}
    assert "learn from photos or poses" in listed["teach-the-hub"]["unavailable"]
    http.post("/api/classes")
    refused = http.post("/api/teach", json={"name": "things", "labels": ["a", "b"]})
    assert refused.status_code == 409 and refused.get_json()["code"] == "no_backbone"


def _saved_pair(app, http, name: str) -> None:
    assert http.post("/api/teach", json={"name": name, "labels": ["cat", "bird"]}).status_code == 201
    for thing in ("cat", "bird"):
        assert add(http, name, thing, png(photo(thing))).status_code == 201
    http.post(f"/api/teach/{name}/train")
    assert http.post(f"/api/teach/{name}/save").status_code == 201


def test_reopening_with_labels_that_are_not_a_list_is_refused(lesson):
    app, http, _ = lesson
    _saved_pair(app, http, "pair-labels")
    app.end_class()
    http.post("/api/classes", json={"activity": "teach-the-hub"})
    for labels in ("ox", {"leaf": 1}):
        reopened = http.post("/api/teach/pair-labels/reopen", json={"labels": labels})
        if reopened.status_code == 201:
            http.delete("/api/teach/pair-labels")
        assert reopened.status_code == 400 and reopened.get_json()["code"] == "bad_input", (labels, reopened.get_json())


def test_a_saved_model_carries_its_backbones_licence(lesson, teach_models):
    app, http, _ = lesson
    _saved_pair(app, http, "pair-licence")
    folder = teach_models / "pair-licence"
    manifest = json.loads((folder / "manifest.json").read_text())
    named = [word for word in manifest["licence"].split() if word.startswith("LICENSE")]
    assert named and all((folder / word).is_file() for word in named), (manifest["licence"], sorted(
        p.name for p in folder.iterdir()))
    zipped = zipfile.ZipFile(io.BytesIO(http.get("/api/teach/pair-licence/export").data))
    assert all(f"pair-licence/{word}" in zipped.namelist() for word in named)
