"""The teacher's login against a pupil with a laptop: PIN bursts from many loopback addresses at
a real server (the hub's log counts every PIN really checked), the memory a burst of hashes may
take, dashboards dropped when their login ends, and teacher controls refused from other sites."""
from __future__ import annotations

import http.client
import json
import re
import shutil
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests
import socketio

from hub.classroom.auth import TeacherAuth
from hub.classroom.pin_limits import PinLimits
from hub.classroom.store import Store
from hub.config import TeacherConfig
from hub.errors import TooManyAttempts
from tests.conftest import ROOT, TEACHER_PIN, call, received, wait_for

CHECKED = "teacher login: PIN checked"
CLIENTS: list = []


@pytest.fixture(autouse=True)
def close_clients():
    yield
    for client in CLIENTS:
        client.disconnect()
    CLIENTS.clear()


def post_from(hub, address: str, path: str, body=None, headers: dict | None = None) -> tuple[int, dict]:
    """A POST whose source address is `address` (any 127.0.0.x reaches the hub on 127.0.0.1)."""
    conn = http.client.HTTPConnection("127.0.0.1", hub.port, timeout=60, source_address=(address, 0))
    try:
        conn.request("POST", path, body=json.dumps(body).encode() if body is not None else None,
                     headers={"Content-Type": "application/json", **(headers or {})})
        reply = conn.getresponse()
        return reply.status, json.loads(reply.read() or b"{}")
    finally:
        conn.close()


def no_connection_cap() -> dict:
    """Config that lets 64 connections from one address through to the login (as behind a NAT):
    these tests are about what the login itself allows."""
    from dataclasses import fields

    from hub.config import ServerConfig

    return {"server": {"connections_per_address": 0}} if any(
        f.name == "connections_per_address" for f in fields(ServerConfig)) else {}


def checks(hub) -> int:
    """PINs the hub really checked (hashed), as its log says."""
    return hub.log().count(CHECKED)


def burst(hub, addresses: list[str], pin: str = "0000") -> list[tuple[int, dict]]:
    with ThreadPoolExecutor(len(addresses)) as pool:
        return list(pool.map(lambda a: post_from(hub, a, "/api/teacher/login", {"pin": pin}), addresses))


def worker_pid(hub) -> int:
    """gunicorn's worker: the child of the hub's main process."""
    children = Path(f"/proc/{hub.proc.pid}/task/{hub.proc.pid}/children").read_text().split()
    assert len(children) == 1, children
    return int(children[0])


def peak_rss_mb(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmHWM:\s+(\d+) kB", status).group(1)) / 1024


def dashboard(hub, token: str) -> tuple[socketio.Client, list]:
    events: list = []
    client = socketio.Client(reconnection=False)
    client.on("*", lambda event, data=None: events.append(event), namespace="/teacher")
    client.connect(hub.url, namespaces=["/teacher"], transports=["websocket"], auth={"token": token}, wait_timeout=10)
    CLIENTS.append(client)
    return client, events


def connected(client: socketio.Client) -> bool:
    return "/teacher" in client.namespaces


# ---- PIN guessing ---------------------------------------------------------------------------------------

def test_200_wrong_pins_from_20_addresses_get_few_checks_and_the_teacher_still_logs_in(bundled_models, start_hub):
    hub = start_hub(bundled_models)
    assert post_from(hub, "127.0.0.1", "/api/teacher/login", {"pin": TEACHER_PIN})[0] == 200  # her laptop, once
    before, began = checks(hub), time.monotonic()
    pupils = [f"127.0.0.{n}" for n in range(2, 22)]
    answers = [a for _ in range(10) for a in burst(hub, pupils)]  # 10 bursts, one try from each address
    checked = checks(hub) - before
    allowance = 10 + (time.monotonic() - began) / 180 + 1  # hub_login_burst, then 20 an hour
    assert checked <= allowance and checked <= 25, checked
    assert sum(1 for status, _ in answers if status == 401) == checked  # each check was a wrong PIN
    refused = [body for status, body in answers if status == 429]
    assert len(refused) == 200 - checked and all(b["code"] == "too_many_attempts" for b in refused)
    assert any("new devices" in b["error"] for b in refused)  # the hub-wide allowance, not only per address

    status, body = post_from(hub, "127.0.0.1", "/api/teacher/login", {"pin": TEACHER_PIN})
    assert status == 200 and body["token"]  # the teacher, from her own address, is not locked out
    status, body = post_from(hub, "127.0.0.99", "/api/teacher/login", {"pin": TEACHER_PIN})
    assert status == 429 and "new devices" in body["error"]  # an unknown device waits, even with the PIN

    hub.kill_all()  # a crash (or a restart) neither refills the allowance nor forgets her laptop
    hub.restart()
    before = checks(hub)
    assert post_from(hub, "127.0.0.50", "/api/teacher/login", {"pin": "0000"})[0] == 429
    assert post_from(hub, "127.0.0.1", "/api/teacher/login", {"pin": TEACHER_PIN})[0] == 200
    assert checks(hub) - before == 1


def test_a_burst_of_64_from_one_address_gets_five_checks(bundled_models, start_hub):
    hub = start_hub(bundled_models, **no_connection_cap())
    answers = burst(hub, ["127.0.0.7"] * 64)
    statuses = sorted(status for status, _ in answers)
    assert checks(hub) == 5  # [teacher] login_attempts: reserved before hashing, so a burst cannot outrun it
    assert statuses == [401] * 5 + [429] * 59, statuses


def test_hashes_run_two_at_a_time_so_a_burst_cannot_take_the_memory(bundled_models, start_hub):
    """scrypt takes 16 MB a hash; 64 at once took the worker from 114 to 740 MB. With the limits
    opened wide, only the hub's two-at-a-time bound stands between the burst and the memory."""
    hub = start_hub(bundled_models, teacher={"login_attempts": 100, "hub_login_burst": 1000}, **no_connection_cap())
    pid = worker_pid(hub)
    burst(hub, ["127.0.0.8"])  # one hash first: what a single check costs is in the baseline
    baseline = peak_rss_mb(pid)
    answers = burst(hub, ["127.0.0.8"] * 64)
    grew = peak_rss_mb(pid) - baseline
    assert {status for status, _ in answers} <= {401, 503}
    assert sum(1 for status, _ in answers if status == 401) >= 32  # most were checked, two at a time
    assert grew < 80, f"the worker's peak memory grew {grew:.0f} MB during the burst"
    print(f"64 PIN hashes at once: worker peak {baseline:.0f} -> {baseline + grew:.0f} MB")


def test_a_right_pin_gives_its_reservation_back_and_makes_the_device_known():
    still = lambda: 100.0  # noqa: E731 - no refill while the test runs
    limits = PinLimits(TeacherConfig(hub_login_burst=2), clock=still)
    first = limits.reserve("10.0.0.1")
    assert first.hub_wide and limits.hub_wide_left() == 1  # reserved before any hash
    limits.succeeded(first)
    assert limits.hub_wide_left() == 2  # given back
    known = limits.reserve("10.0.0.1")
    assert not known.hub_wide and limits.hub_wide_left() == 2  # her device: its own allowance only
    limits.failed(known)
    for address in ("10.0.0.2", "10.0.0.3"):
        limits.failed(limits.reserve(address))
    with pytest.raises(TooManyAttempts):
        limits.reserve("10.0.0.4")  # the shared allowance is used up ...
    limits.released(limits.reserve("10.0.0.1"))  # ... not hers (and a try never checked costs nothing)


def test_a_wrong_pin_says_how_many_tries_are_left(module_models, in_process):
    """The teacher sees the tries that remain before her device must wait, then how long."""
    app = in_process(module_models, teacher={"login_attempts": 3, "lockout_s": 60})
    client = app.app.test_client()
    said = []
    for _ in range(3):
        reply = client.post("/api/teacher/login", json={"pin": "0000"})
        assert reply.status_code == 401
        said.append((reply.get_json()["tries_left"], reply.get_json()["error"]))
    assert said == [(2, "wrong PIN; 2 tries left before this device must wait"),
                    (1, "wrong PIN; 1 try left before this device must wait"),
                    (0, "wrong PIN; this device must now wait 60 s before trying again")]
    waiting = client.post("/api/teacher/login", json={"pin": TEACHER_PIN})
    assert waiting.status_code == 429 and "try again in" in waiting.get_json()["error"]


# ---- dashboards whose login ends ------------------------------------------------------------------------

@pytest.fixture(scope="module")
def shared(module_models, module_hubs):
    return module_hubs(module_models, classroom={"join_burst": 200})


def test_logout_disconnects_the_dashboard(shared):
    token = requests.post(shared.url + "/api/teacher/login", json={"pin": TEACHER_PIN}, timeout=10).json()["token"]
    other = requests.post(shared.url + "/api/teacher/login", json={"pin": TEACHER_PIN}, timeout=10).json()["token"]
    mine, _ = dashboard(shared, token)
    theirs, heard = dashboard(shared, other)  # another login (the teacher's tablet) stays on
    bearer = {"Authorization": f"Bearer {token}"}
    assert requests.post(shared.url + "/api/teacher/logout", headers=bearer, timeout=10).status_code == 200
    wait_for(lambda: not connected(mine))
    code = requests.post(shared.url + "/api/classes", headers={"Authorization": f"Bearer {other}"},
                         timeout=10).json()["code"]
    wait_for(lambda: "class_state" in heard)
    assert connected(theirs)
    with pytest.raises(socketio.exceptions.ConnectionError):
        dashboard(shared, token)  # and the ended login cannot connect again
    requests.post(shared.url + "/api/classes/current/end", headers={"Authorization": f"Bearer {other}"}, timeout=10)
    assert code


def test_an_expired_login_hears_nothing_more(module_models, in_process):
    app = in_process(module_models)
    http_client, teacher = app.teacher()
    try:
        code = http_client.post("/api/classes").get_json()["code"]
        assert received(teacher, "class_state", "/teacher")
        app.classroom.auth.clock = lambda: time.time() + 12 * 3600 + 60  # the school day is over
        joined = call(app.tablet(), "join", {"code": code, "nickname": "Ada"})  # broadcast to the dashboards
        assert joined["ok"]
        assert not teacher.is_connected("/teacher")
        assert not [e for e in teacher.queue if e["name"] == "student_joined"]  # Ada's name never reached it
        assert http_client.get("/api/classes/current").status_code == 401
    finally:
        app.classroom.auth.clock = time.time
        app.end_class()


def test_a_new_pin_while_the_hub_runs_ends_every_login(bundled_models, start_hub):
    hub = start_hub(bundled_models, teacher={"pin": ""})
    pin = re.search(r"Teacher PIN \(shown once, write it down\): (\d+)", hub.log()).group(1)
    token = hub.post("/api/teacher/login", json={"pin": pin}).json()["token"]
    client, _ = dashboard(hub, token)
    reset = subprocess.run([sys.executable, "-m", "hub", "pin", "--reset", "--config", str(hub.config_path)],
                           cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert reset.returncode == 0, reset.stderr
    new_pin = re.search(r"write it down\): (\d+)", reset.stdout).group(1)
    wait_for(lambda: not connected(client))  # the stats broadcast (every 2 s) finds the login gone
    assert hub.get("/api/classes/current", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    if new_pin != pin:
        assert hub.post("/api/teacher/login", json={"pin": pin}).status_code == 401
    assert hub.post("/api/teacher/login", json={"pin": new_pin}).status_code == 200
    assert "the teacher PIN changed" in hub.log()


def test_a_restart_with_another_pin_ends_every_login(tmp_path):
    def auth(pin: str) -> tuple[TeacherAuth, Store]:
        store = Store(tmp_path / "classroom.sqlite3")
        return TeacherAuth(TeacherConfig(pin=pin), tmp_path, announce=lambda *_: None, store=store), store

    first, store = auth("1111")
    token = first.login("1111", "127.0.0.1")
    store.close()
    again, store = auth("1111")  # the same PIN: the login survives the restart
    assert again.check(token)
    store.close()
    changed, store = auth("2222")
    assert not changed.check(token) and not list(store.sessions())
    assert not store.teacher_addresses()  # nor is any address trusted for having known the old PIN
    store.close()


# ---- teacher controls from other sites ------------------------------------------------------------------

def test_teacher_controls_refuse_other_sites(shared):
    own = shared.url  # http://127.0.0.1:<port>
    session = requests.Session()
    assert session.post(own + "/api/teacher/login", json={"pin": TEACHER_PIN}, headers={"Origin": own},
                        timeout=10).status_code == 200
    token = session.cookies["hub_teacher"]

    def refused(reply) -> bool:
        return reply.status_code == 403 and reply.json()["code"] == "cross_origin"

    # another site's page, with the teacher's cookie: by Origin, by Referer, an opaque origin, another port or scheme
    for headers in ({"Origin": "http://evil.example"}, {"Referer": "http://evil.example/page"}, {"Origin": "null"},
                    {"Origin": own.rsplit(":", 1)[0] + ":1"}, {"Origin": own.replace("http:", "https:")}):
        assert refused(session.post(own + "/api/classes", json={}, headers=headers, timeout=10)), headers
    # a form or a text/plain post with the cookie and no Origin or Referer (an old browser, a hidden referrer)
    assert refused(session.post(own + "/api/classes", data={"activity": "times-tables"}, timeout=10))
    assert refused(session.post(own + "/api/classes", data="x", headers={"Content-Type": "text/plain"}, timeout=10))
    # the login and the logout too
    assert refused(requests.post(own + "/api/teacher/login", json={"pin": TEACHER_PIN},
                                 headers={"Origin": "http://evil.example"}, timeout=10))
    assert refused(session.post(own + "/api/teacher/logout", headers={"Origin": "http://evil.example"}, timeout=10))
    assert shared.get("/api/classes/current/public").json()["code"] is None  # nothing of it happened

    # the hub's own page (fetch sends Origin, or at least Referer), and programs
    started = session.post(own + "/api/classes", json={}, headers={"Origin": own}, timeout=10)
    assert started.status_code == 201
    assert session.post(own + "/api/classes/current/pause", headers={"Referer": own + "/teacher"},
                        timeout=10).status_code == 200
    bearer = {"Authorization": f"Bearer {token}", "Content-Type": "text/plain"}  # the documented program client
    assert requests.post(own + "/api/classes/current/resume", headers=bearer, timeout=10).status_code == 200
    assert session.post(own + "/api/classes/current/end", timeout=10).status_code == 200  # JSON or no body


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (make install-dev installs it)")
def test_in_chromium_the_dashboard_works_and_another_sites_form_does_not(shared):
    """The teacher's own page (fetch from the hub's origin) controls the class; a page on another
    port of the same machine is the same *site*, so SameSite=Strict sends her cookie with its form:
    only the Origin check stops it."""
    from playwright.sync_api import sync_playwright

    page_html = (f'<form id="f" method="POST" enctype="text/plain" action="{shared.url}/api/classes/current/pause">'
                 '<input name="x" value="y"></form><script>document.getElementById("f").submit()</script>')

    class Evil(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - the http.server API
            body = page_html.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_):
            pass

    evil = ThreadingHTTPServer(("127.0.0.1", 0), Evil)
    threading.Thread(target=evil.serve_forever, daemon=True).start()
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, headless=True,
                                        args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"])
            context = browser.new_context(bypass_csp=True)
            teacher = context.new_page()
            teacher.set_default_timeout(15000)
            teacher.goto(shared.url + "/teacher")
            teacher.fill("#pin", TEACHER_PIN)
            teacher.click("#login-button")
            teacher.wait_for_function("document.getElementById('activity').options.length > 0")  # the snapshot
            teacher.click("#start")  # the dashboard's own POST: same origin, accepted
            teacher.wait_for_function("document.getElementById('code').textContent.trim().length === 5")

            attack = context.new_page()
            with attack.expect_response(lambda r: r.url.endswith("/api/classes/current/pause")) as answer:
                attack.goto(f"http://127.0.0.1:{evil.server_address[1]}/")
            assert answer.value.status == 403 and answer.value.json()["code"] == "cross_origin"
            assert answer.value.request.header_value("cookie")  # the cookie went: SameSite did not stop it
            assert shared.get("/api/classes/current/public").json()["paused"] is False

            teacher.on("dialog", lambda d: d.accept())
            teacher.click("#end")  # and the dashboard still ends the class
            wait_for(lambda: shared.get("/api/classes/current/public").json()["code"] is None)
            browser.close()
    finally:
        evil.shutdown()
