"""The coalition game of one row: v(S) = link(mean over background of f(x masked to S))."""

from __future__ import annotations

from collections.abc import Callable

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
        outputs: the output positions this row is explained for (None: all); an explainer may
            spend its budget on them.
        linearize_link: average the linked outputs of the background rows with weights that make
            the empty coalition's value link(mean output) (shap's ``linearize_link``), so v(S) is a
            weighted sum of per-background-row games and a model additive in link space for one
            background row stays additive for many. Only matters for a non-identity link.
    """

    def __init__(
        self,
        model: Model,
        masker: Masker,
        x: np.ndarray,
        link: Link,
        shared: dict | None = None,
        outputs: np.ndarray | None = None,
        linearize_link: bool = False,
    ) -> None:
        self.model = model
        self.masker = masker
        self.x = x
        self.link = link
        self.n_features = masker.shape[1]
        self.shared = {} if shared is None else shared
        self.outputs = outputs
        self.linearize_link = linearize_link and link.name != "identity"
        self.n_coalitions = 0
        self._link_weights: tuple[np.ndarray, np.ndarray] | None = None

    def _reduced_outputs(self, masks: np.ndarray, reduce: Callable) -> np.ndarray:
        """Model outputs of the masked rows of K masks, (K, rows, O) reduced to (K, O) in chunks."""
        rows_per_mask = max(self.masker.shape[0], 1)
        chunk = max(1, ROWS_PER_CHUNK // rows_per_mask)
        pieces = []
        for start in range(0, len(masks), chunk):
            inputs = self._masked_inputs(masks[start : start + chunk])
            k, rows = inputs.shape[:2]
            out = self.model(inputs.reshape(k * rows, *inputs.shape[2:]))
            pieces.append(reduce(out.reshape(k, rows, -1)))
        return np.concatenate(pieces, axis=0)

    def _masked_inputs(self, masks: np.ndarray) -> np.ndarray:
        """The masker's inputs for K masks, written into one buffer reused for the whole call
        when the masker can (a fresh array per batch costs more than filling it)."""
        if not self.masker.writes_into:
            return self.masker.masked_batch(masks, self.x)
        buffer = self.shared.get("input buffer")
        if buffer is not None and len(buffer) >= len(masks):
            return self.masker.masked_batch(masks, self.x, out=buffer[: len(masks)])
        inputs = self.masker.masked_batch(masks, self.x)
        self.shared["input buffer"] = inputs
        return inputs

    def _row_probabilities(self) -> np.ndarray | None:
        """The masker's background-row weights, normalised to sum to one (None: equal weights)."""
        weights = getattr(self.masker, "weights", None)
        return None if weights is None else np.asarray(weights, np.float64) / np.sum(weights)

    def _background_mean(self, out: np.ndarray) -> np.ndarray:
        """Mean over the background rows (axis 1), weighted when the masker's rows carry weights."""
        probabilities = self._row_probabilities()
        if probabilities is None:
            return out.mean(axis=1)
        return np.einsum("kro,r->ko", out, probabilities)

    def raw_values(self, masks: np.ndarray) -> np.ndarray:
        """Background-averaged model outputs (before the link) for K masks: (K, n_outputs)."""
        masks = np.asarray(masks, dtype=bool)
        empty = ~masks.any(axis=1)
        cached = self.masker.empty_is_constant and "empty" in self.shared
        todo = np.flatnonzero(~empty) if cached else np.arange(len(masks))
        self.n_coalitions += len(todo)
        if not cached:
            result = self._reduced_outputs(masks, self._background_mean)
            if self.masker.empty_is_constant and empty.any():
                self.shared["empty"] = result[np.flatnonzero(empty)[0]]
            return result
        result = np.empty((len(masks), len(self.shared["empty"])), dtype=np.float64)
        result[empty] = self.shared["empty"]
        if len(todo):
            result[todo] = self._reduced_outputs(masks[todo], self._background_mean)
        return result

    def values(self, masks: np.ndarray) -> np.ndarray:
        """v(S) for K masks: (K, n_outputs) float64.

        link(background-averaged output), or with ``linearize_link`` the weighted mean of the
        linked outputs of the background rows.
        """
        if not self.linearize_link:
            return self.link(self.raw_values(masks))
        masks = np.asarray(masks, dtype=bool)
        weights, empty_value = self._linearization()
        empty = ~masks.any(axis=1)
        todo = np.flatnonzero(~empty)
        self.n_coalitions += len(todo)
        result = np.empty((len(masks), len(empty_value)), dtype=np.float64)
        result[empty] = empty_value
        if len(todo):
            result[todo] = self._reduced_outputs(
                masks[todo], lambda out: self._background_mean(weights * self.link(out))
            )
        return result

    def _linearization(self) -> tuple[np.ndarray, np.ndarray]:
        """Background-row weights (rows, O) for the linearised link, and v(empty) = link(mean)."""
        if self._link_weights is None:
            constant = self.masker.empty_is_constant
            if constant and "link_weights" in self.shared:
                self._link_weights = self.shared["link_weights"]
            else:
                empty = np.zeros((1, self.n_features), dtype=bool)
                rows = self._reduced_outputs(empty, lambda out: out)[0]
                self.n_coalitions += 1
                probabilities = self._row_probabilities()
                if probabilities is None:
                    probabilities = np.full(len(rows), 1.0 / len(rows))
                weights = link_weights(rows, self.link, probabilities)
                self._link_weights = (weights, self.link(probabilities @ rows))
                if constant:
                    self.shared["link_weights"] = self._link_weights
        return self._link_weights


def link_weights(outputs: np.ndarray, link: Link, probabilities: np.ndarray) -> np.ndarray:
    """Weights w (rows, O) with sum_r p_r w_r = 1 and sum_r p_r w_r link(o_r) = link(sum_r p_r o_r).

    From the first-order expansion of the link at the mean (as shap's ``link_reweighting``): a row's
    weight is the linearised link's change over the true link's change; rows at the mean weigh 1.
    """
    mean = probabilities @ outputs
    step = 1e-6 * np.maximum(np.abs(mean), 1e-6)
    slope = (link(mean + step) - link(mean - step)) / (2 * step)
    change = link(outputs) - link(mean)
    linear = slope * (outputs - mean)
    close = np.abs(change) <= 1e-12 * np.maximum(np.abs(link(mean)), 1.0)
    weights = np.where(close, 1.0, linear / np.where(close, 1.0, change))
    return weights / (probabilities @ weights)
