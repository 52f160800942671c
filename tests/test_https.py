"""HTTPS with the hub's own certificate: made at first start, trusted through its own authority.

These hubs run a config from before HTTPS had a port of its own (`tls` set, no `secure_port`):
HTTPS alone on `port`, as then. HTTPS beside HTTP (the default now) is tests/test_setup_tablets.py."""
from __future__ import annotations

import ssl

import pytest
import requests
import socketio

from hub.config import load_config
from hub.errors import ConfigError
from tests.conftest import BUNDLED, copy_model


@pytest.fixture
def secure_hub(tmp_path, start_hub):
    models = tmp_path / "models"
    models.mkdir()
    copy_model(BUNDLED / "digits", models)
    return start_hub(models, server={"tls": "self-signed"})


def test_https_with_the_hubs_own_authority(secure_hub, tmp_path):
    assert secure_hub.url.startswith("https://")
    from hub.kiosk import presented_certificate

    assert presented_certificate(secure_hub.port) is not None  # the one port speaks TLS: no plain HTTP there
    status = secure_hub.get("/api/status")
    assert status.status_code == 200  # verified against the hub's CA: the name 127.0.0.1 is in the certificate
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(secure_hub.url + "/api/status", timeout=10, verify=True)  # the system store does not know it
    ca = secure_hub.get("/ca.crt")
    assert ca.status_code == 200 and ca.content.startswith(b"-----BEGIN CERTIFICATE-----")
    assert ca.headers["Content-Type"] == "application/x-x509-ca-cert"
    key = tmp_path / "hub-data" / "tls" / "hub.key"
    assert oct(key.stat().st_mode)[-3:] == "600"
    assert "open https://127.0.0.1" in secure_hub.log()


def test_socketio_over_wss_verified_against_the_hubs_authority(secure_hub):
    session = requests.Session()
    session.verify = secure_hub.verify  # the websocket transport takes its CA from here
    client = socketio.Client(reconnection=False, http_session=session)
    client.connect(secure_hub.url, namespaces=["/class"], transports=["websocket"], wait_timeout=10)
    assert client.call("join", {"code": "NOPE1", "nickname": "Ada"}, namespace="/class", timeout=10)["code"] == "bad_input"
    client.disconnect()


def test_certificate_is_reused_and_remade_only_when_needed(tmp_path):
    from hub.tls import ensure_certificate

    first = ensure_certificate(tmp_path)
    cert = first.cert.read_bytes()
    again = ensure_certificate(tmp_path)
    assert again.cert.read_bytes() == cert  # same names: kept
    renamed = ensure_certificate(tmp_path, ("192.168.77.7",))  # a new address in the authority's private ranges
    assert renamed.cert.read_bytes() != cert and "192.168.77.7" in renamed.names
    assert renamed.ca.read_bytes() == first.ca.read_bytes()  # tablets keep trusting the same authority
    context = ssl.create_default_context(cafile=str(renamed.ca))
    context.load_cert_chain(str(renamed.cert), str(renamed.key))  # the key matches the certificate


def test_tls_files_must_exist():
    with pytest.raises(ConfigError, match="server.cert_file"):
        load_config(environ={"CLASSROOM_HUB_SERVER_TLS": "files"})
    with pytest.raises(ConfigError, match="server.tls"):
        load_config(environ={"CLASSROOM_HUB_SERVER_TLS": "yes"})


def test_no_ca_without_self_signed_tls(tmp_path, start_hub):
    models = tmp_path / "m"
    models.mkdir()
    copy_model(BUNDLED / "digits", models)
    for server in ({"tls": "off"}, {"secure_port": 0}):
        hub = start_hub(models, server=server)
        assert hub.get("/ca.crt").status_code == 404
        assert not (hub.data_dir / "tls").exists()  # and no authority made
        hub.stop()
