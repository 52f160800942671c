"""The pages: the student app (/), the teacher dashboard (/teacher) and the kiosk (/kiosk).

Every asset is served from the package (the Socket.IO client is vendored, the QR code is drawn
here), so the classroom works with no internet and no request ever leaves the hub.
"""
from __future__ import annotations

import io
from pathlib import Path
from urllib.parse import urlsplit

from flask import Blueprint, Response, current_app, request, send_from_directory

from ..addresses import is_loopback, lan_addresses
from .setup import bp as setup_bp

STATIC = Path(__file__).parent / "static"
bp = Blueprint("pages", __name__)
bp.register_blueprint(setup_bp)  # "Set up tablets": /setup (hub/web/setup.py)
NO_CACHE = {"Cache-Control": "no-cache"}


def _page(name: str, connect: str = "") -> Response:
    """A page under a policy that lets it load and ask only the hub (`connect`: one more origin
    of the hub's own, the secure port for the set-up check)."""
    response = send_from_directory(STATIC, name, max_age=0)
    response.headers["Content-Security-Policy"] = (
        "default-src 'self'; img-src 'self' data: blob:; media-src 'self' blob:; "
        f"connect-src 'self'{' ' + connect if connect else ''}; style-src 'self'; script-src 'self'")
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


@bp.get("/")
def student():
    return _page("student.html")


@bp.get("/teacher")
def teacher():
    return _page("teacher.html")


@bp.get("/kiosk")
def kiosk():
    return _page("kiosk.html")


@bp.get("/static/<path:name>")
def static(name: str):
    return send_from_directory(STATIC, name, max_age=300)


@bp.get("/ca.crt")
def ca_certificate():
    """The hub's own certificate authority, for tablets to trust once (docs/TEACHERS.md)."""
    from werkzeug.exceptions import NotFound

    from ..tls import CA_CERT

    config = current_app.extensions["classroom"].config
    path = Path(config.classroom.data_dir) / "tls" / CA_CERT
    if config.server.tls != "self-signed" or not config.server.https_port or not path.exists():
        raise NotFound('this hub does not use its own certificate ([server] tls is not "self-signed")')
    return Response(path.read_bytes(), mimetype="application/x-x509-ca-cert",
                    headers={"Content-Disposition": 'attachment; filename="classroom-hub-ca.crt"'})


def join_url() -> str:
    """The address tablets type: the hub's secure address once the teacher has chosen it on the
    "Set up tablets" page (hub/web/setup.py), else [classroom] public_url, else the one this page
    was asked at, unless that is loopback (the kiosk on the hub itself): then the hub's own LAN address."""
    from .setup import secure_join

    if secure_join():
        return hub_url("https") or ""
    configured = current_app.extensions["classroom"].config.classroom.public_url
    if configured:
        return configured.rstrip("/") + "/"
    asked = urlsplit("//" + request.host)
    host, port = asked.hostname or "", asked.port
    if is_loopback(host):
        lan = lan_addresses()
        if lan:
            return f"{request.scheme}://{lan[0]}" + (f":{port}" if port else "") + "/"
    return request.host_url.rstrip("/") + "/"


DEFAULT_PORTS = {"http": 80, "https": 443}


def hub_url(scheme: str) -> str | None:
    """This hub's address with `scheme` ("http": the plain port, "https": the secure one), by the
    name tablets use: public_url's host, else the one this page was asked at (the hub's LAN
    address when that is loopback). None when the hub serves no such port."""
    config = current_app.extensions["classroom"].config
    port = config.server.http_port if scheme == "http" else config.server.https_port
    if not port:
        return None
    configured = urlsplit(config.classroom.public_url) if config.classroom.public_url else None
    if configured and configured.scheme == scheme:
        return config.classroom.public_url.rstrip("/") + "/"
    host = (configured.hostname if configured else None) or urlsplit("//" + request.host).hostname or ""
    if is_loopback(host):
        lan = lan_addresses()
        host = lan[0] if lan else host
    host = f"[{host}]" if ":" in host else host
    return f"{scheme}://{host}" + ("" if port == DEFAULT_PORTS[scheme] else f":{port}") + "/"


@bp.get("/api/classes/current/qr.svg")
def qr():
    """A QR code for the join address (with the class code when a class is running)."""
    import segno

    room = current_app.extensions["classroom"].classes.current
    url = join_url() + (f"?code={room.code}" if room else "")
    buffer = io.BytesIO()
    segno.make(url, error="m").save(buffer, kind="svg", scale=10, border=2, xmldecl=False)
    return Response(buffer.getvalue(), mimetype="image/svg+xml", headers={**NO_CACHE, "X-Join-Url": url})
