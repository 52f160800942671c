"""scripts/wheelhouse.sh (`make wheelhouse`): what a school copies onto a USB stick to install with
no network. The full aarch64 wheelhouse is built and installed from in tests/test_arm64.py."""
from __future__ import annotations

import subprocess

from tests.conftest import ROOT


def test_make_wheelhouse_refuses_32_bit_arm_and_keeps_the_wheelhouse_it_had(tmp_path):
    """Native, no root needed: the wheelhouse script refuses armv7l, and a failed build never
    deletes the wheelhouse a school already has."""
    old = tmp_path / "wheelhouse"
    old.mkdir()
    (old / "classroom_hub-0.0.9-py3-none-any.whl").write_bytes(b"the one on the USB stick")
    script = ROOT / "scripts" / "wheelhouse.sh"
    refused = subprocess.run(["sh", str(script), "armv7l", str(old)], capture_output=True, text=True)
    assert refused.returncode == 2 and "Raspberry Pi OS (64-bit)" in refused.stderr
    failed = subprocess.run(["sh", str(script), "aarch64", str(old)], capture_output=True, text=True,
                            env={"PATH": "/usr/bin:/bin", "PIP": "false"})  # a pip that fails at once
    assert failed.returncode != 0
    assert [p.name for p in tmp_path.iterdir()] == ["wheelhouse"]  # no half-made one left beside it
    assert (old / "classroom_hub-0.0.9-py3-none-any.whl").read_bytes() == b"the one on the USB stick"
