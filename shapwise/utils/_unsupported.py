"""shap's stand-ins for plotting names when matplotlib is missing: ``unsupported`` and
``UnsupportedModule`` raise the ImportError that says how to install it."""

from __future__ import annotations

from typing import Any, NoReturn

NO_MATPLOTLIB = (
    "matplotlib is not installed so plotting is not available! Install it with: "
    "pip install 'shapwise[plots]'"
)


def unsupported(*args: Any, **kwargs: Any) -> NoReturn:
    """Raise the ImportError of a plot called without matplotlib."""
    raise ImportError(NO_MATPLOTLIB)


class UnsupportedModule:
    """A module whose every attribute raises the ImportError of a missing matplotlib."""

    def __getattribute__(self, item: str) -> NoReturn:
        raise ImportError(NO_MATPLOTLIB)
