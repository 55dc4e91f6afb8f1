"""Maskers: how a feature is hidden when it is left out of a coalition."""

from __future__ import annotations

from typing import Any

from shapwise.maskers._base import CallableMasker, Masker
from shapwise.maskers.tabular import Independent, Partition
from shapwise.maskers.text import Text

_LAZY = {
    "Image": "shapwise.maskers.image",
    "Fixed": "shapwise.maskers.fixed",
    "Composite": "shapwise.maskers.composite",
    "FixedComposite": "shapwise.maskers.composite",
    "OutputComposite": "shapwise.maskers.composite",
    "Impute": "shapwise.maskers.impute",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'shapwise.maskers' has no attribute {name!r}")


__all__ = [
    "CallableMasker",
    "Composite",
    "Fixed",
    "FixedComposite",
    "Image",
    "Impute",
    "Independent",
    "Masker",
    "OutputComposite",
    "Partition",
    "Text",
]
