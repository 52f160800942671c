"""Debian Bookworm root folders for the Pi's own CPUs on this x86-64 machine: arm64 (Raspberry Pi
OS 64-bit) and armhf (the 32-bit one), run with `chroot` under qemu-user through binfmt_misc.
Used by tests/test_arm64.py and tests/test_armhf.py (`make test-arm`).

A root is made once with mmdebstrap from this machine's own apt sources and kept as a tarball
outside the repository (~/.cache/classroom-hub/roots, or $CLASSROOM_HUB_ROOT_CACHE); every test
module unpacks a fresh copy, so a test never changes the cache. qemu-user shows a program the
host's /proc/cpuinfo, on which LiteRT's CPU detection crashes when /sys is there too (an
emulation artefact, not a fault of the hub or of the Pi): `Root` shows it a Raspberry Pi 4's
instead, and can take it away to show that crash (tests/test_arm64.py).
"""
from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

CACHE = Path(os.environ.get("CLASSROOM_HUB_ROOT_CACHE",
                            Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "classroom-hub" / "roots"))
REPOSITORY = Path(__file__).resolve().parent.parent
BUILD_VERSION = "1"  # raise to rebuild every cached root


@dataclass(frozen=True)
class Arch:
    debian: str  # dpkg's name: arm64, armhf
    qemu: str  # binfmt_misc's entry: qemu-aarch64, qemu-arm
    cpu: str  # QEMU_CPU: the core of the Pi it stands for


ARCHES = {"arm64": Arch("arm64", "qemu-aarch64", "cortex-a72"), "armhf": Arch("armhf", "qemu-arm", "cortex-a7")}

# What a Raspberry Pi 4 (4 Cortex-A72 cores) shows in /proc/cpuinfo, running a 64-bit kernel.
PI4_CPUINFO = "".join(
    f"processor\t: {n}\nBogoMIPS\t: 108.00\nFeatures\t: fp asimd evtstrm crc32 cpuid\nCPU implementer\t: 0x41\n"
    "CPU architecture: 8\nCPU variant\t: 0x0\nCPU part\t: 0xd08\nCPU revision\t: 3\n\n" for n in range(4)
) + "Hardware\t: BCM2835\nRevision\t: c03114\nModel\t\t: Raspberry Pi 4 Model B Rev 1.4\n"


class RootError(RuntimeError):
    """A root could not be made, mounted or cleaned up."""


def unavailable_reason(arch: str) -> str | None:
    """Why no `arch` root can run here (None when one can)."""
    missing = [t for t in ("mmdebstrap", "chroot", "arch-test", "mount", "umount") if not shutil.which(t)]
    if missing:
        return f"missing {', '.join(missing)} (make test-arm installs them: scripts/system-deps.sh --arm)"
    if os.geteuid() != 0:
        return "making and entering a root folder needs root (mmdebstrap, chroot, mount)"
    entry = Path("/proc/sys/fs/binfmt_misc") / ARCHES[arch].qemu
    if not entry.exists() or not entry.read_text().startswith("enabled"):
        return (f"qemu-user cannot run {arch} programs here: no enabled binfmt_misc entry {entry} "
                "(qemu-user-static and binfmt-support, then update-binfmts --enable; scripts/system-deps.sh --arm)")
    return None


def debian_mirror() -> str:
    """The Debian mirror this machine's apt uses (a school's or a CI's mirror is used as configured),
    as scripts/bookworm-image.sh finds it. The roots take Bookworm's release alone from it: the
    security and updates suites add nothing these tests need, and one more index that may be
    caught mid-sync ("File has unexpected size ... Mirror sync in progress?")."""
    for f in [Path("/etc/apt/sources.list.d/debian.sources"), *sorted(Path("/etc/apt/sources.list.d").glob("*.sources")),
              Path("/etc/apt/sources.list")]:
        if not f.is_file() or "disabled" in f.name:
            continue
        for line in f.read_text().splitlines():
            words = line.split("#")[0].split()
            if words[:1] == ["URIs:"] or (words[:1] == ["deb"] and len(words) > 2):
                uris = [w for w in words[1:] if "://" in w]
                if uris and "security" not in uris[0]:
                    return uris[0]
    raise RootError("no Debian mirror in this machine's apt sources (/etc/apt/sources.list.d/debian.sources)")


def ensure_tarball(arch: str, packages: tuple[str, ...]) -> Path:
    """The cached root of `arch` holding `packages` (Debian's, with what they need), made when missing."""
    mirror = debian_mirror()
    key = hashlib.sha256("\n".join([BUILD_VERSION, arch, *sorted(packages), mirror]).encode()).hexdigest()
    tarball = CACHE / f"bookworm-{arch}-{key[:16]}.tar"
    if tarball.exists():
        return tarball
    CACHE.mkdir(parents=True, exist_ok=True)
    building = tarball.with_suffix(".building.tar")  # mmdebstrap picks the format from the name
    command = ["mmdebstrap", "--variant=apt", f"--arch={arch}", "--components=main", f"--include={','.join(packages)}",
               "--aptopt=APT::Install-Recommends \"false\"", "bookworm", str(building), mirror]
    for attempt in (1, 2):  # a mirror caught mid-sync is right again a minute later
        building.unlink(missing_ok=True)
        done = subprocess.run(command, capture_output=True, text=True, timeout=1500)
        if done.returncode == 0:
            break
        if attempt == 1:
            time.sleep(60)
    else:
        building.unlink(missing_ok=True)
        raise RootError(f"mmdebstrap could not make the {arch} root from {mirror}:\n{done.stderr[-3000:]}")
    building.rename(tarball)
    for old in CACHE.glob(f"bookworm-{arch}-*"):  # earlier versions of this root
        if old != tarball:
            shutil.rmtree(old) if old.is_dir() else old.unlink()
    return tarball


def mounted_under(path: Path) -> list[str]:
    """Mount points at or below `path` in this mount namespace."""
    prefix = str(path.resolve())
    points = [line.split()[1] for line in Path("/proc/mounts").read_text().splitlines()]
    return [p for p in points if p == prefix or p.startswith(prefix + "/")]


def fresh_root(arch: str, packages: tuple[str, ...], tmp_path_factory, **options) -> "Root":
    """A Root (not yet entered) of `arch` holding `packages`, in a new temporary folder; the test
    is skipped, with the reason shown, where no such root can run here."""
    import pytest

    reason = unavailable_reason(arch)
    if reason:
        pytest.skip(reason)
    return Root(arch, ensure_tarball(arch, packages), tmp_path_factory.mktemp(arch), **options)


class Root:
    """A fresh copy of a cached root in `where`, with /proc (and /sys on request) mounted and a
    Pi's /proc/cpuinfo shown to it; everything unmounted, and the copy deleted, on exit.

        with Root("arm64", tarball, tmp) as root:
            root.run("python3", "-c", "print(1)")
    """

    def __init__(self, arch: str, tarball: Path, where: Path, sysfs: bool = True) -> None:
        self.arch = ARCHES[arch]
        self.tarball = tarball
        self.where = where  # beside the root: what is made to be copied in
        self.path = where / f"root-{arch}"
        self.sysfs = sysfs
        self._mounts: list[Path] = []

    def __enter__(self) -> "Root":
        self.path.mkdir(parents=True)
        subprocess.run(["tar", "-C", str(self.path), "-xf", str(self.tarball)], check=True,  # device nodes too
                       capture_output=True)
        try:
            self._mount(["-t", "proc", "proc"], self.path / "proc")
            if self.sysfs:
                self._mount(["-t", "sysfs", "-o", "ro", "sysfs"], self.path / "sys")
            self.show_pi_cpuinfo(True)
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def _mount(self, how: list[str], target: Path) -> None:
        if not target.exists():  # a folder to mount on (a file, /proc/cpuinfo, is there already)
            target.mkdir(parents=True)
        subprocess.run(["mount", *how, str(target)], check=True, capture_output=True)
        self._mounts.append(target)

    def _umount(self, target: Path) -> None:
        subprocess.run(["umount", str(target)], check=True, capture_output=True)
        self._mounts.remove(target)

    def show_pi_cpuinfo(self, shown: bool) -> None:
        """Show the root a Raspberry Pi 4's /proc/cpuinfo (True), or qemu's view of the host's (False)."""
        cpuinfo = self.path / "proc" / "cpuinfo"
        if shown and cpuinfo not in self._mounts:
            fake = self.path.parent / f"cpuinfo-{self.arch.debian}"
            fake.write_text(PI4_CPUINFO)
            self._mount(["--bind", "-o", "ro", str(fake)], cpuinfo)
        elif not shown and cpuinfo in self._mounts:
            self._umount(cpuinfo)

    def bind(self, source: Path, inside: str) -> Path:
        """`source` (read-only) at `inside` in the root."""
        target = self.path / inside.lstrip("/")
        self._mount(["--bind", "-o", "ro", str(source)], target)
        return target

    def copy_in(self, source: Path, inside: str) -> Path:
        target = self.path / inside.lstrip("/")
        if source.is_dir():
            shutil.copytree(source, target, symlinks=True)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
        return target

    def copy_in_source(self, inside: str = "/src") -> Path:
        """The repository's code, tests and models, without what is built or installed."""
        target = self.path / inside.lstrip("/")
        shutil.copytree(REPOSITORY, target, ignore=shutil.ignore_patterns(
            ".git", ".venv", "build", "*.egg-info", "__pycache__", "test-artifacts", "wheelhouse*", "screenshots",
            "node_modules", ".pytest_cache"))
        return target

    def command(self, *argv: str, env: dict[str, str] | None = None, cwd: str = "/") -> list[str]:
        """argv run inside the root, as root, with a clean environment and the Pi's CPU for qemu."""
        base = {"PATH": "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin", "HOME": "/root", "LANG": "C.UTF-8",
                "QEMU_CPU": self.arch.cpu, **(env or {})}
        return ["chroot", str(self.path), "/usr/bin/env", "-i", *[f"{k}={v}" for k, v in base.items()],
                "/bin/sh", "-c", 'cd "$0" && exec "$@"', cwd, *argv]

    def run(self, *argv: str, env: dict[str, str] | None = None, cwd: str = "/",
            timeout: float = 600) -> subprocess.CompletedProcess:
        return subprocess.run(self.command(*argv, env=env, cwd=cwd), capture_output=True, text=True, timeout=timeout)

    def __exit__(self, *exc) -> None:
        for target in reversed(list(self._mounts)):
            done = subprocess.run(["umount", str(target)], capture_output=True, text=True)
            if done.returncode != 0:  # still busy (a process left inside): detach it
                subprocess.run(["umount", "-l", str(target)], capture_output=True)
            self._mounts.remove(target)
        left = mounted_under(self.path)
        if left:  # never delete through a mount point
            raise RootError(f"still mounted in {self.path}: {left}; unmount them by hand")
        shutil.rmtree(self.path, ignore_errors=True)
