"""scripts/install-pi.sh as root in a Debian Bookworm root folder where systemd is not PID 1 (an
image being prepared, a chroot, a container: issue 18): it installs everything from a wheelhouse,
enables the units for the next boot and says so; it refreshes apt's package lists only when a
package it wants is missing, never otherwise; and with a package missing and no network it names
the package and the fix.

The root is made with mmdebstrap from this machine's own Debian mirror (found as
tests/emulated_root.py finds it), built once and cached outside the repository, and copied for
each test. The installer runs in it through chroot, with no network at all (a network namespace
of its own) and with /proc and /dev mounted in a mount namespace of its own, so that no mount can
outlive a test, even a killed one.

The network part (issue 16): the Pi's new name, the hotspot written by Debian's own nmcli, and
the root's avahi-daemon answering a "tablet" that asks over mDNS from a network namespace of its own.
"""
from __future__ import annotations

import configparser
import fcntl
import hashlib
import json
import os
import platform
import re
import shutil
import socket
import stat
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from hub import __version__
from tests.conftest import ROOT
from tests.emulated_root import RootError, debian_mirror, mounted_under

INSTALLER = ROOT / "scripts" / "install-pi.sh"
CACHE = Path(os.environ.get("CLASSROOM_HUB_INSTALL_ROOT_CACHE",
                            Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
                            / "classroom-hub" / "install-root"))
ARCHES = {"x86_64": "x86_64", "aarch64": "aarch64"}  # this machine's, as scripts/wheelhouse.sh names it
HOST_TOOLS = ("mmdebstrap", "chroot", "unshare", "dpkg-deb", "ip", "nsenter")  # ip, nsenter: the room's network
# What a root needs for install-pi.sh --no-kiosk: the Debian packages it wants (read from it, as
# scripts/bookworm-image.sh does), systemctl to enable units, and useradd. No udev: without systemd
# running the installer leaves udevadm alone. network-manager: the hotspot is made by its nmcli
# (offline there: NetworkManager is not running in the root).
EXTRA_PACKAGES = ("systemd", "passwd", "network-manager", "dnsmasq-base")
# The .debs are kept (--skip=cleanup/apt/cache), then moved out of the root: a test serves one of
# them from a local apt repository.
MMDEBSTRAP = ["mmdebstrap", "--variant=apt", "--components=main", "--aptopt=APT::Install-Recommends \"false\"",
              "--skip=cleanup/apt/cache"]
# Run as sudo would run it: a clean environment (not this test's PIP_* settings).
CLEAN_ENV = "env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8"
# $1: the root, $2: the command. /dev with /dev/pts (apt logs through a pseudo-terminal). Unmounted
# at the end; the private mount namespace (unshare's default) drops the mounts anyway when the
# command ends, however it ends.
IN_ROOT = f"""
set -e
mount -t proc proc "$1/proc"
mount --rbind /dev "$1/dev"
set +e
chroot "$1" {CLEAN_ENV} sh -c "$2"
status=$?
umount -R "$1/dev"; umount "$1/proc"
exit $status
"""
HUB_UNIT = "/etc/systemd/system/classroom-hub.service"
TLS_TIMER = "/etc/systemd/system/classroom-hub-tls.timer"
USB = "/media/usb"  # where the project and the wheelhouse are in the root, as on a school's stick


def wanted_packages() -> list[str]:
    line = next(line for line in INSTALLER.read_text().splitlines() if line.startswith("HUB_PACKAGES="))
    return line.split("=", 1)[1].strip('"').split()


def unavailable_reason() -> str | None:
    if os.geteuid() != 0:
        return "needs root (mmdebstrap, chroot and the mounts in the root)"
    missing = [tool for tool in HOST_TOOLS if not shutil.which(tool)]
    if missing:
        return f"missing {', '.join(missing)} (apt-get install mmdebstrap; scripts/system-deps.sh)"
    if platform.machine() not in ARCHES:
        return f"no wheelhouse for this machine's architecture ({platform.machine()})"
    try:
        debian_mirror()
    except RootError as exc:
        return str(exc)
    probe = subprocess.run(["unshare", "--mount", "--net", "true"], capture_output=True, text=True)
    if probe.returncode != 0:
        return f"cannot make mount and network namespaces here: {probe.stderr.strip()}"
    return None


def ensure_root() -> Path:
    """The cached root (folder/root) and the .debs it was made from (folder/debs), built once per
    version of what decides them: the packages, mmdebstrap's options and the mirror."""
    mirror = debian_mirror()
    packages = sorted({*wanted_packages(), *EXTRA_PACKAGES})
    key = hashlib.sha256(json.dumps([MMDEBSTRAP, packages, mirror]).encode()).hexdigest()[:16]
    folder = CACHE / f"bookworm-{key}"
    CACHE.mkdir(parents=True, exist_ok=True)
    with open(CACHE / ".lock", "w") as lock:  # another test run may be building the same root
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (folder / "root" / "usr" / "bin" / "systemctl").exists():
            return folder
        building = CACHE / f"bookworm-{key}.building"
        shutil.rmtree(building, ignore_errors=True)
        (building / "debs").mkdir(parents=True)
        done = subprocess.run([*MMDEBSTRAP, f"--include={','.join(packages)}", "bookworm", str(building / "root"),
                               mirror], capture_output=True, text=True, timeout=1800)
        if done.returncode != 0:
            raise RuntimeError(f"mmdebstrap failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
        for deb in (building / "root/var/cache/apt/archives").glob("*.deb"):
            shutil.move(deb, building / "debs" / deb.name)
        building.rename(folder)
        for old in CACHE.glob("bookworm-*"):  # earlier versions
            if old != folder:
                shutil.rmtree(old, ignore_errors=True)
    return folder


@pytest.fixture(scope="module")
def cached():
    reason = unavailable_reason()
    if reason:
        pytest.skip(f"no Bookworm root here: {reason}")
    return ensure_root()


@pytest.fixture(scope="module")
def wheelhouse(cached, tmp_path_factory):
    out = tmp_path_factory.mktemp("wheelhouse") / "wheelhouse"
    built = subprocess.run(["sh", str(ROOT / "scripts" / "wheelhouse.sh"), ARCHES[platform.machine()], str(out)],
                           env={**os.environ, "PIP": f"{sys.executable} -m pip"}, cwd=ROOT,
                           capture_output=True, text=True, timeout=900)
    assert built.returncode == 0, built.stderr[-3000:]
    return out


def _link_or_copy(src: str, dst: str) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


@pytest.fixture
def root(cached, wheelhouse, tmp_path):
    """A copy of the cached root with the project and the wheelhouse in /media/usb, as on the stick."""
    from tests.pi_deploy import project_files

    target = tmp_path / "root"
    copied = subprocess.run(["cp", "-a", str(cached / "root"), str(target)], capture_output=True, text=True)
    assert copied.returncode == 0, copied.stderr
    for name in project_files():
        dest = target / USB.lstrip("/") / "classroom-hub" / name
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, dest)
    shutil.copytree(wheelhouse, target / USB.lstrip("/") / "wheelhouse", copy_function=_link_or_copy)
    yield target
    assert not mounted_under(tmp_path), mounted_under(tmp_path)


def in_root(root: Path, command: str, timeout_s: float = 900) -> subprocess.CompletedProcess:
    """`command` (sh) run as root in `root`: chrooted, a clean environment, no network."""
    try:
        return subprocess.run(["unshare", "--mount", "--net", "sh", "-c", IN_ROOT, "in-root", str(root), command],
                              capture_output=True, text=True, timeout=timeout_s)
    finally:
        assert not mounted_under(root), mounted_under(root)


def install(root: Path, *options: str) -> subprocess.CompletedProcess:
    return in_root(root, f"cd {USB}/classroom-hub && sh scripts/install-pi.sh --no-kiosk "
                         f"--wheelhouse {USB}/wheelhouse {' '.join(options)}")


def package_lists(root: Path) -> list[str]:
    """The package lists apt has (a fresh root has none: mmdebstrap empties them). A `file:`
    source's list is a symbolic link to the repository's own index."""
    lists = root / "var/lib/apt/lists"
    return sorted(p.name for p in lists.iterdir() if not stat.S_ISDIR(p.lstat().st_mode) and p.name != "lock")


def status(root: Path, package: str) -> str:
    return in_root(root, f"dpkg-query -W -f='${{Status}}' {package} 2>/dev/null || true", 60).stdout


def remove(root: Path, package: str) -> None:
    done = in_root(root, f"dpkg --purge {package}", 120)
    assert done.returncode == 0 and status(root, package) != "install ok installed", done.stderr


def uid_of(root: Path, user: str) -> int:
    for line in (root / "etc/passwd").read_text().splitlines():
        fields = line.split(":")
        if fields[0] == user:
            return int(fields[2])
    raise AssertionError(f"no user {user} in the root")


def test_installs_without_systemd_and_without_network_then_again_then_uninstalls(root):
    assert package_lists(root) == [], "a fresh root has no package lists"
    done = install(root)
    out = done.stdout + done.stderr
    assert done.returncode == 0, out
    assert "systemd is not running here" in done.stdout and "services start at the next boot" in done.stdout, out
    # everything it wants is installed: apt is left alone, no list fetched (there is no network)
    assert "Debian packages: all there already" in done.stdout and "refreshing" not in out, out
    assert package_lists(root) == []
    units = root / "etc/systemd/system"
    assert os.readlink(units / "multi-user.target.wants/classroom-hub.service") == HUB_UNIT
    assert os.readlink(units / "timers.target.wants/classroom-hub-tls.timer") == TLS_TIMER
    assert "/opt/classroom-hub/venv/bin/classroom-hub" in (root / HUB_UNIT.lstrip("/")).read_text()
    version = in_root(root, "/opt/classroom-hub/venv/bin/classroom-hub --version", 120)
    assert version.returncode == 0 and version.stdout.strip() == f"classroom-hub {__version__}", version
    assert "[models]" in (root / "etc/classroom-hub/hub.toml").read_text()
    pin = root / "var/lib/classroom-hub/teacher-pin.json"
    assert "Teacher PIN (shown once, write it down)" in done.stdout
    assert pin.stat().st_uid == uid_of(root, "classroom-hub") and oct(pin.stat().st_mode)[-3:] == "600"

    again = install(root)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "kept the existing" in again.stdout and "Teacher PIN" not in again.stdout, again.stdout
    assert os.readlink(units / "multi-user.target.wants/classroom-hub.service") == HUB_UNIT

    removed = in_root(root, f"sh {USB}/classroom-hub/scripts/install-pi.sh --uninstall")
    assert removed.returncode == 0, removed.stdout + removed.stderr
    assert not (units / "classroom-hub.service").exists() and not (root / "opt/classroom-hub").exists()
    assert not os.path.lexists(units / "multi-user.target.wants/classroom-hub.service")
    assert not os.path.lexists(units / "timers.target.wants/classroom-hub-tls.timer")
    assert (root / "etc/classroom-hub/hub.toml").exists() and pin.exists()  # kept without --purge


def local_repository(root: Path, debs: list[Path]) -> None:
    """A `file:` apt repository in the root holding `debs`, made the root's only source: a
    Packages index (what dpkg-scanpackages writes: each package's control fields, its file, size
    and hash), trusted without a signature."""
    repo = root / "srv/classroom-hub-repo"
    repo.mkdir(parents=True)
    stanzas = []
    for deb in debs:
        shutil.copy2(deb, repo / deb.name)
        fields = subprocess.run(["dpkg-deb", "--field", str(deb)], capture_output=True, text=True, check=True)
        stanzas.append(f"{fields.stdout.rstrip()}\nFilename: ./{deb.name}\nSize: {deb.stat().st_size}\n"
                       f"SHA256: {hashlib.sha256(deb.read_bytes()).hexdigest()}\n")
    (repo / "Packages").write_text("\n".join(stanzas))
    for old in (root / "etc/apt/sources.list.d").iterdir():
        old.unlink()
    (root / "etc/apt/sources.list").write_text("deb [trusted=yes] file:/srv/classroom-hub-repo ./\n")


def test_a_missing_package_gets_the_package_lists_refreshed_and_is_installed(root, cached):
    remove(root, "curl")
    local_repository(root, sorted((cached / "debs").glob("curl_*.deb")))
    assert package_lists(root) == []  # as on a fresh image: `apt-get install curl` alone finds nothing
    done = install(root)
    out = done.stdout + done.stderr
    assert done.returncode == 0, out
    assert "installing Debian packages: curl (refreshing the package lists first)" in done.stdout, out
    assert status(root, "curl") == "install ok installed"
    assert any("classroom-hub-repo" in name for name in package_lists(root)), package_lists(root)
    assert "services start at the next boot" in done.stdout


def test_a_missing_package_without_network_names_it_and_the_fix(root):
    remove(root, "curl")  # the root's sources are this machine's mirror, out of reach here
    done = install(root)
    assert done.returncode == 1, done.stdout + done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert "missing Debian packages: curl" in last and "connect this machine to the network" in last, done.stderr
    assert "image that has them" in last
    # it stopped before changing anything of the hub's
    assert not (root / "opt/classroom-hub").exists() and not (root / "etc/classroom-hub").exists()
    assert "classroom-hub" not in (root / "etc/passwd").read_text()


HOTSPOT_KEYFILE = "etc/NetworkManager/system-connections/classroom-hub-hotspot.nmconnection"
HOTSPOT_TXT = "etc/classroom-hub/hotspot.txt"
AVAHI_SERVICE = "etc/avahi/services/classroom-hub.service"


def as_on_a_pi(root: Path) -> None:
    """The name a fresh Raspberry Pi OS card has, in /etc/hostname and in Debian's /etc/hosts line."""
    (root / "etc/hostname").write_text("raspberrypi\n")
    (root / "etc/hosts").write_text("127.0.0.1\tlocalhost\n::1\t\tlocalhost ip6-localhost ip6-loopback\n"
                                    "127.0.1.1\traspberrypi\n")


def keyfile(root: Path) -> configparser.ConfigParser:
    parsed = configparser.ConfigParser(interpolation=None)
    parsed.read_string((root / HOTSPOT_KEYFILE).read_text())
    return parsed


# The room's network, as the installed Pi would have it at boot: the root's own avahi-daemon, under
# the host name in the root's /etc/hostname (a UTS namespace of its own), on an interface with the
# hotspot's address, 10.42.0.1; its other end is a "tablet" in a network namespace of its own, which
# asks over mDNS as a tablet does ($3...: `python -c` and its arguments). avahi-daemon runs without
# D-Bus and as root here: there is no system bus in the root.
IN_ROOM = f"""
set -e
r=$1
unshare --net sleep 60 &
tablet=$!
until [ "$(readlink /proc/$tablet/ns/net)" != "$(readlink /proc/self/ns/net)" ]; do sleep 0.05; done
ip link add pi0 type veth peer name tablet0 netns $tablet
ip addr add 10.42.0.1/24 dev pi0 && ip link set pi0 up && ip link set lo up
nsenter --net=/proc/$tablet/ns/net sh -c 'ip addr add 10.42.0.2/24 dev tablet0 && ip link set tablet0 up'
mount -t proc proc "$r/proc"
printf '[server]\\nuse-ipv6=no\\nenable-dbus=no\\nallow-interfaces=pi0\\n' > "$r/tmp/avahi.conf"
chroot "$r" {CLEAN_ENV} sh -c 'hostname "$(cat /etc/hostname)" && mkdir -p /run/avahi-daemon &&
  exec timeout 60 avahi-daemon --no-drop-root --no-chroot --no-rlimits -f /tmp/avahi.conf' > "$r/tmp/avahi.log" 2>&1 &
avahi=$!
set +e
until grep -q 'successfully established' "$r/tmp/avahi.log" || ! kill -0 $avahi 2>/dev/null; do sleep 0.05; done
shift 2
nsenter --net=/proc/$tablet/ns/net "$@"
status=$?
kill $avahi $tablet; wait $avahi
cat "$r/tmp/avahi.log" >&2
umount "$r/proc"
exit $status
"""
MDNS = {"A": 1, "PTR": 12, "SRV": 33}


def dns_name(packet: bytes, at: int) -> tuple[str, int]:
    """The name at `at` (following compression pointers) and where the record goes on."""
    labels, end = [], None
    while packet[at]:
        if packet[at] >= 0xC0:
            end = end or at + 2
            at = struct.unpack_from("!H", packet, at)[0] & 0x3FFF
            continue
        labels.append(packet[at + 1:at + 1 + packet[at]].decode())
        at += 1 + packet[at]
    return ".".join(labels), end or at + 1


def mdns_ask(source: str, name: str, kind: str) -> list[list]:
    """One mDNS question as a tablet asks it (RFC 6762), from a port other than 5353, so that the
    answer comes back to it (a "legacy unicast" query): [owner, type, data] per record answered."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as ask:
        ask.bind((source, 0))
        ask.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(source))
        ask.settimeout(5)
        question = b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\0"
        ask.sendto(struct.pack("!6H", 1, 0, 1, 0, 0, 0) + question + struct.pack("!2H", MDNS[kind], 1),
                   ("224.0.0.251", 5353))
        packet = ask.recv(9000)
    counts = struct.unpack_from("!6H", packet)
    at = 12
    for _ in range(counts[2]):
        at = dns_name(packet, at)[1] + 4
    records = []
    for _ in range(sum(counts[3:])):
        owner, at = dns_name(packet, at)
        rtype, _, _, size = struct.unpack_from("!2HIH", packet, at)
        at += 10
        if rtype == MDNS["A"]:
            records.append([owner, "A", socket.inet_ntoa(packet[at:at + size])])
        elif rtype == MDNS["PTR"]:
            records.append([owner, "PTR", dns_name(packet, at)[0]])
        elif rtype == MDNS["SRV"]:
            records.append([owner, "SRV", [struct.unpack_from("!H", packet, at + 4)[0], dns_name(packet, at + 6)[0]]])
        at += size
    return records


def asked_in_the_room(root: Path, *questions: tuple[str, str]) -> list[list]:
    """What a tablet on the hotspot's network hears over mDNS for each (name, type) question."""
    code = ("import json, sys; from tests.test_install_root import mdns_ask; a = sys.argv[1:]; "
            "print(json.dumps([r for n, k in zip(a[::2], a[1::2]) for r in mdns_ask('10.42.0.2', n, k)]))")
    asked = subprocess.run(["unshare", "--mount", "--net", "--uts", "sh", "-c", IN_ROOM, "in-room", str(root), "--",
                            sys.executable, "-c", code, *(part for q in questions for part in q)],
                           capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert not mounted_under(root), mounted_under(root)
    assert asked.returncode == 0, asked.stderr
    return json.loads(asked.stdout)


def test_the_pi_gets_its_name_a_hotspot_and_mdns_and_uninstall_takes_them_back(root):
    as_on_a_pi(root)
    ssid = "Classe 4B é"  # 12 bytes: an SSID is bytes, and NetworkManager writes these as numbers
    done = install(root, "--hotspot", f"'{ssid}'")
    out = done.stdout + done.stderr
    assert done.returncode == 0, out
    assert "renamed this machine from raspberrypi to classroom-hub: tablets find the hub as classroom-hub.local" in out
    assert (root / "etc/hostname").read_text() == "classroom-hub\n"
    assert "127.0.1.1\tclassroom-hub\n" in (root / "etc/hosts").read_text()
    # the hotspot, written by Debian's own nmcli (--offline: NetworkManager is not running here)
    made = keyfile(root)
    password = made["wifi-security"]["psk"]
    assert re.fullmatch(r"[a-z2-9]{4}-[a-z2-9]{4}-[a-z2-9]{4}", password), password
    assert bytes(int(b) for b in made["wifi"]["ssid"].rstrip(";").split(";")).decode() == ssid
    assert (made["wifi"]["mode"], made["wifi"]["band"], made["wifi"]["channel"]) == ("ap", "bg", "6")
    assert made["wifi-security"]["key-mgmt"] == "wpa-psk" and made["wifi-security"]["proto"] == "rsn;"
    assert made["ipv4"]["method"] == "shared" and made["connection"]["id"] == "classroom-hub-hotspot"
    for secret in (root / HOTSPOT_KEYFILE, root / HOTSPOT_TXT):  # root's alone
        assert secret.stat().st_uid == 0 and oct(secret.stat().st_mode)[-3:] == "600", secret
    teacher = (root / HOTSPOT_TXT).read_text()
    assert f"Wi-Fi name: {ssid}\nPassword: {password}\n" in teacher and "http://classroom-hub.local:8080/" in teacher
    last = done.stdout.strip().splitlines()[-1]
    assert f'Wi-Fi "{ssid}", password {password}, starts when this machine boots' in last and HOTSPOT_TXT in last
    # a tablet on the hotspot's network asks for the name and the web servers, and avahi-daemon
    # (the root's own, started as at boot) answers from the host name and the installed service file
    heard = asked_in_the_room(root, ("classroom-hub.local", "A"), ("_http._tcp.local", "PTR"),
                              ("_https._tcp.local", "PTR"))
    assert ["classroom-hub.local", "A", "10.42.0.1"] in heard, heard
    for kind, port in (("http", 8080), ("https", 8443)):
        service = f"Classroom Hub on classroom-hub._{kind}._tcp.local"
        assert ["_" + kind + "._tcp.local", "PTR", service] in heard, heard
        assert [service, "SRV", [port, "classroom-hub.local"]] in heard, heard

    # again, with another name: the password stays (the tablets remember it), the name changes
    again = install(root, "--name", "classroom-7", "--hotspot", f"'{ssid}'")
    assert again.returncode == 0, again.stdout + again.stderr
    assert keyfile(root)["wifi-security"]["psk"] == password
    assert (root / "etc/hostname").read_text() == "classroom-7\n"
    assert "127.0.1.1\tclassroom-7\n" in (root / "etc/hosts").read_text()

    removed = in_root(root, f"sh {USB}/classroom-hub/scripts/install-pi.sh --uninstall")
    assert removed.returncode == 0, removed.stdout + removed.stderr
    assert "removed the class's hotspot" in removed.stdout and "name back: raspberrypi" in removed.stdout
    for gone in (HOTSPOT_KEYFILE, HOTSPOT_TXT, AVAHI_SERVICE, "etc/classroom-hub/hostname.installer"):
        assert not (root / gone).exists(), gone
    assert (root / "etc/hostname").read_text() == "raspberrypi\n"
    assert "127.0.1.1\traspberrypi\n" in (root / "etc/hosts").read_text()


def test_without_nmcli_the_hotspot_is_explained_and_the_rest_is_installed(root):
    remove(root, "network-manager")
    done = install(root, "--hotspot", "'Class 4B'")
    out = done.stdout + done.stderr
    assert done.returncode == 0, out
    assert "no hotspot: NetworkManager's nmcli is not installed" in done.stderr, out
    assert "sudo apt install network-manager" in done.stderr and "The hub itself is installed." in done.stderr
    assert os.readlink(root / "etc/systemd/system/multi-user.target.wants/classroom-hub.service") == HUB_UNIT
    assert not (root / HOTSPOT_KEYFILE).exists() and not (root / HOTSPOT_TXT).exists()
    # a name a school gave (this root's, not a stock one) is kept, and published as it is
    name = (root / "etc/hostname").read_text().strip()
    assert f"kept this machine's name {name}: tablets find the hub as {name}.local" in done.stdout, out
    assert (root / AVAHI_SERVICE).exists()
