"""Teaching the hub, as one object the web layers and the activity share.

A class teaches one or more projects (project.py). Each example is a picture from a tablet or
the REST API: the backbone model (found by what its task gives, features.py) turns it into
numbers at once, on the Edge TPU when the model is placed there, and the picture is dropped
there and then. Only the numbers are kept, in the class database with the class, and they go
with it when the class ends, unless the teacher has saved the model (saved.py).

Training runs on one background thread, newest examples first: every change marks the project,
the thread trains it (trainer.py: imprinting refined by a softmax layer) and tells the dashboard
and the tablets (the bus's `teach` event), then measures its accuracy on examples held out in
turn. A burst of examples costs one training, not one each.
"""
from __future__ import annotations

import json
import logging
import threading
import time
from typing import TYPE_CHECKING

import numpy as np

from ..errors import BackendUnavailable, BadInput, ClassStateError, HubError, NotFound
from ..tasks import Picture
from ..tasks.classification import ranked
from . import saved, trainer
from .features import KINDS, Features, kind
from .project import EARLIER, UNSURE_BELOW, Example, Limits, Project, check_labels, plain_name

if TYPE_CHECKING:
    from ..classroom.service import ClassroomService
    from ..service import Hub

log = logging.getLogger(__name__)
CURRENT = "teach"  # the store's meta key: the project on the tablets
MAX_PROJECTS = 4  # at once, in one class
TOP = 3
PUBLISH_EVERY_S = 0.25


class TeachService:
    def __init__(self, hub: "Hub", classroom: "ClassroomService") -> None:
        self.hub, self.classroom = hub, classroom
        self.store = classroom.store
        teach = hub.config.teach
        self.limits = Limits(teach.max_examples_per_thing, teach.max_examples_per_pupil)
        self.projects: dict[str, Project] = {}
        self.current: str | None = None
        self._lock = threading.Lock()
        self._dirty: list[str] = []
        self._wake = threading.Condition()
        self._stopped = False
        self._busy = False  # the trainer is training or measuring
        self._thread: threading.Thread | None = None
        hub.bus.subscribe(self.on_event)
        self._restore()

    # ---- life ------------------------------------------------------------------------------------
    def _restore(self) -> None:
        """The class's projects after a restart: examples from the store, the model trained again."""
        if self.classroom.classes.current is None:
            return
        for row, examples in self.store.load_projects():
            try:
                project = Project(row["name"], tuple(json.loads(row["labels"])), KINDS[row["kind"]], row["backbone"],
                                  self.limits, row["created_at"], bool(row["frozen"]), row["reopened_from"])
            except (KeyError, ValueError, TypeError):
                log.warning("a teaching project in the class database cannot be read; it is left out")
                continue
            project.examples = [Example(e["id"], e["label"], e["given_by"], np.frombuffer(e["features"], np.float32))
                                for e in examples if 0 <= e["label"] < len(project.labels)]
            project.recount()
            self.projects[project.name] = project
            self._schedule(project.name)
        current = self.store.meta(CURRENT)
        self.current = current if current in self.projects else None

    def close(self) -> None:
        with self._wake:
            self._stopped = True
            self._wake.notify_all()

    def on_event(self, kind_: str, data: dict) -> None:
        if kind_ == "class_ended":  # the store erased the examples with the class
            with self._lock:
                self.projects.clear()
                self.current = None
        elif kind_ == "student_forgotten":  # the store deleted their examples with their answers
            for project in list(self.projects.values()):
                if project.remove_given_by(data.get("student_id", "")):
                    self._schedule(project.name)

    # ---- finding things --------------------------------------------------------------------------
    def get(self, name: object) -> Project:
        project = self.projects.get(name) if isinstance(name, str) else None
        if project is None:
            raise NotFound(f"the class is not teaching the hub anything called {str(name)[:40]!r}; "
                           f"it is teaching: {', '.join(self.projects) or 'nothing yet'}")
        return project

    def current_project(self) -> Project | None:
        return self.projects.get(self.current) if self.current else None

    def backbone_for(self, features: Features) -> str:
        """A ready model that turns a photo into what this kind of project learns from."""
        found = sorted(s.name for s in self.classroom.context.models_giving(features.gives, Picture)
                       if s.subject == "photos")
        if not found:
            raise ClassStateError(f"no model that can learn from {features.examples} is ready on the hub",
                                  "no_backbone")
        return found[0]

    def available(self) -> str:
        """"" when the hub can learn from something now, else why not."""
        for features in KINDS.values():
            try:
                self.backbone_for(features)
                return ""
            except ClassStateError:
                continue
        return "no model that can learn from photos or poses is ready"

    # ---- what the teacher does -------------------------------------------------------------------
    def create(self, name: object, labels: object, kind_name: object = "pictures") -> Project:
        self.classroom.classes.require()
        name, labels, features = plain_name(name), check_labels(labels), kind(kind_name)
        folder = self.hub.config.models_dir / name
        if folder.exists():  # a saved model would be replaced by this project's save
            raise ClassStateError(f"a model called {name!r} is already on the hub: "
                                  + ("reopen it to teach it more, or " if saved.is_taught(folder) else "")
                                  + "choose another name", "name_taken")
        backbone = self.backbone_for(features)
        with self._lock:
            self._room_for(name)
            project = Project(name, labels, features, backbone, self.limits)
            self.store.put_project(project.row())
            self.projects[name] = project
            self._make_current(name)
        log.info("teaching started: %d things from %s", len(labels), features.examples)
        self._schedule(name)
        return project

    def reopen(self, name: object, more_labels: object = None) -> Project:
        """A saved model back in this lesson: its examples (from an earlier lesson), more to come."""
        self.classroom.classes.require()
        name = plain_name(name)
        folder = self.hub.config.models_dir / name
        if not folder.is_dir():
            raise NotFound(f"there is no saved model called {name!r} on the hub")
        manifest, features, labels = saved.read_examples(folder)
        known = tuple(manifest.get("labels", []))
        if more_labels is not None and not isinstance(more_labels, list):
            raise BadInput("labels must be a list of the things to add, such as [\"ash\"]")
        added = check_labels(list(known) + (more_labels or []))
        head = manifest.get("head") or {}
        features_kind = kind(head.get("features"))
        backbone = self.backbone_for(features_kind)
        with self._lock:
            self._room_for(name)
            project = Project(name, added, features_kind, backbone, self.limits, reopened_from=name)
            self.store.put_project(project.row())
            rows = [(int(y), EARLIER, x.tobytes()) for x, y in zip(features, labels)]
            ids = self.store.add_examples(name, rows) if rows else []
            project.examples = [Example(i, int(y), EARLIER, x) for i, x, y in zip(ids, features, labels)]
            project.recount()
            project.version += 1
            self.projects[name] = project
            self._make_current(name)
        self._schedule(name)
        return project

    def _room_for(self, name: str) -> None:
        if name in self.projects:
            raise ClassStateError(f"the class is already teaching {name!r}", "teach_exists")
        if len(self.projects) >= MAX_PROJECTS:
            raise ClassStateError(f"a class can teach {MAX_PROJECTS} things at once: delete one first", "too_many")

    def _make_current(self, name: str | None) -> None:
        self.current = name
        self.store.set_meta(CURRENT, name)

    def show(self, name: object) -> Project:
        """Put this project on the tablets."""
        project = self.get(name)
        with self._lock:
            self._make_current(project.name)
        self._publish(project)
        return project

    def freeze(self, name: object, frozen: bool) -> Project:
        project = self.get(name)
        with project.lock:
            project.frozen = bool(frozen)
            self.store.put_project(project.row())
        self._publish(project)
        return project

    def remove_examples(self, name: object, given_by: object) -> int:
        project = self.get(name)
        if not isinstance(given_by, str) or not given_by:
            raise BadInput("say whose examples to remove: ?given_by= a pupil's id, or @teacher")
        removed = project.remove_given_by(given_by)
        self.store.drop_examples(project.name, given_by)
        self._schedule(project.name)
        return removed

    def delete(self, name: object) -> None:
        project = self.get(name)
        with self._lock:
            self.projects.pop(project.name, None)
            self.store.drop_project(project.name)
            if self.current == project.name:
                self._make_current(next(reversed(self.projects), None))
        self.hub.bus.publish("teach", {"project": project.name, "deleted": True,
                                       "tablets": self.tablet_view(), "status": None})

    def train(self, name: object) -> Project:
        """Train now (the thread would soon anyway), and measure: for scripts and tests."""
        project = self.get(name)
        self._train(project, evaluate=True)
        return project

    def save(self, name: object) -> dict:
        """The model as a folder in models/, served from now on like any other model."""
        project = self.get(name)
        features, targets, _ = project.arrays()  # the layer saved is trained on exactly the examples saved
        if len(set(targets.tolist())) < 2:
            raise ClassStateError("the hub has not learnt anything yet: give examples of at least two things",
                                  "not_trained")
        head = trainer.train(features, targets, len(project.labels))
        backbone = self.hub.registry.get(project.backbone)
        if backbone.spec is None or not (backbone.folder / "manifest.json").exists():
            raise BackendUnavailable(f"model {project.backbone} is not ready: save again in a moment")
        manifest = json.loads((backbone.folder / "manifest.json").read_text())
        folder = saved.write(self.hub.config.models_dir, project.name, project.labels, project.features.kind, head,
                             features, targets, backbone.folder, manifest, project.evaluation, UNSURE_BELOW)
        entry = self.hub.registry.add(project.name)
        log.info("a taught model was saved (%d examples): %s", targets.size, entry.status)
        return {"model": project.name, "status": entry.status, "reason": entry.reason, "folder": str(folder),
                "examples": int(targets.size)}

    def export(self, name: object) -> tuple[str, bytes]:
        """A saved taught model as a zip another hub can serve."""
        name = plain_name(name)
        folder = self.hub.config.models_dir / name
        if not folder.is_dir() or not saved.is_taught(folder):
            raise NotFound(f"there is no saved taught model called {name!r}: save it first")
        return f"{name}.zip", saved.zipped(folder)

    # ---- what tablets (and the teacher) give ------------------------------------------------------
    def add_example(self, name: object, label: object, media: Picture, given_by: str) -> dict:
        project = self.get(name)
        index = project.label_index(label)
        project.check_room(index, given_by)  # before anything is decoded
        vector, backend = self._features(project, media)
        del media  # the picture is gone from here on: only its numbers are kept
        with project.lock:
            project.check_room(index, given_by)  # again: others may have given examples meanwhile
            if project.examples and project.examples[0].features.size != vector.size:
                raise ClassStateError("the model that makes the examples has changed: start a new project",
                                      "backbone_changed")
            [example_id] = self.store.add_examples(project.name, [(index, given_by, vector.tobytes())])
            project.add(Example(example_id, index, given_by, vector))
            count = project.counts()[index]
        self._schedule(project.name)
        return {"project": project.name, "label": project.labels[index], "count": count,
                "total": len(project.examples), "backend": backend}

    def classify(self, name: object, media: Picture) -> dict:
        """What the hub thinks this is, with the model as it is now."""
        project = self.get(name)
        head = project.head
        if head is None:
            raise ClassStateError("the hub has not learnt anything yet: give examples of at least two things",
                                  "not_trained")
        found = ranked(head.scores(self._features(project, media)[0]), project.labels, TOP)
        return {"project": project.name, "predictions": [c.to_json() for c in found],
                "sure": bool(found) and found[0].score >= UNSURE_BELOW, "unsure_below": UNSURE_BELOW}

    def _features(self, project: Project, media: Picture) -> tuple[np.ndarray, str]:
        """The example's numbers, and where the backbone ran (`edgetpu` when it is placed there)."""
        prediction = self.hub.predict(project.backbone, media, {}, api="teach")
        return project.features.vector(prediction.result), prediction.backend

    # ---- views -----------------------------------------------------------------------------------
    def nicknames(self) -> dict[str, str]:
        room = self.classroom.classes.current
        if room is None:
            return {}
        with room.lock:
            return {s.id: s.nickname for s in room.students.values()}

    def status(self, name: object) -> dict:
        return self.get(name).status(self.nicknames())

    def tablet_view(self) -> dict | None:
        project = self.current_project()
        return project.tablet_view() if project else None

    def list(self) -> list[dict]:
        return [{**p.tablet_view(), "current": p.name == self.current} for p in self.projects.values()]

    # ---- the trainer thread -----------------------------------------------------------------------
    def _schedule(self, name: str) -> None:
        with self._wake:
            if name not in self._dirty:
                self._dirty.append(name)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="teach-trainer", daemon=True)
                self._thread.start()
            self._wake.notify()

    def _run(self) -> None:
        last = 0.0
        while True:
            with self._wake:
                self._wake.wait_for(lambda: self._dirty or self._stopped)
                # a class giving examples fast: one round (and one message to every tablet) at
                # most every PUBLISH_EVERY_S, on every example that came meanwhile
                self._wake.wait_for(lambda: self._stopped, max(0.0, last + PUBLISH_EVERY_S - time.monotonic()))
                if self._stopped:
                    return
                name = self._dirty.pop(0)
                self._busy = True
            project = self.projects.get(name)
            try:
                if project is None:
                    continue
                self._train(project, evaluate=False)
                last = time.monotonic()
                self._publish(project)
                with self._wake:
                    newer = name in self._dirty
                if not newer:  # measuring waits until the examples stop changing
                    self._evaluate(project)
                    self._publish(project)
            except Exception:  # noqa: BLE001 - the trainer must outlive one bad round
                log.exception("training %s failed", name)
            finally:
                with self._wake:
                    self._busy = False
                    self._wake.notify_all()

    def wait_idle(self, timeout_s: float) -> bool:
        """Until every change is trained and measured (True), or the time-out (False)."""
        with self._wake:
            return self._wake.wait_for(lambda: not self._dirty and not self._busy, timeout_s)

    def _train(self, project: Project, evaluate: bool) -> trainer.Head | None:
        features, targets, version = project.arrays()
        head = trainer.train(features, targets, len(project.labels)) if project.trainable() else None
        with project.lock:
            if project.version == version:
                project.head, project.trained_on = head, int(targets.size)
            head = project.head
        if evaluate:
            self._evaluate(project)
        return head

    def _evaluate(self, project: Project) -> None:
        features, targets, version = project.arrays()
        evaluation = trainer.evaluate(features, targets, len(project.labels)) if targets.size else None
        with project.lock:
            if project.version == version:
                project.evaluation = evaluation

    def _publish(self, project: Project) -> None:
        if self.projects.get(project.name) is not project:  # deleted, or the class ended, meanwhile
            return
        try:
            status = project.status(self.nicknames())
        except HubError:
            return
        self.hub.bus.publish("teach", {"project": project.name, "status": status,
                                       "tablets": self.tablet_view()})
