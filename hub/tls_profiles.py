"""The hub's certificate authority as each kind of device installs it ("Set up tablets", /setup).

Only the CA's certificate is ever in these files, never a key: a tablet that installs it trusts
the hub's HTTPS address (hub/tls.py: the CA may vouch only for the hub's own names and private
addresses). Everything is derived from the CA, so the files are the same at every download and
an iPad that installs the profile twice replaces it rather than keeping two.
"""
from __future__ import annotations

import hashlib
import plistlib
import uuid
from dataclasses import dataclass

PROFILE_NAME = "Classroom Hub"
# A namespace of our own for uuid5: PayloadUUIDs from the CA's fingerprint, the same at every download.
_NAMESPACE = uuid.UUID("5d1d7f2a-3c4e-4b8e-9a51-6c1b0c0de16a")


@dataclass(frozen=True)
class DeviceFile:
    filename: str
    mimetype: str
    body: bytes


def ca_der(ca_pem: bytes) -> bytes:
    """The CA certificate in DER (binary), as every device's installer takes it."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    return x509.load_pem_x509_certificate(ca_pem).public_bytes(serialization.Encoding.DER)


def authority_name(ca_pem: bytes) -> str:
    """The CA's common name ("Classroom Hub on <host>"), as a device lists it once installed."""
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    names = x509.load_pem_x509_certificate(ca_pem).subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(names[0].value) if names else "Classroom Hub"


def fingerprint(der: bytes) -> str:
    """SHA-256 of the certificate, as devices show it (AB:CD:...), for IT to compare."""
    return ":".join(f"{b:02X}" for b in hashlib.sha256(der).digest())


def _uuid(der: bytes, what: str) -> str:
    return str(uuid.uuid5(_NAMESPACE, f"{what}:{hashlib.sha256(der).hexdigest()}")).upper()


def mobileconfig(der: bytes) -> bytes:
    """An Apple configuration profile (iPad, iPhone, Mac) holding the CA as one root payload.

    Unsigned: iOS shows it as "Not Signed", which is expected for a profile made on a school's own
    machine; after installing, the CA still needs "full trust" in Settings (the page says how)."""
    short = hashlib.sha256(der).hexdigest()[:16]
    payload = {
        "PayloadCertificateFileName": "classroom-hub-ca.cer",
        "PayloadContent": der,
        "PayloadDescription": "Lets this device open the Classroom Hub's secure address.",
        "PayloadDisplayName": PROFILE_NAME,
        "PayloadIdentifier": f"org.classroom-hub.ca.{short}",
        "PayloadType": "com.apple.security.root",
        "PayloadUUID": _uuid(der, "payload"),
        "PayloadVersion": 1,
    }
    profile = {
        "PayloadContent": [payload],
        "PayloadDescription": "Trust the Classroom Hub in this classroom, so that speaking and the camera work.",
        "PayloadDisplayName": PROFILE_NAME,
        "PayloadIdentifier": f"org.classroom-hub.profile.{short}",
        "PayloadOrganization": PROFILE_NAME,
        "PayloadRemovalDisallowed": False,
        "PayloadType": "Configuration",
        "PayloadUUID": _uuid(der, "profile"),
        "PayloadVersion": 1,
    }
    return plistlib.dumps(profile, fmt=plistlib.FMT_XML)


# device -> the file it installs. Android and ChromeOS import a DER .crt as a CA certificate;
# Windows opens a .cer with its certificate wizard.
FILES = {
    "ipad": ("classroom-hub.mobileconfig", "application/x-apple-aspen-config"),
    "android": ("classroom-hub-ca.crt", "application/x-x509-ca-cert"),
    "chromebook": ("classroom-hub-ca.crt", "application/x-x509-ca-cert"),
    "windows": ("classroom-hub-ca.cer", "application/pkix-cert"),
}


def device_file(device: str, ca_pem: bytes) -> DeviceFile:
    filename, mimetype = FILES[device]
    der = ca_der(ca_pem)
    return DeviceFile(filename, mimetype, mobileconfig(der) if device == "ipad" else der)
