"""Structured logs to journald's native socket (a real datagram socket stands in for journald)."""
from __future__ import annotations

import socket
import struct
import time

from tests.conftest import BASE_CONFIG, BUNDLED, HubProcess, copy_model, toml_text


def parse(datagram: bytes) -> dict[str, str]:
    fields, i = {}, 0
    while i < len(datagram):
        end = datagram.index(b"\n", i)
        line = datagram[i:end]
        if b"=" in line:
            key, _, value = line.partition(b"=")
            fields[key.decode()] = value.decode()
            i = end + 1
        else:  # binary form: KEY\n <u64 length> value \n
            size = struct.unpack_from("<Q", datagram, end + 1)[0]
            fields[line.decode()] = datagram[end + 9:end + 9 + size].decode()
            i = end + 9 + size + 1
    return fields


def test_records_reach_journald_with_their_fields(tmp_path):
    journal = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    journal.bind(str(tmp_path / "journal.sock"))
    journal.settimeout(0.5)
    models = tmp_path / "models"
    models.mkdir()
    copy_model(BUNDLED / "digits", models)
    config = {**BASE_CONFIG, "classroom": {"data_dir": str(tmp_path / "data")}}
    hub = HubProcess(models, toml_text(config), tmp_path,
                     extra_env={"JOURNAL_STREAM": "8:1234", "CLASSROOM_HUB_JOURNAL_SOCKET": str(tmp_path / "journal.sock")})
    try:
        records, deadline = [], time.monotonic() + 10
        while time.monotonic() < deadline and not any(r.get("MODEL_STATUS") == "ready" for r in records):
            try:
                records.append(parse(journal.recv(65536)))
            except TimeoutError:
                pass
        ready = next(r for r in records if r.get("MODEL_STATUS") == "ready")
        assert ready["MODEL"] == "digits" and ready["MESSAGE"] == "model digits: ready"
        assert ready["PRIORITY"] == "6" and ready["SYSLOG_IDENTIFIER"] == "classroom-hub"
        assert ready["LOGGER"] == "hub.registry" and ready["CODE_FILE"].endswith("registry.py")
        cpu = next(r for r in records if r.get("BACKEND") == "cpu")
        assert cpu["MODEL"] == "digits"
    finally:
        hub.stop()
        journal.close()
