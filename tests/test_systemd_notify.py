"""systemd's notify protocol, with a real datagram socket standing where systemd's would be:
READY=1 once the models are loaded, WATCHDOG=1 while the engine's heartbeat is healthy, and
WATCHDOG=trigger then silence when a worker hangs (a wedged Edge TPU, injected), which is what
makes systemd restart. tests/test_deploy_vm.py checks what a real systemd does with them."""
from __future__ import annotations

import socket
import threading
import time

import pytest
import requests

from tests.conftest import BASE_CONFIG, BUNDLED, HubProcess, copy_model, toml_text, wait_for
from tests.drawing import png, render


class NotifySocket:
    def __init__(self, path):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.sock.settimeout(0.2)
        self.messages: list[tuple[float, str]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        while not self._stop.is_set():
            try:
                self.messages.append((time.monotonic(), self.sock.recv(4096).decode()))
            except TimeoutError:
                continue

    def since(self, t: float, fragment: str) -> list[float]:
        return [at for at, m in self.messages if at >= t and fragment in m]

    def close(self):
        self._stop.set()
        self._thread.join(2)
        self.sock.close()


@pytest.fixture
def systemd_hub(tmp_path):
    models = tmp_path / "models"
    models.mkdir()
    copy_model(BUNDLED / "digits", models)
    notify = NotifySocket(tmp_path / "notify.sock")
    config = {name: dict(keys) for name, keys in BASE_CONFIG.items()}
    config.update(testing={"simulated_edgetpu": 1, "fault_injection": True},
                  engine={"cpu_workers": 1, "stuck_after_s": 1.0, "request_timeout_s": 3.0},
                  classroom={"data_dir": str(tmp_path / "data")})
    hub = HubProcess(models, toml_text(config), tmp_path,
                     extra_env={"NOTIFY_SOCKET": str(tmp_path / "notify.sock"), "WATCHDOG_USEC": "1000000"})
    yield hub, notify
    hub.stop()
    notify.close()


def test_ready_then_watchdog_fed_then_starved_by_a_hung_engine(systemd_hub):
    hub, notify = systemd_hub
    wait_for(lambda: notify.since(0, "READY=1"), timeout_s=10)
    ready = [m for _, m in notify.messages if "READY=1" in m]
    assert ready == ["READY=1\nSTATUS=1 of 1 model(s) serving"]  # once, and only when the models are loaded
    wait_for(lambda: len(notify.since(0, "WATCHDOG=1")) >= 2, timeout_s=5)  # fed (every 0.5 s: half of WatchdogSec)
    assert hub.model("digits")["backend"] == "simulated"  # on the simulated accelerator, which we now wedge

    assert hub.post("/api/testing/faults", json={"device": "sim:0", "hang": True}).json()["hang"]
    answered: list[int] = []
    stuck = threading.Thread(target=lambda: answered.append(requests.post(
        hub.url + "/api/models/digits/classify", data=png(render(3)), headers={"Content-Type": "image/png"},
        timeout=30).status_code))
    stuck.start()
    starved_at = wait_for(lambda: notify.since(0, "STATUS=engine hung"), timeout_s=6)[0]
    assert "engine hung, asking systemd to restart the hub" in hub.log()
    stuck.join(30)  # the request times out (request_timeout_s = 3 s) while the worker stays wedged
    assert answered == [504]
    assert len(notify.since(0, "WATCHDOG=trigger")) == 1  # systemd restarts at once; asked only once
    assert notify.since(starved_at + 0.01, "WATCHDOG=1") == []  # for those 3 s: systemd would now restart

    mended = time.monotonic()
    hub.post("/api/testing/faults", json={"device": "sim:0", "hang": False})
    wait_for(lambda: notify.since(mended, "WATCHDOG=1"), timeout_s=5)  # fed again once the worker is free


def test_without_systemd_nothing_is_sent(tmp_path, monkeypatch):
    from hub import systemd

    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    monkeypatch.setattr(systemd, "_address", None)
    assert systemd.notify("READY=1") is False
    assert systemd.announce_ready("x", lambda: []) is None
    monkeypatch.setenv("WATCHDOG_USEC", "0")
    assert systemd.watchdog_interval_s() is None
    monkeypatch.setenv("WATCHDOG_USEC", "20000000")
    assert systemd.watchdog_interval_s() == 1.0  # checked every second whatever WatchdogSec is
    monkeypatch.setenv("WATCHDOG_USEC", "1000000")
    assert systemd.watchdog_interval_s() == 0.5  # but never less often than half of it
