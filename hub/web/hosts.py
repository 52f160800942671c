"""The Host header must name this hub: a defence against DNS rebinding.

A web page a pupil opens elsewhere can make its own name resolve to the hub's address, and then
its scripts talk to the hub as if from the same site. Such a request still carries the page's
name in Host. The hub answers only to its own names: any IP address (rebinding needs a name),
its host name, `<host name>.local`, `localhost`, the host of `[classroom] public_url`, and the
extra names in `[server] names` (a school's DNS name). Everything else gets 421 and a JSON error.

This is WSGI middleware around the whole app, Socket.IO included (Flask-SocketIO answers
/socket.io before Flask's own request hooks run).
"""
from __future__ import annotations

import ipaddress
import json
import socket
from urllib.parse import urlsplit

from ..config import Config


def own_names(config: Config) -> frozenset[str]:
    host = socket.gethostname().lower()
    names = {host, f"{host}.local", "localhost", *(n.lower().rstrip(".") for n in config.server.names)}
    if config.classroom.public_url:
        public = urlsplit(config.classroom.public_url).hostname
        if public:
            names.add(public.lower())
    return frozenset(names)


def host_name(header: str) -> str:
    """The name or address in a Host header, without the port; IPv6 without brackets."""
    header = header.strip().lower()
    if header.startswith("["):
        return header[1:header.find("]")] if "]" in header else header
    return header.rsplit(":", 1)[0] if header.count(":") == 1 else header


def is_address(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


SEEN_MAX = 64  # Host headers remembered; a flood of made-up ones only empties the memory


class HostCheck:
    def __init__(self, app, names: frozenset[str]) -> None:
        self.app = app
        self.names = names
        self._seen: dict[str, bool] = {}  # every request asks again: parsing an address took 20 us

    def allowed(self, header: str | None) -> bool:
        if not header:  # HTTP/1.0 without Host: no browser sends that, so no page can be behind it
            return True
        known = self._seen.get(header)
        if known is None:
            name = host_name(header).rstrip(".")
            known = is_address(name) or name in self.names
            if len(self._seen) >= SEEN_MAX:
                self._seen.clear()
            self._seen[header] = known
        return known

    def __call__(self, environ, start_response):
        if self.allowed(environ.get("HTTP_HOST")):
            return self.app(environ, start_response)
        body = json.dumps({
            "error": "this hub does not answer to that name; open it by its address or its own name, or add "
                     "the name to [server] names",
            "code": "unknown_host"}).encode()
        start_response("421 Misdirected Request", [("Content-Type", "application/json"),
                                                   ("Content-Length", str(len(body))), ("Connection", "close")])
        return [body]
