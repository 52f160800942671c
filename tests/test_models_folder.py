"""models/: bad files disable only their model; folders come, change and go while serving."""
from __future__ import annotations

import json
import shutil
import threading

import pytest

from hub.errors import ModelError
from hub.loader import load_model
from hub.manifest import derive_spec, parse_labels
from tests.conftest import BUNDLED, copy_model, wait_for
from tests.drawing import png, render

PNG = {"Content-Type": "image/png"}


def test_labels_in_coral_and_plain_formats():
    assert parse_labels("0  background\n1  tench, Tinca tinca\n3  shark\n") == ("background", "tench, Tinca tinca", "2", "shark")
    assert parse_labels("cat\ndog\n\n") == ("cat", "dog")


def test_folder_with_two_models_is_refused(tmp_path, coral):
    folder = tmp_path / "two"
    folder.mkdir()
    shutil.copy(coral / "mobilenet_v1_0.25_128_quant.tflite", folder)
    shutil.copy(coral / "keras_lstm_mnist_ptq.tflite", folder)
    with pytest.raises(ModelError, match="several models"):
        derive_spec(folder)


def broken_copies(root):
    """Every way a model folder goes wrong in a school: each must fail alone, with a reason."""
    damaged = copy_model(BUNDLED / "digits", root, "damaged")  # sha256 mismatch
    data = bytearray((damaged / "digits_int8.tflite").read_bytes())
    data[5000] ^= 0xFF
    (damaged / "digits_int8.tflite").write_bytes(bytes(data))
    truncated = root / "truncated"  # a bare drop-in cut short by a failed copy
    truncated.mkdir()
    (truncated / "model.tflite").write_bytes((BUNDLED / "digits" / "digits_int8.tflite").read_bytes()[:4000])
    garbage = root / "garbage"
    garbage.mkdir()
    (garbage / "model.tflite").write_bytes(b"this is not a flatbuffer" * 100)
    bad_json = copy_model(BUNDLED / "digits", root, "badjson")
    (bad_json / "manifest.json").write_text("{ not json")
    missing = copy_model(BUNDLED / "digits", root, "missing")
    (missing / "digits_int8.tflite").unlink()
    empty = root / "empty"
    empty.mkdir()
    return {"damaged": "sha256", "truncated": "cannot be loaded", "garbage": "cannot be loaded",
            "badjson": "not valid JSON", "missing": "missing", "empty": "no .tflite"}


def test_each_bad_folder_fails_alone_in_process(tmp_path):
    expected = broken_copies(tmp_path)
    for name, words in expected.items():
        with pytest.raises(ModelError, match=words):
            load_model(tmp_path / name, probe_timeout_s=30)


def test_bad_folders_are_reported_and_the_good_one_serves(models_dir, start_hub):
    expected = broken_copies(models_dir)
    (models_dir / ".hidden").mkdir()
    (models_dir / "digits.tmp-123").mkdir()
    hub = start_hub(models_dir)
    models = {m["name"]: m for m in hub.get("/api/models").json()}
    assert set(models) == set(expected) | {"digits"}  # hidden and temporary folders are not models
    for name, words in expected.items():
        assert models[name]["status"] == "failed" and words in models[name]["reason"], models[name]
        reply = hub.post(f"/api/models/{name}/classify", data=png(render(1)), headers=PNG)
        assert reply.status_code == 503 and words in reply.json()["error"]
    assert models["digits"]["status"] == "ready"
    assert hub.post("/api/models/digits/classify", data=png(render(1)), headers=PNG).status_code == 200


def test_a_file_that_crashes_the_runtime_kills_only_the_probe_child(tmp_path):
    """tflite_runtime segfaults on truncated files; here a real child really dies by SIGSEGV
    while on the second file, and the parent names that file and carries on."""
    import sys

    from hub.probe import probe_files

    good, bad = tmp_path / "good.tflite", tmp_path / "bad.tflite"
    good.write_bytes((BUNDLED / "digits" / "digits_int8.tflite").read_bytes())
    bad.write_bytes(good.read_bytes()[:3000])
    dies_on_bad = (sys.executable, "-c", (
        "import json, os, signal, sys; from hub.probe import _probe_file\n"
        "for p in sys.argv[1:]:\n"
        "    print(json.dumps({'start': p}), flush=True)\n"
        "    if p.endswith('bad.tflite'): os.kill(os.getpid(), signal.SIGSEGV)\n"
        "    print(json.dumps(_probe_file(p)), flush=True)\n"))
    with pytest.raises(ModelError, match=r"bad.tflite crashed the runtime \(signal SIGSEGV\): the file is damaged"):
        probe_files([good, bad], timeout_s=30, child=dies_on_bad)
    assert probe_files([good], timeout_s=30, child=dies_on_bad)[good].inputs[0]["dtype"] == "int8"


def test_every_bundled_model_file_is_sound_and_a_cut_one_is_not():
    """hub.tflite_file.damage walks every table, vector and buffer a file declares: a copy cut
    short anywhere but in its last few bytes of padding is found out without an interpreter."""
    from hub.tflite_file import damage

    files = sorted(BUNDLED.glob("*/*.tflite"))
    assert len(files) >= 4
    for f in files:
        content = f.read_bytes()
        assert damage(content) is None, f
        for cut in (7, 64, 4096, len(content) // 3, len(content) // 2, len(content) * 9 // 10):
            assert damage(content[:cut]), (f.name, cut)
    assert "TFL3" in damage(b"\x89PNG\r\n\x1a\n" + bytes(64))


def test_a_runtime_that_crashes_on_a_sound_file_is_blamed_not_the_file(tmp_path):
    """A runtime that cannot run on this CPU dies on every file (LiteRT under qemu-user without a
    Pi's /proc/cpuinfo: tests/test_arm64.py shows the real one). The bytes check out, so the hub
    names the runtime and the machine; a sha256 from the manifest is said too."""
    import sys

    from hub.probe import probe_files

    sound = tmp_path / "sound.tflite"
    sound.write_bytes((BUNDLED / "digits" / "digits_int8.tflite").read_bytes())
    dies_on_every_file = (sys.executable, "-c", (
        "import json, os, signal, sys\n"
        "print(json.dumps({'runtime': 'ai_edge_litert 9.9; python 3.11; aarch64'}), flush=True)\n"
        "print(json.dumps({'start': sys.argv[1]}), flush=True)\n"
        "os.kill(os.getpid(), signal.SIGSEGV)\n"))
    for vouched, sha_words in ((frozenset(), False), (frozenset([sound]), True)):
        with pytest.raises(ModelError) as raised:
            probe_files([sound], timeout_s=30, child=dies_on_every_file, vouched=vouched)
        message = str(raised.value)
        assert message.startswith("the TFLite runtime crashed on this machine (signal SIGSEGV) opening sound.tflite")
        assert "ai_edge_litert 9.9" in message and "cannot run on this CPU" in message
        assert "damaged" not in message and "corrupt" not in message
        assert ("sha256 its manifest gives" in message) == sha_words


class Load:
    """Tablets hammering digits while the folder changes; records every non-200."""

    def __init__(self, hub, tablets: int = 4) -> None:
        self.hub, self.errors, self.count, self.backends = hub, [], 0, set()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run) for _ in range(tablets)]
        self._image = png(render(6))

    def _run(self) -> None:
        while not self._stop.is_set():
            r = self.hub.post("/api/models/digits/classify", data=self._image, headers=PNG)
            self.count += 1
            if r.status_code != 200:
                self.errors.append((r.status_code, r.text))
            else:
                self.backends.add(r.json()["backend"])

    def __enter__(self):
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        for t in self._threads:
            t.join()


def test_hot_reload_under_load(models_dir, start_hub, coral):
    from quantize.writer import write_model

    hub = start_hub(models_dir)
    with Load(hub) as load:
        # add: a Coral model copied in by hand appears without a restart
        staging = models_dir.parent / "incoming"
        staging.mkdir()
        for f in ("mobilenet_v1_0.25_128_quant.tflite", "imagenet_labels.txt"):
            shutil.copy(coral / f, staging / f)
        staging.rename(models_dir / "mobilenet")
        wait_for(lambda: any(m["name"] == "mobilenet" and m["status"] == "ready" for m in hub.get("/api/models").json()))
        # replace: digits rewritten atomically (as classroom-quantize does) while tablets use it
        files = {f: (BUNDLED / "digits" / f).read_bytes() for f in ("digits_int8.tflite", "digits_float32.tflite")}
        manifest = json.loads((BUNDLED / "digits" / "manifest.json").read_text())
        for round_ in range(3):
            manifest["provenance"]["note"] = f"replaced {round_}"
            before = hub.model("digits")
            write_model(models_dir, "digits", files, manifest)
            wait_for(lambda: hub.log().count("model digits: ready") >= round_ + 2)
        # replace in place by copying over the file (cp does this): the hub serves from memory
        shutil.copy(BUNDLED / "digits" / "digits_int8.tflite", models_dir / "digits" / "digits_int8.tflite")
        wait_for(lambda: hub.log().count("model digits: ready") >= 5)
        # remove: mobilenet goes away
        shutil.rmtree(models_dir / "mobilenet")
        wait_for(lambda: all(m["name"] != "mobilenet" for m in hub.get("/api/models").json()))
    assert load.errors == [] and load.count > 50
    assert before["status"] == "ready"
    assert hub.post("/api/models/mobilenet/classify", data=png(render(1)), headers=PNG).status_code == 404
    assert hub.log().count("model digits: ready") == 5  # loaded at start and after each of the 4 replacements


def test_a_replaced_model_keeps_its_accelerator_under_load(models_dir, start_hub):
    """A reload hands the device from the old engine to the new one: never a request lost, never
    a moment on the CPU (with the simulated accelerator, which runs the real CPU file)."""
    from quantize.writer import write_model

    hub = start_hub(models_dir, testing={"simulated_edgetpu": 1})
    assert (hub.model("digits")["backend"], hub.model("digits")["device"]) == ("simulated", "sim:0")
    files = {f: (BUNDLED / "digits" / f).read_bytes() for f in ("digits_int8.tflite", "digits_float32.tflite")}
    manifest = json.loads((BUNDLED / "digits" / "manifest.json").read_text())
    with Load(hub) as load:
        for round_ in range(3):
            manifest["provenance"]["note"] = f"replaced {round_}"
            write_model(models_dir, "digits", files, manifest)
            wait_for(lambda: hub.log().count("model digits: ready") >= round_ + 2)
            model = hub.model("digits")
            assert (model["status"], model["backend"], model["device"]) == ("ready", "simulated", "sim:0")
    assert load.errors == [] and load.count > 20
    assert load.backends == {"simulated"}  # every answer came from the accelerator
    assert "digits: serving on the CPU" not in hub.log()
    status = hub.get("/api/status").json()["accelerators"]["devices"]
    assert [(d["device"], d["model"], d["state"]) for d in status] == [("sim:0", "digits", "ok")]
