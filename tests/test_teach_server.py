"""Teach the hub (issue 15) on the real server: `classroom-hub serve` on 127.0.0.1, real HTTP with
requests, real python-socketio tablets and dashboard. Every /api/teach route and its refusals; pupils
teaching with their join token; the saved model exported as a zip that a second hub serves with the
same answers, reopened in a later lesson; no picture (nor a 1 KB slice of one, nor its pixels) in any
file the hub writes; the class's examples gone when it ends; a restart mid-lesson keeping the lesson.
The in-process tests (Socket.IO detail, memory, poses): tests/test_teach.py."""
from __future__ import annotations

import hashlib
import http.client
import io
import json
import sqlite3
import threading
import zipfile
from pathlib import Path

import cv2
import numpy as np
import pytest
import requests
import socketio

from hub.teach.features import NO_BODY
from tests.conftest import BUNDLED, TEACHER_PIN, copy_model, wait_for
from tests.drawing import png
from tests.test_teach import EXAMPLE_VIEWS, HELD_OUT_VIEWS, bmp, no_bytes_in, photo

LIMITS = {"max_examples_per_thing": 4, "max_examples_per_pupil": 6}  # small, to reach them cheaply


# ---- the hub and the people using it ----------------------------------------------------------------
@pytest.fixture(scope="module")
def hub(teach_models, module_hubs):
    return module_hubs(teach_models, teach=LIMITS)


class Teacher:
    """The teacher's script: logged in with the PIN, the login sent as Authorization: Bearer."""

    def __init__(self, hub) -> None:
        self.url = hub.url
        login = requests.post(hub.url + "/api/teacher/login", json={"pin": TEACHER_PIN}, timeout=10)
        assert login.status_code == 200, login.text
        self.token = login.json()["token"]
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {self.token}"

    def get(self, path: str, **kw) -> requests.Response:
        return self.session.get(self.url + path, timeout=30, **kw)

    def post(self, path: str, **kw) -> requests.Response:
        return self.session.post(self.url + path, timeout=30, **kw)

    def delete(self, path: str, **kw) -> requests.Response:
        return self.session.delete(self.url + path, timeout=30, **kw)

    def new_class(self) -> str:
        self.post("/api/classes/current/end")  # none left by an earlier test
        started = self.post("/api/classes", json={"activity": "teach-the-hub"})
        assert started.status_code == 201, started.text
        return started.json()["code"]

    def status(self, project: str) -> dict:
        got = self.get(f"/api/teach/{project}")
        assert got.status_code == 200, got.text
        return got.json()

    def trained(self, project: str, total: int | None = None) -> dict:
        """The status once the background trainer has caught up with every example (and measured)."""
        def caught_up():
            s = self.status(project)
            done = s["ready"] and s["trained_on"] == s["total"] and s["accuracy"] is not None
            return s if done and (total is None or s["total"] == total) else None

        return wait_for(caught_up, 20)


def example(who, project: str, label: str, picture: bytes, content_type: str = "image/png",
            close: bool = False) -> requests.Response:
    """An example given over REST by the teacher (a Teacher) or a pupil (a Tablet, with its token).
    `close`: on a connection of its own, for a refusal that comes before the body is read (gunicorn
    then drops a kept-alive connection: see test_a_refusal_before_the_body_keeps_the_connection_usable)."""
    return who.post(f"/api/teach/{project}/examples", params={"label": label}, data=picture,
                    headers={"Content-Type": content_type, **({"Connection": "close"} if close else {})})


class Listener:
    """A python-socketio client on one namespace of the hub, every event it hears kept."""

    def __init__(self, hub, namespace: str, **connect) -> None:
        self.url, self.namespace, self.events, self._lock = hub.url, namespace, [], threading.Lock()
        self.client = socketio.Client(reconnection=False)
        self.client.on("*", self._heard, namespace=namespace)
        self.client.connect(hub.url, namespaces=[namespace], transports=["websocket"], wait_timeout=10, **connect)

    def _heard(self, event, data=None):
        with self._lock:
            self.events.append((event, data))

    def heard(self, name: str) -> list:
        with self._lock:
            return [d for e, d in self.events if e == name]

    def close(self) -> None:
        if self.client.connected:
            self.client.disconnect()


class Tablet(Listener):
    """A pupil's tablet on /class; REST with the join token."""

    def __init__(self, hub, code: str, nickname: str) -> None:
        super().__init__(hub, "/class")
        self.joined = self.call("join", {"code": code, "nickname": nickname})
        assert self.joined.get("ok"), self.joined
        self.token, self.id = self.joined["token"], self.joined["student_id"]

    def call(self, event: str, data=None) -> dict:
        return self.client.call(event, data, namespace=self.namespace, timeout=30)

    def post(self, path: str, headers: dict | None = None, **kw) -> requests.Response:
        return requests.post(self.url + path, headers={"Authorization": f"Bearer {self.token}", **(headers or {})},
                             timeout=30, **kw)


class Dashboard(Listener):
    """The teacher's dashboard on /teacher."""

    def __init__(self, hub, token: str) -> None:
        super().__init__(hub, "/teacher", auth={"token": token})


@pytest.fixture
def people():
    """Tablets and dashboards made by a test, disconnected after it."""
    made = []
    yield made
    for one in made:
        one.close()


def views(thing: str, which: dict) -> dict[str, bytes]:
    picture = photo(thing)
    return {view: png(make(picture)) for view, make in which.items()}


def error(response: requests.Response) -> tuple[int, str]:
    body = response.json()
    assert isinstance(body.get("error"), str) and body["error"], body
    return response.status_code, body["code"]


def database(hub) -> sqlite3.Connection:
    """The class database, opened read-only beside the running hub."""
    return sqlite3.connect(f"file:{hub.data_dir / 'classroom.sqlite3'}?mode=ro", uri=True)


def teach_rows(hub) -> tuple[int, int]:
    with database(hub) as db:
        return (db.execute("SELECT COUNT(*) FROM teach_project").fetchone()[0],
                db.execute("SELECT COUNT(*) FROM teach_example").fetchone()[0])


# ---- 3. tablets over Socket.IO, pupils over REST with their token, the dashboard watching --------------
def test_pupils_teach_from_tablets_and_with_their_token(hub, people):
    teacher = Teacher(hub)
    code = teacher.new_class()
    dashboard = Dashboard(hub, teacher.token)
    ada, bo = Tablet(hub, code, "Ada"), Tablet(hub, code, "Bo")
    people += [dashboard, ada, bo]
    assert ada.joined["activity"]["name"] == "teach-the-hub" and ada.joined["activity"]["project"] is None
    cat, bird = views("cat", EXAMPLE_VIEWS), views("bird", EXAMPLE_VIEWS)
    early = ada.call("answer", {"label": "cat", "image": cat["whole"]})
    assert early["code"] == "nothing_to_teach", early
    early_rest = example(ada, "pets", "cat", cat["whole"])
    assert error(early_rest) == (404, "not_found")

    created = teacher.post("/api/teach", json={"name": "pets", "labels": ["cat", "bird", "sunflower"]})
    assert created.status_code == 201, created.text
    for tablet in (ada, bo):  # every tablet is told, unasked
        told = wait_for(lambda t=tablet: [e for e in t.heard("teach")
                                          if e["project"] and e["project"]["name"] == "pets"])
        assert told[-1]["project"]["labels"] == ["cat", "bird", "sunflower"]

    given = ada.call("answer", {"label": "cat", "image": cat["whole"], "answer_id": "a1"})
    assert given["ok"] and given["given"] == "cat" and given["examples"] == 1, given
    assert given["result"] == {"project": "pets", "label": "cat", "count": 1, "total": 1, "backend": "cpu",
                               "taught": True}
    assert ada.call("answer", {"label": "cat", "image": cat["whole"], "answer_id": "a1"}) == given  # sent again
    assert bo.call("answer", {"label": "bird", "image": bird["whole"]})["result"]["count"] == 1
    by_token = example(ada, "pets", "cat", cat["flipped"])  # the join token is the pupil's key over REST
    assert by_token.status_code == 201
    assert by_token.json() == {"project": "pets", "label": "cat", "count": 2, "total": 3, "backend": "cpu"}
    multipart = bo.post("/api/teach/pets/examples", params={"label": "bird"},
                        files={"image": ("bird.png", bird["flipped"], "image/png")})
    assert multipart.status_code == 201 and multipart.json()["count"] == 2, multipart.text
    status = teacher.trained("pets", 4)
    assert status["counts"] == [2, 2, 0]
    assert {p["nickname"]: (p["id"], p["counts"]) for p in status["by_pupil"]} == {
        "Ada": (ada.id, [2, 0, 0]), "Bo": (bo.id, [0, 2, 0])}

    held_out = views("cat", HELD_OUT_VIEWS)["crop 70% top right"]
    tried = bo.post("/api/teach/pets/classify", data=held_out, headers={"Content-Type": "image/png"})
    assert tried.status_code == 200 and tried.json()["predictions"][0]["label"] == "cat", tried.text
    on_tablet = ada.call("answer", {"try": True, "image": held_out})
    assert on_tablet["ok"] and on_tablet["tries"] == 1 and on_tablet["result"]["predictions"][0]["label"] == "cat"
    assert on_tablet["given"] in ("cat", "not sure (maybe cat)")

    # what a pupil may not do: everything else is the teacher's
    for method, path, kw in (("get", "/api/teach", {}), ("get", "/api/teach/pets", {}),
                             ("post", "/api/teach", {"json": {"name": "mine", "labels": ["a", "b"]}}),
                             ("post", "/api/teach/pets/train", {}), ("post", "/api/teach/pets/save", {}),
                             ("post", "/api/teach/pets/freeze", {"json": {"frozen": True}}),
                             ("post", "/api/teach/pets/current", {}), ("delete", "/api/teach/pets", {}),
                             ("delete", "/api/teach/pets/examples", {"params": {"given_by": bo.id}}),
                             ("get", "/api/teach/pets/export", {}), ("post", "/api/teach/pets/reopen", {})):
        refused = requests.request(method, hub.url + path, headers={"Authorization": f"Bearer {ada.token}"},
                                   timeout=10, **kw)
        assert error(refused) == (401, "unauthorized"), (method, path)
    for headers in ({}, {"Authorization": "Bearer not-a-token"}, {"Authorization": f"Bearer {ada.token}x"}):
        refused = requests.post(hub.url + "/api/teach/pets/examples", params={"label": "cat"}, data=cat["whole"],
                                headers={"Content-Type": "image/png", **headers}, timeout=10)
        assert error(refused) == (401, "unauthorized"), headers
    assert teacher.status("pets")["total"] == 4  # none of that changed anything

    def heard_measured():
        done = [e["status"] for e in dashboard.heard("teach")
                if e["project"] == "pets" and e["status"] and e["status"]["total"] == 4 and e["status"]["accuracy"]]
        return done[-1] if done else None

    seen = wait_for(heard_measured)
    assert {p["nickname"]: p["counts"] for p in seen["by_pupil"]} == {"Ada": [2, 0, 0], "Bo": [0, 2, 0]}
    assert seen["accuracy"]["method"] == "leave-one-out" and seen["accuracy"]["tested"] == 4
    answers = dashboard.heard("answer")
    assert sorted((a["nickname"], a["question"], a["given"]) for a in answers) == sorted(
        [("Ada", "showed the hub", "cat"), ("Bo", "showed the hub", "bird"),
         ("Ada", "what is this? (trying the hub)", on_tablet["given"])])  # REST examples are not tablet answers
    assert no_bytes_in(dashboard.events) == [] and no_bytes_in(ada.events + bo.events) == []
    tablet_views = [e["project"] for e in ada.heard("teach") if e["project"]]
    assert all(set(v) == {"name", "kind", "examples", "labels", "counts", "frozen", "ready"} for v in tablet_views)
    assert wait_for(lambda: [v for v in (e["project"] for e in bo.heard("teach")) if v and v["counts"] == [2, 2, 0]
                             and v["ready"]])


def test_a_pupil_sending_too_fast_is_slowed(hub, people):
    teacher = Teacher(hub)
    code = teacher.new_class()
    assert teacher.post("/api/teach", json={"name": "quick", "labels": ["cat", "bird"]}).status_code == 201
    cy = Tablet(hub, code, "Cy")
    people.append(cy)
    replies = [cy.post("/api/teach/quick/classify", data=b"x", headers={"Content-Type": "text/plain"})
               for _ in range(10)]
    statuses = [r.status_code for r in replies]
    assert statuses[:5] == [415] * 5 and 429 in statuses, statuses  # 5 at once, then about 1 a second
    slowed = replies[statuses.index(429)]
    assert error(slowed) == (429, "too_fast") and int(slowed.headers["Retry-After"]) >= 1
    assert statuses.count(429) >= 3


# ---- 2. every refusal ----------------------------------------------------------------------------------
def test_every_refusal_is_a_clear_4xx(hub, teach_models):
    teacher = Teacher(hub)
    teacher.post("/api/classes/current/end")
    assert error(teacher.post("/api/teach", json={"name": "early", "labels": ["a", "b"]})) == (409, "no_class")
    assert error(requests.get(hub.url + "/api/teach", timeout=10)) == (401, "unauthorized")
    teacher.new_class()
    for body in ({"name": "Big Name", "labels": ["a", "b"]}, {"name": "a/b", "labels": ["a", "b"]},
                 {"name": "x" * 33, "labels": ["a", "b"]}, {"name": "", "labels": ["a", "b"]},
                 {"name": "ok", "labels": ["only one"]}, {"name": "ok", "labels": [str(i) for i in range(11)]},
                 {"name": "ok", "labels": ["cat", "Cat"]}, {"name": "ok", "labels": ["cat", "cat "]},
                 {"name": "ok", "labels": ["cat", "<b>"]}, {"name": "ok"}, {"name": "ok", "labels": ["a", "b"],
                                                                           "kind": "sounds"}):
        assert error(teacher.post("/api/teach", json=body)) == (400, "bad_input"), body
    assert error(teacher.post("/api/teach", data="not json", headers={"Content-Type": "text/plain"})) == (
        400, "bad_input")
    assert teacher.post("/api/teach", json={"name": "checks", "labels": ["cat", "bird"]}).status_code == 201
    assert error(teacher.post("/api/teach", json={"name": "checks", "labels": ["x", "y"]})) == (409, "teach_exists")

    # an unknown project, whatever is asked of it
    for method, path in (("get", "/api/teach/nope"), ("post", "/api/teach/nope/train"),
                         ("post", "/api/teach/nope/save"), ("post", "/api/teach/nope/freeze"),
                         ("post", "/api/teach/nope/current"), ("delete", "/api/teach/nope"),
                         ("delete", "/api/teach/nope/examples?given_by=@teacher"), ("get", "/api/teach/nope/export"),
                         ("post", "/api/teach/nope/reopen"), ("post", "/api/teach/nope/classify"),
                         ("post", "/api/teach/nope/examples?label=cat")):
        refused = getattr(teacher.session, method)(hub.url + path, timeout=10)
        assert error(refused) == (404, "not_found"), (method, path)

    cat = views("cat", EXAMPLE_VIEWS)
    assert error(example(teacher, "checks", "dog", cat["whole"])) == (400, "bad_input")
    assert error(teacher.post("/api/teach/checks/examples", data=cat["whole"],
                              headers={"Content-Type": "image/png"})) == (400, "bad_input")  # no label
    assert error(example(teacher, "checks", "cat", cat["whole"], "text/plain", close=True)) == (
        415, "unsupported_media_type")
    truncated = cat["whole"][:len(cat["whole"]) // 3]  # a PNG cut short: its header is right, its data is not
    assert error(example(teacher, "checks", "cat", truncated)) == (400, "bad_input")
    assert error(example(teacher, "checks", "cat", b"")) == (400, "bad_input")
    assert error(example(teacher, "checks", "cat", b"RIFF....WAVEfmt ", "audio/wav")) == (400, "bad_input")
    assert error(teacher.post("/api/teach/checks/examples", params={"label": "cat"},
                              files={"photo": ("cat.png", cat["whole"], "image/png")})) == (400, "bad_input")
    assert error(example(teacher, "checks", "cat", cat["whole"], "", close=True)) == (415, "unsupported_media_type")
    assert error(teacher.post("/api/teach/checks/classify", data=cat["whole"], headers={"Content-Type": "image/png"})) \
        == (409, "not_trained")
    assert error(teacher.post("/api/teach/checks/save")) == (409, "not_trained")
    assert error(teacher.get("/api/teach/checks/export")) == (404, "not_found")  # never saved
    assert error(teacher.delete("/api/teach/checks/examples")) == (400, "bad_input")  # whose?
    assert teacher.status("checks")["total"] == 0

    # the limits: 4 of one thing, 6 from one giver (the teacher counts as one)
    for n, view in enumerate(list(cat)[:4], 1):
        assert example(teacher, "checks", "cat", cat[view]).json()["count"] == n
    too_many_cats = example(teacher, "checks", "cat", cat["whole"])
    assert error(too_many_cats) == (409, "limit_reached") and too_many_cats.json()["limit"] == "per_thing"
    birds = views("bird", EXAMPLE_VIEWS)
    assert [example(teacher, "checks", "bird", birds[v]).status_code for v in list(birds)[:2]] == [201, 201]
    over = example(teacher, "checks", "bird", birds["crop 80% top left"])
    assert error(over) == (409, "limit_reached") and "6 examples" in over.json()["error"]
    assert over.json()["limit"] == "per_pupil"
    status = teacher.status("checks")
    assert status["counts"] == [4, 2] and status["limits"] == {"per_thing": 4, "per_pupil": 6}

    # frozen: no examples, trying goes on; unfrozen: examples again
    assert error(teacher.post("/api/teach/checks/freeze", json={"frozen": "yes"})) == (400, "bad_input")
    assert teacher.post("/api/teach/checks/freeze", json={"frozen": True}).json()["frozen"] is True
    tablet = Tablet(hub, teacher.get("/api/classes/current").json()["code"], "Di")
    try:
        assert error(example(tablet, "checks", "bird", birds["whole"])) == (409, "frozen")
        assert tablet.call("answer", {"label": "bird", "image": birds["whole"]})["code"] == "frozen"
        teacher.trained("checks")
        assert tablet.post("/api/teach/checks/classify", data=birds["whole"],
                           headers={"Content-Type": "image/png"}).status_code == 200
        assert teacher.post("/api/teach/checks/freeze", json={"frozen": False}).json()["frozen"] is False
        assert example(tablet, "checks", "bird", birds["whole"]).json()["count"] == 3  # a pupil is not the teacher
    finally:
        tablet.close()

    # a model's name: refused at the start (its save would replace the model) ...
    taken = teacher.post("/api/teach", json={"name": "digits", "labels": ["cat", "bird"]})
    assert error(taken) == (409, "name_taken") and "another name" in taken.json()["error"]
    assert error(teacher.post("/api/teach/digits/reopen")) == (409, "not_taught")
    # ... and at the save, when a model of that name came into the models folder meanwhile
    assert teacher.post("/api/teach", json={"name": "later", "labels": ["cat", "bird"]}).status_code == 201
    for picture, label in ((cat["whole"], "cat"), (birds["whole"], "bird")):
        assert example(teacher, "later", label, picture).status_code == 201
    teacher.trained("later", 2)
    copy_model(BUNDLED / "digits", teach_models, "later")
    wait_for(lambda: any(m["name"] == "later" and m["status"] == "ready" for m in hub.get("/api/models").json()), 20)
    refused = teacher.post("/api/teach/later/save")
    assert error(refused) == (409, "name_taken") and "another name" in refused.json()["error"]
    assert hub.model("later")["task"] == "image-classification"  # untouched
    assert json.loads((teach_models / "later" / "manifest.json").read_text())["task"] == "image-classification"
    assert not [p.name for p in teach_models.iterdir() if ".tmp" in p.name]
    assert error(teacher.get("/api/teach/later/export")) == (404, "not_found")
    teacher.delete("/api/teach/later")
    assert error(teacher.post("/api/teach/nothing-here/reopen")) == (404, "not_found")

    # four projects at once at most
    for name in ("two", "three", "four"):
        assert teacher.post("/api/teach", json={"name": name, "labels": ["a", "b"]}).status_code == 201
    assert error(teacher.post("/api/teach", json={"name": "five", "labels": ["a", "b"]})) == (409, "too_many")
    assert teacher.delete("/api/teach/two").json() == {"deleted": "two"}
    assert teacher.post("/api/teach", json={"name": "five", "labels": ["a", "b"]}).status_code == 201
    listed = teacher.get("/api/teach").json()
    assert [p["name"] for p in listed["projects"]] == ["checks", "three", "four", "five"]
    assert listed["current"] == "five"
    teacher.post("/api/classes/current/end")


def test_a_refusal_before_the_body_keeps_the_connection_usable(hub):
    teacher = Teacher(hub)
    teacher.new_class()
    assert teacher.post("/api/teach", json={"name": "keepalive", "labels": ["cat", "bird"]}).status_code == 201
    photo_png = views("cat", {"whole": lambda p: p})["whole"]
    assert len(photo_png) > 64 * 1024
    connection = http.client.HTTPConnection("127.0.0.1", int(hub.url.rsplit(":", 1)[1]), timeout=10)
    auth = {"Authorization": f"Bearer {teacher.token}"}
    try:
        connection.request("POST", "/api/teach/keepalive/examples?label=cat", body=photo_png,
                           headers={**auth, "Content-Type": "text/plain"})  # 415 before the body is read
        refused = connection.getresponse()
        assert refused.status == 415 and json.loads(refused.read())["code"] == "unsupported_media_type"
        kept_alive = (refused.getheader("Connection") or "keep-alive").lower() != "close"
        # said kept alive: the next request on this connection is answered (said closed: http.client reconnects)
        connection.request("GET", "/api/teach/keepalive", headers=auth)
        assert connection.getresponse().status == 200, kept_alive
    finally:
        connection.close()
        teacher.post("/api/classes/current/end", headers={"Connection": "close"})


# ---- 1 (again) and 2: save, export, another hub, reopen, remove a pupil, delete -------------------------------
def test_save_export_serve_elsewhere_reopen_and_delete(hub, start_hub, tmp_path, people):
    teacher = Teacher(hub)
    code = teacher.new_class()
    things = ("cat", "bird", "sunflower")
    examples = {thing: views(thing, EXAMPLE_VIEWS) for thing in things}
    held_out = {thing: views(thing, HELD_OUT_VIEWS) for thing in (*things, "dragonfly")}
    assert teacher.post("/api/teach", json={"name": "garden", "labels": list(things)}).status_code == 201
    for thing in things:  # the teacher: 2 of each (6, the teacher's limit)
        for view in ("whole", "flipped"):
            assert example(teacher, "garden", thing, examples[thing][view]).status_code == 201
    ada, bo = Tablet(hub, code, "Zebedee"), Tablet(hub, code, "Bo")
    people += [ada, bo]
    for thing in things:
        assert example(ada, "garden", thing, examples[thing]["crop 80% top left"]).status_code == 201
    assert example(bo, "garden", "cat", examples["cat"]["crop 80% bottom right"]).status_code == 201
    status = teacher.post("/api/teach/garden/train")
    assert status.status_code == 200 and status.json()["total"] == status.json()["trained_on"] == 10
    assert status.json()["counts"] == [4, 3, 3] and status.json()["accuracy"]["tested"] == 10

    saved = teacher.post("/api/teach/garden/save")
    assert saved.status_code == 201, saved.text
    assert saved.json()["model"] == "garden" and saved.json()["status"] == "ready" and saved.json()["examples"] == 10
    assert hub.model("garden")["task"] == "taught-classification"
    answers = {}
    for thing in things:
        for view, picture in held_out[thing].items():
            by_project = teacher.post("/api/teach/garden/classify", data=picture, headers={"Content-Type": "image/png"})
            served = hub.post("/api/models/garden/classify", data=picture, headers={"Content-Type": "image/png"})
            assert served.status_code == 200, served.text
            assert served.json()["predictions"][0]["label"] == thing, (thing, view, served.json())
            assert by_project.json()["predictions"][0]["label"] == thing
            answers[(thing, view)] = served.json()["predictions"]

    # the export: the model folder as a zip, every file as the manifest says
    exported = teacher.get("/api/teach/garden/export")
    assert exported.status_code == 200 and exported.headers["Content-Type"] == "application/zip"
    assert 'filename="garden.zip"' in exported.headers["Content-Disposition"]
    archive = zipfile.ZipFile(io.BytesIO(exported.content))
    names = set(archive.namelist())
    manifest = json.loads(archive.read("garden/manifest.json"))
    assert manifest["task"] == "taught-classification" and manifest["labels"] == list(things)
    assert manifest["head"]["features"] == "pictures" and manifest["head"]["backbone_task"] == "image-embedding"
    assert manifest["examples"]["counts"] == [4, 3, 3] and manifest["metrics"]["examples"] == 10
    listed = {"manifest.json", manifest["head"]["file"], manifest["examples"]["file"],
              *(v["file"] for v in manifest["variants"].values()), *manifest["source"]["licence_files"]}
    assert manifest["source"]["licence_files"] == ["LICENSE-coral.txt"]
    assert names == {f"garden/{n}" for n in listed}
    assert {v["file"] for v in manifest["variants"].values()} == {
        "mobilenet_v1_1.0_224_quant_embedding_extractor.tflite",
        "mobilenet_v1_1.0_224_quant_embedding_extractor_edgetpu.tflite"}
    for about in (*manifest["variants"].values(), manifest["head"], manifest["examples"]):
        data = archive.read(f"garden/{about['file']}")
        assert len(data) == about["size"] and hashlib.sha256(data).hexdigest() == about["sha256"], about["file"]
    examples_file = archive.read(f"garden/{manifest['examples']['file']}")
    with np.load(io.BytesIO(examples_file), allow_pickle=False) as saved_examples:
        assert sorted(saved_examples.files) == ["features", "labels"]  # nothing about who gave them
        assert saved_examples["features"].shape == (10, 1024)
        assert np.bincount(saved_examples["labels"]).tolist() == [4, 3, 3]
    for name in names:
        assert b"Zebedee" not in archive.read(name) and ada.id.encode() not in archive.read(name), name

    # another hub: the zip unpacked into an empty models folder, nothing else
    elsewhere = tmp_path / "elsewhere-models"
    elsewhere.mkdir()
    archive.extractall(elsewhere)
    other = start_hub(elsewhere)
    wait_for(lambda: other.model("garden")["status"] == "ready", 30)
    for (thing, view), predictions in answers.items():
        served = other.post("/api/models/garden/classify", data=held_out[thing][view],
                            headers={"Content-Type": "image/png"}).json()["predictions"]
        assert [p["label"] for p in served] == [p["label"] for p in predictions], (thing, view)
        assert [p["score"] for p in served] == pytest.approx([p["score"] for p in predictions], abs=1e-5)

    # remove one pupil's examples: the counts drop and the model learns again without them
    removed = teacher.delete("/api/teach/garden/examples", params={"given_by": ada.id})
    assert removed.status_code == 200 and removed.json()["removed"] == 3 and removed.json()["counts"] == [3, 2, 2]
    status = teacher.trained("garden", 7)
    assert status["trained_on"] == 7 and {p["nickname"] for p in status["by_pupil"]} == {"the teacher", "Bo"}
    assert teacher.delete("/api/teach/garden/examples", params={"given_by": "nobody"}).json()["removed"] == 0
    with database(hub) as db:
        assert db.execute("SELECT COUNT(*) FROM teach_example WHERE given_by = ?", (ada.id,)).fetchone()[0] == 0
        assert db.execute("SELECT COUNT(*) FROM teach_example").fetchone()[0] == 7

    # the class ends: its examples go, the saved model stays and answers as before
    ended = teacher.post("/api/classes/current/end")
    assert ended.status_code == 200
    assert teach_rows(hub) == (0, 0)
    again = hub.post("/api/models/garden/classify", data=held_out["bird"]["crop 65% centre"],
                     headers={"Content-Type": "image/png"})
    assert again.json()["predictions"] == answers[("bird", "crop 65% centre")]

    # a later lesson: reopened with one thing more, the earlier examples counted as "an earlier lesson"
    teacher.new_class()
    reopened = teacher.post("/api/teach/garden/reopen", json={"labels": ["dragonfly"]})
    assert reopened.status_code == 201, reopened.text
    body = reopened.json()
    assert body["labels"] == [*things, "dragonfly"] and body["counts"] == [4, 3, 3, 0]
    assert body["reopened_from"] == "garden"
    assert body["by_pupil"] == [{"id": "@earlier", "nickname": "an earlier lesson", "counts": [4, 3, 3, 0],
                                 "total": 10}]
    assert teacher.trained("garden", 10)["ready"]  # learnt again from the saved examples, none new
    dragonfly = views("dragonfly", EXAMPLE_VIEWS)
    for view in ("whole", "flipped", "crop 80% top left"):
        assert example(teacher, "garden", "dragonfly", dragonfly[view]).status_code == 201
    assert teacher.trained("garden", 13)["counts"] == [4, 3, 3, 3]
    for view, picture in held_out["dragonfly"].items():
        guess = teacher.post("/api/teach/garden/classify", data=picture, headers={"Content-Type": "image/png"}).json()
        assert guess["predictions"][0]["label"] == "dragonfly", (view, guess)
    assert error(teacher.post("/api/teach/garden/reopen")) == (409, "teach_exists")
    resaved = teacher.post("/api/teach/garden/save")
    assert resaved.status_code == 201 and resaved.json()["examples"] == 13
    def served_with_four_things():
        r = hub.post("/api/models/garden/classify?top_k=4", data=held_out["dragonfly"]["crop 65% centre"],
                     headers={"Content-Type": "image/png"})
        return r.status_code == 200 and len(r.json()["predictions"]) == 4 and r.json()

    served = wait_for(served_with_four_things)
    assert served["predictions"][0]["label"] == "dragonfly"

    deleted = teacher.delete("/api/teach/garden")
    assert deleted.status_code == 200 and deleted.json() == {"deleted": "garden"}
    assert error(teacher.get("/api/teach/garden")) == (404, "not_found")
    assert teach_rows(hub) == (0, 0)
    assert hub.model("garden")["status"] == "ready"  # deleting the lesson's project keeps the saved model
    teacher.post("/api/classes/current/end")


# ---- 4. privacy: no picture on disk; the class's examples go with it ------------------------------------
def aligned_blocks(secrets: list[bytes], size: int = 512) -> tuple[set[bytes], np.ndarray]:
    """Every `size`-aligned block of each secret, and their first 8 bytes as sorted keys. Any 1 KB
    slice of a secret holds one of its blocks whole, so a file holding no block holds no 1 KB slice."""
    blocks = {data[i:i + size] for data in secrets for i in range(0, len(data) - size + 1, size)}
    keys = np.unique(np.array([np.frombuffer(b[:8], "<u8")[0] for b in blocks], dtype=np.uint64))
    return blocks, keys


def holds_a_block(haystack: bytes, blocks: set[bytes], keys: np.ndarray, size: int = 512) -> bool:
    raw = np.frombuffer(haystack, np.uint8)
    for start in range(8):
        usable = (len(raw) - start) // 8 * 8
        if usable <= 0:
            continue
        words = raw[start:start + usable].view("<u8")
        where = np.minimum(np.searchsorted(keys, words), len(keys) - 1)  # keys sorted: a lookup, not a scan
        for at in np.flatnonzero(keys[where] == words):
            offset = start + 8 * int(at)
            if haystack[offset:offset + size] in blocks:
                return True
    return False


def unique_picture(seed: int, thing: str, as_bmp: bool) -> tuple[bytes, list[bytes]]:
    """A photo at an odd size with noise (no other file can hold its bytes by chance), and what must
    not be on disk: the file's bytes and its decoded pixels in both colour orders."""
    rng = np.random.default_rng(seed)
    pixels = cv2.resize(photo(thing), (241 + seed, 317 + seed), interpolation=cv2.INTER_AREA)
    pixels = np.clip(pixels.astype(np.int16) + rng.integers(-12, 13, pixels.shape), 0, 255).astype(np.uint8)
    data = bmp(pixels) if as_bmp else png(pixels)
    return data, [data, pixels.tobytes(), np.ascontiguousarray(pixels[..., ::-1]).tobytes()]


def files_under(*folders: Path) -> list[Path]:
    return [p for folder in folders for p in sorted(folder.rglob("*")) if p.is_file()]


def test_no_picture_reaches_the_disk_and_the_examples_go_with_the_class(hub, people):
    teacher = Teacher(hub)
    code = teacher.new_class()
    assert teacher.post("/api/teach", json={"name": "private", "labels": ["cat", "bird"]}).status_code == 201
    eve, fin = Tablet(hub, code, "Eve"), Tablet(hub, code, "Fin")
    people += [eve, fin]
    secrets = []
    sent = [(teacher, "rest", "cat", True), (eve, "socket", "cat", False), (fin, "rest", "bird", True),
            (fin, "socket", "bird", False), (eve, "rest", "bird", False)]
    for seed, (who, how, thing, as_bmp) in enumerate(sent, 1):
        data, forbidden = unique_picture(seed, thing, as_bmp)
        secrets += forbidden
        if how == "rest":
            reply = example(who, "private", thing, data, "image/bmp" if as_bmp else "image/png")
            assert reply.status_code == 201, reply.text
        else:
            assert who.call("answer", {"label": thing, "image": data})["ok"]
    teacher.trained("private", 5)
    data, forbidden = unique_picture(20, "cat", True)  # tried, not taught
    secrets += forbidden
    assert eve.call("answer", {"try": True, "image": data})["result"]["predictions"][0]["label"] == "cat"
    data, forbidden = unique_picture(21, "bird", False)
    secrets += forbidden
    tried = fin.post("/api/teach/private/classify", data=data, headers={"Content-Type": "image/png"})
    assert tried.status_code == 200 and tried.json()["predictions"][0]["label"] == "bird"
    saved = teacher.post("/api/teach/private/save")
    assert saved.status_code == 201

    # only numbers in the class database: 1024 float32 values an example
    with database(hub) as db:
        sizes = [r[0] for r in db.execute("SELECT length(features) FROM teach_example")]
        givers = {r[0] for r in db.execute("SELECT given_by FROM teach_example")}
    assert sizes == [4 * 1024] * 5 and givers == {"@teacher", eve.id, fin.id}

    # no file the hub wrote (its data folder, its models folder, its log) holds a picture or a 1 KB slice of one
    blocks, keys = aligned_blocks(secrets)
    files = files_under(hub.config_path.parent, Path(saved.json()["folder"]).parent)  # data folder, log, models
    assert hub.data_dir.parent == hub.config_path.parent
    assert any(p.name == "classroom.sqlite3" for p in files) and any(p.name == "head.npz" for p in files)
    assert [str(p) for p in files if holds_a_block(p.read_bytes(), blocks, keys)] == []
    # (the check finds a slice: 1 KB of any of them, at any offset, in the middle of other bytes)
    for secret in secrets:
        start = len(secret) // 3 + 77
        assert holds_a_block(b"\x00" * 777 + secret[start:start + 1024] + b"\xff" * 99, blocks, keys)

    # forgetting a pupil removes their examples, from the lesson and from the database
    assert teacher.post("/api/classes/current/kick", json={"student_id": fin.id}).status_code == 200
    forgotten = teacher.post("/api/classes/current/forget", json={"student_id": fin.id})
    assert forgotten.status_code == 200, forgotten.text
    status = teacher.trained("private", 3)
    assert {p["id"] for p in status["by_pupil"]} == {"@teacher", eve.id} and status["counts"] == [2, 1]
    with database(hub) as db:
        assert db.execute("SELECT COUNT(*) FROM teach_example WHERE given_by = ?", (fin.id,)).fetchone()[0] == 0

    # the class ends: every teach row goes; the saved model stays
    assert teacher.post("/api/classes/current/end").status_code == 200
    assert teach_rows(hub) == (0, 0)
    for path in hub.data_dir.glob("classroom.sqlite3*"):
        assert eve.id.encode() not in path.read_bytes(), path.name
    assert hub.model("private")["status"] == "ready"
    again = hub.post("/api/models/private/classify", data=unique_picture(30, "bird", False)[0],
                     headers={"Content-Type": "image/png"})
    assert again.status_code == 200 and again.json()["predictions"][0]["label"] == "bird"


# ---- 5. a restart mid-lesson -----------------------------------------------------------------------------------
def test_a_restart_mid_lesson_keeps_the_project_and_learns_again(teach_models, start_hub, people):
    lone = start_hub(teach_models, teach=LIMITS)
    teacher = Teacher(lone)
    code = teacher.new_class()
    assert teacher.post("/api/teach", json={"name": "survivor", "labels": ["cat", "bird", "person"]}).status_code == 201
    gil = Tablet(lone, code, "Gil")
    people.append(gil)
    cat, bird = views("cat", EXAMPLE_VIEWS), views("bird", EXAMPLE_VIEWS)
    for view in ("whole", "flipped"):
        assert example(teacher, "survivor", "cat", cat[view]).status_code == 201
        assert gil.call("answer", {"label": "bird", "image": bird[view]})["ok"]
    assert teacher.post("/api/teach/survivor/freeze", json={"frozen": True}).status_code == 200
    before = teacher.trained("survivor", 4)
    held_out = views("bird", HELD_OUT_VIEWS)["crop 75% bottom left"]
    guess = teacher.post("/api/teach/survivor/classify", data=held_out, headers={"Content-Type": "image/png"}).json()

    gil.close()
    lone.kill_all()  # every hub process, mid-lesson
    lone.restart()   # the same data folder, as systemd does
    after = teacher.status("survivor")  # the teacher's login survived too
    for key in ("labels", "counts", "total", "frozen", "by_pupil", "backbone", "kind"):
        assert after[key] == before[key], key
    assert {p["nickname"]: p["counts"] for p in after["by_pupil"]} == {"the teacher": [2, 0, 0], "Gil": [0, 2, 0]}
    again = teacher.trained("survivor", 4)  # trained again from the kept examples, none new
    assert again["accuracy"]["tested"] == before["accuracy"]["tested"]
    assert teacher.get("/api/teach").json()["current"] == "survivor"
    repeated = teacher.post("/api/teach/survivor/classify", data=held_out, headers={"Content-Type": "image/png"}).json()
    assert [p["label"] for p in repeated["predictions"]] == [p["label"] for p in guess["predictions"]]
    assert [p["score"] for p in repeated["predictions"]] == pytest.approx([p["score"] for p in guess["predictions"]],
                                                                         abs=1e-5)
    back = Tablet(lone, code, "Hal")  # a tablet joining now is shown the project
    people.append(back)
    assert back.joined["activity"]["project"]["name"] == "survivor" and back.joined["activity"]["project"]["frozen"]
    teacher.post("/api/classes/current/end")


# ---- 6. poses: the refusals over REST -------------------------------------------------------------------------
def test_a_pose_project_over_rest_refuses_a_photo_with_no_one_in_it(hub):
    teacher = Teacher(hub)
    teacher.new_class()
    made = teacher.post("/api/teach", json={"name": "dance", "labels": ["star", "squat"], "kind": "poses"})
    assert made.status_code == 201 and made.json()["backbone"] == "movenet" and made.json()["examples"] == "poses"
    for picture in (png(np.full((480, 360, 3), 230, np.uint8)), png(photo("dragonfly"))):
        refused = example(teacher, "dance", "star", picture)
        assert refused.status_code == 400 and refused.json() == {"error": NO_BODY, "code": "not_seen"}
    assert teacher.status("dance")["total"] == 0
    teacher.post("/api/classes/current/end")
