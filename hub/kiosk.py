"""The front screen's browser: wait for the hub on this machine, then run Chromium at /kiosk.

    classroom-hub kiosk --port 8080 [--print]

classroom-kiosk.service runs this inside cage. It asks the hub itself whether it speaks HTTPS
rather than reading hub.toml (the kiosk's user may not read the config, which can hold the
teacher's PIN). Under `[server] tls`, the hub's certificate is one no browser trusts by itself, so
Chromium is told to accept exactly the key this hub presented on 127.0.0.1
(`--ignore-certificate-errors-spki-list`), not certificate errors in general.
"""
from __future__ import annotations

import base64
import hashlib
import os
import shutil
import socket
import ssl
import time
from dataclasses import dataclass

from .errors import HubError

LOOPBACK = "127.0.0.1"
CHROMIUM_FLAGS = (
    "--ozone-platform=wayland", "--kiosk", "--noerrdialogs", "--disable-infobars", "--no-first-run",
    # offline and private: no update checks, sync, translation or background fetches
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-features=Translate", "--check-for-update-interval=31536000", "--password-store=basic",
    "--incognito",
)
BROWSERS = ("chromium", "chromium-browser")  # Debian's name, and older Raspberry Pi OS images'


class KioskError(HubError):
    code = "kiosk_error"


@dataclass(frozen=True)
class HubAddress:
    url: str
    spki_sha256: str | None  # base64, as Chromium's flag takes it; None for plain HTTP


def presented_certificate(port: int, host: str = LOOPBACK) -> bytes | None:
    """The DER certificate the hub presents, or None if it does not speak TLS."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # we only read the key here; Chromium is pinned to it
    try:
        with socket.create_connection((host, port), timeout=3) as raw:
            with context.wrap_socket(raw, server_hostname=host) as tls:
                return tls.getpeercert(binary_form=True)
    except ssl.SSLError:  # a plain-HTTP server answers the handshake with an HTTP error
        return None
    except OSError as exc:
        raise KioskError(f"cannot reach the hub on {host}:{port}: {exc}") from None


def spki_sha256(der_certificate: bytes) -> str:
    """base64(sha256(SubjectPublicKeyInfo)): what --ignore-certificate-errors-spki-list takes."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    key = x509.load_der_x509_certificate(der_certificate).public_key()
    spki = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(hashlib.sha256(spki).digest()).decode()


def hub_address(port: int, host: str = LOOPBACK) -> HubAddress:
    certificate = presented_certificate(port, host)
    if certificate is None:
        return HubAddress(f"http://{host}:{port}/kiosk", None)
    return HubAddress(f"https://{host}:{port}/kiosk", spki_sha256(certificate))


def find_browser() -> str:
    for name in BROWSERS:
        found = shutil.which(name)
        if found:
            return found
    raise KioskError("Chromium is not installed: sudo apt install chromium (scripts/install-pi.sh does this)")


def browser_command(browser: str, address: HubAddress) -> list[str]:
    pin = [f"--ignore-certificate-errors-spki-list={address.spki_sha256}"] if address.spki_sha256 else []
    return [browser, *CHROMIUM_FLAGS, *pin, address.url]


def wait_for_hub(port: int, timeout_s: float, host: str = LOOPBACK) -> HubAddress:
    """The hub's address once it answers: gunicorn listens before its worker has loaded the app,
    so a connection alone is not an answer; the handshake (or the HTTP reply to it) is."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            return hub_address(port, host)
        except KioskError:
            if time.monotonic() >= deadline:
                raise KioskError(f"the hub did not answer on {host}:{port} within {timeout_s:g} s: "
                                 "see journalctl -u classroom-hub") from None
            time.sleep(0.5)


def run(port: int, wait_s: float, print_only: bool) -> int:
    """Wait for the hub, then become Chromium (exec: cage watches the browser itself)."""
    browser = BROWSERS[0] if print_only else find_browser()
    command = browser_command(browser, wait_for_hub(port, wait_s))
    if print_only:
        print(" ".join(command))
        return 0
    os.execv(command[0], command)
    return 0  # not reached
