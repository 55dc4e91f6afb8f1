"""Writing files so that a crash never leaves half a file where a good one was."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

# Written into every HTML report, so the command line can tell a report it may replace from any
# other file.
REPORT_MARKER = '<meta name="generator" content="shapwise report">'


@contextlib.contextmanager
def _temporary_beside(path: Path, mode: str) -> Iterator[IO]:
    """A temporary file in ``path``'s folder, renamed over ``path`` when the block succeeds."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        encoding = None if "b" in mode else "utf-8"
        with os.fdopen(handle, mode, encoding=encoding) as stream:
            yield stream
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise


def write_text_atomically(path: str | Path, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` through a temporary file and a rename."""
    path = Path(path)
    with _temporary_beside(path, "w") as stream:
        stream.write(text)
    return path


def write_binary_atomically(path: str | Path, write: Callable[[IO[bytes]], None]) -> Path:
    """Let ``write(stream)`` fill a temporary file, then rename it to ``path``."""
    path = Path(path)
    with _temporary_beside(path, "wb") as stream:
        write(stream)
    return path


def is_report(path: Path) -> bool:
    """Whether ``path`` is an HTML report written by shapwise (safe to replace)."""
    try:
        with open(path, "rb") as stream:
            head = stream.read(4096)
    except OSError:
        return False
    return REPORT_MARKER.encode() in head
