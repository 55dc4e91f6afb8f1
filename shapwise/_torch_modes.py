"""Running a torch module in eval mode, giving every submodule its own train/eval flag back."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any


@contextlib.contextmanager
def eval_mode(model: Any) -> Iterator[None]:
    """Eval mode for the block; afterwards each submodule has its own flag again (a frozen
    BatchNorm inside a training model stays frozen, MC-dropout inside an eval model stays on)."""
    modes = [(module, module.training) for module in model.modules()]
    model.eval()
    try:
        yield
    finally:
        for module, training in modes:
            module.training = training
