"""The hub's own certificate authority (hub/tls.py): name-constrained, short-lived, renewed by
itself, and its key out of the serving process's reach on an installed hub."""
from __future__ import annotations

import datetime
import ipaddress
import logging
import os
import shutil
import ssl
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from cryptography.x509.verification import PolicyBuilder, Store, VerificationError

from hub import tls
from hub.config import load_config
from hub.doctor import check_tls
from hub.kiosk import presented_certificate
from tests.conftest import BUNDLED, ROOT, copy_model, wait_for

NOW = datetime.datetime.now(datetime.timezone.utc)


def load(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def authority(folder: Path):
    return load(folder / tls.CA_CERT), serialization.load_pem_private_key((folder / tls.CA_KEY).read_bytes(), None)


def forged(ca_folder: Path, *names: str) -> x509.Certificate:
    """A server certificate for `names`, signed with the hub's CA key by the hub's own code:
    what someone with a copy of the SD card could make."""
    cert_pem, _ = tls._make_server(*authority(ca_folder), list(names), NOW, 30)
    return x509.load_pem_x509_certificate(cert_pem)


def verify(ca: x509.Certificate, leaf: x509.Certificate, name: str) -> None:
    """What a browser does with a trusted root: chain, time, name and the root's name constraints."""
    subject = x509.IPAddress(ipaddress.ip_address(name)) if tls._is_ip(name) else x509.DNSName(name)
    PolicyBuilder().store(Store([ca])).time(NOW).build_server_verifier(subject).verify(leaf, [])


def legacy_layout(folder: Path) -> bytes:
    """data_dir/tls as the hub made it before this change: a CA for ten years without name
    constraints, its key beside the certificates."""
    folder.mkdir(parents=True)
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Classroom Hub on old")])
    ca = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(NOW - datetime.timedelta(days=1))
          .not_valid_after(NOW + datetime.timedelta(days=3650))
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .sign(key, hashes.SHA256()))
    pem = serialization.Encoding.PEM
    (folder / "ca.key").write_bytes(key.private_bytes(pem, serialization.PrivateFormat.PKCS8,
                                                      serialization.NoEncryption()))
    (folder / "ca.crt").write_bytes(ca.public_bytes(pem))
    cert_pem, key_pem = tls._make_server(ca, key, ["localhost", "127.0.0.1"], NOW, 820)
    (folder / "hub.crt").write_bytes(cert_pem)
    (folder / "hub.key").write_bytes(key_pem)
    return ca.public_bytes(pem)


def test_the_authority_is_name_constrained_critical_and_short_lived(tmp_path):
    made = tls.renew(tmp_path / "tls", ["hub.school.example", "172.20.1.2"])
    ca, cert = load(made.certificate.ca), load(made.certificate.cert)
    ext = ca.extensions.get_extension_for_class(x509.NameConstraints)
    assert ext.critical
    dns = {s.value for s in ext.value.permitted_subtrees if isinstance(s, x509.DNSName)}
    nets = {s.value for s in ext.value.permitted_subtrees if isinstance(s, x509.IPAddress)}
    host = os.uname().nodename.lower().split(".")[0]
    assert {"local", "localhost", host, "hub.school.example"} <= dns
    assert set(tls.PRIVATE_NETWORKS) <= nets
    assert {ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "127.0.0.0/8",
                                              "169.254.0.0/16")} <= nets
    assert ext.value.excluded_subtrees is None
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.path_length == 0
    # lifetimes: a CA of at most three years, a server certificate of at most 90 days (Apple: <= 825)
    ca_life = ca.not_valid_after_utc - ca.not_valid_before_utc
    cert_life = cert.not_valid_after_utc - cert.not_valid_before_utc
    assert ca_life == datetime.timedelta(days=tls.CA_DAYS + 1) and tls.CA_DAYS <= 3 * 366
    assert cert_life == datetime.timedelta(days=tls.SERVER_DAYS + 1) and tls.SERVER_DAYS <= 90
    assert made.ca_until == ca.not_valid_after_utc and made.cert_until == cert.not_valid_after_utc
    wanted = {f"{host}.local", "localhost", "127.0.0.1", "hub.school.example", "172.20.1.2"}
    assert wanted <= set(made.certificate.names)
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert x509.oid.ExtendedKeyUsageOID.SERVER_AUTH in eku


def test_a_certificate_for_another_site_signed_by_the_authority_fails_verification(tmp_path):
    made = tls.renew(tmp_path / "tls")
    ca, own = load(made.certificate.ca), load(made.certificate.cert)
    for name in made.certificate.names:  # the hub's own certificate passes for every name it holds
        verify(ca, own, name)
    verify(ca, forged(made.ca_key.parent, "projector.local"), "projector.local")  # the forger's tool works...
    verify(ca, forged(made.ca_key.parent, "10.1.2.3"), "10.1.2.3")
    for names, asked in [(("example.com",), "example.com"), (("accounts.google.com",), "accounts.google.com"),
                         (("8.8.8.8",), "8.8.8.8"), (("local.example.com",), "local.example.com"),
                         (("projector.local", "bank.example"), "projector.local")]:  # one outside name is enough
        with pytest.raises(VerificationError, match="name constraint"):
            verify(ca, forged(made.ca_key.parent, *names), asked)


@pytest.mark.skipif(not shutil.which("openssl"), reason="no openssl command here")
def test_openssl_refuses_the_forged_certificate_too(tmp_path):
    made = tls.renew(tmp_path / "tls")
    fake = tmp_path / "fake.crt"
    fake.write_bytes(forged(made.ca_key.parent, "www.example.com").public_bytes(serialization.Encoding.PEM))

    def openssl_verify(cert: Path) -> subprocess.CompletedProcess:
        return subprocess.run(["openssl", "verify", "-purpose", "sslserver", "-CAfile", str(made.certificate.ca),
                               str(cert)], capture_output=True, text=True, timeout=30)

    own = openssl_verify(made.certificate.cert)
    assert own.returncode == 0, own.stdout + own.stderr
    refused = openssl_verify(fake)
    assert refused.returncode != 0 and "permitted subtree violation" in refused.stdout + refused.stderr


def test_the_server_certificate_is_renewed_near_its_end_and_kept_otherwise(tmp_path):
    public = tmp_path / "tls"
    made_at = datetime.datetime.now(datetime.timezone.utc)  # NOW is when the module was imported
    first = tls.renew(public, server_days=9)  # a short life, so that its end comes without waiting
    assert first.renewed and first.cert_until - made_at < datetime.timedelta(days=9, minutes=1)
    cert, key, ca = ((public / name).read_bytes() for name in ("hub.crt", "hub.key", "ca.crt"))
    again = tls.renew(public, server_days=9)
    assert not again.renewed and again.authority == "kept"
    assert (public / "hub.crt").read_bytes() == cert and (public / "hub.key").read_bytes() == key
    later = tls.renew(public, server_days=9, now=made_at + datetime.timedelta(days=7))  # 2 days left of 9
    assert later.renewed and later.authority == "kept"
    assert (public / "hub.crt").read_bytes() != cert and (public / "hub.key").read_bytes() != key  # a new key too
    assert (public / "ca.crt").read_bytes() == ca  # tablets keep trusting the same authority
    assert later.cert_until > first.cert_until
    context = ssl.create_default_context(cafile=str(public / "ca.crt"))
    context.load_cert_chain(str(public / "hub.crt"), str(public / "hub.key"))  # the new key matches
    # a certificate from before, valid for longer than the hub now makes them, is replaced
    assert tls.renew(public, server_days=3).renewed


def test_an_authority_from_before_is_replaced_and_the_log_says_tablets_must_trust_again(tmp_path, caplog):
    public = tmp_path / "tls"
    old_ca = legacy_layout(public)
    levels = {level for level, _, _ in tls.inspect(public)}
    assert "WARN" in levels  # the doctor says so before the hub replaces it
    with caplog.at_level(logging.INFO, logger="hub.tls"):
        done = tls.renew(public)
    assert done.authority == "replaced" and "without limits" in done.reason and done.renewed
    assert (public / "ca.crt").read_bytes() != old_ca and not (public / "ca.key").exists()  # no old key left
    assert tls.name_constraints(load(public / "ca.crt")) is not None
    warning = next(r for r in caplog.records
                   if r.levelno == logging.WARNING and "new certificate authority" in r.message)
    assert "Every tablet must trust the new one" in warning.message and "/setup" in warning.message
    assert tls.renew(public).authority == "kept"  # once


def test_a_name_outside_the_authority_is_left_out_until_a_new_one_is_asked_for(tmp_path, caplog):
    public = tmp_path / "tls"
    tls.renew(public)
    first_ca = (public / "ca.crt").read_bytes()
    with caplog.at_level(logging.WARNING, logger="hub.tls"):
        renamed = tls.renew(public, ["hub.school.example"])
    assert renamed.authority == "kept" and renamed.left_out == ("hub.school.example",)  # no surprise re-trust
    assert "hub.school.example" not in renamed.certificate.names
    assert any("hub.school.example" in r.message and "--new-ca" in r.message for r in caplog.records)
    lines = tls.inspect(public, ["hub.school.example"])
    assert any(level == "WARN" and "hub.school.example" in message and "--new-ca" in fix
               for level, message, fix in lines)
    moved = tls.renew(public, ["hub.school.example", "192.168.40.2"])
    assert "192.168.40.2" in moved.certificate.names and moved.authority == "kept"  # a private address: no new CA
    new = tls.renew(public, ["hub.school.example"], new_ca=True)
    assert new.authority == "replaced" and "hub.school.example" in new.certificate.names
    assert (public / "ca.crt").read_bytes() != first_ca


def test_an_authority_near_its_end_is_announced_and_replaced_when_it_ends(tmp_path, caplog):
    public = tmp_path / "tls"
    with caplog.at_level(logging.WARNING, logger="hub.tls"):
        made = tls.renew(public, ca_days=40)
    assert any("runs out on" in r.message and "--new-ca" in r.message for r in caplog.records)
    assert made.cert_until <= made.ca_until  # never past its authority
    assert any(level == "WARN" and "runs out on" in message for level, message, _ in tls.inspect(public))
    later = NOW + datetime.timedelta(days=41)
    assert any(level == "FAIL" and "ran out" in message for level, message, _ in tls.inspect(public, now=later))
    ended = tls.renew(public, now=later)
    assert ended.authority == "replaced" and "ran out on" in ended.reason and ended.renewed


def test_the_doctor_reports_https(tmp_path):
    data = tmp_path / "data"
    off = check_tls(load_config(overrides={"classroom": {"data_dir": str(data)}}))
    assert [c.level for c in off] == ["INFO"]
    config = load_config(overrides={"server": {"tls": "self-signed"}, "classroom": {"data_dir": str(data)}})
    assert [c.level for c in check_tls(config)] == ["INFO"]  # nothing made yet
    legacy_layout(data / "tls")
    old = check_tls(config)
    assert any(c.level == "WARN" and "any web site" in c.message and "set every tablet up again" in c.fix for c in old)
    tls.renew(data / "tls")
    fresh = check_tls(config)
    assert fresh[0].level == "OK" and "valid until" in fresh[0].message
    assert any("readable by the user who runs the hub" in c.message for c in fresh)  # no root split here


def test_a_running_hub_serves_the_renewed_certificate_without_a_restart(tmp_path, start_hub):
    models = tmp_path / "models"
    models.mkdir()
    copy_model(BUNDLED / "digits", models)
    hub = start_hub(models, server={"tls": "self-signed"})
    public = hub.data_dir / "tls"
    before = x509.load_der_x509_certificate(presented_certificate(hub.port))
    assert "10.77.0.1" not in {str(v) for v in before.extensions.get_extension_for_class(
        x509.SubjectAlternativeName).value.get_values_for_type(x509.IPAddress)}
    pid = hub.proc.pid
    assert tls.renew(public, ["10.77.0.1"]).renewed  # as the daily timer would, while the hub runs

    def presented_names() -> set[str]:
        cert = x509.load_der_x509_certificate(presented_certificate(hub.port))
        return {str(v) for v in cert.extensions.get_extension_for_class(
            x509.SubjectAlternativeName).value.get_values_for_type(x509.IPAddress)}

    assert wait_for(lambda: "10.77.0.1" in presented_names(), 10)
    assert hub.proc.poll() is None and hub.proc.pid == pid  # the same process: no restart
    assert requests.get(hub.url + "/api/status", verify=hub.verify, timeout=10).status_code == 200
    assert hub.get("/ca.crt").content == (public / "ca.crt").read_bytes()


@pytest.fixture
def service_user():
    """A throwaway system user standing for classroom-hub, removed afterwards."""
    if os.geteuid() != 0 or not shutil.which("useradd"):
        pytest.skip("needs root and useradd")
    name = f"hubtls{uuid.uuid4().hex[:6]}"
    subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", name], check=True)
    try:
        yield name
    finally:
        subprocess.run(["userdel", name], capture_output=True)


def as_user(user: str, *command: str) -> subprocess.CompletedProcess:
    return subprocess.run(["runuser", "-u", user, "--", *command], capture_output=True, text=True, timeout=30)


def test_tls_renew_as_root_keeps_the_authoritys_key_from_the_hubs_user(service_user):
    import pwd

    entry = pwd.getpwnam(service_user)
    base = Path(f"/tmp/classroom-hub-tls-{uuid.uuid4().hex[:8]}")  # not under /root or pytest's 0700 folders
    try:
        base.mkdir(mode=0o755)
        data, ca_dir = base / "var-lib" / "classroom-hub", base / "var-lib" / "classroom-hub-ca"
        data.mkdir(parents=True)
        for folder in (base, data.parent):
            folder.chmod(0o755)
        old_ca = legacy_layout(data / "tls")  # an installed hub from before: its own folder, CA key inside
        for path in [data, *data.rglob("*")]:
            os.chown(path, entry.pw_uid, entry.pw_gid)
        config = base / "hub.toml"
        config.write_text(f'[server]\ntls = "self-signed"\n[classroom]\ndata_dir = "{data}"\n')

        def renew() -> subprocess.CompletedProcess:
            return subprocess.run([sys.executable, "-m", "hub", "tls", "renew", "--config", str(config), "--owner",
                                   service_user, "--ca-dir", str(ca_dir)], capture_output=True, text=True,
                                  cwd=ROOT, timeout=60)

        done = renew()
        assert done.returncode == 0, done.stderr
        assert "authority replaced" in done.stdout and "Every tablet must trust the new one" in done.stderr

        def mode(path: Path) -> tuple[int, int, int]:
            info = path.stat()
            return info.st_uid, info.st_gid, info.st_mode & 0o777

        public = data / "tls"
        assert mode(ca_dir) == (0, 0, 0o700) and mode(ca_dir / "ca.key") == (0, 0, 0o600)
        assert mode(public) == (0, entry.pw_gid, 0o750)
        assert mode(public / "hub.key") == (0, entry.pw_gid, 0o640)
        assert mode(public / "hub.crt")[2] == 0o644 and mode(public / "ca.crt")[2] == 0o644
        assert sorted(p.name for p in public.iterdir()) == ["ca.crt", "hub.crt", "hub.key"]  # no CA key left here
        assert (public / "ca.crt").read_bytes() != old_ca
        assert (ca_dir / "ca.crt").read_bytes() == (public / "ca.crt").read_bytes()
        # what the kernel lets the hub's user do
        assert as_user(service_user, "cat", str(public / "hub.key")).returncode == 0
        denied = as_user(service_user, "cat", str(ca_dir / "ca.key"))
        assert denied.returncode != 0 and "Permission denied" in denied.stderr
        assert as_user(service_user, "touch", str(public / "hub.crt")).returncode != 0  # nor change what root reads
        assert as_user(service_user, "touch", str(public / "other")).returncode != 0
        # the serving process, as that user, takes the certificate as root made it and makes nothing
        assert served_as(entry, public) == (tuple(sorted(tls._sans(load(public / "hub.crt")))), "no access")

        again = renew()
        assert again.returncode == 0 and "authority kept" in again.stdout and "certificate kept" in again.stdout
        forced = subprocess.run([sys.executable, "-m", "hub", "tls", "renew", "--config", str(config), "--new-ca"],
                                capture_output=True, text=True, cwd=ROOT, timeout=60)  # as root: owner from the folder
        assert forced.returncode == 0, forced.stderr
        assert "authority replaced" in forced.stdout and f"key in {ca_dir}/ca.key" in forced.stdout
        assert mode(public / "hub.key") == (0, entry.pw_gid, 0o640)
    finally:
        shutil.rmtree(base, ignore_errors=True)


def served_as(entry, public: Path) -> tuple[tuple[str, ...], str]:
    """In a child process that has become `entry`'s user: what serving_certificate() returns, and
    whether the CA's key could be read (this interpreter lives under /root, which that user cannot
    enter, so the child forks from here instead of starting anew)."""
    import json

    import hub.addresses  # noqa: F401 - imported before the fork, as everything the child needs

    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - the child
        try:
            os.close(read)
            os.setgroups([])
            os.setgid(entry.pw_gid)
            os.setuid(entry.pw_uid)
            made = tls.serving_certificate(public)
            ssl.create_default_context().load_cert_chain(str(made.cert), str(made.key))
            try:
                key_dir = public.parent.parent / "classroom-hub-ca"
                (key_dir / "ca.key").read_bytes()
                access = "read the CA key"
            except PermissionError:
                access = "no access"
            os.write(write, json.dumps([list(made.names), access]).encode())
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read) as fh:
        text = fh.read()
    os.waitpid(child, 0)
    names, access = json.loads(text)
    return tuple(names), access


def test_the_units_run_the_renewal_as_root(tmp_path):
    prefix = tmp_path / "pi"
    prefix.mkdir()
    done = subprocess.run(["sh", str(ROOT / "scripts/install-pi.sh"), "--prefix", str(prefix), "--no-root",
                           "--no-kiosk", "--venv", sys.prefix], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr + done.stdout
    units = prefix / "etc/systemd/system"
    hub_unit = (units / "classroom-hub.service").read_text()
    renew = (f"{prefix}/opt/classroom-hub/venv/bin/classroom-hub tls renew "
             f"--config {prefix}/etc/classroom-hub/hub.toml "
             f"--owner classroom-hub --ca-dir {prefix}/var/lib/classroom-hub-ca")
    assert f"ExecStartPre=+-{renew}" in hub_unit  # "+": root, outside the hub's sandbox
    assert f"ExecStart={renew}" in (units / "classroom-hub-tls.service").read_text()
    timer = (units / "classroom-hub-tls.timer").read_text()
    assert "OnCalendar=" in timer and "Persistent=true" in timer and "@PREFIX@" not in timer
    assert oct((prefix / "var/lib/classroom-hub-ca").stat().st_mode)[-3:] == "700"
    analyze = shutil.which("systemd-analyze")
    if analyze:
        for unit in ("classroom-hub-tls.service", "classroom-hub-tls.timer"):
            checked = subprocess.run([analyze, "verify", str(units / unit)], capture_output=True, text=True)
            assert checked.returncode == 0, checked.stderr
    gone = subprocess.run(["sh", str(ROOT / "scripts/install-pi.sh"), "--prefix", str(prefix), "--no-root",
                           "--uninstall", "--purge"], capture_output=True, text=True, timeout=120)
    assert gone.returncode == 0 and not (units / "classroom-hub-tls.timer").exists()
    assert not (prefix / "var/lib/classroom-hub-ca").exists()


def test_root_never_writes_through_links_the_hubs_user_left(service_user, tmp_path):
    """The hub's user owns the data folder: root's renewal must not follow a link it planted there."""
    import pwd

    entry = pwd.getpwnam(service_user)
    victim = tmp_path / "victim"  # stands for /etc: root's files the hub's user would like to own
    victim.mkdir()
    secret = victim / "shadow"
    secret.write_text("root's own\n")
    secret.chmod(0o600)
    data = tmp_path / "data"
    (data / "tls").mkdir(parents=True)
    for name in ("hub.key", "hub.crt", "ca.key", "ca.crt"):
        (data / "tls" / name).symlink_to(secret)
    for path in [data, data / "tls", *(data / "tls").iterdir()]:
        os.chown(path, entry.pw_uid, entry.pw_gid, follow_symlinks=False)

    done = tls.renew(data / "tls", ca_dir=tmp_path / "ca", group=entry.pw_gid)
    assert done.authority == "made" and done.renewed
    assert secret.read_text() == "root's own\n" and (secret.stat().st_uid, secret.stat().st_mode & 0o777) == (0, 0o600)
    assert not any(p.is_symlink() for p in (data / "tls").iterdir())
    assert (data / "tls").stat().st_uid == 0

    shutil.rmtree(data / "tls")
    (data / "tls").symlink_to(victim)  # the whole folder a link: refused, nothing written there
    before = sorted(p.name for p in victim.iterdir())
    with pytest.raises(tls.TLSError, match="not a folder"):
        tls.renew(data / "tls", ca_dir=tmp_path / "ca", group=entry.pw_gid)
    assert sorted(p.name for p in victim.iterdir()) == before and secret.read_text() == "root's own\n"


def test_the_kiosks_public_address_and_the_schools_names_are_in_the_certificate(tmp_path):
    config = load_config(overrides={
        "server": {"tls": "self-signed", "names": ["hub.school.example"]},
        "classroom": {"data_dir": str(tmp_path / "data"), "public_url": "https://classroom-7.local:8080"}})
    done = tls.renew_for(config)  # as `classroom-hub tls renew --config ...` does
    assert {"classroom-7.local", "hub.school.example"} <= set(done.certificate.names)
    verify(load(done.certificate.ca), load(done.certificate.cert), "classroom-7.local")
    assert [c.level for c in check_tls(config)][0] == "OK"
