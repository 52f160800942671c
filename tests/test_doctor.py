"""classroom-hub doctor on this machine (no Edge TPU, no microphone): it warns with the fix, it
does not fail; a broken model or a port taken by someone else is a FAIL."""
from __future__ import annotations

import json
import socket
import subprocess
import sys

from tests.conftest import ROOT, free_port


def doctor(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "hub", "doctor", *args], capture_output=True, text=True,
                          cwd=ROOT, timeout=120)


def test_this_machine_warns_about_the_missing_tpu_with_the_fix(models_dir):
    done = doctor("--models", str(models_dir))
    assert done.returncode == 1, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert any(line.startswith("OK") and "runtime" in line and "ai_edge_litert" in line for line in lines)
    tpu = next(i for i, line in enumerate(lines) if line.startswith("WARN") and "edgetpu" in line)
    assert "fix:" in lines[tpu + 1] and "libedgetpu1-std" in lines[tpu + 1]
    assert any(line.startswith("OK") and "digits: verified" in line for line in lines)
    assert not any(line.startswith("FAIL") for line in lines)
    data = json.loads(doctor("--models", str(models_dir), "--json").stdout)
    assert data["worst"] == 1 and {c["name"] for c in data["checks"]} >= {"runtime", "edgetpu", "models", "port", "clock"}


def test_a_broken_model_is_a_failure(models_dir):
    (models_dir / "broken").mkdir()
    (models_dir / "broken" / "x.tflite").write_bytes(b"TFL3" + bytes(20))
    done = doctor("--models", str(models_dir))
    assert done.returncode == 2
    assert any(line.startswith("FAIL") and "broken:" in line for line in done.stdout.splitlines())


def test_port_taken_by_another_program_and_by_the_hub_itself(models_dir, tmp_path, start_hub):
    port = free_port()
    with socket.socket() as other:
        other.bind(("0.0.0.0", port))
        other.listen()
        config = tmp_path / "hub.toml"
        config.write_text(f"[server]\nport = {port}\n")
        done = doctor("--models", str(models_dir), "--config", str(config))
        assert done.returncode == 2 and f"port {port} is used by another program" in done.stdout
    hub = start_hub(models_dir)
    config.write_text(f"[server]\nport = {hub.port}\n")
    done = doctor("--models", str(models_dir), "--config", str(config))
    assert f"{hub.port} is served by the running hub" in done.stdout
