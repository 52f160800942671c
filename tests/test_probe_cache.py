"""hub/probe_cache.py: a restart skips the probe child for bytes this runtime already passed,
and nothing else: changed bytes, another runtime or a damaged cache mean a new child."""
from __future__ import annotations

import hashlib
import json
import os

import pytest

import hub.loader
from hub.errors import ModelError
from hub.loader import load_model
from hub.probe_cache import ProbeCache
from hub.runtime.litert import select_runtime
from tests.conftest import BUNDLED, copy_model

MODEL_FILE = "digits_int8.tflite"


@pytest.fixture
def children(monkeypatch) -> list[list[str]]:
    """The files each real probe child was started for (the real probe_files still runs)."""
    started: list[list[str]] = []
    real = hub.loader.probe_files

    def counting(paths, timeout_s, *args, **kw):
        started.append([p.name for p in paths])
        return real(paths, timeout_s, *args, **kw)

    monkeypatch.setattr(hub.loader, "probe_files", counting)
    return started


@pytest.fixture
def identity() -> str:
    return select_runtime().identity


def test_a_restart_skips_the_child_for_bytes_already_tried(tmp_path, children, identity):
    folder = copy_model(BUNDLED / "digits", tmp_path / "models")
    path = tmp_path / "data" / "probe-cache.json"
    path.parent.mkdir()
    first = load_model(folder, 30, ProbeCache(path, identity))
    assert children == [[MODEL_FILE]]
    stored = json.loads(path.read_text())
    sha = hashlib.sha256((folder / MODEL_FILE).read_bytes()).hexdigest()
    assert stored["runtime"] == identity and set(stored["files"]) == {sha}

    again = load_model(folder, 30, ProbeCache(path, identity))  # a new process reads the file
    assert children == [[MODEL_FILE]], "the second load started a probe child"
    assert again.spec == first.spec and again.content == first.content


def test_changed_bytes_are_tried_again_and_a_crash_is_not_remembered(tmp_path, children, identity):
    folder = copy_model(BUNDLED / "digits", tmp_path / "models")
    cache = ProbeCache(tmp_path / "probe-cache.json", identity)
    load_model(folder, 30, cache)
    model = folder / MODEL_FILE
    cut = model.read_bytes()[:4000]  # a failed copy, with a manifest that matches it
    model.write_bytes(cut)
    manifest = json.loads((folder / "manifest.json").read_text())
    for variant in manifest["variants"].values():
        if variant.get("file") == MODEL_FILE:
            variant.update(sha256=hashlib.sha256(cut).hexdigest(), size=len(cut))
    (folder / "manifest.json").write_text(json.dumps(manifest))
    for _ in range(2):
        with pytest.raises(ModelError, match="cannot be loaded|crashed the runtime"):
            load_model(folder, 30, cache)
    assert children == [[MODEL_FILE]] * 3
    assert hashlib.sha256(cut).hexdigest() not in json.loads((tmp_path / "probe-cache.json").read_text())["files"]


def test_another_runtime_or_a_damaged_cache_means_a_new_child(tmp_path, children, identity):
    folder = copy_model(BUNDLED / "digits", tmp_path / "models")
    path = tmp_path / "probe-cache.json"
    load_model(folder, 30, ProbeCache(path, identity))
    load_model(folder, 30, ProbeCache(path, "tflite_runtime 2.14.0; python 3.11.2; aarch64"))
    assert len(children) == 2  # an upgraded runtime tries every file again
    path.write_text('{"format": 1, "runtime": ')  # cut short
    load_model(folder, 30, ProbeCache(path, identity))
    assert len(children) == 3
    assert json.loads(path.read_text())["runtime"] == identity  # and it is whole again


def test_a_missing_data_folder_is_not_made_and_costs_only_speed(tmp_path, children, identity):
    folder = copy_model(BUNDLED / "digits", tmp_path / "models")
    for _ in range(2):
        load_model(folder, 30, ProbeCache(tmp_path / "nowhere" / "probe-cache.json", identity))
    assert len(children) == 2 and not (tmp_path / "nowhere").exists()


def test_a_data_folder_it_cannot_write_costs_only_speed(tmp_path, children, identity):
    folder = copy_model(BUNDLED / "digits", tmp_path / "models")
    not_a_folder = tmp_path / "data"
    not_a_folder.write_text("a file where the data folder should be")  # fails for root too
    for _ in range(2):
        assert load_model(folder, 30, ProbeCache(not_a_folder / "probe-cache.json", identity)).spec.name == "digits"
    assert len(children) == 2 and sorted(os.listdir(tmp_path)) == ["data", "models"]


def test_the_hub_keeps_its_cache_in_the_data_folder(models_dir, start_hub, tmp_path, identity):
    data = tmp_path / "hub-data"
    hub = start_hub(models_dir, classroom={"data_dir": str(data)})
    assert hub.model("digits")["status"] == "ready"
    stored = json.loads((data / "probe-cache.json").read_text())
    assert stored["runtime"] == identity
    assert hashlib.sha256((models_dir / "digits" / MODEL_FILE).read_bytes()).hexdigest() in stored["files"]
