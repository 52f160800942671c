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


def compile_hub(python: str = sys.executable) -> None:
    """The hub's bytecode written beside its source (`__pycache__`, ignored by git), as `pip install`
    leaves it on a Pi. A hub run from this checkout compiles every module it imports at each start
    when there is none, and writes none when PYTHONDONTWRITEBYTECODE is set (as it is here): 60 to
    100 ms of every start that an installed hub never pays. Benchmarks that time a start call this."""
    subprocess.run([python, "-m", "compileall", "-q", str(ROOT / "hub")], check=True, stdout=subprocess.DEVNULL)


class HubProcess:
    """`classroom-hub serve` as a child process on 127.0.0.1, with its log kept for failures."""

    def __init__(self, models: Path, config_text: str, workdir: Path, scheme: str = "http",
                 verify: str | bool = True, python: str = sys.executable, extra_env: dict | None = None,
                 cgroup=None, poll_s: float = 0.05) -> None:
        self.poll_s = poll_s  # how often readiness is asked (bench/peers.py asks finer, to time it)
        self.port = free_port()
        self.url = f"{scheme}://127.0.0.1:{self.port}"
        self.verify = verify
        self.config_path = workdir / f"hub-{self.port}.toml"
        self.config_path.write_text(config_text)
        self.log_path = workdir / f"hub-{self.port}.log"
        self._log = self.log_path.open("w")
        env = {k: v for k, v in os.environ.items() if not k.startswith("CLASSROOM_HUB_")}
        if "secure_port" not in config_text and "tls" not in config_text:
            # HTTPS beside HTTP, as a hub starts by default, but on a free port: never the fixed 8443
            # that another hub on this machine (a test's, a benchmark's, a developer's) may hold
            env["CLASSROOM_HUB_SERVER_SECURE_PORT"] = str(free_port())
        env.update(extra_env or {})
        self._command = [python, "-m", "hub", "serve", "--host", "127.0.0.1", "--port", str(self.port),
                         "--models", str(models), "--config", str(self.config_path)]
        self._env = env
        self._cgroup = cgroup  # a tests.hostile.MemoryCap: the hub starts inside it, as under systemd's MemoryMax
        self._spawn()

    def _spawn(self) -> None:
        join = (lambda: self._cgroup.add(os.getpid())) if self._cgroup else None
        self.proc = subprocess.Popen(self._command, cwd=ROOT, stdout=self._log, stderr=subprocess.STDOUT,
                                     env=self._env, start_new_session=True,  # its own group: kill_all reaches all
                                     preexec_fn=join)
        self.started = time.monotonic()
        self.ready_after_s = self._wait_ready()

    def kill_all(self) -> None:
        """SIGKILL every process of the hub (gunicorn's master and worker), as a power cut would."""
        import signal

        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()

    def restart(self) -> float:
        """The same command again (same port, config and data folder), as systemd would: ready after s."""
        self._spawn()
        return self.ready_after_s

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
            time.sleep(self.poll_s)
        raise RuntimeError(f"hub not ready after {timeout_s} s:\n{self.log()}")

    @property
    def worker_pid(self) -> int:
        """gunicorn's worker: the one child of the master, where requests are served."""
        children = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text().split()
        return int(children[0])

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


def merged_config(workdir: Path, sections: dict) -> dict:
    merged = {name: dict(keys) for name, keys in BASE_CONFIG.items()}
    for name, keys in sections.items():
        merged.setdefault(name, {}).update(keys)
    merged.setdefault("classroom", {}).setdefault("data_dir", str(workdir / "hub-data"))
    return merged


class HubStarter:
    """Starts real hubs in one folder and stops them all at the end."""

    def __init__(self, workdir: Path) -> None:
        self.workdir, self.started = workdir, []

    def __call__(self, models: Path, cgroup=None, secure: bool = False, **sections: dict) -> HubProcess:
        merged = merged_config(self.workdir, sections)
        server = merged.setdefault("server", {})
        if secure:  # HTTPS beside HTTP, on a free port of its own: hub.secure_url, verified with hub.ca
            server.setdefault("secure_port", free_port())
        elif "tls" not in server:  # plain HTTP alone, as before HTTPS was on by default: no certificate made
            server.setdefault("secure_port", 0)
        if server.get("tls") == "self-signed" and not secure:  # trust the hub's own authority, as a tablet would
            ca = str(Path(merged["classroom"]["data_dir"]) / "tls" / "ca.crt")
            hub = HubProcess(models, toml_text(merged), self.workdir, "https", ca)
        else:
            hub = HubProcess(models, toml_text(merged), self.workdir, cgroup=cgroup)
        hub.data_dir = Path(merged["classroom"]["data_dir"])
        hub.ca = str(hub.data_dir / "tls" / "ca.crt")
        hub.secure_port = server.get("secure_port", 0)
        hub.secure_url = f"https://127.0.0.1:{hub.secure_port}" if secure else None
        self.started.append(hub)
        return hub

    def stop(self) -> None:
        for hub in self.started:
            hub.stop()


@pytest.fixture
def start_hub(tmp_path: Path):
    """Start a real hub for one test: start_hub(models_dir, testing={...}, engine={...}) -> HubProcess."""
    starter = HubStarter(tmp_path)
    yield starter
    starter.stop()


@pytest.fixture
def capped_hubs(start_hub):
    """capped_hubs(models) -> (hub, cap): a real hub inside a memory cgroup as tight as the unit's
    MemoryMax (tests/hostile.py), as under systemd; skipped with the reason where none can be made."""
    from tests.hostile import MemoryCap, unit_memory_max

    started = []

    def start(models: Path):
        reason = MemoryCap.unavailable()
        if reason:
            pytest.skip(reason)
        cap = MemoryCap("classroom-hub-test", unit_memory_max())
        hub = start_hub(models, cgroup=cap)
        started.append((hub, cap))
        return hub, cap

    yield start
    for hub, cap in started:
        hub.stop()
        cap.close()


@pytest.fixture(scope="module")
def module_hubs(tmp_path_factory):
    """Like start_hub, for hubs that every test of a module shares (one process, started once)."""
    starter = HubStarter(tmp_path_factory.mktemp("hubs"))
    yield starter
    starter.stop()


@pytest.fixture(scope="module")
def module_models(tmp_path_factory) -> Path:
    """A models folder with copies of every bundled model, for a module's shared hub."""
    root = tmp_path_factory.mktemp("models")
    for folder in sorted(p for p in BUNDLED.iterdir() if p.is_dir() and ".tmp" not in p.name):
        copy_model(folder, root)
    return root


# Debian's Chromium for the browser tests, driven by Playwright (tests/test_browser*.py)
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"]


@pytest.fixture
def browser():
    """Chromium for one test."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        instance = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        yield instance
        instance.close()


@pytest.fixture(scope="module")
def teach_models(tmp_path_factory) -> Path:
    """What Teach the hub needs: the embedder and MoveNet (its backbones), and digits (not one)."""
    root = tmp_path_factory.mktemp("teach-models")
    for name in ("embedder", "movenet", "digits"):
        copy_model(BUNDLED / name, root)
    return root


@pytest.fixture(scope="module")
def zoo_models(module_models) -> Path:
    """The bundled models, and Coral's MobileNet when ../shared is there."""
    if (CORAL / "mobilenet_v1_0.25_128_quant.tflite").exists():
        coral_model(module_models, "mobilenet", ["mobilenet_v1_0.25_128_quant.tflite", "imagenet_labels.txt"])
    return module_models


@pytest.fixture(scope="module")
def zoo_hub(zoo_models, module_hubs):
    """One real hub over zoo_models for a module's tests."""
    return module_hubs(zoo_models)


@pytest.fixture(scope="module")
def zoo_app(zoo_models, in_process):
    """The same models in process (limits.max_body_bytes 64 KB, to reach 413 cheaply)."""
    return in_process(zoo_models, limits={"max_body_bytes": 65536})


class InProcessHub:
    """The whole app in this process: Flask's test client for HTTP, Flask-SocketIO's for Socket.IO.
    The real registry, engine and interpreters; no sockets, no server process."""

    def __init__(self, models: Path, workdir: Path, **sections: dict) -> None:
        from hub.app import build_app
        from hub.config import load_config

        merged = merged_config(workdir, sections)
        merged.setdefault("models", {})["dir"] = str(models)
        self.config = load_config(environ={}, overrides=merged)
        self.app = build_app(self.config, announce_pin=lambda *_: None)
        self.hub = self.app.extensions["classroom_hub"]
        self.classroom = self.app.extensions["classroom"]
        self.socketio = self.app.extensions["live"].socketio
        self.http = self.app.test_client()
        self._clients: list = []

    def tablet(self):
        client = self.socketio.test_client(self.app, namespace="/class")
        self._clients.append(client)
        return client

    def teacher(self):
        """A logged-in teacher: the HTTP client (holding the cookie) and a /teacher Socket.IO client."""
        http = self.app.test_client()
        assert http.post("/api/teacher/login", json={"pin": TEACHER_PIN}).status_code == 200
        client = self.socketio.test_client(self.app, namespace="/teacher", flask_test_client=http)
        self._clients.append(client)
        return http, client

    def end_class(self) -> None:
        if self.classroom.classes.current is not None:
            self.classroom.end_class()

    def close(self) -> None:
        for client in self._clients:
            if client.is_connected("/class") or client.is_connected("/teacher"):
                client.disconnect(namespace="/class" if client.is_connected("/class") else "/teacher")
        self.hub.close()


def call(client, event: str, data=None, namespace: str = "/class"):
    """A Socket.IO event from a test client, and the hub's acknowledgement."""
    return client.emit(event, data, namespace=namespace, callback=True)


def received(client, name: str, namespace: str) -> list:
    return [e["args"][0] if e["args"] else None for e in client.get_received(namespace) if e["name"] == name]


@pytest.fixture
def teacher(hub):
    """The teacher over REST, on the `hub` of the module that asks, with no class before or after the test."""
    import requests

    session = requests.Session()
    assert session.post(hub.url + "/api/teacher/login", json={"pin": TEACHER_PIN}, timeout=10).status_code == 200
    session.post(hub.url + "/api/classes/current/end", timeout=10)  # 409 no_class when none runs
    yield session
    session.post(hub.url + "/api/classes/current/end", timeout=10)


@pytest.fixture(scope="module")
def in_process(tmp_path_factory):
    """in_process(models, **sections) -> InProcessHub, closed after the module."""
    made: list[InProcessHub] = []

    def make(models: Path, **sections: dict) -> InProcessHub:
        made.append(InProcessHub(models, tmp_path_factory.mktemp("inproc"), **sections))
        return made[-1]

    yield make
    for hub in made:
        hub.close()


def wait_for(predicate, timeout_s: float = 15, interval_s: float = 0.05):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval_s)
    raise AssertionError(f"condition not met within {timeout_s} s")
