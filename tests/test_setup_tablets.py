"""HTTPS beside HTTP, and "Set up tablets" (/setup): a real hub with both ports, the device files,
the trust check across origins, the teacher's switch to the secure address, and the pages in
real Chromium (one that does not trust the hub, one told to trust exactly its key)."""
from __future__ import annotations

import hashlib
import plistlib
import socket
import ssl
import time
import uuid
from pathlib import Path

import pytest
import requests
import socketio
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from hub.kiosk import presented_certificate, spki_sha256
from tests.conftest import ARGS, CHROMIUM, ROOT, TEACHER_PIN, free_port, wait_for
from tests.test_browser import doc_shot, serious_findings

DEVICE = "0123456789abcdef0123456789abcdef"


@pytest.fixture(scope="module")
def hub(module_models, module_hubs):
    """One hub with plain HTTP and HTTPS (its own certificate), as a hub starts by default."""
    return module_hubs(module_models, secure=True)


def ca_der(hub) -> bytes:
    return x509.load_pem_x509_certificate(Path(hub.ca).read_bytes()).public_bytes(Encoding.DER)


def teacher(url: str, verify=True) -> requests.Session:
    session = requests.Session()
    session.trust_env = False  # REQUESTS_CA_BUNDLE would take the place of the hub's CA
    session.verify = verify
    assert session.post(url + "/api/teacher/login", json={"pin": TEACHER_PIN}, timeout=10).status_code == 200
    return session


# --- two listeners, one worker ---------------------------------------------------------------------

def test_plain_http_and_https_side_by_side(hub):
    plain = requests.get(hub.url + "/api/status", timeout=10)
    secure = requests.get(hub.secure_url + "/api/status", timeout=10, verify=hub.ca)  # the hub's own CA
    assert plain.status_code == secure.status_code == 200
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(hub.secure_url + "/api/status", timeout=10)  # the system's store does not know the hub
    # only the secure port speaks TLS: the plain one answers a handshake with nothing TLS can read
    assert presented_certificate(hub.secure_port) is not None
    assert presented_certificate(hub.port) is None
    log = hub.log()
    assert f"open http://127.0.0.1:{hub.port}/" in log and f"open https://127.0.0.1:{hub.secure_port}/" in log
    assert f"http://127.0.0.1:{hub.port}/setup" in log  # where to start setting tablets up


def test_the_app_sees_which_port_a_request_came_by(hub):
    """wsgi.url_scheme: the check answers only at https, and says so at http."""
    at_plain = requests.get(f"{hub.url}/api/setup/check?device={DEVICE}", timeout=10)
    assert at_plain.status_code == 400 and at_plain.json()["code"] == "bad_input"
    at_secure = requests.get(f"{hub.secure_url}/api/setup/check?device={DEVICE}", timeout=10, verify=hub.ca)
    assert at_secure.status_code == 200 and at_secure.json()["trusted"] is True


def test_a_plain_request_on_the_secure_port_gets_no_page(hub):
    with socket.create_connection(("127.0.0.1", hub.secure_port), timeout=10) as raw:
        raw.sendall(b"GET /api/status HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        raw.settimeout(10)
        try:
            answer = raw.recv(4096)
        except ConnectionResetError:
            answer = b""
    assert b"200 OK" not in answer and b"classroom" not in answer


def test_teacher_controls_work_from_both_origins_and_not_across(hub):
    for url, verify in ((hub.url, True), (hub.secure_url, hub.ca)):
        session = teacher(url, verify)
        same = session.post(url + "/api/setup/secure-join", json={"on": False}, headers={"Origin": url}, timeout=10)
        assert same.status_code == 200, same.text
    session = teacher(hub.secure_url, hub.ca)
    across = session.post(hub.secure_url + "/api/setup/secure-join", json={"on": False},
                          headers={"Origin": hub.url}, timeout=10)  # the plain origin is another origin
    assert across.status_code == 403 and across.json()["code"] == "cross_origin"


def test_socketio_on_both_ports(hub):
    for url, verify in ((hub.url, True), (hub.secure_url, hub.ca)):
        session = requests.Session()
        session.trust_env, session.verify = False, verify
        client = socketio.Client(reconnection=False, http_session=session)
        client.connect(url, namespaces=["/class"], transports=["websocket"], wait_timeout=10)
        assert client.call("join", {"code": "NOPE1", "nickname": "Ada"}, namespace="/class",
                           timeout=10)["code"] == "bad_input"
        client.disconnect()


def tls_connection(port: int, source: str = "127.0.0.2") -> ssl.SSLSocket | None:
    """A finished TLS handshake to the secure port from `source`, or None when the hub closed it."""
    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    raw = socket.create_connection(("127.0.0.1", port), timeout=10, source_address=(source, 0))
    try:
        return context.wrap_socket(raw, server_hostname="127.0.0.1")
    except (ssl.SSLError, OSError):
        raw.close()
        return None


def test_the_limits_hold_on_both_ports_together(module_models, start_hub):
    """One device's connections are counted across both ports, and a connection that never starts
    its TLS handshake is cut after the header time-out like any other."""
    hub = start_hub(module_models, secure=True, server={"connections_per_address": 3, "header_timeout_s": 1})
    plain = [socket.create_connection(("127.0.0.1", hub.port), timeout=10, source_address=("127.0.0.2", 0))
             for _ in range(2)]
    secure = tls_connection(hub.secure_port)
    assert secure is not None
    assert tls_connection(hub.secure_port) is None  # the fourth from 127.0.0.2: closed as it is accepted
    for s in plain + [secure]:
        s.close()
    wait_for(lambda: tls_connection(hub.secure_port) is not None, 10)  # its count went down again
    silent = socket.create_connection(("127.0.0.1", hub.secure_port), timeout=10, source_address=("127.0.0.3", 0))
    started = time.monotonic()
    try:
        assert silent.recv(1) == b""  # closed by the hub, not by our 10 s time-out
    except ConnectionResetError:
        pass
    assert time.monotonic() - started < 5
    silent.close()


def test_a_renewed_certificate_is_served_on_the_secure_port_without_a_restart(module_models, start_hub):
    from hub import tls

    hub = start_hub(module_models, secure=True)

    def presented_ips() -> set[str]:
        cert = x509.load_der_x509_certificate(presented_certificate(hub.secure_port))
        return {str(v) for v in cert.extensions.get_extension_for_class(
            x509.SubjectAlternativeName).value.get_values_for_type(x509.IPAddress)}

    assert "10.77.0.2" not in presented_ips()
    assert tls.renew(hub.data_dir / "tls", ["10.77.0.2"]).renewed
    assert wait_for(lambda: "10.77.0.2" in presented_ips(), 10)
    assert requests.get(hub.url + "/api/status", timeout=10).status_code == 200  # the plain port as before


def test_a_second_start_makes_no_key(module_models, start_hub):
    """Start-up stays quick: with good files the certificate and its key are kept as they are."""
    hub = start_hub(module_models, secure=True)
    key = (hub.data_dir / "tls" / "hub.key").read_bytes()
    hub.proc.terminate()  # as systemd stops it; the same command starts it again
    hub.proc.wait(15)
    hub.restart()
    assert (hub.data_dir / "tls" / "hub.key").read_bytes() == key
    assert requests.get(hub.secure_url + "/api/status", timeout=10, verify=hub.ca).status_code == 200


def test_a_new_name_is_put_in_the_certificate_once_the_hub_is_ready(module_models, start_hub):
    """The files are checked after start-up, not before it (no `cryptography` import on the way to
    ready): a name added to the config is in the certificate a moment after the restart."""
    hub = start_hub(module_models, secure=True)
    hub.proc.terminate()
    hub.proc.wait(15)
    hub.config_path.write_text(hub.config_path.read_text().replace("[server]\n", '[server]\nnames = ["10.77.0.3"]\n'))
    hub.restart()

    def presented_ips() -> set[str]:
        cert = x509.load_der_x509_certificate(presented_certificate(hub.secure_port))
        return {str(v) for v in cert.extensions.get_extension_for_class(
            x509.SubjectAlternativeName).value.get_values_for_type(x509.IPAddress)}

    assert wait_for(lambda: "10.77.0.3" in presented_ips(), 10)


# --- the device files ------------------------------------------------------------------------------

def test_the_apple_profile_holds_the_hubs_authority(hub):
    first = requests.get(hub.url + "/setup/ipad/file", timeout=10)
    assert first.status_code == 200
    assert first.headers["Content-Type"] == "application/x-apple-aspen-config"
    assert 'filename="classroom-hub.mobileconfig"' in first.headers["Content-Disposition"]
    profile = plistlib.loads(first.content)
    assert profile["PayloadType"] == "Configuration" and profile["PayloadDisplayName"] == "Classroom Hub"
    (payload,) = profile["PayloadContent"]
    assert payload["PayloadType"] == "com.apple.security.root"
    assert payload["PayloadContent"] == ca_der(hub)  # the CA itself, in DER, and nothing else
    uuids = {profile["PayloadUUID"], payload["PayloadUUID"]}
    assert len(uuids) == 2 and all(uuid.UUID(u) for u in uuids)
    again = plistlib.loads(requests.get(hub.url + "/setup/ipad/file", timeout=10).content)
    assert {again["PayloadUUID"], again["PayloadContent"][0]["PayloadUUID"]} == uuids  # stable: replaces, not adds


@pytest.mark.parametrize("device, name, mimetype", [
    ("android", "classroom-hub-ca.crt", "application/x-x509-ca-cert"),
    ("chromebook", "classroom-hub-ca.crt", "application/x-x509-ca-cert"),
    ("windows", "classroom-hub-ca.cer", "application/pkix-cert")])
def test_the_certificate_files_are_the_authority_in_der(hub, device, name, mimetype):
    got = requests.get(f"{hub.url}/setup/{device}/file", timeout=10)
    assert got.status_code == 200 and got.headers["Content-Type"] == mimetype
    assert f'filename="{name}"' in got.headers["Content-Disposition"]
    loaded = x509.load_der_x509_certificate(got.content)
    assert loaded.public_bytes(Encoding.DER) == ca_der(hub)
    assert loaded.extensions.get_extension_for_class(x509.BasicConstraints).value.ca


def test_the_page_states_the_fingerprint_and_refuses_unknown_devices(hub):
    status = requests.get(hub.url + "/api/setup", timeout=10).json()
    expected = ":".join(f"{b:02X}" for b in hashlib.sha256(ca_der(hub)).digest())
    assert status["fingerprint_sha256"] == expected
    assert status["install_needed"] is True and status["tls"] == "self-signed"
    assert status["secure_port"] == hub.secure_port and "devices_passed" not in status  # the count: teacher only
    for path in ("/setup/blackberry", "/setup/blackberry/file", "/setup/blackberry/qr.svg"):
        got = requests.get(hub.url + path, timeout=10)
        assert got.status_code == 404 and got.json()["code"] == "not_found"
    qr = requests.get(hub.url + "/setup/android/qr.svg", timeout=10)
    assert qr.status_code == 200 and qr.headers["Content-Type"].startswith("image/svg+xml")
    assert qr.headers["X-Setup-Url"].startswith("http://") and qr.headers["X-Setup-Url"].endswith(
        f":{hub.port}/setup/android")  # the plain address: an untrusting tablet cannot open the other


# --- the check, across origins ---------------------------------------------------------------------

def test_the_check_allows_exactly_the_hubs_own_plain_origin(hub):
    url = f"{hub.secure_url}/api/setup/check?device={DEVICE}"
    own = requests.get(url, headers={"Origin": hub.url}, timeout=10, verify=hub.ca)
    assert own.headers["Access-Control-Allow-Origin"] == hub.url
    assert "Access-Control-Allow-Credentials" not in own.headers and "Origin" in own.headers["Vary"]
    for other in ("http://evil.example:%d" % hub.port, "http://127.0.0.1:1", hub.secure_url, "null",
                  "https://127.0.0.1:%d" % hub.port, f"{hub.url}/setup"):
        got = requests.get(url, headers={"Origin": other}, timeout=10, verify=hub.ca)
        assert got.status_code == 200 and "Access-Control-Allow-Origin" not in got.headers, other
    bad = requests.get(f"{hub.secure_url}/api/setup/check?device=../x", timeout=10, verify=hub.ca)
    assert bad.status_code == 400 and bad.json()["code"] == "bad_input"


def test_devices_that_passed_are_counted_once_each_for_the_teacher(hub):
    session = teacher(hub.url)
    before = session.get(hub.url + "/api/setup", timeout=10).json()["devices_passed"]
    new = uuid.uuid4().hex
    for _ in range(2):
        requests.get(f"{hub.secure_url}/api/setup/check?device={new}", timeout=10, verify=hub.ca)
    assert session.get(hub.url + "/api/setup", timeout=10).json()["devices_passed"] == before + 1


# --- the teacher's switch to the secure address ----------------------------------------------------

def join_url(hub) -> str:
    return requests.get(hub.url + "/api/classes/current/qr.svg", timeout=10).headers["X-Join-Url"]


def test_the_switch_needs_the_teacher_and_survives_a_restart(module_models, start_hub):
    hub = start_hub(module_models, secure=True)
    assert join_url(hub).startswith("http://") and requests.get(hub.url + "/api/setup").json()["secure_join"] is False
    anyone = requests.post(hub.url + "/api/setup/secure-join", json={"on": True}, timeout=10)
    assert anyone.status_code == 401 and anyone.json()["code"] == "unauthorized"
    session = teacher(hub.url)
    other_site = session.post(hub.url + "/api/setup/secure-join", data='{"on": true}', timeout=10,
                              headers={"Origin": "http://evil.example", "Content-Type": "text/plain"})
    assert other_site.status_code == 403 and other_site.json()["code"] == "cross_origin"
    wrong = session.post(hub.url + "/api/setup/secure-join", json={"on": "yes"}, timeout=10)
    assert wrong.status_code == 400 and wrong.json()["code"] == "bad_input"
    assert session.post(hub.url + "/api/setup/secure-join", json={"on": True}, timeout=10).json() == {"secure_join": True}
    assert join_url(hub).startswith("https://") and join_url(hub).endswith(f":{hub.secure_port}/")
    hub.proc.terminate()  # as systemd stops it; the same command starts it again
    hub.proc.wait(15)
    hub.restart()
    assert requests.get(hub.url + "/api/setup", timeout=10).json()["secure_join"] is True
    assert join_url(hub).startswith("https://")


def test_with_a_real_certificate_nothing_is_installed_and_the_secure_address_is_used(module_models, start_hub,
                                                                                      tmp_path):
    from hub import tls

    made = tls.ensure_certificate(tmp_path / "school")  # stands in for a certificate from a real authority
    hub = start_hub(module_models, secure=True,
                    server={"tls": "files", "cert_file": str(made.cert), "key_file": str(made.key)})
    status = requests.get(hub.url + "/api/setup", timeout=10).json()
    assert status["tls"] == "files" and status["install_needed"] is False and status["fingerprint_sha256"] is None
    assert status["secure_join"] is True and join_url(hub).startswith("https://")
    assert requests.get(hub.url + "/setup/ipad/file", timeout=10).status_code == 404
    assert requests.get(hub.secure_url + "/api/status", timeout=10, verify=str(made.ca)).status_code == 200
    assert not (hub.data_dir / "tls").exists()  # no authority of the hub's own was made


def test_no_secure_port_no_switch(module_models, start_hub):
    hub = start_hub(module_models, server={"secure_port": 0})
    status = requests.get(hub.url + "/api/setup", timeout=10).json()
    assert status["tls"] == "off" and status["secure_url"] is None
    refused = teacher(hub.url).post(hub.url + "/api/setup/secure-join", json={"on": True}, timeout=10)
    assert refused.status_code == 400 and refused.json()["code"] == "bad_input"


def test_config_keys(tmp_path):
    from hub.config import load_config
    from hub.errors import ConfigError

    default = load_config(environ={}).server
    assert (default.tls, default.http_port, default.https_port) == ("self-signed", 8080, 8443)
    before = load_config(environ={"CLASSROOM_HUB_SERVER_TLS": "self-signed", "CLASSROOM_HUB_SERVER_PORT": "8443"}).server
    assert (before.http_port, before.https_port) == (0, 8443)  # a config from before: HTTPS alone on its port
    off = load_config(environ={"CLASSROOM_HUB_SERVER_TLS": "off"}).server
    assert (off.http_port, off.https_port) == (8080, 0)
    both = load_config(environ={"CLASSROOM_HUB_SERVER_TLS": "self-signed",
                                "CLASSROOM_HUB_SERVER_SECURE_PORT": "9443"}).server
    assert (both.http_port, both.https_port) == (8080, 9443)
    with pytest.raises(ConfigError, match="server.secure_port"):
        load_config(environ={"CLASSROOM_HUB_SERVER_SECURE_PORT": "70000"})


def test_a_taken_secure_port_is_a_clear_exit(module_models, tmp_path):
    import subprocess
    import sys

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        config = tmp_path / "hub.toml"
        config.write_text(f'[server]\nsecure_port = {taken.getsockname()[1]}\n[classroom]\ndata_dir = "{tmp_path}"\n')
        done = subprocess.run([sys.executable, "-m", "hub", "serve", "--host", "127.0.0.1", "--port", str(free_port()),
                               "--models", str(module_models), "--config", str(config)],
                              cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "already in use" in done.stderr and "secure_port" in done.stderr


# --- in Chromium -----------------------------------------------------------------------------------

chromium = pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (make install-dev installs it)")




def trusting(browser, hub):
    """Another Chromium, told to trust exactly the hub's key: a tablet that installed its authority."""
    pin = spki_sha256(presented_certificate(hub.secure_port))
    return browser.browser_type.launch(executable_path=CHROMIUM, headless=True,
                                       args=ARGS + [f"--ignore-certificate-errors-spki-list={pin}"])


@chromium
def test_the_setup_pages_pass_axe_and_fit_at_three_widths(hub, browser):
    from tests.test_browser import AXE, WIDTHS, audit, new_page

    if AXE is None:
        pytest.skip("axe-core not found: pip install axe-playwright-python")
    found: dict = {}
    for width in WIDTHS:
        page = new_page(browser, [], viewport={"width": width, "height": 800}, has_touch=True)
        page.context.request.post(hub.url + "/api/teacher/login", data={"pin": TEACHER_PIN})
        page.goto(hub.url + "/setup")
        page.locator("#devices li").nth(3).wait_for()
        page.locator("#teacher-in").wait_for()
        page.wait_for_function("[...document.querySelectorAll('.device-qr')].every((i) => i.complete && i.naturalWidth)")
        audit(page, f"setup-choose-{width}", found)
        doc_shot(page, f"setup-choose-{width}")
        page.get_by_role("link", name="See the steps for iPad or iPhone, on this screen").click()
        page.locator("#step-list li").nth(4).wait_for()
        authority = x509.load_pem_x509_certificate(Path(hub.ca).read_bytes()).subject.rfc4514_string()
        assert f"turn on “{authority.removeprefix('CN=')}”" in page.locator("#step-list").inner_text()
        audit(page, f"setup-ipad-{width}", found)
        doc_shot(page, f"setup-ipad-{width}")
    assert not serious_findings(found), serious_findings(found)
    layout = {name: page["layout"] for name, page in found.items()}
    assert not any(layout.values()), layout


@chromium
def test_the_check_fails_without_trust_and_passes_with_it(hub, browser):
    untrusting = browser.new_page(viewport={"width": 768, "height": 900})  # under the page's own CSP
    asked, refused = [], []
    untrusting.on("request", lambda r: asked.append(r.url))
    untrusting.on("console", lambda m: refused.append(m.text) if "Content Security Policy" in m.text else None)
    untrusting.goto(hub.url + "/setup/android")
    untrusting.get_by_role("button", name="Check").click()
    untrusting.get_by_text("Not yet: this tablet does not trust the hub.").wait_for(timeout=15000)
    assert "choose “CA certificate”" in untrusting.locator("#result").inner_text()  # which step to redo
    doc_shot(untrusting, "setup-check-failed-768")
    assert asked and all(u.startswith((hub.url + "/", hub.secure_url + "/")) for u in asked), asked  # the hub only
    assert any(u.startswith(hub.secure_url + "/api/setup/check?device=") for u in asked)  # it did ask
    assert not refused, refused
    session = teacher(hub.url)
    before = session.get(hub.url + "/api/setup", timeout=10).json()["devices_passed"]
    trusted_browser = trusting(browser, hub)
    tablet = trusted_browser.new_context()  # one tablet, its storage kept between the two visits
    for width in (360, 1280):
        page = tablet.new_page()
        page.set_viewport_size({"width": width, "height": 900})
        page.goto(hub.url + "/setup/android")
        page.locator("#step-list li").nth(3).wait_for()
        for _ in range(12):  # by keyboard: Tab to Check, then Enter
            page.keyboard.press("Tab")
            if page.evaluate("document.activeElement.id") == "check":
                break
        page.keyboard.press("Enter")
        page.get_by_text("This tablet trusts the hub ✓").wait_for(timeout=15000)
        secure = page.get_by_role("link", name="Open the secure address")
        assert secure.get_attribute("href") == f"https://127.0.0.1:{hub.secure_port}/"
        doc_shot(page, f"setup-check-passed-{width}")
        page.close()
    trusted_browser.close()
    # one tablet, one id (kept in the page's storage): its two checks count once
    assert session.get(hub.url + "/api/setup", timeout=10).json()["devices_passed"] == before + 1


@chromium
def test_the_switch_then_the_kiosk_gives_the_secure_address_and_eyes_on_me(module_models, start_hub, browser):
    from tests.test_browser import AXE, WIDTHS, audit, read_qr

    if AXE is None:
        pytest.skip("axe-core not found: pip install axe-playwright-python")

    hub = start_hub(module_models, secure=True)
    teacher_page = browser.new_page(viewport={"width": 1280, "height": 900})
    teacher_page.context.request.post(hub.url + "/api/teacher/login", data={"pin": TEACHER_PIN})
    teacher_page.goto(hub.url + "/setup")
    switch = teacher_page.get_by_role("switch", name="Use the secure address for joining")
    assert switch.get_attribute("aria-checked") == "false"
    switch.click()
    teacher_page.wait_for_function("document.getElementById('secure-join').getAttribute('aria-checked') === 'true'")
    doc_shot(teacher_page, "setup-teacher-switched-1280")
    session = teacher(hub.url)
    started = session.post(hub.url + "/api/classes", json={"activity": "what-is-this"}, timeout=10)
    assert started.status_code == 201, started.text
    code = started.json()["code"]
    trusted_browser = trusting(browser, hub)
    found: dict = {}
    for width in WIDTHS:
        kiosk = trusted_browser.new_context(bypass_csp=True, viewport={"width": width, "height": 800}).new_page()
        kiosk.goto(hub.secure_url + "/kiosk")  # the kiosk itself at https, trusted
        kiosk.get_by_text("Speaking is ready").wait_for(timeout=15000)
        assert kiosk.locator("#url").inner_text() == join_url(hub).split("?")[0]
        assert kiosk.locator("#url").inner_text().startswith("https://")
        assert kiosk.locator("#url").inner_text().endswith(f":{hub.secure_port}/")
        kiosk.wait_for_function("document.getElementById('qr').complete && document.getElementById('qr').naturalWidth")
        said = read_qr(kiosk.locator("#qr").screenshot())
        assert said.startswith("https://") and said.endswith(f":{hub.secure_port}/?code={code}"), said
        audit(kiosk, f"kiosk-secure-{width}", found)
        doc_shot(kiosk, f"kiosk-secure-{width}")
        assert session.post(hub.url + "/api/classes/current/pause", timeout=10).status_code == 200
        eyes = kiosk.get_by_role("alert")
        eyes.wait_for(timeout=15000)
        assert "Eyes on me!" in eyes.inner_text()
        box = eyes.bounding_box()
        assert box["width"] >= width - 1 and box["height"] >= 799  # the whole screen
        audit(kiosk, f"kiosk-eyes-on-me-{width}", found)
        doc_shot(kiosk, f"kiosk-eyes-on-me-{width}")
        assert session.post(hub.url + "/api/classes/current/resume", timeout=10).status_code == 200
        kiosk.get_by_role("alert").wait_for(state="hidden", timeout=15000)
        kiosk.context.close()
    trusted_browser.close()
    assert not serious_findings(found), serious_findings(found)
    layout = {name: page["layout"] for name, page in found.items()}
    assert not any(layout.values()), layout
    session.post(hub.url + "/api/classes/current/end", timeout=10)


@chromium
def test_an_open_dashboard_gives_the_secure_address_once_the_teacher_switches_to_it(hub, browser):
    """The switch is often pressed in another tab (Set up tablets): the dashboard, open since the
    class started, asks the hub again when it is looked at, and shows the https address."""
    session = teacher(hub.url)
    assert session.post(hub.url + "/api/setup/secure-join", json={"on": False}, timeout=10).status_code == 200
    session.post(hub.url + "/api/classes/current/end", timeout=10)  # none left by another test
    started = session.post(hub.url + "/api/classes", json={"activity": "what-is-this"}, timeout=10)
    assert started.status_code == 201, started.text
    try:
        page = browser.new_context(bypass_csp=True, viewport={"width": 1280, "height": 900}).new_page()
        page.context.request.post(hub.url + "/api/teacher/login", data={"pin": TEACHER_PIN})
        page.goto(hub.url + "/teacher")
        page.wait_for_function("document.getElementById('join-url').textContent.startsWith('http://')")
        assert session.post(hub.url + "/api/setup/secure-join", json={"on": True}, timeout=10).status_code == 200
        page.evaluate("document.dispatchEvent(new Event('visibilitychange'))")  # the teacher comes back to the tab
        page.wait_for_function("document.getElementById('join-url').textContent.startsWith('https://')")
        assert page.inner_text("#join-url").endswith(f":{hub.secure_port}/")
    finally:
        session.post(hub.url + "/api/setup/secure-join", json={"on": False}, timeout=10)
        session.post(hub.url + "/api/classes/current/end", timeout=10)
