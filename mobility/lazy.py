"""Lazy re-exports for packages whose modules are heavy to import (JAX, matplotlib).

``mobility`` registers every command at start-up; a command's package must not import JAX or
matplotlib until the command runs, or every ``mobility`` call would pay for them.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import import_module
from typing import Any


def lazy_exports(package: str, exports: dict[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` that imports ``exports[name]`` (a submodule) on first use."""

    def __getattr__(name: str) -> Any:
        if name not in exports:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(import_module(f"{package}.{exports[name]}"), name)

    return __getattr__


def load_code(ref: str) -> Any:
    """The object a registry names as ``"package.module:name"``, imported on first use."""
    module, _, name = ref.partition(":")
    return getattr(import_module(module), name)
