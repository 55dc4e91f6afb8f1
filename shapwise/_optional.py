"""Lazy imports of optional frameworks with an error that names the extra to install."""

from __future__ import annotations

import contextlib
import importlib
import os
import sys
from collections.abc import Iterator
from types import ModuleType

# Set by the command line: TensorFlow's start-up notices (oneDNN, CPU features, absl) are kept out
# of its output unless the user has set TF_CPP_MIN_LOG_LEVEL themselves.
quiet_framework_logs = False
_TENSORFLOW = ("tensorflow", "keras")


@contextlib.contextmanager
def _stderr_silenced() -> Iterator[None]:
    """Send the process's own stderr (file descriptor 2, where C++ libraries log) to devnull."""
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def _import_tensorflow_quietly() -> None:
    if "TF_CPP_MIN_LOG_LEVEL" in os.environ or "tensorflow" in sys.modules:
        return
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"  # its C++ notices, the ERROR-level ones included
    with contextlib.suppress(ImportError), _stderr_silenced():
        importlib.import_module("tensorflow")
        importlib.import_module("keras")


def require(module: str, extra: str) -> ModuleType:
    """Import ``module`` or raise an ImportError that says which extra provides it."""
    if quiet_framework_logs and module.split(".")[0] in _TENSORFLOW:
        _import_tensorflow_quietly()
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
