"""Config: defaults, file, environment, flags; every error names the key and the fix."""
from __future__ import annotations

import pytest

from hub.config import load_config
from hub.errors import ConfigError


def test_defaults():
    config = load_config(environ={})
    assert config.server.port == 8080 and config.edgetpu.devices == "auto"
    assert config.effective_cpu_workers() >= 1


def test_file_then_environment_then_flags(tmp_path):
    path = tmp_path / "hub.toml"
    path.write_text('[server]\nport = 9000\nhost = "127.0.0.1"\n[engine]\nqueue_size = 8\n')
    config = load_config(path, environ={"CLASSROOM_HUB_SERVER_PORT": "9100",
                                        "CLASSROOM_HUB_EDGETPU_DEVICES": "usb:0, pci:0",
                                        "CLASSROOM_HUB_TEACHER_PIN": "1234"},
                         overrides={"server": {"port": 9200}})
    assert config.server.port == 9200 and config.server.host == "127.0.0.1"
    assert config.engine.queue_size == 8 and config.edgetpu.devices == ["usb:0", "pci:0"]


@pytest.mark.parametrize("text,words", [
    ("[server]\nprot = 1\n", "server.prot"),
    ("[servers]\nport = 1\n", "[servers]"),
    ("[server]\nport = 70000\n", "server.port"),
    ("[server]\nport = \"eighty\"\n", "server.port is 'eighty'; use a whole number"),
    ("[engine]\nqueue_size = 1.5\n", "whole number"),
    ("[edgetpu]\ndevices = [\"usb0\"]\n", "edgetpu.devices"),
    ("[logging]\nlevel = \"LOUD\"\n", "DEBUG, INFO"),
    ("[server\n", "not valid TOML"),
])
def test_errors_name_the_key_and_the_fix(tmp_path, text, words):
    path = tmp_path / "hub.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=words.replace("[", r"\[")):
        load_config(path, environ={})


def test_bad_environment_value():
    with pytest.raises(ConfigError, match="server.port"):
        load_config(environ={"CLASSROOM_HUB_SERVER_PORT": "eighty"})


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.toml", environ={})
