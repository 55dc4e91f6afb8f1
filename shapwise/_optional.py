"""Lazy imports of optional frameworks with an error that names the extra to install."""

from __future__ import annotations

import importlib
import sys
from types import ModuleType


def require(module: str, extra: str) -> ModuleType:
    """Import ``module`` or raise an ImportError that says which extra provides it."""
    try:
        return importlib.import_module(module)
    except ImportError as error:
        raise ImportError(
            f"this feature needs the optional dependency '{module}'; "
            f"install it with: pip install 'shapwise[{extra}]'"
        ) from error


def loaded(module: str) -> ModuleType | None:
    """Return ``module`` if it has already been imported by someone, else None (never imports)."""
    return sys.modules.get(module)
