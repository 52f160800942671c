"""The examples docs/API.md gives for the fast path (the binary tensor extension), run as written
against a real hub: the Python one in this process, the browser one in Chromium on a hub page."""
from __future__ import annotations

import re

import numpy as np
import pytest
import requests

from tests.conftest import CHROMIUM, ROOT


def example(language: str) -> str:
    """The code block of `language` in API.md's section on the fast path."""
    text = (ROOT / "docs" / "API.md").read_text()
    section = text.split("### The fast path: tensors as bytes", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(rf"```{language}\n(.*?)```", section, re.S)
    assert len(blocks) == 1, f"one {language} example expected in the fast-path section"
    return blocks[0]


def json_answer(hub_url: str, model: str, tensor: np.ndarray) -> list:
    given = requests.get(f"{hub_url}/v2/models/{model}", timeout=10).json()["inputs"][0]
    body = {"inputs": [{**given, "data": tensor.reshape(-1).tolist()}]}
    reply = requests.post(f"{hub_url}/v2/models/{model}/infer", json=body, timeout=30)
    assert reply.status_code == 200, reply.text
    return reply.json()["outputs"][0]["data"]


def digit() -> np.ndarray:
    return np.random.default_rng(11).integers(-128, 128, (1, 8, 8, 1)).astype(np.int8)


def test_the_python_example_answers_as_json_does(zoo_hub):
    code = "\n".join(line for line in example("python").splitlines() if not line.startswith("print("))
    namespace: dict = {}
    exec(compile(code, "docs/API.md", "exec"), namespace)  # noqa: S102 - our own documentation
    out = namespace["infer"](zoo_hub.url, "digits", digit())
    assert out.dtype == np.int8 and out.shape == (1, 10)
    assert out.reshape(-1).tolist() == json_answer(zoo_hub.url, "digits", digit())


def test_the_python_example_raises_the_hubs_words(zoo_hub):
    namespace: dict = {}
    code = "\n".join(line for line in example("python").splitlines() if not line.startswith("print("))
    exec(compile(code, "docs/API.md", "exec"), namespace)  # noqa: S102
    with pytest.raises(RuntimeError, match="binary_data_size"):
        namespace["infer"](zoo_hub.url, "digits", np.zeros((1, 8, 8, 1), np.int16))  # twice the bytes


@pytest.mark.skipif(not CHROMIUM, reason="Debian's chromium is not installed (make test installs it)")
def test_the_browser_example_answers_as_json_does(zoo_hub, browser):
    page = browser.new_page()
    page.goto(zoo_hub.url + "/")
    got = page.evaluate(
        "async (values) => {\n" + example("js") +
        "\nconst out = await infer('digits', new Int8Array(values));"
        "\nreturn {shape: out.shape, data: Array.from(out.data)};\n}",
        digit().reshape(-1).tolist())
    assert got["shape"] == [1, 10]
    assert got["data"] == json_answer(zoo_hub.url, "digits", digit())
