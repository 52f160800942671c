"""Edge TPU paths without a TPU: the real load_delegate failing, Coral _edgetpu files, and a
fault injected into a (simulated) accelerator's worker mid-run, then its return."""
from __future__ import annotations

import threading

import pytest

from hub.accelerators import AcceleratorUnavailable, build_pool
from hub.accelerators.edgetpu import load_edgetpu_delegate
from hub.config import load_config
from hub.manifest import ModelSpec, Preprocess, Variant
from hub.runtime.litert import select_runtime
from tests.conftest import coral_model, wait_for
from tests.drawing import png, render

PNG = {"Content-Type": "image/png"}


def test_real_load_delegate_fails_with_the_reason(tmp_path):
    runtime = select_runtime()
    with pytest.raises(AcceleratorUnavailable, match="libedgetpu.so.1"):
        load_edgetpu_delegate(runtime, "libedgetpu.so.1", {"device": "usb:0"})
    pool = build_pool(load_config(environ={}, overrides={"edgetpu": {"devices": ["usb:0"]}}), runtime)
    (acc,) = pool.accelerators
    assert acc.kind == "edgetpu" and acc.state == "unavailable" and "libedgetpu.so.1" in acc.reason
    spec = ModelSpec("m", "image-classification", (), Preprocess(),
                     {"cpu": Variant("cpu", tmp_path / "m.tflite"),
                      "edgetpu": Variant("edgetpu", tmp_path / "m_edgetpu.tflite")})
    assert acc.accepts(spec) and pool.could_serve(spec)
    assert pool.claim(spec) is None  # an unavailable TPU is never handed out
    assert "libedgetpu.so.1" in pool.why_not(spec)
    pool.close()


def test_no_tpu_found_says_so():
    pool = build_pool(load_config(environ={}), select_runtime())
    if pool.accelerators:
        pytest.skip("this machine has an Edge TPU")
    assert any("no Edge TPU found" in note for note in pool.notes)


def test_configured_tpu_missing_serves_edgetpu_model_on_cpu(models_dir, start_hub, coral):
    coral_model(models_dir, "mobilenet", ["mobilenet_v1_0.25_128_quant.tflite",
                                           "mobilenet_v1_0.25_128_quant_edgetpu.tflite", "imagenet_labels.txt"])
    hub = start_hub(models_dir, edgetpu={"devices": ["usb:0"]})
    model = hub.model("mobilenet")
    assert model["status"] == "ready" and model["backend"] == "cpu"
    assert "libedgetpu" in model["accelerator_reason"]
    assert set(model["variants"]) == {"cpu", "edgetpu"}
    reply = hub.post("/api/models/mobilenet/classify", data=(coral / "cat.bmp").read_bytes(),
                     headers={"Content-Type": "image/bmp"})
    assert reply.status_code == 200 and "cat" in reply.json()["predictions"][0]["label"]
    status = hub.get("/api/status").json()
    assert status["accelerators"]["devices"][0]["state"] == "unavailable"
    assert ('classroom_hub_accelerator_up{device="usb:0",kind="edgetpu",state="unavailable",simulated="false"} 0'
            in hub.get("/metrics").text)


def test_edgetpu_file_alone_is_unavailable_while_others_serve(models_dir, start_hub, coral):
    coral_model(models_dir, "lstm", ["keras_lstm_mnist_ptq_edgetpu.tflite"])
    hub = start_hub(models_dir)
    lstm = hub.model("lstm")
    assert lstm["status"] == "unavailable"
    assert "Edge TPU only" in lstm["reason"] and "keras_lstm_mnist_ptq.tflite" in lstm["reason"]
    reply = hub.post("/api/models/lstm/classify", data=(coral / "mnist_nine.bmp").read_bytes(),
                     headers={"Content-Type": "image/bmp"})
    assert reply.status_code == 503 and "Edge TPU only" in reply.json()["error"]
    assert hub.get("/v2/models/lstm/ready").status_code == 503
    assert hub.post("/api/models/digits/classify", data=png(render(2)), headers=PNG).status_code == 200


def test_coral_lstm_with_cpu_sibling_reads_the_nine(models_dir, start_hub, coral):
    coral_model(models_dir, "lstm", ["keras_lstm_mnist_ptq.tflite", "keras_lstm_mnist_ptq_edgetpu.tflite"])
    hub = start_hub(models_dir)
    assert hub.model("lstm")["backend"] == "cpu"
    reply = hub.post("/api/models/lstm/classify", data=(coral / "mnist_nine.bmp").read_bytes(),
                     headers={"Content-Type": "image/bmp"})
    assert reply.status_code == 200 and reply.json()["predictions"][0]["label"] == "9"


@pytest.fixture
def tpu_hub(models_dir, start_hub):
    """digits on a simulated accelerator (its CPU file in a real interpreter), faults under test control."""
    return start_hub(models_dir, testing={"simulated_edgetpu": 1, "fault_injection": True})


def classify(hub, digit=3):
    return hub.post("/api/models/digits/classify", data=png(render(digit)), headers=PNG)


def test_simulated_tpu_fault_mid_run_falls_back_and_returns(tpu_hub):
    hub = tpu_hub
    model = hub.model("digits")
    assert (model["backend"], model["device"]) == ("simulated", "sim:0")
    assert classify(hub).json()["backend"] == "simulated"

    hub.post("/api/testing/faults", json={"device": "sim:0", "gone": True})
    reply = classify(hub)  # in flight when the TPU fails: retried on the CPU
    assert reply.status_code == 200 and reply.json()["backend"] == "cpu"
    assert reply.json()["predictions"][0]["label"] == "3"
    model = hub.model("digits")
    assert model["backend"] == "cpu" and model["fallbacks"] == 1 and "injected" in model["accelerator_reason"]
    metrics = hub.get("/metrics").text
    assert 'classroom_hub_fallbacks_total{model="digits"} 1' in metrics
    assert 'classroom_hub_accelerator_up{device="sim:0",kind="simulated",state="failed",simulated="true"} 0' in metrics
    for _ in range(5):  # while the TPU is gone, everything keeps working on the CPU
        assert classify(hub).json()["backend"] == "cpu"

    hub.post("/api/testing/faults", json={"device": "sim:0", "gone": False})
    wait_for(lambda: hub.model("digits")["backend"] == "simulated")
    assert hub.model("digits")["recoveries"] == 1
    assert classify(hub).json()["backend"] == "simulated"
    assert 'classroom_hub_recoveries_total{model="digits"} 1' in hub.get("/metrics").text
    assert "moving to the CPU" in hub.log() and "back on simulated sim:0" in hub.log()


def test_no_request_fails_when_the_tpu_breaks_under_load(tpu_hub):
    hub = tpu_hub
    failures, answers = [], []

    def tablet():
        for _ in range(25):
            r = classify(hub, 8)
            (answers if r.status_code == 200 else failures).append(r.status_code)

    threads = [threading.Thread(target=tablet) for _ in range(6)]
    for t in threads:
        t.start()
    hub.post("/api/testing/faults", json={"device": "sim:0", "fail_next": 3})
    for t in threads:
        t.join()
    assert failures == [] and len(answers) == 150


def test_fault_switch_is_off_by_default(models_dir, start_hub):
    hub = start_hub(models_dir)
    assert hub.post("/api/testing/faults", json={"gone": True}).status_code == 404
