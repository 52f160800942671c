""""Set up tablets" (/setup): make each tablet trust the hub's secure address, then check it.

Browsers give the microphone and the live camera only to secure pages, and the hub's HTTPS
certificate is signed by its own authority (hub/tls.py), which a tablet trusts only once it has
installed it. This page is served on the plain-HTTP port, which every tablet can open: one
choice per kind of device, a QR code to open that device's steps on the tablet itself, the file
to install (hub/tls_profiles.py), and a check. The check is the page's own script asking the
secure port; it succeeds only if the browser trusted the certificate, so the hub counts it
(how many devices passed, in memory; no names) and the teacher sees the count.

Once the tablets are set up, the teacher switches "Use the secure address for joining" on:
join_url() (hub/web/pages.py) then gives the https address to the kiosk, its QR code and the
dashboard. The switch is kept in data_dir/setup.json, so it survives a restart.
"""
from __future__ import annotations

import io
import json
import os
import re
import threading
from pathlib import Path
from urllib.parse import urlsplit

from flask import Blueprint, Response, current_app, jsonify, request

from ..errors import BadInput, NotFound
from .classes import classroom, same_origin_only, teacher_only, teacher_token

bp = Blueprint("setup", __name__)
bp.before_request(same_origin_only)  # the switch is a teacher's control: only from the hub's own pages
DEVICES = ("ipad", "android", "chromebook", "windows")
STATE_FILE = "setup.json"
MAX_DEVICES = 10_000  # devices remembered as checked; more only stop the count rising
_DEVICE_ID = re.compile(r"[0-9a-f]{16,64}")


class SetupState:
    """The teacher's choice of address and the devices that passed the check."""

    def __init__(self, config) -> None:
        self.path = Path(config.classroom.data_dir) / STATE_FILE
        server = config.server
        self.available = bool(server.https_port and server.http_port)  # a choice only with both ports
        self._lock = threading.Lock()
        self._passed: set[str] = set()
        saved = self._read()
        # A certificate from a real authority needs nothing on the tablets: secure from the start.
        self._secure = saved if saved is not None else (server.tls == "files")

    def _read(self) -> bool | None:
        try:
            value = json.loads(self.path.read_text()).get("secure_join")
        except (OSError, ValueError, AttributeError):
            return None
        return value if isinstance(value, bool) else None

    @property
    def secure_join(self) -> bool:
        return self.available and self._secure

    def choose(self, on: bool) -> None:
        """Kept atomically: a power cut leaves the old choice or the new one, never half a file."""
        with self._lock:
            temp = self.path.with_name(f".{STATE_FILE}.{os.getpid()}.tmp")
            with open(temp, "w") as fh:
                json.dump({"secure_join": on}, fh)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(temp, self.path)
            self._secure = on

    def passed(self, device: str) -> int:
        with self._lock:
            if len(self._passed) < MAX_DEVICES:
                self._passed.add(device)
            return len(self._passed)

    @property
    def devices_passed(self) -> int:
        return len(self._passed)


_made = threading.Lock()


def state() -> SetupState:
    found = current_app.extensions.get("setup")
    if found is None:
        with _made:
            found = current_app.extensions.get("setup")
            if found is None:
                found = current_app.extensions["setup"] = SetupState(classroom().config)
    return found


def secure_join() -> bool:
    """Whether tablets are sent to the hub's https address (join_url, the kiosk, the QR codes)."""
    return state().secure_join


def _ca_pem() -> bytes | None:
    from ..tls import CA_CERT

    config = classroom().config
    if config.server.tls != "self-signed" or not config.server.https_port:
        return None
    try:
        return (Path(config.classroom.data_dir) / "tls" / CA_CERT).read_bytes()
    except OSError:
        return None


def _device(device: str) -> str:
    if device not in DEVICES:
        raise NotFound(f"no set-up steps for {device[:40]!r}; choose one of: {', '.join(DEVICES)}")
    return device


@bp.get("/setup")
def page():
    from .pages import _page

    return _page("setup.html")


@bp.get("/setup/<device>")
def device_page(device: str):
    from .pages import _page

    _device(device)
    port = classroom().config.server.https_port
    host = urlsplit("//" + request.host).hostname or ""
    host = f"[{host}]" if ":" in host else host
    return _page("setup.html", connect=f"https://{host}:{port}" if port else "")


@bp.get("/setup/<device>/qr.svg")
def device_qr(device: str):
    """A QR code that opens this device's steps on the tablet itself, at the plain address: a
    tablet that does not trust the hub yet cannot open the secure one."""
    import segno

    from .pages import NO_CACHE, hub_url

    url = (hub_url("http") or hub_url("https") or "/") + f"setup/{_device(device)}"
    buffer = io.BytesIO()
    segno.make(url, error="m").save(buffer, kind="svg", scale=8, border=2, xmldecl=False,
                                    svgclass=None, lineclass=None, title=f"QR code: {url}")
    return Response(buffer.getvalue(), mimetype="image/svg+xml", headers={**NO_CACHE, "X-Setup-Url": url})


@bp.get("/setup/<device>/file")
def device_file(device: str):
    """What this kind of device installs: the hub's certificate authority, in its format."""
    from ..tls_profiles import device_file as made

    _device(device)
    ca = _ca_pem()
    if ca is None:
        raise NotFound('this hub uses no certificate of its own ([server] tls is not "self-signed"): '
                       "nothing to install")
    found = made(device, ca)
    return Response(found.body, mimetype=found.mimetype, headers={
        "Content-Disposition": f'attachment; filename="{found.filename}"', "Cache-Control": "no-cache"})


@bp.get("/api/setup")
def status():
    """What the page shows: the addresses, whether an install is needed, the fingerprint to
    compare and, for the teacher, the switch and how many devices passed the check."""
    from ..tls_profiles import authority_name, ca_der, fingerprint
    from .pages import hub_url

    config = classroom().config
    ca = _ca_pem()
    teacher = classroom().auth.check(teacher_token())
    answer = {
        "tls": config.server.tls if config.server.https_port else "off",
        "install_needed": ca is not None,
        "plain_url": hub_url("http"),
        "secure_url": hub_url("https"),
        "secure_port": config.server.https_port or None,
        "fingerprint_sha256": fingerprint(ca_der(ca)) if ca else None,
        "authority_name": authority_name(ca) if ca else None,  # what the device lists it as
        "devices": list(DEVICES),
        "secure_join": secure_join(),
        "teacher": teacher,
    }
    if teacher:
        answer["devices_passed"] = state().devices_passed
    return jsonify(answer)


def _own_plain_origin(origin: str | None) -> bool:
    """The hub's own plain-HTTP pages, by the name this request came to: exactly the origin the
    set-up page that asks has (Host is checked against the hub's names by hub/web/hosts.py)."""
    config = classroom().config
    if not origin or not config.server.http_port:
        return False
    try:
        sent, here = urlsplit(origin), urlsplit("//" + request.host)
        return (sent.scheme == "http" and bool(sent.hostname) and sent.hostname == here.hostname
                and (sent.port or 80) == config.server.http_port and sent.path in ("", "/"))
    except ValueError:
        return False


@bp.get("/api/setup/check")
def check():
    """Asked by the set-up page from the plain address at the secure one: an answer at all means
    the tablet's browser trusted the hub's certificate. `device` is a random id the page keeps,
    so that one tablet checking twice counts once."""
    if request.scheme != "https":
        raise BadInput("ask this at the hub's secure address (https), which is what it checks")
    device = request.args.get("device", "")
    if not _DEVICE_ID.fullmatch(device):
        raise BadInput("device must be the page's random id: 16 to 64 lower-case hex digits")
    response = jsonify({"trusted": True, "devices_passed": state().passed(device)})
    origin = request.headers.get("Origin")
    if _own_plain_origin(origin):  # no credentials: the answer holds nothing of anyone's
        response.headers["Access-Control-Allow-Origin"] = origin
    response.headers["Vary"] = "Origin"
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.post("/api/setup/secure-join")
@teacher_only
def choose():
    """The teacher's switch: {"on": true} sends tablets to the secure address from now on."""
    body = request.get_json(silent=True)
    on = body.get("on") if isinstance(body, dict) else None
    if not isinstance(on, bool):
        raise BadInput('send {"on": true} or {"on": false}')
    found = state()
    if on and not found.available:
        raise BadInput("this hub has no secure address beside its plain one ([server] tls, secure_port)")
    found.choose(on)
    return jsonify({"secure_join": found.secure_join})
