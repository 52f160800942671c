"""Friendly names: the short name a child (6-11) reads for each class, and the classes never shown.

A model's labels are written for researchers ("dragonfly, darning needle, devil's darning needle, ...",
"Poecile atricapillus (Black-capped Chickadee)"). Pupils see one short name; the API keeps the label.
  1. a reviewed fix from the data files in `names/` when a label matches one exactly (ImageNet's:
     `names/imagenet.json`, whose "about" says how it was reviewed); its "hidden" labels are never shown;
  2. otherwise the common name of a "Latin (Common)" label, as Coral's iNaturalist models write them;
  3. otherwise the first synonym (before the first comma), shortened to MAX_LENGTH.
Rules 2 and 3 work for any classifier dropped in; the data applies wherever a label matches, so a
model trained on ImageNet with a different labels file still gets the fixes for the labels it shares.
"""
from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

NAMES_DIR = Path(__file__).with_name("names")
MAX_LENGTH = 30  # fits a tablet's result line; the full label is still in the API
HIDE_ALWAYS = ("background",)  # a model's "nothing here" class (Coral's ImageNet and iNaturalist files)

# "Poecile atricapillus (Black-capped Chickadee)": a capitalised genus, lower-case words, a common name
_LATIN_COMMON = re.compile(r"^[A-Z][a-z]+(?: [a-z][a-z.-]*)+ \((?P<common>[^()]+)\)$")


@dataclass(frozen=True)
class Fixes:
    names: dict[str, str]
    hidden: frozenset[str]


@functools.lru_cache(maxsize=1)
def fixes() -> Fixes:
    """Every data file in names/, read once. A broken file is a bug in the hub, so it raises."""
    names: dict[str, str] = {}
    hidden: set[str] = set(HIDE_ALWAYS)
    for path in sorted(NAMES_DIR.glob("*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        names.update(data.get("names", {}))
        hidden.update(data.get("hidden", {}))
    return Fixes(names, frozenset(hidden))


def shorten(text: str, limit: int = MAX_LENGTH) -> str:
    if len(text) <= limit:
        return text
    cut = text[: limit - 1].rsplit(" ", 1)[0] if " " in text[: limit - 1] else text[: limit - 1]
    return cut.rstrip(" ,;:-") + "…"


def default_name(label: str) -> str:
    """Rules 2 and 3: the common name of "Latin (Common)", else the first synonym."""
    text = " ".join(label.replace("_", " ").split())
    match = _LATIN_COMMON.match(text)
    if match:
        text = match.group("common").strip()
    else:
        text = text.split(",")[0].strip() or text
    return shorten(text) or label


def display_name(label: str) -> str:
    return fixes().names.get(label) or default_name(label)


@dataclass(frozen=True)
class Naming:
    names: tuple[str, ...]
    hidden: np.ndarray  # bool per class: never shown to pupils

    def name(self, index: int) -> str:
        return self.names[index] if index < len(self.names) else str(index)


@functools.lru_cache(maxsize=64)
def naming(labels: tuple[str, ...]) -> Naming:
    """The names and the hidden mask of one model's labels; cached (a model's labels never change)."""
    hidden = fixes().hidden
    return Naming(tuple(display_name(label) for label in labels),
                  np.array([label in hidden for label in labels], dtype=bool))
