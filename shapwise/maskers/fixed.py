"""``Fixed``: an input the model needs but that is not explained (e.g. the labels of a loss)."""

from __future__ import annotations

from typing import Any

import numpy as np

from shapwise.maskers._base import Masker


class Fixed(Masker):
    """Leaves its input as it is under every mask: it has no features, so no credit goes to it.

    Used inside :class:`~shapwise.maskers.Composite` for model inputs that are held fixed, such as
    the true labels when explaining a loss.
    """

    supports_delta_masking = False  # any mask gives the input once

    def __init__(self) -> None:
        self.shape = (None, 0)  # type: ignore[assignment]  # any number of rows, no features
        self.clustering = np.zeros((0, 4))

    def __call__(self, mask: Any, x: Any) -> tuple[list[Any], ...]:  # type: ignore[override]
        """The input unchanged, as one row: ``([x],)``."""
        return ([x],)

    def mask_shapes(self, x: Any) -> list[tuple[int, ...]]:
        """The shape of the masks it takes: none (no features)."""
        return [(0,)]

    def masked_batch(self, masks: np.ndarray, x: np.ndarray) -> np.ndarray:
        """``x`` once per mask: shape (K, 1, *x.shape)."""
        x = np.asarray(x)
        return np.broadcast_to(x, (len(masks), 1, *x.shape)).copy()
