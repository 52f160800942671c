"""The engine in process, with the real registry and interpreter: queue bounds, timeouts, workers."""
from __future__ import annotations

import threading
from contextlib import contextmanager

import numpy as np
import pytest

from hub.config import load_config
from hub.errors import InferenceTimeout, Overloaded
from hub.service import Hub
from tests.conftest import coral_model


@contextmanager
def running_hub(models_dir, with_mobilenet: bool = True, **engine):
    """A Hub in this process over models_dir (digits, plus Coral's mobilenet)."""
    if with_mobilenet:
        coral_model(models_dir, "mobilenet", ["mobilenet_v1_0.25_128_quant.tflite", "imagenet_labels.txt"])
    hub = Hub(load_config(environ={}, overrides={"models": {"dir": str(models_dir)}, "engine": engine}))
    hub.start(watch=False)
    try:
        yield hub
    finally:
        hub.close()


@pytest.fixture
def mobilenet_hub(models_dir):
    with running_hub(models_dir, cpu_workers=1, queue_size=4) as hub:
        yield hub


def cat_tensor() -> np.ndarray:
    return np.random.default_rng(0).integers(0, 255, (1, 128, 128, 3)).astype(np.uint8)


@contextmanager
def busy(engine):
    """Every worker of the engine in use, as by requests running on them: new jobs must queue."""
    workers = engine.executor.workers()
    for w in workers:
        w.lock.acquire()
    try:
        yield
    finally:
        for w in workers:
            w.lock.release()


def test_full_queue_refuses_with_retry_after_and_keeps_what_it_took(mobilenet_hub):
    engine = mobilenet_hub.registry.get("mobilenet").engine
    accepted, refused, x = [], [], cat_tensor()
    with busy(engine):
        for _ in range(100):
            try:
                accepted.append(engine.submit([x]))
            except Overloaded as exc:
                refused.append(exc)
    assert refused and accepted
    assert len(accepted) <= 5  # the queue of 4, and the one the worker took to wait for its interpreter
    assert all(exc.retry_after_s >= 1 and exc.status == 503 for exc in refused)
    results = [f.result(timeout=10) for f in accepted]
    assert all(r.outputs[0].shape == (1, 1001) and r.backend == "cpu" for r in results)


def test_a_free_cpu_worker_runs_the_job_on_the_callers_thread(mobilenet_hub):
    """No hand-off when nothing waits: the answer is there when submit returns, and equal to a
    queued run's answer on the same worker."""
    engine = mobilenet_hub.registry.get("mobilenet").engine
    x = cat_tensor()
    inline = engine.submit([x])
    assert inline.done() and inline.result().queue_ms < 1
    with busy(engine):
        queued = engine.submit([x])
        assert not queued.done()
    assert queued.result(timeout=10).outputs[0].tolist() == inline.result().outputs[0].tolist()


def test_timeout_cancels_a_request_still_queued(models_dir):
    with running_hub(models_dir, cpu_workers=1, queue_size=200) as hub:
        engine = hub.registry.get("mobilenet").engine
        x = cat_tensor()
        with busy(engine):
            backlog = [engine.submit([x]) for _ in range(150)]
            with pytest.raises(InferenceTimeout):
                hub.registry.infer("mobilenet", [cat_tensor()], timeout_s=0.001)
        for f in backlog:
            f.result(timeout=30)
        assert engine.executor.queue.qsize() == 0  # the cancelled one was skipped, not run


def test_one_interpreter_per_worker(models_dir):
    with running_hub(models_dir, with_mobilenet=False, cpu_workers=3) as hub:
        engine = hub.registry.get("digits").engine
        workers = engine.executor.workers()
        assert len(workers) == 3 and len({id(w.interpreter) for w in workers}) == 3
        x = np.zeros((1, 8, 8, 1), np.int8)
        outs = []
        threads = [threading.Thread(target=lambda: outs.append(
            hub.registry.infer("digits", [x], 5)[1].outputs[0].tolist())) for _ in range(30)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(outs) == 30 and all(o == outs[0] for o in outs)  # same input, same answer, any worker


def test_flood_over_http_gets_only_answers_or_503_with_retry_after(models_dir, start_hub):
    coral_model(models_dir, "mobilenet", ["mobilenet_v1_0.25_128_quant.tflite", "imagenet_labels.txt"])
    # 16 clients at once from 127.0.0.1: the engine's queue is under test, not connections_per_address
    hub = start_hub(models_dir, engine={"cpu_workers": 1, "queue_size": 1}, server={"connections_per_address": 0})
    body = {"inputs": [{"name": "input", "shape": [1, 128, 128, 3], "datatype": "UINT8",
                        "data": cat_tensor().reshape(-1).tolist()}]}
    statuses, retry_after = [], []

    def client():
        for _ in range(8):
            r = hub.post("/v2/models/mobilenet/infer", json=body)
            statuses.append(r.status_code)
            if r.status_code == 503:
                retry_after.append(r.headers.get("Retry-After"))

    threads = [threading.Thread(target=client) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert set(statuses) <= {200, 503} and statuses.count(200) > 0
    assert all(v is not None and int(v) >= 1 for v in retry_after)
    assert hub.get("/v2/health/ready").status_code == 200


def test_a_stopped_engine_never_claims_the_device_again(models_dir):
    """The placement's waiter claims under its lock and ends with the engine: after stop(), the
    device stays free for others, even when it comes back while the engine was waiting for it."""
    hub = Hub(load_config(environ={}, overrides={"models": {"dir": str(models_dir)}, "engine": {"cpu_workers": 1},
                                                 "testing": {"simulated_edgetpu": 1, "probe_interval_s": 0.1}}))
    hub.start(watch=False)
    try:
        engine = hub.registry.get("digits").engine
        (device,) = hub.pool.accelerators
        assert engine.status()["backend"] == "simulated" and device.owner == "digits"
        device.inject(gone=True)
        x = np.zeros((1, 8, 8, 1), np.int8)
        assert engine.submit([x]).result(timeout=10).backend == "cpu"  # fell back mid-request
        waiter = engine.placement._waiter
        assert waiter is not None and waiter.is_alive()  # waiting for the device to come back
        engine.stop()
        device.inject(gone=False)
        waiter.join(5)
        assert not waiter.is_alive() and device.owner is None
        assert hub.pool.claim(hub.registry.get("digits").spec) is device  # free for whoever asks next
    finally:
        hub.close()


def test_drain_answers_every_accepted_request_then_stops(models_dir):
    with running_hub(models_dir, cpu_workers=1, queue_size=200) as hub:
        engine = hub.registry.get("mobilenet").engine
        accepted = [engine.submit([cat_tensor()]) for _ in range(40)]
        engine.drain_and_stop(timeout_s=30)
        assert all(f.result(timeout=0).outputs[0].shape == (1, 1001) for f in accepted)
        assert engine.executor.workers() == [] and engine.executor.closed
        with pytest.raises(Exception, match="reloaded"):
            engine.submit([cat_tensor()])
