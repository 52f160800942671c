"""Start-up problems with the data folder and its files, through the real `classroom-hub serve`
(and `pin`) as a child process: one line naming the file and the fix, exit 2, no traceback,
nothing left behind; or, where the hub can go on, a warning naming the file and a hub that serves.

A read-only or full disk is a real tmpfs (mounted here as root; skipped where mounting is not
allowed): root can write to any folder whatever its permissions, so chmod would prove nothing."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from tests.conftest import ROOT, TEACHER_PIN, free_port, toml_text

LEFTOVERS = (".write-test-*", "*.tmp", ".probe-cache-*")


def serve(tmp_path: Path, models: Path, data: Path, pin: str = TEACHER_PIN) -> subprocess.CompletedProcess:
    config = tmp_path / "hub.toml"
    config.write_text(toml_text({"teacher": {"pin": pin}, "classroom": {"data_dir": str(data)}}))
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLASSROOM_HUB_")}
    env["CLASSROOM_HUB_SERVER_SECURE_PORT"] = str(free_port())  # not the fixed 8443 another hub may hold
    return subprocess.run([sys.executable, "-m", "hub", "serve", "--host", "127.0.0.1", "--port", str(free_port()),
                           "--models", str(models), "--config", str(config)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


def refused(run: subprocess.CompletedProcess, names: Path) -> str:
    """The one line the hub printed, after checking it is the only output and names `names`."""
    output = (run.stdout + run.stderr).strip()
    assert run.returncode == 2, output
    assert "Traceback" not in output, output
    lines = output.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and str(names) in lines[0], output
    return lines[0]


def leftovers(folder: Path) -> list[str]:
    if not folder.is_dir():
        return []
    return sorted(p.name for pattern in LEFTOVERS for p in folder.glob(pattern))


@pytest.fixture
def tmpfs(tmp_path):
    """mount(size_kb, read_only=False) -> a fresh tmpfs of that size; unmounted after the test."""
    mounted: list[Path] = []

    def mount(size_kb: int, read_only: bool = False) -> Path:
        point = tmp_path / f"disk{len(mounted)}"
        point.mkdir()
        options = f"size={size_kb}k" + (",ro" if read_only else "")
        made = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(point)], capture_output=True)
        if made.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here: {made.stderr.decode().strip()}")
        mounted.append(point)
        return point

    yield mount
    for point in mounted:
        subprocess.run(["umount", "-l", str(point)], check=False)


def fill(disk: Path, leave_kb: int) -> None:
    """Fill a 64 KB tmpfs, leaving `leave_kb` free."""
    (disk / "filler").write_bytes(b"\0" * ((64 - leave_kb) * 1024))


# ---- refused, with one line ------------------------------------------------------------------------------

def test_a_data_folder_on_a_read_only_disk(tmp_path, models_dir, tmpfs):
    data = tmpfs(64, read_only=True) / "data"
    line = refused(serve(tmp_path, models_dir, data), data)
    assert "read-only" in line


def test_a_data_folder_the_hub_cannot_write(tmp_path, models_dir):
    if os.geteuid() == 0:
        pytest.skip("root writes to any folder: the read-only disk above stands for this")
    data = tmp_path / "data"
    data.mkdir(mode=0o555)
    line = refused(serve(tmp_path, models_dir, data), data)
    assert "writable by the hub's user" in line and leftovers(data) == []


def test_a_data_folder_that_is_a_file(tmp_path, models_dir):
    data = tmp_path / "data"
    data.write_text("not a folder")
    assert "is a file, not a folder" in refused(serve(tmp_path, models_dir, data), data)


def test_a_full_disk(tmp_path, models_dir, tmpfs):
    disk = tmpfs(64)
    fill(disk, 0)
    data = disk / "data"
    line = refused(serve(tmp_path, models_dir, data), data)
    assert "full" in line and not data.exists() and sorted(p.name for p in disk.iterdir()) == ["filler"]


def test_a_disk_that_fills_while_the_class_database_is_made(tmp_path, models_dir, tmpfs):
    disk = tmpfs(64)
    fill(disk, 16)  # room for the folder's write test, not for SQLite's files
    data = disk / "data"
    data.mkdir()
    line = refused(serve(tmp_path, models_dir, data), data / "classroom.sqlite3")
    assert "full" in line
    assert list(data.iterdir()) == []  # no empty database, no -wal or -shm, no temporary file


def test_a_damaged_teacher_pin_file(tmp_path, models_dir):
    data = tmp_path / "data"
    data.mkdir()
    (data / "teacher-pin.json").write_text('{"salt": "zz')
    line = refused(serve(tmp_path, models_dir, data, pin=""), data / "teacher-pin.json")
    assert "classroom-hub pin" in line  # the fix: a new PIN (or one in the config)
    assert sorted(p.name for p in data.iterdir()) == ["teacher-pin.json"]  # kept as it was, nothing added
    assert (data / "teacher-pin.json").read_text() == '{"salt": "zz'


@pytest.mark.parametrize("stored", [{"salt": "00" * 16}, {"salt": "", "scrypt": ""}, ["a list"]])
def test_a_teacher_pin_file_without_what_it_needs(tmp_path, models_dir, stored):
    data = tmp_path / "data"
    data.mkdir()
    (data / "teacher-pin.json").write_text(json.dumps(stored))
    refused(serve(tmp_path, models_dir, data, pin=""), data / "teacher-pin.json")


def test_an_unreadable_teacher_pin_file(tmp_path, models_dir):
    data = tmp_path / "data"
    data.mkdir()
    pin_file = data / "teacher-pin.json"
    if os.geteuid() == 0:
        pin_file.mkdir()  # root reads any file: a folder in its place cannot be read either
    else:
        pin_file.write_text("{}")
        pin_file.chmod(0)
    refused(serve(tmp_path, models_dir, data, pin=""), pin_file)


def test_a_new_pin_on_a_full_disk_leaves_no_temporary_file(tmp_path, tmpfs):
    disk = tmpfs(64)
    data = disk / "data"
    data.mkdir()
    fill(disk, 0)
    config = tmp_path / "hub.toml"
    config.write_text(toml_text({"classroom": {"data_dir": str(data)}}))
    run = subprocess.run([sys.executable, "-m", "hub", "pin", "--config", str(config)], cwd=ROOT,
                         capture_output=True, text=True, timeout=60)
    line = refused(run, data / "teacher-pin.json")
    assert "full" in line and list(data.iterdir()) == []


# ---- the hub goes on, with a warning ---------------------------------------------------------------------

def test_a_damaged_class_database_and_probe_cache_are_set_aside(models_dir, start_hub, tmp_path):
    data = tmp_path / "hub-data"
    data.mkdir()
    (data / "classroom.sqlite3").write_bytes(b"this is not a database" * 100)
    (data / "probe-cache.json").write_bytes(b"\xff\xfe not json")
    hub = start_hub(models_dir, classroom={"data_dir": str(data)})
    log = hub.log()
    assert "Traceback" not in log
    warned = [line for line in log.splitlines() if "WARNING" in line]
    assert any(str(data / "classroom.sqlite3") in line and "moved it to" in line for line in warned), warned
    assert any(str(data / "probe-cache.json") in line for line in warned), warned
    aside = [p for p in data.iterdir() if p.name.startswith("classroom.sqlite3.damaged-")]
    assert len(aside) == 1 and aside[0].read_bytes().startswith(b"this is not a database")
    teacher = requests.Session()  # and the new class database works
    assert teacher.post(hub.url + "/api/teacher/login", json={"pin": TEACHER_PIN}, timeout=10).status_code == 200
    assert teacher.post(hub.url + "/api/classes", timeout=10).status_code == 201
    assert teacher.post(hub.url + "/api/classes/current/end", timeout=10).status_code == 200
