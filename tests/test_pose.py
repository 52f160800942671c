"""The pose-estimation task on Coral's MoveNet Lightning and grace_hopper.bmp: against the raw
interpreter on the test's own letterboxed copy, letterboxing undone, through REST, Socket.IO and /v2
(in process, and one real hub), and a model that is not a single-pose model refused at load."""
from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
import socketio

from hub import tasks
from hub.adapters.budget import UNLIMITED
from hub.adapters.image import letterbox
from hub.errors import ModelError
from hub.loader import load_model
from hub.tasks import Picture
from tests.conftest import CORAL, call, need_coral
from tests.hostile import png_declaring

MOVENET = "movenet_single_pose_lightning_ptq.tflite"
SIZE = 192
FOUND = ("nose", "left eye", "right eye", "left shoulder", "right shoulder")  # what a portrait shows
NAMES = ["nose", "left eye", "right eye", "left ear", "right ear", "left shoulder", "right shoulder",
         "left elbow", "right elbow", "left wrist", "right wrist", "left hip", "right hip", "left knee",
         "right knee", "left ankle", "right ankle"]  # ../shared/coral/README.md
BMP = {"Content-Type": "image/bmp"}
TOLERANCE = 0.05  # of the picture's size: the target


def pose_folder(root: Path, name: str, model_file: str, task: str = "pose-estimation",
                shape: list[int] | None = None) -> Path:
    """A model folder with a manifest written as classroom-quantize writes one (sha256 and size)."""
    folder = root / name
    folder.mkdir(parents=True)
    shutil.copy(need_coral() / model_file, folder / model_file)
    content = (folder / model_file).read_bytes()
    manifest = {
        "schema": 1, "name": name, "task": task,
        "input": {"shape": shape or [1, SIZE, SIZE, 3], "dtype": "uint8",
                  "preprocess": {"kind": "image", "color": "rgb", "value_range": None}},
        "variants": {"cpu": {"file": model_file, "size": len(content),
                             "sha256": hashlib.sha256(content).hexdigest()}},
        "licence": "Apache-2.0", "source": "google-coral/test_data",
    }
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return folder


@pytest.fixture(scope="module")
def pose_models(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("pose-models")
    pose_folder(root, "movenet", MOVENET)
    return root


@pytest.fixture(scope="module")
def app(pose_models, in_process):
    return in_process(pose_models)


def own_letterbox(rgb: np.ndarray) -> tuple[np.ndarray, int, int, int, int]:
    """The test's own letterbox (centred, black padding): the canvas, left, top, width, height."""
    h, w = rgb.shape[:2]
    scale = SIZE / max(h, w)
    width, height = round(w * scale), round(h * scale)
    canvas = np.zeros((SIZE, SIZE, 3), np.uint8)
    left, top = (SIZE - width) // 2, (SIZE - height) // 2
    canvas[top:top + height, left:left + width] = cv2.resize(rgb, (width, height), interpolation=cv2.INTER_AREA)
    return canvas, left, top, width, height


def raw_keypoints(rgb: np.ndarray) -> np.ndarray:
    """(17, 3) y, x, score as fractions of the picture: the raw interpreter on the test's own
    letterboxed copy, and the letterbox undone by hand."""
    from ai_edge_litert.interpreter import Interpreter

    canvas, left, top, width, height = own_letterbox(rgb)
    interpreter = Interpreter(model_path=str(CORAL / MOVENET), num_threads=1)
    interpreter.allocate_tensors()
    interpreter.set_tensor(interpreter.get_input_details()[0]["index"], canvas[None])
    interpreter.invoke()
    out = interpreter.get_tensor(interpreter.get_output_details()[0]["index"])[0, 0].copy()
    out[:, 0] = (out[:, 0] * SIZE - top) / height
    out[:, 1] = (out[:, 1] * SIZE - left) / width
    return out


def by_name(reply: dict) -> dict:
    return {k["name"]: k for k in reply["keypoints"]}


def bmp(bgr: np.ndarray) -> bytes:
    ok, data = cv2.imencode(".bmp", bgr)
    assert ok
    return data.tobytes()


def test_letterbox_geometry_round_trips():
    """A marked pixel of a wide and of a tall picture comes back to where it was, through the
    hub's letterbox and its undoing."""
    for shape, mark in (((60, 200, 3), (45, 170)), ((300, 90, 3), (20, 70))):
        picture = np.zeros(shape, np.uint8)
        picture[mark[0], mark[1]] = 255
        boxed, box = letterbox(picture, (SIZE, SIZE))
        assert boxed.shape == (SIZE, SIZE, 3)
        assert (box.width == SIZE) != (box.height == SIZE) or box.width == box.height == SIZE
        y, x = np.unravel_index(int(np.argmax(boxed[:, :, 0])), boxed.shape[:2])
        fx, fy = box.to_picture((x + 0.5) / SIZE, (y + 0.5) / SIZE)
        assert abs(fx * shape[1] - (mark[1] + 0.5)) <= shape[1] / box.width + 0.5
        assert abs(fy * shape[0] - (mark[0] + 0.5)) <= shape[0] / box.height + 0.5


def test_grace_hopper_keypoints_where_the_raw_interpreter_puts_them(app, coral):
    data = (coral / "grace_hopper.bmp").read_bytes()
    reply = app.http.post("/api/models/movenet/predict", data=data, headers=BMP)
    assert reply.status_code == 200, reply.json
    body = reply.json
    assert body["task"] == "pose-estimation" and body["model"] == "movenet"
    assert [k["name"] for k in body["keypoints"]] == NAMES
    assert all(set(k) == {"name", "x", "y", "score"} and 0 <= k["x"] <= 1 and 0 <= k["y"] <= 1
               for k in body["keypoints"])
    rgb = cv2.imread(str(coral / "grace_hopper.bmp"))[:, :, ::-1]
    raw = raw_keypoints(rgb)
    points = by_name(body)
    for name in FOUND:
        y, x, score = raw[NAMES.index(name)]
        got = points[name]
        assert got["score"] > 0.3, (name, got)
        assert abs(got["x"] - x) <= TOLERANCE and abs(got["y"] - y) <= TOLERANCE, (name, got, (x, y))
    # and where a face is: eyes above the nose above the shoulders; her left on the picture's right
    assert points["left eye"]["y"] < points["nose"]["y"] < points["left shoulder"]["y"]
    assert points["right eye"]["x"] < points["nose"]["x"] < points["left eye"]["x"]
    assert points["right shoulder"]["x"] < points["left shoulder"]["x"]


def test_prepare_letterboxes_rather_than_stretches(app, coral):
    """The input tensor is the picture scaled with its aspect kept and padded black, centred: the
    same as the test's own letterbox, and the geometry for decode travels with it."""
    spec = app.hub.registry.get("movenet").spec
    prepared = tasks.get("pose-estimation").prepare(Picture((coral / "grace_hopper.bmp").read_bytes()), spec,
                                                    app.config.limits, UNLIMITED)
    canvas, left, top, width, height = own_letterbox(cv2.imread(str(coral / "grace_hopper.bmp"))[:, :, ::-1])
    assert left > 0 and prepared.inputs[0].shape == (1, SIZE, SIZE, 3) and prepared.inputs[0].dtype == np.uint8
    got = prepared.inputs[0][0].astype(int)
    assert not got[:, :left].any() and not got[:, left + width:].any()  # the padding: black, where the test put it
    # the picture: the test's own INTER_AREA scaling, within what the hub's faster resize changes
    # (hub/adapters/image.py resize_to: a whole-factor area shrink, then a box blur and bilinear):
    # a few levels on the uniform's texture; the keypoints test above checks the model still agrees
    assert float(np.abs(got - canvas).mean()) <= 4
    box = prepared.notes["letterbox"]
    assert (box.left, box.top, box.width, box.height) == (left, top, width, height)


@pytest.mark.parametrize("where", ["portrait at the left", "portrait at the bottom"])
def test_letterboxing_is_undone_on_a_padded_picture(app, coral, where):
    """The portrait on a grey canvas half as wide again (or as tall): the keypoints, taken back to
    the portrait's own coordinates, are where they are in the portrait alone."""
    portrait = cv2.imread(str(coral / "grace_hopper.bmp"))
    h, w = portrait.shape[:2]
    wide = where.endswith("left")
    canvas = np.full((h, w * 3 // 2, 3) if wide else (h * 3 // 2, w, 3), 128, np.uint8)
    top = 0 if wide else canvas.shape[0] - h
    canvas[top:top + h, :w] = portrait
    alone = by_name(app.http.post("/api/models/movenet/predict", data=bmp(portrait), headers=BMP).json)
    padded = by_name(app.http.post("/api/models/movenet/predict", data=bmp(canvas), headers=BMP).json)
    for name in FOUND:
        k = padded[name]
        x, y = k["x"] * canvas.shape[1] / w, (k["y"] * canvas.shape[0] - top) / h
        assert abs(x - alone[name]["x"]) <= TOLERANCE and abs(y - alone[name]["y"]) <= TOLERANCE, \
            (name, (x, y), alone[name])


def test_socketio_predict_in_process_and_classify_refused(app, coral):
    data = (coral / "grace_hopper.bmp").read_bytes()
    rest = app.http.post("/api/models/movenet/predict", data=data, headers=BMP).json
    tablet = app.tablet()
    reply = call(tablet, "predict", {"model": "movenet", "image": data})
    assert reply["task"] == "pose-estimation" and reply["keypoints"] == rest["keypoints"]
    refused = call(tablet, "classify", {"model": "movenet", "image": data})
    assert refused["code"] == "bad_input" and "predict" in refused["error"]
    assert app.http.post("/api/models/movenet/classify", data=data, headers=BMP).status_code == 400


def test_real_hub_rest_socketio_and_v2(pose_models, module_hubs, coral):
    hub = module_hubs(pose_models)
    data = (coral / "grace_hopper.bmp").read_bytes()
    rest = hub.post("/api/models/movenet/predict", data=data, headers=BMP)
    assert rest.status_code == 200, rest.text
    points = by_name(rest.json())
    assert all(points[name]["score"] > 0.3 for name in FOUND)

    client = socketio.Client(reconnection=False)
    client.connect(hub.url, namespaces=["/class"], transports=["websocket"], wait_timeout=10)
    try:
        live = client.call("predict", {"model": "movenet", "image": data}, namespace="/class", timeout=15)
    finally:
        client.disconnect()
    assert live["keypoints"] == rest.json()["keypoints"]

    # /v2: tensors in, tensors out, as for any model; the same as the raw interpreter
    from ai_edge_litert.interpreter import Interpreter

    tensor = np.random.default_rng(7).integers(0, 256, (1, SIZE, SIZE, 3), dtype=np.uint8)
    reply = hub.post("/v2/models/movenet/infer", json={"inputs": [
        {"name": "input", "shape": list(tensor.shape), "datatype": "UINT8", "data": tensor.reshape(-1).tolist()}]})
    assert reply.status_code == 200, reply.text
    output = reply.json()["outputs"][0]
    assert output["shape"] == [1, 1, 17, 3] and output["datatype"] == "FP32"
    interpreter = Interpreter(model_path=str(coral / MOVENET), num_threads=1)
    interpreter.allocate_tensors()
    interpreter.set_tensor(interpreter.get_input_details()[0]["index"], tensor)
    interpreter.invoke()
    expected = interpreter.get_tensor(interpreter.get_output_details()[0]["index"])
    assert np.allclose(np.array(output["data"], np.float32).reshape(1, 1, 17, 3), expected, atol=1e-4)


def test_a_model_that_is_not_single_pose_is_refused_at_load(tmp_path, coral):
    """MobileNet (output [1, 1001]) declared as a pose model: refused, saying what a pose model gives."""
    folder = pose_folder(tmp_path, "not-pose", "mobilenet_v1_0.25_128_quant.tflite", shape=[1, 128, 128, 3])
    with pytest.raises(ModelError, match=r"output is \[1, 1001\].*gives \[1, 1, 17, 3\]"):
        load_model(folder, probe_timeout_s=30)


def test_a_manifest_with_the_wrong_number_of_keypoint_names_is_refused(tmp_path, coral):
    folder = pose_folder(tmp_path, "movenet", MOVENET)
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["labels"] = NAMES[:5]
    (folder / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ModelError, match="17 keypoints but its manifest names 5"):
        load_model(folder, probe_timeout_s=30)


def test_a_picture_over_the_pixel_limit_is_refused_before_decoding(app):
    """The pose task decodes within the same limits as a classifier: a header declaring 9000x9000
    pixels is refused (413) from the header alone."""
    declared = png_declaring(9000, 9000)
    reply = app.http.post("/api/models/movenet/predict", data=declared, headers={"Content-Type": "image/png"})
    assert reply.status_code == 413 and "9000x9000" in reply.json["error"], reply.json
