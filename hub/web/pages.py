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

STATIC = Path(__file__).parent / "static"
bp = Blueprint("pages", __name__)
NO_CACHE = {"Cache-Control": "no-cache"}


def _page(name: str) -> Response:
    response = send_from_directory(STATIC, name, max_age=0)
    response.headers["Content-Security-Policy"] = (
        "default-src 'self'; img-src 'self' data: blob:; media-src 'self' blob:; "
        "connect-src 'self'; style-src 'self'; script-src 'self'")
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
    if config.server.tls != "self-signed" or not path.exists():
        raise NotFound('this hub does not use its own certificate ([server] tls is not "self-signed")')
    return Response(path.read_bytes(), mimetype="application/x-x509-ca-cert",
                    headers={"Content-Disposition": 'attachment; filename="classroom-hub-ca.crt"'})


def join_url() -> str:
    """The address tablets type: [classroom] public_url, else the one this page was asked at,
    unless that is loopback (the kiosk on the hub itself): then the hub's own LAN address."""
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


@bp.get("/api/classes/current/qr.svg")
def qr():
    """A QR code for the join address (with the class code when a class is running)."""
    import segno

    room = current_app.extensions["classroom"].classes.current
    url = join_url() + (f"?code={room.code}" if room else "")
    buffer = io.BytesIO()
    segno.make(url, error="m").save(buffer, kind="svg", scale=10, border=2, xmldecl=False)
    return Response(buffer.getvalue(), mimetype="image/svg+xml", headers={**NO_CACHE, "X-Join-Url": url})
