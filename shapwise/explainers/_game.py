"""The coalition game of one row: v(S) = link(mean over background of f(x masked to S))."""

from __future__ import annotations

import numpy as np

from shapwise.links import Link
from shapwise.maskers._base import Masker
from shapwise.models import Model

# Masked rows built at once; bounds memory while keeping model calls large.
ROWS_PER_CHUNK = 100_000


class CoalitionGame:
    """Evaluates coalitions of one row's features, in large batches, each coalition once.

    Args:
        model: the batched model.
        masker: builds the masked inputs.
        x: the row being explained (the masker's feature layout).
        link: applied to the background-averaged output.
        shared: a dict shared by the games of one explanation, holding values that do not depend
            on the row (the empty coalition, when the masker says so).
    """

    def __init__(
        self, model: Model, masker: Masker, x: np.ndarray, link: Link, shared: dict | None = None
    ) -> None:
        self.model = model
        self.masker = masker
        self.x = x
        self.link = link
        self.n_features = masker.shape[1]
        self.shared = {} if shared is None else shared
        self.n_coalitions = 0

    def raw_values(self, masks: np.ndarray) -> np.ndarray:
        """Background-averaged model outputs (before the link) for K masks: (K, n_outputs)."""
        masks = np.asarray(masks, dtype=bool)
        empty = ~masks.any(axis=1)
        cached = self.masker.empty_is_constant and "empty" in self.shared
        todo = np.flatnonzero(~empty) if cached else np.arange(len(masks))
        rows_per_mask = max(self.masker.shape[0], 1)
        chunk = max(1, ROWS_PER_CHUNK // rows_per_mask)
        pieces = []
        for start in range(0, len(todo), chunk):
            picked = masks[todo[start : start + chunk]]
            inputs = self.masker.masked_batch(picked, self.x)
            k, rows = inputs.shape[:2]
            out = self.model(inputs.reshape(k * rows, *inputs.shape[2:]))
            pieces.append(out.reshape(k, rows, -1).mean(axis=1))
        self.n_coalitions += len(todo)
        if not cached:
            result = np.concatenate(pieces, axis=0)
            if self.masker.empty_is_constant and empty.any():
                self.shared["empty"] = result[np.flatnonzero(empty)[0]]
            return result
        result = np.empty((len(masks), len(self.shared["empty"])), dtype=np.float64)
        result[empty] = self.shared["empty"]
        if pieces:
            result[todo] = np.concatenate(pieces, axis=0)
        return result

    def values(self, masks: np.ndarray) -> np.ndarray:
        """v(S) = link(background-averaged output) for K masks: (K, n_outputs) float64."""
        return self.link(self.raw_values(masks))
