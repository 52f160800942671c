"""Accelerators as plug-ins: one module per kind of hardware, found by registration.

Each module defines its `Accelerator` subclass and a `KIND` (discovery, the model-folder variant
it runs, its config section). `BUILTIN` lists the modules; `register` adds one from outside.
The engine sees only `AcceleratorPool`; nothing else in the hub names a kind.
"""
from __future__ import annotations

import importlib
import logging
from typing import TYPE_CHECKING

from ..plugins import Registry
from .base import Accelerator, AcceleratorUnavailable, Found, Kind
from .pool import AcceleratorPool

if TYPE_CHECKING:
    from ..config import Config
    from ..runtime.litert import Runtime

log = logging.getLogger(__name__)
BUILTIN = ("edgetpu", "simulated")  # order matters: real devices are claimed first
KINDS: Registry[Kind] = Registry("accelerator kind", lambda names: ValueError(f"the kind must be one of {names}"))
register = KINDS.register


for _module in BUILTIN:
    register(importlib.import_module(f"{__name__}.{_module}").KIND)


def roles() -> dict[str, Kind]:
    """Model-folder variant roles that belong to an accelerator ("edgetpu" -> its Kind)."""
    return {k.role: k for k in KINDS.values() if k.role}


def config_sections() -> dict[str, type]:
    return dict(k.config_section for k in KINDS.values() if k.config_section)


def config_rules() -> dict[str, tuple]:
    return {key: rule for k in KINDS.values() for key, rule in k.config_rules.items()}


def config_lists() -> set[str]:
    return {key for k in KINDS.values() for key in k.config_lists}


def compiled_for(content: bytes) -> str | None:
    """The role a model file was compiled for (its kind's marker is in it), or None for a plain file."""
    return next((k.role for k in roles().values() if k.compiled_marker and k.compiled_marker in content), None)


def build_pool(config: "Config", runtime: "Runtime") -> AcceleratorPool:
    """Every registered kind discovers its devices once at start-up."""
    accelerators, notes = [], []
    for kind in KINDS.values():
        found = kind.discover(config, runtime)
        accelerators += found.accelerators
        if found.note:
            notes.append(found.note)
    if not accelerators:
        log.info("serving every model on the CPU (%s)", "; ".join(notes) or "no accelerator")
    return AcceleratorPool(accelerators, notes)


__all__ = ["Accelerator", "AcceleratorPool", "AcceleratorUnavailable", "Found", "Kind", "KINDS", "build_pool",
           "compiled_for", "config_lists", "config_rules", "config_sections", "register", "roles"]
