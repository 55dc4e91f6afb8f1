"""A progress bar that stays hidden for short runs."""

from __future__ import annotations

from typing import Any


def progress(total: int, desc: str, silent: bool = False, delay: float = 3.0) -> Any:
    """A tqdm bar over ``total`` steps that only appears once a run has lasted ``delay`` seconds."""
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, disable=silent, delay=delay, leave=False)
