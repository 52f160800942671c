"""classroom-quantize end to end with real TensorFlow: recipes, a user's own model, the gate, the hub.

Slow (TensorFlow training on 2 cores); marked `quantize`. Everything runs for real: training,
conversion, LiteRT evaluation, atomic writes, and the hub loading what was written.
"""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.conftest import BUNDLED, SHARED
from tests.drawing import png, render

pytestmark = pytest.mark.quantize
tf = pytest.importorskip("tensorflow")
FSDD = SHARED / "data" / "fsdd"
ALL_VARIANTS = {"float32", "dynamic", "float16", "int8", "int8-uint8io", "qat-int8", "pruned-int8", "clustered-int8"}


def quantize_cli(*args: str) -> int:
    from quantize.cli import main

    return main([str(a) for a in args])


@pytest.fixture(scope="module")
def built_digits(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("digits-build")
    assert quantize_cli("build", "digits", "--out", out, "--seed", "0") == 0
    return out / "digits"


def test_digits_build_measures_every_variant_and_meets_the_targets(built_digits):
    manifest = json.loads((built_digits / "manifest.json").read_text())
    metrics = manifest["metrics"]
    variants = metrics["variants"]
    assert set(variants) == ALL_VARIANTS
    ref = variants["float32"]
    for name, v in variants.items():
        assert 0.9 < v["accuracy"] <= 1 and v["agreement"] > 0.95 and v["median_invoke_ms"] > 0, name
        assert set(v["conditions"]) == {"poor light", "low contrast", "blur", "sensor noise"}
        assert v["gzip_size"] < v["size"] or name == "float32"
    assert metrics["size_ratio_int8_to_float"] <= 0.27
    assert (ref["accuracy"] - variants["int8"]["accuracy"]) * 100 <= 1.0  # PTQ
    assert (ref["accuracy"] - variants["qat-int8"]["accuracy"]) * 100 <= 0.5  # QAT
    assert variants["pruned-int8"]["gzip_size"] < 0.85 * variants["int8"]["gzip_size"]
    assert variants["clustered-int8"]["gzip_size"] < 0.85 * variants["int8"]["gzip_size"]
    assert metrics["shipped"] in ("int8", "qat-int8")
    assert manifest["variants"]["cpu"]["variant"] == metrics["shipped"]
    assert manifest["edgetpu"]["check"]["verdict"] == "ready"
    assert manifest["provenance"]["converter"].startswith("TFLiteConverter")
    assert manifest["output"] == {"activation": "softmax"}  # the recipe ends in a softmax Dense layer
    report = json.loads((built_digits / "report.json").read_text())
    assert {v["name"] for v in report["variants"]} == ALL_VARIANTS
    assert "| qat-int8" in (built_digits / "report.md").read_text()
    chart = cv2.imdecode(np.frombuffer((built_digits / "report.png").read_bytes(), np.uint8), cv2.IMREAD_COLOR)
    assert chart is not None and chart.shape[0] > 200


def test_rebuilding_with_the_same_seed_reproduces_the_committed_model(built_digits):
    committed = json.loads((BUNDLED / "digits" / "manifest.json").read_text())
    rebuilt = json.loads((built_digits / "manifest.json").read_text())
    assert committed["provenance"]["seed"] == rebuilt["provenance"]["seed"] == 0
    assert committed["provenance"]["data_sha256"] == rebuilt["provenance"]["data_sha256"]
    assert abs(committed["variants"]["cpu"]["accuracy"] - rebuilt["variants"]["cpu"]["accuracy"]) <= 0.015


def test_the_hub_serves_what_was_built(built_digits, start_hub, tmp_path):
    import shutil

    models = tmp_path / "models"
    shutil.copytree(built_digits, models / "digits")
    hub = start_hub(models)
    right = 0
    for digit in range(10):
        reply = hub.post("/api/models/digits/classify", data=png(render(digit, pen=18)),
                         headers={"Content-Type": "image/png"})
        assert reply.status_code == 200, reply.text
        right += reply.json()["predictions"][0]["index"] == digit
    assert right >= 8


def test_gate_refusal_exit_code_and_nothing_written(tmp_path, capsys):
    assert quantize_cli("build", "digits", "--out", tmp_path, "--epochs", "2", "--fine-tune-epochs", "1",
                        "--max-drop", "-100") == 3
    assert "Nothing was written" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_spoken_digits_missing_data_is_a_clear_error(tmp_path, capsys):
    assert quantize_cli("build", "spoken-digits", "--data", tmp_path / "nothing", "--out", tmp_path) == 2
    assert "no spoken-digit data" in capsys.readouterr().err


def test_spoken_digits_short_build_writes_an_audio_model(tmp_path):
    if not (FSDD / "recordings").is_dir():
        pytest.skip(f"the Free Spoken Digit Dataset is not in {FSDD} (../shared is absent)")
    assert quantize_cli("build", "spoken-digits", "--out", tmp_path, "--epochs", "2", "--fine-tune-epochs", "1",
                        "--no-held-out", "--max-drop", "100") == 0
    manifest = json.loads((tmp_path / "spoken-digits" / "manifest.json").read_text())
    assert manifest["task"] == "audio-classification"
    assert manifest["input"]["preprocess"]["kind"] == "audio"
    assert manifest["input"]["shape"] == [1, 61, 40, 1]
    assert manifest["output"] == {"activation": "softmax"}
    conditions = manifest["metrics"]["variants"]["int8"]["conditions"]
    assert {"room noise 20 dB", "room noise 10 dB", "room noise 5 dB", "children talking 10 dB"} == set(conditions)
    from hub.loader import load_model

    assert load_model(tmp_path / "spoken-digits", 60).spec.task == "audio-classification"


# --- a user's own model ---------------------------------------------------------------------------

LABELS = ["zero", "one", "two"]


def _picture(digit: int, rng) -> np.ndarray:
    image = render(digit, pen=int(rng.integers(12, 22)), slant=float(rng.uniform(-0.2, 0.2)), ink_dark=True)
    return cv2.resize(image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY), (16, 16),
                      interpolation=cv2.INTER_AREA)


@pytest.fixture(scope="module")
def user_project(tmp_path_factory) -> Path:
    """What a school developer has: a trained .keras file, pictures in folders, a labels file."""
    import tf_keras as keras

    root = tmp_path_factory.mktemp("user")
    rng = np.random.default_rng(1)
    xs, ys = [], []
    for split, count in (("train", 40), ("eval", 15), ("calib", 10)):
        for label, digit in enumerate((0, 1, 2)):
            folder = root / split / LABELS[label] if split != "calib" else root / "calib"
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(count):
                picture = _picture(digit, rng)
                cv2.imwrite(str(folder / f"{LABELS[label]}_{i}.png"), picture)
                if split == "train":
                    xs.append(picture[..., None] / 255.0)
                    ys.append(label)
    (root / "labels.txt").write_text("\n".join(LABELS) + "\n")
    model = keras.Sequential([
        keras.layers.Input((16, 16, 1)),
        keras.layers.Conv2D(8, 3, activation="relu"),
        keras.layers.MaxPooling2D(),
        keras.layers.Flatten(),
        keras.layers.Dense(3, activation="softmax"),
    ])
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(np.array(xs, np.float32), np.array(ys), epochs=15, verbose=0)
    model.save(root / "shapes.keras")
    return root


def test_convert_a_users_model_with_eval_and_train(user_project, tmp_path):
    p = user_project
    out = tmp_path / "models" / "my-digits"
    assert quantize_cli("convert", p / "shapes.keras", "--calib", p / "calib", "--labels", p / "labels.txt",
                        "--out", out, "--eval", p / "eval", "--train", p / "train", "--fine-tune-epochs", "1",
                        "--max-drop", "5") == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert set(manifest["metrics"]["variants"]) == ALL_VARIANTS
    assert manifest["labels"] == LABELS and manifest["input"]["preprocess"]["value_range"] == [0.0, 1.0]
    assert manifest["input"]["preprocess"]["color"] == "gray"
    assert manifest["output"] == {"activation": "softmax"}  # from the model's last layer
    from hub.loader import load_model

    loaded = load_model(out, 60)
    assert loaded.spec.labels == tuple(LABELS) and loaded.spec.activation == "softmax"


def test_convert_without_eval_gates_on_agreement_and_skips_training_variants(user_project, tmp_path):
    p = user_project
    out = tmp_path / "models" / "quick"
    assert quantize_cli("convert", p / "shapes.keras", "--calib", p / "calib", "--labels", p / "labels.txt",
                        "--out", out, "--max-drop", "50") == 0
    report = json.loads((out / "report.json").read_text())
    skipped = {v["name"]: v["skipped"] for v in report["variants"] if v["skipped"]}
    assert set(skipped) == {"qat-int8", "pruned-int8", "clustered-int8"}
    assert all("--train" in why for why in skipped.values())
    assert cv2.imdecode(np.frombuffer((out / "report.png").read_bytes(), np.uint8), cv2.IMREAD_COLOR) is not None
    assert json.loads((out / "manifest.json").read_text())["output"] == {"activation": "softmax"}


@pytest.mark.parametrize("last,activation", [
    ("sigmoid", "sigmoid"), ("linear", "logits"), ("Softmax", "softmax"), ("ReLU", "logits"),
])
def test_convert_declares_what_a_keras_model_ends_in(user_project, tmp_path, last, activation):
    """The last layer says; where it cannot (a ReLU layer), the int8 file's output quantization does."""
    import tf_keras as keras

    layers = [keras.layers.Input((16, 16, 1)), keras.layers.Flatten()]
    if last in ("sigmoid", "linear"):
        layers.append(keras.layers.Dense(3, activation=last))
    else:
        layers += [keras.layers.Dense(3), getattr(keras.layers, last)()]
    keras.Sequential(layers).save(tmp_path / "m.keras")
    p, out = user_project, tmp_path / "models" / "ends"
    assert quantize_cli("convert", tmp_path / "m.keras", "--calib", p / "calib", "--labels", p / "labels.txt",
                        "--out", out, "--max-drop", "100") == 0
    assert json.loads((out / "manifest.json").read_text())["output"] == {"activation": activation}


@pytest.mark.parametrize("softmax", [False, True], ids=["logits", "softmax"])
def test_convert_a_plain_savedmodel_declares_its_output_from_the_int8_file(user_project, tmp_path, softmax):
    """A SavedModel that Keras did not write says nothing of its activation: the converted file's
    output quantization does (scale 1/256, zero point -128 for a softmax), and the hub agrees."""
    rng = np.random.default_rng(0)

    class Plain(tf.Module):
        def __init__(self):
            super().__init__()
            self.w = tf.Variable(rng.normal(size=(256, 3)).astype(np.float32))

        @tf.function(input_signature=[tf.TensorSpec([None, 16, 16, 1], tf.float32)])
        def __call__(self, x):
            logits = tf.matmul(tf.reshape(x, [-1, 256]), self.w)
            return {"scores": tf.nn.softmax(logits) if softmax else logits}

    model = Plain()
    tf.saved_model.save(model, str(tmp_path / "plain"), signatures=model.__call__)
    p, out = user_project, tmp_path / "models" / "plain"
    assert quantize_cli("convert", tmp_path / "plain", "--calib", p / "calib", "--labels", p / "labels.txt",
                        "--out", out, "--max-drop", "100") == 0
    expected = "softmax" if softmax else "logits"
    assert json.loads((out / "manifest.json").read_text())["output"] == {"activation": expected}
    from hub.loader import load_model

    assert load_model(out, 60).spec.activation == expected


@pytest.mark.parametrize("case,fragment", [
    ("tflite", "already a TFLite model"),
    ("npy-shape", "wrong shapes in the calibration set"),
    ("no-calib", "no calibration data"),
    ("labels", "lists 2 labels"),
    ("eval-label", "not in the labels file"),
    ("gru", "unsupported layer: GRU"),
    ("dynamic", "not fixed"),
    ("name", "cannot be a model name"),
])
def test_convert_bad_inputs_are_clear_errors(user_project, tmp_path, capsys, case, fragment):
    import tf_keras as keras

    p = user_project
    model, calib, labels, out, extra = p / "shapes.keras", p / "calib", p / "labels.txt", tmp_path / "m" / "x", []
    if case == "tflite":
        model = BUNDLED / "digits" / "digits_int8.tflite"
    elif case == "npy-shape":
        calib = tmp_path / "calib.npy"
        np.save(calib, np.zeros((4, 8, 8, 1), np.float32))
    elif case == "no-calib":
        calib = tmp_path / "missing"
    elif case == "labels":
        labels = tmp_path / "two.txt"
        labels.write_text("a\nb\n")
    elif case == "eval-label":
        (tmp_path / "eval" / "seven").mkdir(parents=True)
        extra = ["--eval", tmp_path / "eval"]
    elif case == "gru":
        model = tmp_path / "gru.keras"
        keras.Sequential([keras.layers.Input((16, 16)), keras.layers.GRU(4), keras.layers.Dense(3)]).save(model)
        calib = tmp_path / "c.npy"
        np.save(calib, np.zeros((2, 16, 16), np.float32))
    elif case == "dynamic":
        model = tmp_path / "dyn.keras"
        keras.Sequential([keras.layers.Input((None, None, 1)), keras.layers.Conv2D(3, 3),
                          keras.layers.GlobalAveragePooling2D()]).save(model)
    elif case == "name":
        out = tmp_path / "m" / "bad name!"
    assert quantize_cli("convert", model, "--calib", calib, "--labels", labels, "--out", out, *extra) == 2
    assert fragment in capsys.readouterr().err
    assert not out.exists()
