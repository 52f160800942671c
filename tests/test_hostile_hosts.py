"""The Host header (issue 13, item 9): a DNS-rebinding page reaches the hub under its own name."""
from __future__ import annotations

import socket

import pytest
import requests
import websocket

from hub.config import load_config
from hub.web.hosts import HostCheck, host_name, own_names


@pytest.mark.parametrize("header,name", [("hub.local:8080", "hub.local"), ("[::1]:8080", "::1"), ("::1", "::1"),
                                         ("10.0.0.5", "10.0.0.5"), ("Hub.Local", "hub.local")])
def test_the_name_in_a_host_header(header, name):
    assert host_name(header) == name


def test_the_hubs_own_names_and_the_schools_are_allowed():
    config = load_config(environ={"CLASSROOM_HUB_SERVER_NAMES": "hub.school.example",
                                  "CLASSROOM_HUB_CLASSROOM_PUBLIC_URL": "http://class-3b.school.example:8080"})
    check = HostCheck(None, own_names(config))
    host = socket.gethostname()
    for header in (f"{host}:8080", f"{host}.local:8080", f"{host}.local.", "localhost", "127.0.0.1:8080",
                   "192.168.4.1", "[fe80::1]:8080", "hub.school.example", "class-3b.school.example:8080", None):
        assert check.allowed(header), header
    for header in ("evil.example", "evil.example:8080", f"{host}.evil.example", "localhost.evil.example",
                   "hub.school.example.evil.example"):
        assert not check.allowed(header), header


def test_the_real_server_refuses_another_name_on_every_path(start_hub, models_dir):
    hub = start_hub(models_dir)
    for path in ("/", "/api/status", "/v2/health/ready", "/socket.io/?EIO=4&transport=polling"):
        refused = requests.get(hub.url + path, headers={"Host": f"rebind.example:{hub.port}"}, timeout=5)
        assert refused.status_code == 421, path
        assert refused.json()["code"] == "unknown_host"
        own = requests.get(hub.url + path, headers={"Host": f"localhost:{hub.port}"}, timeout=5)
        assert own.status_code == (400 if "polling" in path else 200), path  # Socket.IO: WebSocket only
    url = hub.url.replace("http", "ws") + "/socket.io/?EIO=4&transport=websocket"
    with pytest.raises(websocket.WebSocketBadStatusException) as refused:
        websocket.create_connection(url, host=f"rebind.example:{hub.port}", timeout=5)
    assert refused.value.status_code == 421
    tablet = websocket.create_connection(url, host=f"localhost:{hub.port}", origin=f"http://localhost:{hub.port}",
                                         timeout=5)
    assert tablet.recv().startswith("0")  # Engine.IO open: the same socket with the hub's own name works
    tablet.close()
