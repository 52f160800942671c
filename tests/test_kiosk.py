"""`classroom-hub kiosk`: the front screen finds the hub on this machine, over HTTP or HTTPS,
and Chromium opens /kiosk trusting exactly the hub's own key (real hubs, real Chromium)."""
from __future__ import annotations

import base64
import hashlib
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from tests.conftest import ROOT, free_port
from tests.test_browser import ARGS, CHROMIUM


def kiosk(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "hub", "kiosk", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=60, env=env)


def printed_command(port: int) -> list[str]:
    done = kiosk("--port", str(port), "--print")
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


def pin_of(certificate: Path) -> str:
    """The SPKI hash computed from the hub's certificate file, not from what it presents."""
    key = x509.load_pem_x509_certificate(certificate.read_bytes()).public_key()
    spki = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(hashlib.sha256(spki).digest()).decode()


@pytest.fixture
def plain_hub(models_dir, start_hub):
    return start_hub(models_dir)


@pytest.fixture
def secure_hub(models_dir, start_hub):
    return start_hub(models_dir, server={"tls": "self-signed"})


def test_plain_http_hub(plain_hub):
    command = printed_command(plain_hub.port)
    assert command[-1] == f"http://127.0.0.1:{plain_hub.port}/kiosk"
    assert "--kiosk" in command and "--incognito" in command
    assert not any(arg.startswith("--ignore-certificate-errors") for arg in command)


def test_a_hub_with_both_ports_shows_the_kiosk_on_the_plain_one(models_dir, start_hub):
    """The service runs `kiosk --port <port>`: with HTTPS beside HTTP (the default) that is the
    plain port, so no pin is needed; the page itself gives the secure address once the teacher
    chose it (tests/test_setup_tablets.py)."""
    hub = start_hub(models_dir, secure=True)
    command = printed_command(hub.port)
    assert command[-1] == f"http://127.0.0.1:{hub.port}/kiosk"
    assert not any(arg.startswith("--ignore-certificate-errors") for arg in command)


def test_https_hub_pins_the_hubs_own_key(secure_hub, tmp_path):
    command = printed_command(secure_hub.port)
    assert command[-1] == f"https://127.0.0.1:{secure_hub.port}/kiosk"
    pins = [arg.split("=", 1)[1] for arg in command if arg.startswith("--ignore-certificate-errors-spki-list=")]
    assert pins == [pin_of(tmp_path / "hub-data" / "tls" / "hub.crt")]
    assert "--ignore-certificate-errors" not in command  # never every certificate error


def test_no_hub_or_a_hub_still_starting_is_waited_for_then_a_clear_error():
    with socket.socket() as silent:  # listening, as gunicorn's master is before its worker answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        for port in (free_port(), silent.getsockname()[1]):
            done = kiosk("--port", str(port), "--wait", "1")
            assert done.returncode == 2, done.stderr
            assert "did not answer on 127.0.0.1" in done.stderr and "journalctl" in done.stderr


def test_no_chromium_is_a_clear_error(plain_hub):
    env = {**os.environ, "PATH": str(Path(sys.executable).parent)}
    done = kiosk("--port", str(plain_hub.port), env=env)
    assert done.returncode == 2 and "apt install chromium" in done.stderr


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (make install-dev installs it)")
def test_chromium_shows_the_https_kiosk_with_the_pin_and_refuses_it_without(secure_hub):
    from playwright.sync_api import Error, sync_playwright

    command = printed_command(secure_hub.port)
    pin = [arg for arg in command if arg.startswith("--ignore-certificate-errors-spki-list=")]
    with sync_playwright() as p:
        for extra, shows in (([], False), (pin, True)):
            browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS + extra)
            page = browser.new_page()
            if shows:
                page.goto(command[-1], timeout=15000)
                page.get_by_text("Waiting for the teacher").wait_for(timeout=15000)
            else:
                with pytest.raises(Error, match="ERR_CERT"):
                    page.goto(command[-1], timeout=15000)
            browser.close()
