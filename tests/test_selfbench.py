"""`classroom-hub bench` as a school's IT person runs it: the real command, the real hub it starts.

One quick run on copies of the bundled models plus one broken folder; the tests read its JSON and
its table. Behaviour only (what was measured, what was refused, what was said): never a timing.
"""
from __future__ import annotations

import json
import os
import select
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hub.accelerators.edgetpu import discover
from hub.config import load_config
from hub.runtime.litert import select_runtime
from hub.selfbench import BenchError, HubChild
from tests.conftest import BUNDLED, copy_model

CLI = Path(sys.executable).parent / "classroom-hub"  # the installed command, as on a Pi
GOOD = ("digits", "imagenet", "movenet", "spoken-digits")
THREADS = ("1", "3")


def bench(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(CLI), "bench", *args], capture_output=True, text=True, timeout=300, cwd=cwd)


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> tuple[dict, str]:
    root = tmp_path_factory.mktemp("bench")
    models = root / "models"
    models.mkdir()
    for name in GOOD:
        copy_model(BUNDLED / name, models)
    broken = models / "broken"  # a drop-in whose file is not a model at all
    broken.mkdir()
    (broken / "broken.tflite").write_bytes(bytes(range(256)) * 64)
    out = root / "bench.json"
    done = bench("--quick", "--json", str(out), "--models", str(models), "--threads", ",".join(THREADS), cwd=root)
    assert done.returncode == 0, done.stderr
    return json.loads(out.read_text()), done.stdout


def test_every_good_model_has_its_raw_invoke_at_each_thread_count_asked(run):
    result, _ = run
    invokes = result["bench"]["plan"]["invokes"]
    for name in GOOD:
        entry = result["models"][name]
        assert entry["status"] == "measured"
        assert sorted(entry["raw_invoke_ms"]) == list(THREADS)
        for stats in entry["raw_invoke_ms"].values():
            assert stats["n"] == invokes
            assert 0 < stats["p50"] <= stats["p99"]


def test_the_real_hub_answers_what_a_tablet_sends_to_each_model_without_an_error(run):
    result, _ = run
    requests = result["bench"]["plan"]["requests"]
    for name in GOOD:
        rest = result["models"][name]["rest"]
        assert rest["errors"] == 0, rest["first_error"]
        assert rest["ms"]["n"] == requests == rest["requests"]
        assert 0 < rest["ms"]["p50"] <= rest["ms"]["p99"]
        assert rest["backend"] == "cpu"
    models = result["models"]
    assert models["digits"]["rest"]["route"] == "/api/models/digits/classify"
    assert models["digits"]["rest"]["body"].startswith("PNG drawing")  # the answer box's canvas
    assert models["imagenet"]["rest"]["body"].startswith("JPEG 448x")  # a photo as the pupils' page shrinks it
    assert models["movenet"]["rest"]["route"] == "/api/models/movenet/predict"  # pose has no classify
    assert models["spoken-digits"]["rest"]["body"].startswith("WAV")


def test_time_to_ready_and_the_memory_of_both_hub_processes(run):
    hub = run[0]["hub"]
    assert hub["ready_s"] > 0
    for when in ("memory_at_ready", "memory_after_requests"):
        memory = hub[when]
        for role in ("master", "worker"):
            assert memory[role]["rss_mb"] > 0 and memory[role]["pss_mb"] > 0
        assert memory["total_pss_mb"] <= memory["total_rss_mb"]  # shared pages counted once
    assert hub["memory_at_ready"]["worker"]["pid"] != hub["memory_at_ready"]["master"]["pid"]


def test_without_an_edge_tpu_it_says_why_and_gives_no_figure(run):
    result, table = run
    tpu = result["edgetpu"]
    expected = discover(load_config(None, environ={}), select_runtime())
    if expected.accelerators:
        pytest.skip("this machine has an Edge TPU")
    assert tpu["present"] is False and tpu["devices"] == []
    assert tpu["reason"] == expected.note  # the hub's own discovery and the real delegate failure
    assert tpu["invoke_ms"] == {}  # imagenet and movenet have _edgetpu files: still no figure
    assert f"Edge TPU: absent: {expected.note[:40]}" in table


def test_a_broken_model_is_reported_failed_with_its_reason_and_not_measured(run):
    result, table = run
    broken = result["models"]["broken"]
    assert broken["status"] == "failed"
    assert "broken.tflite" in broken["reason"]
    assert "raw_invoke_ms" not in broken and "rest" not in broken
    assert "FAILED broken: broken.tflite" in table


def test_the_table_names_every_model_and_fits_100_columns(run):
    result, table = run
    lines = table.splitlines()
    for name in GOOD:
        rows = [line for line in lines if line.startswith(name + " ")]
        assert len(rows) == 2, name  # one raw invoke row, one REST row
    assert all(len(line) <= 100 for line in lines), max(lines, key=len)
    assert result["machine"]["model"] in lines[0]


def test_the_machine_and_its_health_before_and_after(run):
    result, _ = run
    machine = result["machine"]
    assert machine["cores"] == os.cpu_count()
    assert machine["runtime"] == select_runtime().identity
    for when in ("before", "after"):
        health = result["health"][when]
        temperature, throttling = health["temperature"], health["throttling"]
        assert temperature["celsius"] is not None or temperature["why"]
        assert throttling["value"] is not None or throttling["why"]


def test_no_hub_is_left_behind(run):
    result, _ = run
    with socket.socket() as s, pytest.raises(ConnectionRefusedError):
        s.connect(("127.0.0.1", result["hub"]["port"]))
    for role in ("master", "worker"):
        pid = result["hub"]["memory_after_requests"][role]["pid"]
        cmdline = Path(f"/proc/{pid}/cmdline")
        assert not cmdline.exists() or b"serve" not in cmdline.read_bytes()


def test_no_models_is_one_clear_line_and_a_nonzero_exit(tmp_path):
    empty = tmp_path / "models"
    empty.mkdir()
    done = bench("--quick", "--models", str(empty), cwd=tmp_path)
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.strip().splitlines()[-1].startswith(f"error: no models in {empty}: pass --models DIR")


def test_a_hub_that_does_not_start_is_explained_with_its_log_and_gone(tmp_path):
    child = HubChild(BUNDLED, tmp_path / "missing.toml", tmp_path)  # serve refuses a config that is not there
    try:
        with pytest.raises(BenchError) as failed:
            child.start()
    finally:
        child.stop()
    assert failed.value.message.startswith("the hub did not start (exit code 2): error: config file")
    assert "missing.toml does not exist" in failed.value.details["log"]
    assert child.proc.poll() is not None


def test_a_bench_stopped_midway_stops_its_hub(tmp_path):
    """SIGTERM (or the ssh session closing) while the hub child serves: the bench stops it first."""
    models = tmp_path / "models"
    models.mkdir()
    copy_model(BUNDLED / "digits", models)
    proc = subprocess.Popen([str(CLI), "bench", "--quick", "--threads", "1", "--requests", "1000000",
                             "--models", str(models)], cwd=tmp_path, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        seen = []
        while not any("requests to" in line for line in seen):  # the hub is ready and being measured
            assert time.monotonic() < deadline and proc.poll() is None, "".join(seen)
            if select.select([proc.stderr], [], [], 1)[0]:
                seen.append(proc.stderr.readline())
        assert hub_processes(models)
        proc.send_signal(signal.SIGTERM)
        exit_code = proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        left = hub_processes(models)
        for pid in left:  # this test's own hub, should the bench have left it: never kept running
            os.kill(pid, signal.SIGKILL)
    assert exit_code == 128 + signal.SIGTERM
    assert left == []


def hub_processes(models: Path) -> list[int]:
    """Processes serving this test's own models folder."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            args = cmdline.read_bytes().split(b"\0")
        except OSError:
            continue
        if b"serve" in args and str(models).encode() in args:
            found.append(int(cmdline.parent.name))
    return found


def fake_vcgencmd(folder: Path, script: str, monkeypatch) -> None:
    """A stand-in for the Pi's vcgencmd, first on PATH: what the firmware answers, as text."""
    folder.mkdir()
    tool = folder / "vcgencmd"
    tool.write_text("#!/bin/sh\n" + script)
    tool.chmod(0o755)
    monkeypatch.setenv("PATH", f"{folder}{os.pathsep}{os.environ['PATH']}")


def test_throttling_is_decoded_with_the_doctors_bits(tmp_path, monkeypatch):
    from hub.doctor import THROTTLE_BITS
    from hub.selfbench import throttling

    fake_vcgencmd(tmp_path / "bin", "echo throttled=0x50005\n", monkeypatch)
    found = throttling()
    assert found["value"] == "0x50005"
    assert found["flags"] == [text for bit, text in THROTTLE_BITS.items() if 0x50005 & bit]
    assert "under-voltage now" in found["flags"] and "throttled since boot" in found["flags"]


def test_a_vcgencmd_that_may_not_answer_says_how_to_run_the_bench(tmp_path, monkeypatch):
    from hub.selfbench import throttling

    fake_vcgencmd(tmp_path / "bin", "echo 'VCHI initialization failed' >&2\nexit 255\n", monkeypatch)
    found = throttling()
    assert found["value"] is None
    assert "VCHI initialization failed" in found["why"] and "sudo" in found["why"]
