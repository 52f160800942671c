"""Open Inference Protocol (KServe v2): plain JSON and an unmodified tritonclient against the real hub
(one for the module), the protocol's errors in process."""
from __future__ import annotations

import json

import numpy as np
import pytest

from tests.conftest import CORAL


def digit_tensor(value: int = 0) -> np.ndarray:
    return np.full((1, 8, 8, 1), value, np.int8)


def v2_body(array: np.ndarray, name: str = "serving_default_x:0", datatype: str = "INT8", **extra) -> dict:
    return {"id": "req-1", "inputs": [{"name": name, "shape": list(array.shape), "datatype": datatype,
                                       "data": array.reshape(-1).tolist()}], **extra}


def test_server_and_health_endpoints(zoo_hub):
    meta = zoo_hub.get("/v2").json()
    assert meta["name"] == "classroom-hub" and "binary_tensor_data" in meta["extensions"]
    assert zoo_hub.get("/v2/health/live").status_code == 200
    assert zoo_hub.get("/v2/health/ready").status_code == 200
    assert zoo_hub.get("/v2/models/digits/ready").status_code == 200
    assert zoo_hub.get("/v2/models/digits/versions/1/ready").status_code == 200
    assert zoo_hub.get("/v2/models/nope/ready").status_code == 404


def test_model_metadata(zoo_hub):
    meta = zoo_hub.get("/v2/models/digits").json()
    assert meta["name"] == "digits" and meta["versions"] == ["1"]
    assert meta["inputs"] == [{"name": "serving_default_x:0", "datatype": "INT8", "shape": [1, 8, 8, 1]}]
    assert meta["outputs"][0]["datatype"] == "INT8" and meta["outputs"][0]["shape"] == [1, 10]
    assert zoo_hub.get("/v2/models/digits/versions/7").status_code == 404


def test_infer_json_matches_the_raw_interpreter(zoo_hub):
    from ai_edge_litert.interpreter import Interpreter

    from tests.conftest import BUNDLED

    rng = np.random.default_rng(0)
    x = rng.integers(-128, 127, (1, 8, 8, 1)).astype(np.int8)
    reply = zoo_hub.post("/v2/models/digits/infer", json=v2_body(x))
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert body["model_name"] == "digits" and body["id"] == "req-1"
    out = body["outputs"][0]
    interpreter = Interpreter(model_path=str(BUNDLED / "digits" / "digits_int8.tflite"))
    interpreter.allocate_tensors()
    interpreter.set_tensor(interpreter.get_input_details()[0]["index"], x)
    interpreter.invoke()
    expected = interpreter.get_tensor(interpreter.get_output_details()[0]["index"])
    assert out["shape"] == [1, 10] and out["datatype"] == "INT8"
    assert out["data"] == expected.reshape(-1).tolist()


BAD_V2 = [
    ("wrong shape", v2_body(np.zeros((1, 8, 8), np.int8)), "shape"),
    ("wrong dtype", v2_body(digit_tensor().astype(np.float32), datatype="FP32"), "datatype"),
    ("unknown datatype", v2_body(digit_tensor(), datatype="INT3"), "datatype"),
    ("too few values", {"inputs": [{"name": "x", "shape": [1, 8, 8, 1], "datatype": "INT8", "data": [1, 2]}]}, "values"),
    ("out of range", v2_body(np.full((1, 8, 8, 1), 300), datatype="INT8"), "from -128 to 127"),
    ("fractions for ints", {"inputs": [{"name": "x", "shape": [1, 8, 8, 1], "datatype": "INT8", "data": [0.5] * 64}]}, "whole"),
    ("no inputs", {"inputs": []}, "inputs"),
    ("no data", {"inputs": [{"name": "x", "shape": [1, 8, 8, 1], "datatype": "INT8"}]}, "no data"),
    ("strings", {"inputs": [{"name": "x", "shape": [1, 8, 8, 1], "datatype": "INT8", "data": ["a"] * 64}]}, "numbers"),
    ("unknown output", v2_body(digit_tensor(), outputs=[{"name": "nope"}]), "unknown output"),
    ("an output twice", v2_body(digit_tensor(), outputs=[{"name": "StatefulPartitionedCall:0"}] * 2),
     "more than once"),
]


@pytest.mark.parametrize("name,body,words", BAD_V2, ids=[b[0] for b in BAD_V2])
def test_bad_tensors_are_400_with_protocol_error(zoo_app, name, body, words):
    reply = zoo_app.http.post("/v2/models/digits/infer", json=body)
    assert reply.status_code == 400, reply.text
    assert words in reply.get_json()["error"]


def test_not_json_is_400(zoo_app):
    reply = zoo_app.http.post("/v2/models/digits/infer", data=b"{nope", headers={"Content-Type": "application/json"})
    assert reply.status_code == 400 and "JSON" in reply.get_json()["error"]


def test_unknown_model_is_404(zoo_app):
    assert zoo_app.http.post("/v2/models/nope/infer", json=v2_body(digit_tensor())).status_code == 404


def test_binary_extension_round_trip(zoo_hub):
    x = digit_tensor(5)
    head = json.dumps({"inputs": [{"name": "serving_default_x:0", "shape": [1, 8, 8, 1], "datatype": "INT8",
                                   "parameters": {"binary_data_size": 64}}],
                       "outputs": [{"name": zoo_hub.get("/v2/models/digits").json()["outputs"][0]["name"],
                                    "parameters": {"binary_data": True}}]}).encode()
    reply = zoo_hub.post("/v2/models/digits/infer", data=head + x.tobytes(),
                     headers={"Inference-Header-Content-Length": str(len(head)),
                              "Content-Type": "application/octet-stream"})
    assert reply.status_code == 200, reply.text
    n = int(reply.headers["Inference-Header-Content-Length"])
    meta = json.loads(reply.content[:n])
    assert meta["outputs"][0]["parameters"]["binary_data_size"] == 10
    assert len(reply.content) == n + 10


def test_tritonclient_unmodified(zoo_hub):
    http = pytest.importorskip("tritonclient.http")
    client = http.InferenceServerClient(url=zoo_hub.url.removeprefix("http://"))
    assert client.is_server_live() and client.is_server_ready()
    assert client.is_model_ready("digits")
    meta = client.get_model_metadata("digits")
    name = meta["inputs"][0]["name"]
    x = np.random.default_rng(1).integers(-128, 127, (1, 8, 8, 1)).astype(np.int8)
    for binary in (True, False):
        inp = http.InferInput(name, [1, 8, 8, 1], "INT8")
        inp.set_data_from_numpy(x, binary_data=binary)
        out = http.InferRequestedOutput(meta["outputs"][0]["name"], binary_data=binary)
        result = client.infer("digits", [inp], outputs=[out])
        first = result.as_numpy(meta["outputs"][0]["name"])
        assert first.shape == (1, 10) and first.dtype == np.int8
    plain = client.infer("digits", [inp])  # no outputs named: all of them
    assert plain.as_numpy(meta["outputs"][0]["name"]).tolist() == first.tolist()
    with pytest.raises(Exception, match="shape"):
        bad = http.InferInput(name, [1, 8, 8], "INT8")
        bad.set_data_from_numpy(x[..., 0])
        client.infer("digits", [bad])


def test_coral_mobilenet_over_v2_uint8(zoo_hub, coral):
    import cv2

    cat = cv2.resize(cv2.imread(str(CORAL / "cat.bmp"))[:, :, ::-1], (128, 128))[None]
    reply = zoo_hub.post("/v2/models/mobilenet/infer",
                     json=v2_body(cat, name="input", datatype="UINT8"))
    assert reply.status_code == 200, reply.text
    scores = np.array(reply.json()["outputs"][0]["data"])
    labels = (CORAL / "imagenet_labels.txt").read_text().splitlines()
    assert "cat" in labels[int(scores.argmax())]
