"""HTTPS with a certificate made on the hub itself: browsers give camera and microphone only to
secure pages, and a classroom has no domain name or public certificate authority.

The hub makes a small certificate authority (CA) that tablets trust once ("Set up tablets",
/setup: hub/web/setup.py, the files in hub/tls_profiles.py), and a
server certificate it signs for the hub's names and addresses. Whoever holds the CA's key can
make certificates every tablet trusts, so:

- the CA is name-constrained (a critical NameConstraints extension) to what the hub can be called:
  its host name, the whole `.local` zone (mDNS names never leave the room's network, and Avahi
  renames a hub to `<host>-2.local` when two Pis share a name: a `.local` limit survives that
  without every tablet trusting a new CA), `localhost`, `[server] names`, its own addresses when
  the CA was made, and the private address ranges. A certificate for a bank or a search engine
  signed by it fails verification;
- it lives CA_DAYS (two years: each new CA means every tablet trusts again, so not much shorter;
  a copied key stops being useful after that, so not much longer), and the server certificate
  SERVER_DAYS, renewed RENEW_DAYS before it ends with a new key;
- on an installed hub its key is root's: `classroom-hub tls renew --owner classroom-hub`, run by
  systemd as root before the hub starts and daily (classroom-hub-tls.timer), keeps ca.key in a
  0700 root folder and makes `data_dir/tls` root's too (0750, group classroom-hub), so the
  serving process reads its certificate and key but can neither reach the CA's key nor change
  what root reads. gunicorn's gthread worker loads the certificate files for each new connection,
  so a renewal is served at once, without a restart (tests/test_tls.py holds it to that);
- anywhere else (`make run`, a hub started by hand) there is no second account: the CA's key is in
  `data_dir/tls/ca/`, readable by the user who runs the hub (docs/TEACHERS.md says so).

Layout: data_dir/tls/{ca.crt, hub.crt, hub.key} is what the server reads and /ca.crt serves;
the CA's own folder holds ca.key and ca.crt.
"""
from __future__ import annotations

import datetime
import ipaddress
import logging
import os
import re
import shutil
import socket
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

from .errors import HubError

log = logging.getLogger(__name__)
CA_CERT, CA_KEY, CERT, KEY = "ca.crt", "ca.key", "hub.crt", "hub.key"
CA_FOLDER = "ca"  # the CA's folder inside data_dir/tls when there is no root to keep it
CA_DAYS = 730
CA_WARN_DAYS = 60  # the doctor and the log say when the CA ends, so the teacher can pick the day
SERVER_DAYS = 90  # well under the 825 days Apple devices accept from a user-installed authority
RENEW_DAYS = 30
LOCAL_ZONE = "local"
PRIVATE_NETWORKS = tuple(ipaddress.ip_network(n) for n in (
    "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "127.0.0.0/8", "169.254.0.0/16",
    "fd00::/8", "fe80::/10", "::1/128"))  # IPv6 too, so IPv6 names later need no new CA
_DNS = re.compile(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*")


class TLSError(HubError):
    code = "tls_error"


@dataclass(frozen=True)
class Certificate:
    cert: Path
    key: Path
    ca: Path
    names: tuple[str, ...]


@dataclass(frozen=True)
class Renewal:
    certificate: Certificate
    authority: str  # "kept", "made" (the first), "replaced" (tablets must trust again), "moved"
    reason: str  # why a new CA, or where the kept one came from
    renewed: bool  # a new server certificate and key
    left_out: tuple[str, ...]  # names of this hub its CA may not vouch for
    ca_until: datetime.datetime
    cert_until: datetime.datetime
    ca_key: Path


def config_names(config) -> tuple[str, ...]:
    """The names the config adds to the hub's own: `[server] names` and the host of
    `[classroom] public_url` (what the kiosk's QR code sends tablets to)."""
    from urllib.parse import urlsplit

    names = [str(n) for n in config.server.names]
    host = urlsplit(config.classroom.public_url).hostname if config.classroom.public_url else None
    return tuple(names + ([host] if host else []))


def renew_hint(config_source: str = "defaults") -> str:
    """The command that renews, as the person reading the message can type it: on a Pi the hub's
    command is in /opt/classroom-hub/venv/bin, not on the PATH."""
    import sys

    program = Path(sys.executable).parent / "classroom-hub"
    found = shutil.which("classroom-hub")
    command = "classroom-hub" if not program.exists() or (found and Path(found) == program) else str(program)
    config = f" --config {config_source}" if config_source not in ("", "defaults") else ""
    return f"sudo {command} tls renew{config}"


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
        return True
    except ValueError:
        return False


def hub_names(extra_names: Iterable[str] = ()) -> tuple[list[str], list[str]]:
    """(DNS names, IP addresses) a tablet may use to reach this hub: its host name, `<host>.local`,
    localhost, its IPv4 addresses and `[server] names`."""
    from .addresses import lan_addresses

    host = socket.gethostname().lower().rstrip(".")
    short = host.split(".")[0]
    dns = {"localhost", host, short, f"{short}.{LOCAL_ZONE}"}
    ips = {"127.0.0.1"}
    try:
        ips.update(lan_addresses())
    except OSError:
        pass
    for name in extra_names:
        name = str(name).strip().lower().rstrip(".")
        if _is_ip(name):
            ips.add(str(ipaddress.ip_address(name)))
        elif name:
            dns.add(name)
    return sorted(n for n in dns if _DNS.fullmatch(n) and len(n) <= 253), sorted(ips)


def _constraints(dns: list[str], ips: list[str]):
    from cryptography import x509

    zones = {LOCAL_ZONE, "localhost"} | {d for d in dns if not _dns_within(d, (LOCAL_ZONE, "localhost"))}
    networks = list(PRIVATE_NETWORKS)
    for ip in map(ipaddress.ip_address, ips):  # e.g. a school network on public addresses: only this one
        if not any(ip in net for net in networks):
            networks.append(ipaddress.ip_network(ip))
    return x509.NameConstraints(
        permitted_subtrees=[x509.DNSName(z) for z in sorted(zones)] + [x509.IPAddress(n) for n in networks],
        excluded_subtrees=None)


def _dns_within(name: str, zones: Iterable[str]) -> bool:
    return any(name == z or name.endswith("." + z) for z in (z.lstrip(".") for z in zones))


def name_constraints(ca_cert):
    """The CA's NameConstraints if present and critical, else None (a CA from before them)."""
    from cryptography import x509

    try:
        ext = ca_cert.extensions.get_extension_for_class(x509.NameConstraints)
    except x509.ExtensionNotFound:
        return None
    return ext.value if ext.critical else None


def permits(constraints, name: str) -> bool:
    """Whether a CA with these constraints may vouch for `name` (a DNS name or an IP address)."""
    from cryptography import x509

    subtrees = constraints.permitted_subtrees or []
    if _is_ip(name):
        ip = ipaddress.ip_address(name)
        return any(isinstance(s, x509.IPAddress) and ip in s.value for s in subtrees)
    return _dns_within(name, [s.value for s in subtrees if isinstance(s, x509.DNSName)])


def _sans(cert) -> set[str]:
    from cryptography import x509

    try:
        ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return set()
    return {str(v) for v in ext.get_values_for_type(x509.DNSName)} | \
        {str(v) for v in ext.get_values_for_type(x509.IPAddress)}


def _day(moment: datetime.datetime) -> str:
    return moment.strftime("%Y-%m-%d")


# --- folders written by root next to a less trusted user --------------------------------------

class _Folder:
    """A folder opened once and used through its descriptor, never following a symlink: root
    writes in the hub's data folder, where the hub's user could otherwise swap a name for a link
    to /etc/shadow between a check and a write."""

    def __init__(self, fd: int, path: Path) -> None:
        self.fd, self.path = fd, path

    @classmethod
    def existing(cls, path: Path, parent_fd: int | None = None) -> "_Folder | None":
        own_parent = parent_fd is None
        if own_parent:
            try:
                parent_fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
            except FileNotFoundError:
                return None
        try:
            fd = os.open(path.name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=parent_fd)
        except FileNotFoundError:
            return None
        except OSError:  # a link or a file where the folder should be: never followed
            raise TLSError(f"{path} is not a folder (a link or a file): remove it, then run this again") from None
        finally:
            if own_parent:
                os.close(parent_fd)
        return cls(fd, path)

    @classmethod
    def prepare(cls, path: Path, uid: int, gid: int, mode: int) -> "_Folder":
        """The folder, made if missing, owned by uid:gid with exactly `mode`."""
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            for _ in range(3):
                folder = cls.existing(path)
                if folder is None:
                    parent = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
                    try:
                        os.mkdir(path.name, 0o700, dir_fd=parent)
                    except FileExistsError:
                        pass
                    finally:
                        os.close(parent)
                    continue
                info = os.fstat(folder.fd)
                if info.st_uid != uid:
                    folder.close()
                    raise TLSError(f"{path} belongs to another user (id {info.st_uid}): run this as that user, "
                                   f"or with sudo on an installed hub ({renew_hint('<hub.toml>')})")
                if info.st_gid != gid:
                    os.fchown(folder.fd, -1, gid)
                if stat.S_IMODE(info.st_mode) != mode:
                    os.fchmod(folder.fd, mode)
                return folder
        except OSError as exc:
            raise TLSError(f"cannot prepare the folder {path} for the HTTPS certificates: {exc.strerror}; "
                           "check that it is writable and the disk is not full") from None
        raise TLSError(f"{path} keeps changing while the certificates are made: is something else writing there?")

    def owner(self) -> int:
        return os.fstat(self.fd).st_uid

    def sub(self, name: str) -> "_Folder | None":
        """A folder inside, or None (also for a link standing in its place, which is never followed)."""
        try:
            return _Folder.existing(self.path / name, self.fd)
        except TLSError:
            return None

    def read(self, name: str) -> bytes | None:
        try:
            fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW, dir_fd=self.fd)
        except OSError:  # missing, a link, or not ours to read: as good as absent
            return None
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                return None
            with os.fdopen(fd, "rb", closefd=False) as fh:
                return fh.read(1 << 20)
        finally:
            os.close(fd)

    def write(self, name: str, data: bytes, mode: int, gid: int = -1) -> None:
        """Atomically: a reader (the serving hub, per connection) sees the old file or the new one."""
        temp = f".{name}.{os.getpid()}.tmp"
        try:
            self.remove(temp)
            fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600, dir_fd=self.fd)
            try:
                os.write(fd, data)
                if gid != -1:
                    os.fchown(fd, -1, gid)
                os.fchmod(fd, mode)
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(temp, name, src_dir_fd=self.fd, dst_dir_fd=self.fd)
        except OSError as exc:
            self.remove(temp)
            raise TLSError(f"cannot write {self.path / name}: {exc.strerror}; check that the folder is "
                           "writable and the disk is not full") from None

    def remove(self, name: str) -> None:
        try:
            os.unlink(name, dir_fd=self.fd)
        except FileNotFoundError:
            pass

    def close(self) -> None:
        os.close(self.fd)


# --- the certificate authority ----------------------------------------------------------------

def _make_authority(dns: list[str], ips: list[str], now: datetime.datetime, days: int):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"Classroom Hub on {socket.gethostname()}"[:64])])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=False, key_cert_sign=True, crl_sign=True,
                                         content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False,
                                         encipher_only=False, decipher_only=False), critical=True)
            .add_extension(_constraints(dns, ips), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256()))
    return cert, key


def _load_pair(cert_pem: bytes | None, key_pem: bytes | None):
    """(certificate, key) when both parse and belong together, else None."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    if not cert_pem or not key_pem:
        return None
    try:
        cert = x509.load_pem_x509_certificate(cert_pem)
        key = serialization.load_pem_private_key(key_pem, None)
    except (ValueError, TypeError):
        return None
    if cert.public_key().public_numbers() != key.public_key().public_numbers():
        return None
    return cert, key


def authority_problem(ca_cert, now: datetime.datetime | None = None) -> str | None:
    """Why this CA must be replaced, as the end of 'the old one ...', or None."""
    now = now or _now()
    if name_constraints(ca_cert) is None:
        return "was made by an older version of the hub, without limits on the names it may vouch for"
    if ca_cert.not_valid_after_utc - now < datetime.timedelta(days=1):
        return f"ran out on {_day(ca_cert.not_valid_after_utc)}"
    return None


@dataclass
class _Found:
    cert_pem: bytes | None
    key_pem: bytes | None
    where: Path
    forget: Callable[[], None] | None  # removes it where it was, once a CA is in its own folder


def _take_over(public: Path) -> list[_Found]:
    """The server folder belongs to the hub's user (an installed hub from before the root split,
    or one that started once without it): keep the CA keys it holds in memory, then remove it, so
    that root's folder replaces it."""
    folder = _Folder.existing(public)
    if folder is None:
        return []
    try:
        if folder.owner() == 0:
            return []
        found = [_Found(folder.read(CA_CERT), folder.read(CA_KEY), public / CA_KEY, None)]
        inner = folder.sub(CA_FOLDER)
        if inner is not None:
            found.append(_Found(inner.read(CA_CERT), inner.read(CA_KEY), public / CA_FOLDER / CA_KEY, None))
            inner.close()
    finally:
        folder.close()
    try:
        shutil.rmtree(public)  # fd-based on Linux: it never follows a link out of the folder
    except OSError as exc:
        raise TLSError(f"cannot replace {public}, which belongs to the hub's user: {exc.strerror}") from None
    log.info("took %s over from the hub's user: root keeps it from now on", public)
    return found


def renew(public: Path, extra_names: Iterable[str] = (), *, ca_dir: Path | None = None,
          group: int | None = None, new_ca: bool = False, server_days: int = SERVER_DAYS,
          ca_days: int = CA_DAYS, now: datetime.datetime | None = None) -> Renewal:
    """Make or renew the CA and the server certificate; change nothing that is still good.

    `group` given (root only): the root split. `public` becomes root's, 0750 for that group, with
    hub.key 0640; `ca_dir` is root's, 0700, ca.key 0600. Without it, everything belongs to the
    user running this and the CA's folder defaults to `public/ca`."""
    from cryptography.hazmat.primitives import serialization

    now = now or _now()
    split = group is not None
    if split and os.geteuid() != 0:
        raise TLSError("keeping the certificate authority's key from the hub needs root: run it with sudo")
    ca_dir = ca_dir or public / CA_FOLDER
    dns, ips = hub_names(extra_names)
    uid, own_gid = os.geteuid(), os.getegid()
    found = _take_over(public) if split else []
    pub = _Folder.prepare(public, uid, group if split else own_gid, 0o750 if split else 0o700)
    cad = _Folder.prepare(ca_dir, uid, own_gid, 0o700)
    pem = serialization.Encoding.PEM
    opened = [pub, cad]
    try:
        found.insert(0, _Found(cad.read(CA_CERT), cad.read(CA_KEY), ca_dir / CA_KEY, None))
        # beside the public copy: the layout from before the CA had a folder of its own
        found.append(_Found(pub.read(CA_CERT), pub.read(CA_KEY), public / CA_KEY, lambda: pub.remove(CA_KEY)))
        if ca_dir != public / CA_FOLDER:  # a CA made without root, now moved to root's folder
            inner = pub.sub(CA_FOLDER)
            if inner is not None:
                opened.append(inner)

                def forget(inner=inner) -> None:
                    inner.remove(CA_KEY)
                    inner.remove(CA_CERT)
                    os.rmdir(CA_FOLDER, dir_fd=pub.fd)
                found.append(_Found(inner.read(CA_CERT), inner.read(CA_KEY), public / CA_FOLDER / CA_KEY, forget))

        authority, reason, ca = "made", "", None
        for candidate in found:  # the CA's own folder first, then older places
            pair = _load_pair(candidate.cert_pem, candidate.key_pem)
            if pair is None or ca is not None:
                continue
            problem = "was replaced on request (--new-ca)" if new_ca else authority_problem(pair[0], now)
            if problem:
                authority, reason = "replaced", reason or problem
            elif candidate.where != ca_dir / CA_KEY:
                ca, authority, reason = pair, "moved", f"moved from {candidate.where}"
            else:
                ca, authority, reason = pair, "kept", ""
        old_public = pub.read(CA_CERT)
        if ca is None and not reason and any(c.cert_pem for c in found):  # tablets trust one we cannot sign with
            authority, reason = "replaced", "lost its private key"
        if ca is None:
            ca = _make_authority(dns, ips, now, ca_days)
        ca_cert, ca_key = ca
        ca_pem = ca_cert.public_bytes(pem)
        if authority != "kept":
            cad.write(CA_KEY, ca_key.private_bytes(pem, serialization.PrivateFormat.PKCS8,
                                                   serialization.NoEncryption()), 0o600)
            cad.write(CA_CERT, ca_pem, 0o644)
        if old_public != ca_pem:
            pub.write(CA_CERT, ca_pem, 0o644, group if split else -1)
        for candidate in found:  # no copy of a CA key is left where the hub can read it
            if candidate.forget and candidate.key_pem:
                candidate.forget()
        _announce_authority(authority, reason, ca_cert, ca_dir / CA_KEY, now)

        constraints = name_constraints(ca_cert)
        wanted = [n for n in dns + ips if permits(constraints, n)]
        left_out = tuple(n for n in dns + ips if n not in wanted)
        if left_out:
            log.warning("this hub is also called %s, but its certificate authority may not vouch for %s, so a "
                        "tablet that uses %s sees a warning. To include it: have it in [server] names, then make "
                        "a new authority (%s --new-ca) and trust it again on every tablet (docs/TEACHERS.md)",
                        ", ".join(left_out), "that name" if len(left_out) == 1 else "those names",
                        "it" if len(left_out) == 1 else "them", renew_hint("<hub.toml>"))
        cert_pem, key_pem = pub.read(CERT), pub.read(KEY)
        why = _server_problem(cert_pem, key_pem, ca_cert, set(wanted), now, server_days)
        if why:
            cert_pem, key_pem = _make_server(ca_cert, ca_key, wanted, now, server_days)
            pub.write(KEY, key_pem, 0o640 if split else 0o600, group if split else -1)
            pub.write(CERT, cert_pem, 0o644, group if split else -1)
        from cryptography import x509

        cert = x509.load_pem_x509_certificate(cert_pem)
        if why:
            log.info("made the hub's HTTPS certificate for %s, valid until %s (%s)", ", ".join(wanted),
                     _day(cert.not_valid_after_utc), why)
        return Renewal(Certificate(public / CERT, public / KEY, public / CA_CERT, tuple(sorted(_sans(cert)))),
                       authority, reason, bool(why), left_out, ca_cert.not_valid_after_utc,
                       cert.not_valid_after_utc, ca_dir / CA_KEY)
    finally:
        for folder in opened:
            folder.close()


def _announce_authority(authority: str, reason: str, ca_cert, key_path: Path, now: datetime.datetime) -> None:
    until = _day(ca_cert.not_valid_after_utc)
    if authority == "made":
        log.info("made a certificate authority for this hub's HTTPS, valid until %s and limited to the hub's own "
                 "names and the private address ranges; tablets trust it once: 'Set up tablets', http://<hub>:8080/setup "
                 "(docs/TEACHERS.md)", until)
    elif authority == "replaced":
        log.warning("made a new certificate authority for HTTPS, valid until %s: the old one %s. Every tablet must "
                    "trust the new one once: 'Set up tablets', http://<hub>:8080/setup, on each (docs/TEACHERS.md); until "
                    "then they warn that the hub is not secure, and the camera and microphone stay off", until, reason)
    elif authority == "moved":
        log.info("the certificate authority's key is now in %s (%s), out of the serving hub's reach; tablets keep "
                 "trusting it", key_path, reason)
    if ca_cert.not_valid_after_utc - now < datetime.timedelta(days=CA_WARN_DAYS):
        log.warning("the hub's certificate authority runs out on %s; then the hub makes a new one and every tablet "
                    "must trust it again. To choose the day (a holiday), run: %s --new-ca", until,
                    renew_hint("<hub.toml>"))


def _signed_by(cert, ca_cert) -> bool:
    """Signed with this CA's key: a CA made again has the same name, so the issuer name is not enough."""
    from cryptography.exceptions import InvalidSignature

    try:
        cert.verify_directly_issued_by(ca_cert)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def _server_problem(cert_pem, key_pem, ca_cert, wanted: set[str], now, server_days: int) -> str | None:
    """Why the server certificate must be made again, or None to keep it."""
    pair = _load_pair(cert_pem, key_pem)
    if pair is None:
        return "there was none" if not cert_pem else "the one there did not match its key"
    cert = pair[0]
    if not _signed_by(cert, ca_cert):
        return "the one there was signed by another authority"
    left = cert.not_valid_after_utc - now
    renew_before = datetime.timedelta(days=min(RENEW_DAYS, server_days / 3))
    if left < renew_before and cert.not_valid_after_utc < ca_cert.not_valid_after_utc - datetime.timedelta(minutes=1):
        return f"the one there ran out on {_day(cert.not_valid_after_utc)}"
    if left > datetime.timedelta(days=server_days, minutes=1):
        return f"the one there was valid for longer than {server_days} days"
    missing = wanted - _sans(cert)
    if missing:
        return "the one there did not name " + ", ".join(sorted(missing))
    return None


def _make_server(ca_cert, ca_key, names: list[str], now, days: int) -> tuple[bytes, bytes]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    key = ec.generate_private_key(ec.SECP256R1())  # a new key each time: a copied one ends with its certificate
    dns = [n for n in names if not _is_ip(n)]
    common = next((n for n in dns if n.endswith("." + LOCAL_ZONE)), dns[0] if dns else names[0])
    alt = [x509.DNSName(n) for n in dns] + [x509.IPAddress(ipaddress.ip_address(n)) for n in names if _is_ip(n)]
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)]))
            .issuer_name(ca_cert.subject).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(min(now + datetime.timedelta(days=days), ca_cert.not_valid_after_utc))
            .add_extension(x509.SubjectAlternativeName(alt), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=False, crl_sign=False,
                                         content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False,
                                         encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    pem = serialization.Encoding.PEM
    return cert.public_bytes(pem), key.private_bytes(pem, serialization.PrivateFormat.PKCS8,
                                                     serialization.NoEncryption())


def ensure_certificate(folder: Path, extra_names: Iterable[str] = ()) -> Certificate:
    """The hub's certificate without root: made or renewed here, the CA's key in `folder/ca`."""
    return renew(folder, extra_names).certificate


# --- what the serving hub and the doctor use -----------------------------------------------------

def made_by_root(public: Path) -> bool:
    """The CA's key is not beside the certificates: root's `tls renew` made them."""
    return (public / CA_CERT).exists() and not (public / CA_FOLDER / CA_KEY).exists() \
        and not (public / CA_KEY).exists()


def serving_certificate(public: Path, extra_names: Iterable[str] = (), hint: str = "") -> Certificate:
    """(cert, key) for the server. Made by root: used as they are, with any problem logged (only
    root can fix it, and systemd runs it before the hub starts). Otherwise made or renewed here."""
    if not made_by_root(public):
        return renew(public, extra_names).certificate
    hint = hint or renew_hint()
    for level, message, fix in inspect(public, extra_names, hint):
        if level in ("WARN", "FAIL"):
            log.warning("%s; %s", message, fix)
    from cryptography import x509

    try:
        cert = x509.load_pem_x509_certificate((public / CERT).read_bytes())
        (public / KEY).read_bytes()
    except (OSError, ValueError) as exc:
        raise TLSError(f"the hub's HTTPS certificate in {public} cannot be read ({exc}); its certificate authority "
                       f"is kept by root, so run: {hint} (the service does it at each start)") from None
    return Certificate(public / CERT, public / KEY, public / CA_CERT, tuple(sorted(_sans(cert))))


def inspect(public: Path, extra_names: Iterable[str] = (), hint: str = "",
            now: datetime.datetime | None = None) -> list[tuple[str, str, str]]:
    """(level, message, fix) lines about the hub's own HTTPS, for the doctor and the start-up log.
    Reads only; levels as hub/doctor.py's."""
    from cryptography import x509

    now = now or _now()
    hint = hint or renew_hint()
    trust = 'then set every tablet up again: "Set up tablets", http://<hub>:8080/setup (docs/TEACHERS.md)'
    try:
        ca_pem = (public / CA_CERT).read_bytes()
    except FileNotFoundError:
        return [("INFO", "no certificate authority yet: the hub makes one when it starts", "")]
    except OSError as exc:
        return [("INFO", f"cannot read {public / CA_CERT} as this user ({exc.strerror})",
                 "run the doctor with sudo")]
    try:
        ca = x509.load_pem_x509_certificate(ca_pem)
    except ValueError:
        return [("FAIL", f"{public / CA_CERT} is damaged", f"{hint} --new-ca; {trust}")]
    out: list[tuple[str, str, str]] = []
    constraints = name_constraints(ca)
    ca_left = ca.not_valid_after_utc - now
    if constraints is None:
        out.append(("WARN", "the hub's certificate authority is from an older version and may vouch for any web "
                    "site: a copy of the SD card could be used to spy on the tablets that trust it",
                    f"restart the hub (sudo systemctl restart classroom-hub), which replaces it; {trust}"))
    if ca_left <= datetime.timedelta(0):
        out.append(("FAIL", f"the hub's certificate authority ran out on {_day(ca.not_valid_after_utc)}: tablets "
                    "refuse the hub", f"restart the hub, which makes a new one; {trust}"))
    elif ca_left < datetime.timedelta(days=CA_WARN_DAYS):
        out.append(("WARN", f"the hub's certificate authority runs out on {_day(ca.not_valid_after_utc)}; then "
                    "every tablet must trust a new one", f"choose the day (a holiday): {hint} --new-ca; {trust}"))
    if constraints is not None:
        dns, ips = hub_names(extra_names)
        outside = [n for n in dns + ips if not permits(constraints, n)]
        if outside:
            out.append(("WARN", f"the hub's certificate authority may not vouch for {', '.join(outside)}: tablets "
                        "that use that name or address see a warning",
                        f"have it in [server] names, then {hint} --new-ca; {trust}"))
    try:
        cert = x509.load_pem_x509_certificate((public / CERT).read_bytes())
    except (OSError, ValueError):
        out.append(("WARN", f"no readable HTTPS certificate in {public}", f"{hint}, or restart the hub"))
        return out
    left = cert.not_valid_after_utc - now
    if not _signed_by(cert, ca):
        out.append(("FAIL", "the hub's HTTPS certificate was not made by its certificate authority: tablets "
                    "refuse it", f"{hint}, or restart the hub"))
    elif left <= datetime.timedelta(0):
        out.append(("FAIL", f"the hub's HTTPS certificate ran out on {_day(cert.not_valid_after_utc)}",
                    f"{hint}, or restart the hub; check classroom-hub-tls.timer (systemctl list-timers)"))
    elif left < datetime.timedelta(days=7) and cert.not_valid_after_utc < ca.not_valid_after_utc:
        out.append(("WARN", f"the hub's HTTPS certificate runs out on {_day(cert.not_valid_after_utc)} and was "
                    "not renewed", f"{hint}; check classroom-hub-tls.timer (systemctl list-timers)"))
    elif constraints is not None:
        dns, ips = hub_names(extra_names)
        missing = [n for n in dns + ips if permits(constraints, n) and n not in _sans(cert)]
        if missing:
            out.append(("WARN", f"the hub's HTTPS certificate does not name {', '.join(missing)} yet",
                        f"{hint}, or restart the hub (the daily renewal does it too)"))
    if (public / CA_FOLDER / CA_KEY).exists() or (public / CA_KEY).exists():
        where = public / CA_FOLDER if (public / CA_FOLDER / CA_KEY).exists() else public
        out.append(("INFO", f"the certificate authority's key is in {where}, readable by the user who runs the hub: "
                    "fine for trying it out; an installed hub keeps it root's (docs/TEACHERS.md)", ""))
    if not any(level in ("WARN", "FAIL") for level, _, _ in out):
        kept = ", its key kept by root out of the hub's reach" if made_by_root(public) else ""
        out.insert(0, ("OK", f"HTTPS certificate valid until {_day(cert.not_valid_after_utc)}, its authority "
                       f"until {_day(ca.not_valid_after_utc)}, limited to the hub's names and private addresses"
                       f"{kept}", ""))
    return out


def renew_for(config, owner: str | None = None, ca_dir: Path | None = None, new_ca: bool = False) -> Renewal:
    """`classroom-hub tls renew`: as root on an installed hub (the data folder belongs to its user),
    the root split by default, with the CA's key in `<data_dir>-ca`, e.g. /var/lib/classroom-hub-ca."""
    import pwd

    data = Path(config.classroom.data_dir).absolute()
    if owner is None and os.geteuid() == 0:
        try:
            uid = data.stat().st_uid
        except OSError:
            uid = 0
        if uid != 0:
            owner = pwd.getpwuid(uid).pw_name
    group = None
    if owner is not None:
        if os.geteuid() != 0:
            raise TLSError("--owner keeps the certificate authority's key from that user, which needs root: "
                           "run it with sudo")
        try:
            group = pwd.getpwnam(owner).pw_gid
        except KeyError:
            raise TLSError(f"there is no user {owner!r} (the user the hub runs as, e.g. classroom-hub)") from None
        ca_dir = ca_dir or data.with_name(data.name + "-ca")
    return renew(data / "tls", config_names(config), ca_dir=ca_dir, group=group, new_ca=new_ca)
