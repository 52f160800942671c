"""A taught model as a model folder: written when the teacher saves it, read when a lesson reopens it.

`models/NAME/` holds what any other model folder holds, so the hub serves it like any other
(hub/tasks/taught.py): `manifest.json` (task `taught-classification`, the things it knows, the
backbone's input and preprocessing, every file's size and sha256), the backbone's files (its CPU
file and its Edge TPU build when there is one: hard links where the file system allows, copies
otherwise), `head.npz` (the trained last layer) and `examples.npz` (the examples' numbers and
things, nothing about who gave them, so a later lesson can go on teaching). The folder is written
beside its final place under a `.tmp-` name the registry ignores, then renamed into place.
"""
from __future__ import annotations

import datetime
import hashlib
import io
import json
import os
import shutil
import zipfile
from pathlib import Path

import numpy as np

from ..errors import ClassStateError, ModelError
from .trainer import Evaluation, Head

TASK = "taught-classification"
HEAD_FILE, EXAMPLES_FILE = "head.npz", "examples.npz"


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _place(source: Path, target: Path) -> None:
    try:
        os.link(source, target)  # the backbone's bytes once on disk, however many models share it
    except OSError:
        shutil.copyfile(source, target)


def is_taught(folder: Path) -> bool:
    try:
        return json.loads((folder / "manifest.json").read_text()).get("task") == TASK
    except (OSError, ValueError, AttributeError):
        return False


def write(models_dir: Path, name: str, labels: tuple[str, ...], kind: str, head: Head, features: np.ndarray,
          targets: np.ndarray, backbone_folder: Path, backbone_manifest: dict, evaluation: Evaluation | None,
          unsure_below: float) -> Path:
    """The model folder `models_dir/name`, replacing an earlier save of the same taught model (never
    another kind of model: that name is taken)."""
    final = models_dir / name
    if final.exists() and not is_taught(final):
        raise ClassStateError(f"a model called {name!r} is already on the hub: save under another name",
                              "name_taken")
    staging = models_dir / f"{name}.tmp-teach-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        variants = {}
        for role, variant in backbone_manifest["variants"].items():
            if role == "float":
                continue
            _place(backbone_folder / variant["file"], staging / variant["file"])
            variants[role] = {"file": variant["file"], "size": (staging / variant["file"]).stat().st_size,
                              "sha256": _sha256(staging / variant["file"])}
        licences = sorted(p.name for p in backbone_folder.iterdir() if p.is_file() and p.name.upper().startswith("LICENSE"))
        for file_name in licences:  # the backbone's licence goes with its files (Apache-2.0 asks for it)
            shutil.copyfile(backbone_folder / file_name, staging / file_name)
        (staging / HEAD_FILE).write_bytes(head.to_bytes())
        buffer = io.BytesIO()
        np.savez(buffer, features=features.astype(np.float32), labels=targets.astype(np.int64))
        (staging / EXAMPLES_FILE).write_bytes(buffer.getvalue())
        counts = [int((targets == i).sum()) for i in range(len(labels))]
        today = datetime.date.today().isoformat()
        manifest = {
            "schema": 1, "name": name, "task": TASK, "subject": "photos",
            "title": name.replace("-", " ").capitalize(),
            "about": f"Taught by a class on {today}: {', '.join(labels)}"[:200],
            "labels": list(labels),
            "input": backbone_manifest["input"],
            "output": {"activation": "softmax", "unsure_below": unsure_below},
            "variants": variants,
            "head": {"file": HEAD_FILE, "size": (staging / HEAD_FILE).stat().st_size,
                     "sha256": _sha256(staging / HEAD_FILE), "features": kind,
                     "backbone_task": backbone_manifest["task"]},
            "examples": {"file": EXAMPLES_FILE, "size": (staging / EXAMPLES_FILE).stat().st_size,
                         "sha256": _sha256(staging / EXAMPLES_FILE), "counts": counts},
            "licence": (backbone_manifest.get("licence") or "")[:120] + "; the trained layer: made by the class",
            "source": {"taught": True, "date": today, "backbone": backbone_manifest.get("name") or backbone_folder.name,
                       "backbone_source": backbone_manifest.get("source"), "licence_files": licences},
            "metrics": {"examples": int(targets.size),
                        **({"accuracy": evaluation.accuracy, "accuracy_method": evaluation.method}
                           if evaluation is not None else {})},
        }
        (staging / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
        old = None
        if final.exists():
            old = models_dir / f"{name}.tmp-old-{os.getpid()}"
            shutil.rmtree(old, ignore_errors=True)
            final.rename(old)
        staging.rename(final)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
        return final
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _checked_file(folder: Path, about: object, what: str) -> bytes:
    if not isinstance(about, dict) or not isinstance(about.get("file"), str) or Path(about["file"]).name != about["file"]:
        raise ModelError(f"manifest.json: {what} must name a file in the model folder")
    try:
        data = (folder / about["file"]).read_bytes()
    except OSError as exc:
        raise ModelError(f"{about['file']} cannot be read ({exc.strerror}): copy the model folder again") from None
    if about.get("sha256") and hashlib.sha256(data).hexdigest() != about["sha256"]:
        raise ModelError(f"{about['file']} does not match its sha256 in the manifest: copy the model folder again")
    return data


def read_head(folder: Path, about: object) -> Head:
    try:
        return Head.from_bytes(_checked_file(folder, about, "head"))
    except ValueError as exc:
        raise ModelError(f"the trained layer cannot be used ({exc}): save the model again") from None


def read_examples(folder: Path) -> tuple[dict, np.ndarray, np.ndarray]:
    """The saved model's manifest, and its examples (features, labels), checked."""
    try:
        manifest = json.loads((folder / "manifest.json").read_text())
    except (OSError, ValueError) as exc:
        raise ModelError(f"the saved model's manifest cannot be read ({exc})") from None
    if not isinstance(manifest, dict) or manifest.get("task") != TASK:
        raise ClassStateError(f"{folder.name!r} is not a model a class taught: only those can be reopened",
                              "not_taught")
    data = _checked_file(folder, manifest.get("examples"), "examples")
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as arrays:
            features, labels = arrays["features"], arrays["labels"]
    except (ValueError, KeyError, OSError) as exc:
        raise ModelError(f"the saved examples cannot be read ({exc}): save the model again") from None
    if (features.ndim != 2 or labels.shape != (features.shape[0],) or not np.isfinite(features).all()
            or labels.size and (labels.min() < 0 or labels.max() >= len(manifest.get("labels", [])))):
        raise ModelError("the saved examples do not match the model's things: save the model again")
    return manifest, features.astype(np.float32), labels.astype(np.int64)


def zipped(folder: Path) -> bytes:
    """The model folder as a zip (`NAME/...`), for another hub's models folder."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(folder.iterdir()):
            if path.is_file():
                archive.write(path, f"{folder.name}/{path.name}")
    return buffer.getvalue()
