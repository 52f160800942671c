"""Rules of the project that code review alone would let slip."""
from __future__ import annotations

import ast
import configparser
import dataclasses
import io
import re

from hub.config import section_types
from tests.conftest import ROOT


def test_every_config_key_is_documented():
    doc = (ROOT / "docs" / "CONFIG.md").read_text()
    for section, cls in section_types().items():
        block = doc.split(f"## [{section}]")[1].split("\n## ")[0]
        for field in dataclasses.fields(cls):
            assert f"`{field.name}`" in block, f"[{section}] {field.name} missing from docs/CONFIG.md"


def test_hub_never_imports_tensorflow_or_quantize():
    for path in (ROOT / "hub").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) and node.level == 0 else []
            for name in names:
                assert not re.match(r"(tensorflow|tf_keras|keras|quantize)\b", name), f"{path}: imports {name}"


def test_never_depends_on_the_pypi_package_named_pycoral():
    """On PyPI, "pycoral" is an unrelated project (a CLI for the Allen Coral Atlas)."""
    parser = configparser.ConfigParser()
    parser.read(ROOT / "setup.cfg")
    requirements = parser["options"]["install_requires"].splitlines()
    requirements += [line for _, v in parser["options.extras_require"].items() for line in v.splitlines()]
    names = {re.split(r"[<>=\[; ]", r.strip())[0].lower() for r in requirements if r.strip()}
    assert "ai-edge-litert" in names and "pycoral" not in names


def test_uploads_stay_in_memory(in_process, tmp_path, monkeypatch):
    """Werkzeug spools a multipart upload over 500 KB to a temporary file on disk; ours never
    does. Every spool Werkzeug would make is a real SpooledTemporaryFile that records rolling
    over to disk; a 3 MB photo goes through the real app and must not make one."""
    import tempfile

    from werkzeug import formparser

    from tests.conftest import BUNDLED, copy_model
    from tests.drawing import photo

    rolled = []

    class Spool(tempfile.SpooledTemporaryFile):
        def rollover(self):
            rolled.append(self._max_size)
            super().rollover()

    monkeypatch.setattr(formparser, "SpooledTemporaryFile", Spool)
    with Spool(max_size=10) as check:  # the spy itself sees a rollover
        check.write(b"x" * 100)
    assert rolled == [10]
    rolled.clear()
    models = tmp_path / "models"
    models.mkdir()
    copy_model(BUNDLED / "digits", models)
    app = in_process(models)
    big = photo(3) + b"\0" * (3 << 20)  # a JPEG with trailing bytes: well over Werkzeug's 500 KB
    reply = app.http.post("/api/models/digits/classify", data={"image": (io.BytesIO(big), "photo.jpg")},
                          content_type="multipart/form-data")
    assert reply.status_code == 200, reply.get_json()
    assert rolled == []
