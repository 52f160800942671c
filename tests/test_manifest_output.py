"""The manifest's output.activation and labels file, through the real loader, probe and interpreter.

Fast and without TensorFlow: copies of the bundled digits model with an edited manifest.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from hub import tasks
from hub.adapters.budget import UNLIMITED
from hub.config import LimitsConfig
from hub.errors import ModelError
from hub.loader import load_model
from hub.runtime.litert import select_runtime
from hub.tasks.base import Picture
from tests.conftest import BUNDLED
from tests.drawing import png, render


def digits_with(tmp_path: Path, **changes) -> Path:
    """A copy of models/digits whose manifest has `changes` (a value of None removes the key)."""
    folder = tmp_path / "digits"
    shutil.copytree(BUNDLED / "digits", folder)
    manifest = json.loads((folder / "manifest.json").read_text())
    for key, value in changes.items():
        if value is None:
            manifest.pop(key, None)
        else:
            manifest[key] = value
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return folder


def scores_and_raw(loaded, digit: int) -> tuple[np.ndarray, np.ndarray]:
    """The hub's scores (by class index) for a drawn digit, and the int8 output the interpreter gave."""
    spec = loaded.spec
    task = tasks.get(spec.task)
    inputs = task.prepare(Picture(png(render(digit, pen=18))), spec, LimitsConfig(), UNLIMITED)
    interpreter = select_runtime().Interpreter(model_content=loaded.content["cpu"], num_threads=1)
    interpreter.allocate_tensors()
    interpreter.set_tensor(interpreter.get_input_details()[0]["index"], inputs[0])
    interpreter.invoke()
    raw = interpreter.get_tensor(interpreter.get_output_details()[0]["index"])
    classes = task.decode([raw], spec, {"top_k": len(spec.labels)}).predictions
    return np.array([c.score for c in sorted(classes, key=lambda c: c.index)]), raw


def test_the_committed_manifests_declare_softmax_and_the_files_agree():
    for name in ("digits", "spoken-digits"):
        assert json.loads((BUNDLED / name / "manifest.json").read_text())["output"] == {"activation": "softmax"}
    interpreter = select_runtime().Interpreter(model_path=str(BUNDLED / "digits" / "digits_int8.tflite"))
    scale, zero = interpreter.get_output_details()[0]["quantization"]
    assert (scale, zero) == (1 / 256, -128)  # what the hub would have derived: a softmax output


def test_declared_logits_are_turned_into_a_softmax_of_the_dequantized_outputs(tmp_path):
    loaded = load_model(digits_with(tmp_path, output={"activation": "logits"}), 30)
    assert loaded.spec.activation == "logits"
    out = loaded.spec.outputs[0]
    scores, raw = scores_and_raw(loaded, 3)
    logits = out.scale * (raw.reshape(-1).astype(np.float64) - out.zero_point)
    expected = np.exp(logits - logits.max()) / np.exp(logits - logits.max()).sum()
    assert np.allclose(scores, expected, atol=1e-6)
    assert scores.sum() == pytest.approx(1.0, abs=1e-5)
    assert not np.allclose(scores, out.scale * (raw.reshape(-1) - out.zero_point), atol=1e-3)  # not taken as is


@pytest.mark.parametrize("output", [{"activation": "softmax"}, None], ids=["declared", "derived"])
def test_softmax_scores_are_the_dequantized_outputs(tmp_path, output):
    loaded = load_model(digits_with(tmp_path, output=output), 30)
    assert loaded.spec.activation == "softmax"
    out = loaded.spec.outputs[0]
    scores, raw = scores_and_raw(loaded, 3)
    assert np.allclose(scores, out.scale * (raw.reshape(-1).astype(np.float64) - out.zero_point), atol=1e-6)
    assert int(np.argmax(scores)) == 3


def test_an_unknown_activation_is_refused(tmp_path):
    with pytest.raises(ModelError, match=r"output\.activation 'relu'"):
        load_model(digits_with(tmp_path, output={"activation": "relu"}), 30)


@pytest.mark.parametrize("labels,fragment", [
    ("../labels.txt", "must be a plain file name"),  # the file is there, outside the model folder
    ("sub/labels.txt", "must be a plain file name"),
    ("labels.txt", "which is missing"),
])
def test_a_labels_file_with_a_path_or_missing_is_refused(tmp_path, labels, fragment):
    folder = digits_with(tmp_path, labels=labels)
    if "/" in labels:
        (folder / labels).parent.mkdir(exist_ok=True)
        (folder / labels).write_text("\n".join(str(i) for i in range(10)) + "\n")
    with pytest.raises(ModelError, match=fragment):
        load_model(folder, 30)


def test_a_labels_file_in_the_folder_is_read(tmp_path):
    folder = digits_with(tmp_path, labels="labels.txt")
    names = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
    (folder / "labels.txt").write_text("\n".join(names) + "\n")
    assert load_model(folder, 30).spec.labels == tuple(names)
