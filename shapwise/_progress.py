"""A progress bar that stays hidden for short runs."""

from __future__ import annotations

from contextlib import nullcontext
from typing import Any


class _Silent(nullcontext):
    """Stands in for a bar when none is wanted (a tqdm bar, even disabled, costs ~0.1 ms)."""

    def __init__(self) -> None:
        super().__init__(self)

    def update(self, n: int = 1) -> None:
        pass

    def close(self) -> None:
        pass


def progress(total: int, desc: str, silent: bool = False, delay: float = 3.0) -> Any:
    """A tqdm bar over ``total`` steps that only appears once a run has lasted ``delay`` seconds."""
    if silent:
        return _Silent()
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, delay=delay, leave=False)
