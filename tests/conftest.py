"""Shared fixtures: real model folders, a real hub server on 127.0.0.1, ../shared when present."""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parent.parent
BUNDLED = ROOT / "models"
SHARED = Path(os.environ.get("CLASSROOM_HUB_SHARED", ROOT.parent / "shared"))
CORAL = SHARED / "coral"
ARTIFACTS = ROOT / "test-artifacts"


def need_coral() -> Path:
    if not (CORAL / "mobilenet_v1_0.25_128_quant.tflite").exists():
        pytest.skip(f"Coral test models not found in {CORAL} (../shared is absent)")
    return CORAL


@pytest.fixture
def coral() -> Path:
    return need_coral()


def copy_model(src: Path, dest_root: Path, name: str | None = None) -> Path:
    dest = dest_root / (name or src.name)
    shutil.copytree(src, dest)
    return dest


def coral_model(dest_root: Path, name: str, files: list[str]) -> Path:
    folder = dest_root / name
    folder.mkdir(parents=True)
    for f in files:
        shutil.copy(need_coral() / f, folder / f)
    return folder


@pytest.fixture
def models_dir(tmp_path: Path) -> Path:
    """A models folder holding a copy of the bundled digits model."""
    root = tmp_path / "models"
    root.mkdir()
    copy_model(BUNDLED / "digits", root)
    return root


@pytest.fixture
def bundled_models(tmp_path: Path) -> Path:
    """A models folder holding copies of every bundled model (digits and spoken-digits)."""
    root = tmp_path / "models"
    root.mkdir()
    for folder in sorted(p for p in BUNDLED.iterdir() if p.is_dir() and ".tmp" not in p.name):
        copy_model(folder, root)
    return root


def machine_addresses() -> set[str]:
    """This machine's non-loopback IPv4 addresses, as `hostname -I` lists them (independently of
    hub/addresses.py, which the tests check against it)."""
    listed = subprocess.run(["hostname", "-I"], capture_output=True, text=True).stdout.split()
    return {a for a in listed if a.count(".") == 3 and not a.startswith("127.")}


def check_join_url(url: str, hub_url: str, code: str | None = None) -> None:
    """A join address as the kiosk on the hub itself (asked at 127.0.0.1) must show it: one of
    the hub's LAN addresses, the hub's port, the class code; 127.0.0.1 only on a machine with none."""
    from urllib.parse import urlsplit

    got, hub = urlsplit(url), urlsplit(hub_url)
    lan = machine_addresses()
    assert (got.hostname in lan) if lan else got.hostname == "127.0.0.1", (url, lan)
    assert (got.scheme, got.port, got.path) == (hub.scheme, hub.port, "/"), url
    assert got.query == (f"code={code}" if code else ""), url


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class HubProcess:
    """`classroom-hub serve` as a child process on 127.0.0.1, with its log kept for failures."""

    def __init__(self, models: Path, config_text: str, workdir: Path, scheme: str = "http",
                 verify: str | bool = True, python: str = sys.executable, extra_env: dict | None = None) -> None:
        self.port = free_port()
        self.url = f"{scheme}://127.0.0.1:{self.port}"
        self.verify = verify
        config = workdir / f"hub-{self.port}.toml"
        config.write_text(config_text)
        self.log_path = workdir / f"hub-{self.port}.log"
        self._log = self.log_path.open("w")
        env = {k: v for k, v in os.environ.items() if not k.startswith("CLASSROOM_HUB_")}
        env.update(extra_env or {})
        self.proc = subprocess.Popen(
            [python, "-m", "hub", "serve", "--host", "127.0.0.1", "--port", str(self.port),
             "--models", str(models), "--config", str(config)],
            cwd=ROOT, stdout=self._log, stderr=subprocess.STDOUT, env=env,
        )
        self.started = time.monotonic()
        self.ready_after_s = self._wait_ready()

    def _wait_ready(self, timeout_s: float = 60) -> float:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"hub exited with {self.proc.returncode}:\n{self.log()}")
            try:
                if requests.get(self.url + "/v2/health/ready", timeout=1, verify=self.verify).status_code == 200:
                    return time.monotonic() - self.started
            except (requests.ConnectionError, OSError):  # not listening yet (or, with TLS, no CA file yet)
                pass
            time.sleep(0.05)
        raise RuntimeError(f"hub not ready after {timeout_s} s:\n{self.log()}")

    def log(self) -> str:
        self._log.flush()
        return self.log_path.read_text()

    def get(self, path: str, **kw) -> requests.Response:
        return requests.get(self.url + path, timeout=kw.pop("timeout", 15), verify=kw.pop("verify", self.verify), **kw)

    def post(self, path: str, **kw) -> requests.Response:
        return requests.post(self.url + path, timeout=kw.pop("timeout", 15), verify=kw.pop("verify", self.verify),
                             **kw)

    def model(self, name: str) -> dict:
        return next(m for m in self.get("/api/models").json() if m["name"] == name)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()


TEACHER_PIN = "2468"
BASE_CONFIG = {
    "teacher": {"pin": TEACHER_PIN},
    "models": {"scan_interval_s": 0.2, "settle_s": 0.3},
    "engine": {"cpu_workers": 2},
    "edgetpu": {"probe_interval_s": 0.3},
    "testing": {"probe_interval_s": 0.3},
}


def toml_text(sections: dict) -> str:
    def value(v):
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, str):
            return f'"{v}"'
        if isinstance(v, list):
            return "[" + ", ".join(value(x) for x in v) + "]"
        return repr(v)

    return "\n".join(f"[{name}]\n" + "".join(f"{k} = {value(v)}\n" for k, v in keys.items())
                     for name, keys in sections.items())


@pytest.fixture
def start_hub(tmp_path: Path):
    """Start a real hub: start_hub(models_dir, testing={...}, engine={...}) -> HubProcess."""
    started: list[HubProcess] = []

    def start(models: Path, **sections: dict) -> HubProcess:
        merged = {name: dict(keys) for name, keys in BASE_CONFIG.items()}
        for name, keys in sections.items():
            merged.setdefault(name, {}).update(keys)
        data_dir = merged.setdefault("classroom", {}).setdefault("data_dir", str(tmp_path / "hub-data"))
        if merged.get("server", {}).get("tls") == "self-signed":  # trust the hub's own authority, as a tablet would
            hub = HubProcess(models, toml_text(merged), tmp_path, "https", str(Path(data_dir) / "tls" / "ca.crt"))
        else:
            hub = HubProcess(models, toml_text(merged), tmp_path)
        started.append(hub)
        return hub

    yield start
    for hub in started:
        hub.stop()


def wait_for(predicate, timeout_s: float = 15, interval_s: float = 0.05):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval_s)
    raise AssertionError(f"condition not met within {timeout_s} s")
