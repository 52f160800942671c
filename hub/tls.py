"""HTTPS with a certificate made on the hub itself: browsers give camera and microphone only to
secure pages, and a classroom has no domain name or public certificate authority.

At first start the hub makes a small local certificate authority (ten years) and a server
certificate it signs, for the hub's names and addresses (hostname, hostname.local, every local
IPv4 address, localhost). Tablets trust the authority once (docs/TEACHERS.md); when the hub's
address changes, only the server certificate is remade and tablets keep trusting it.
"""
from __future__ import annotations

import datetime
import ipaddress
import logging
import os
import socket
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)
CA_CERT, CA_KEY, CERT, KEY = "ca.crt", "ca.key", "hub.crt", "hub.key"
SERVER_DAYS = 820  # under the 825 days Apple devices accept for a certificate from a user-installed authority


@dataclass(frozen=True)
class Certificate:
    cert: Path
    key: Path
    ca: Path
    names: tuple[str, ...]


def local_names() -> tuple[list[str], list[str]]:
    """(DNS names, IP addresses) a tablet may use to reach this hub."""
    host = socket.gethostname()
    dns = sorted({host, f"{host}.local", "localhost"})
    ips = {"127.0.0.1"}
    try:
        for info in socket.getaddrinfo(host, None, socket.AF_INET):
            ips.add(info[4][0])
    except OSError:
        pass
    try:  # the address used to reach the room's network, without sending anything
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.connect(("10.255.255.255", 1))
            ips.add(s.getsockname()[0])
    except OSError:
        pass
    return dns, sorted(ips)


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)


def _sans(cert) -> set[str]:
    from cryptography import x509

    try:
        ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return set()
    return {str(v) for v in ext.get_values_for_type(x509.DNSName)} | \
        {str(v) for v in ext.get_values_for_type(x509.IPAddress)}


def ensure_certificate(folder: Path, extra_names: tuple[str, ...] = ()) -> Certificate:
    """The hub's certificate, made or remade when missing, expiring, or not naming this hub."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    folder.mkdir(parents=True, exist_ok=True)
    dns, ips = local_names()
    dns = sorted(set(dns) | {n for n in extra_names if not _is_ip(n)})
    ips = sorted(set(ips) | {n for n in extra_names if _is_ip(n)})
    now = datetime.datetime.now(datetime.timezone.utc)
    pem = serialization.Encoding.PEM
    ca_cert_path, ca_key_path = folder / CA_CERT, folder / CA_KEY
    if ca_cert_path.exists() and ca_key_path.exists():
        ca_cert = x509.load_pem_x509_certificate(ca_cert_path.read_bytes())
        ca_key = serialization.load_pem_private_key(ca_key_path.read_bytes(), None)
    else:
        ca_key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"Classroom Hub on {socket.gethostname()}")])
        ca_cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
                   .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(now - datetime.timedelta(days=1))
                   .not_valid_after(now + datetime.timedelta(days=3650))
                   .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
                   .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                                content_commitment=False, key_encipherment=False,
                                                data_encipherment=False, key_agreement=False,
                                                encipher_only=False, decipher_only=False), critical=True)
                   .sign(ca_key, hashes.SHA256()))
        _write_private(ca_key_path, ca_key.private_bytes(pem, serialization.PrivateFormat.PKCS8,
                                                         serialization.NoEncryption()))
        ca_cert_path.write_bytes(ca_cert.public_bytes(pem))
        log.info("made a local certificate authority: %s", ca_cert_path)
    cert_path, key_path = folder / CERT, folder / KEY
    wanted = set(dns) | set(ips)
    if cert_path.exists() and key_path.exists():
        current = x509.load_pem_x509_certificate(cert_path.read_bytes())
        fresh = current.not_valid_after_utc - now > datetime.timedelta(days=30)
        if fresh and wanted <= _sans(current) and current.issuer == ca_cert.subject:
            return Certificate(cert_path, key_path, ca_cert_path, tuple(sorted(wanted)))
    key = ec.generate_private_key(ec.SECP256R1())
    alt = [x509.DNSName(d) for d in dns] + [x509.IPAddress(ipaddress.ip_address(i)) for i in ips]
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, dns[0])]))
            .issuer_name(ca_cert.subject).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=SERVER_DAYS))
            .add_extension(x509.SubjectAlternativeName(alt), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    _write_private(key_path, key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    cert_path.write_bytes(cert.public_bytes(pem))
    log.info("made the hub's HTTPS certificate for %s", ", ".join(sorted(wanted)))
    return Certificate(cert_path, key_path, ca_cert_path, tuple(sorted(wanted)))


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
        return True
    except ValueError:
        return False
