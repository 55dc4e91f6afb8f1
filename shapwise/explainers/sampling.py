"""``SamplingExplainer``: Shapley values estimated from random feature orders (shap 0.51's
Sampling explainer, the IME method of Strumbelj and Kononenko).

Each order walks from the empty to the full coalition, and each feature is credited with the
change in v when it joins; the mean over orders is an unbiased estimate of its Shapley value.
Orders come with their reverses (antithetic pairs, which cancel much of the noise), and every
order's credits add up to v(full) - v(empty), so the values are always additive.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from shapwise.explainers._game import RowGame, varying_features
from shapwise.explainers._kernel_api import KernelStyleExplainer


def antithetic_orders(n_features: int, n_pairs: int, rng: np.random.Generator) -> np.ndarray:
    """``n_pairs`` random orders of the features, each followed by its reverse: (2 n_pairs, M)."""
    forward = rng.permuted(np.tile(np.arange(n_features), (n_pairs, 1)), axis=1)
    return np.stack([forward, forward[:, ::-1]], axis=1).reshape(-1, n_features)


def prefix_masks(orders: np.ndarray) -> np.ndarray:
    """Every prefix of every order, empty to full: (orders, M + 1, M)."""
    n_orders, n = orders.shape
    position = np.empty_like(orders)
    position[np.arange(n_orders)[:, None], orders] = np.arange(n)
    return position[:, None, :] < np.arange(n + 1)[None, :, None]


class SamplingExplainer(KernelStyleExplainer):
    """Shapley values from antithetic random orders of the features; takes KernelExplainer's
    arguments (model, background data, link, ...). ``nsamples`` counts coalitions evaluated per
    row ("auto": 1000 per feature, as shap's)."""

    algorithm = "sampling"

    def default_max_evals(self, n_features: int) -> int:
        if self.nsamples != "auto":
            return int(self.nsamples) + 2
        return 1000 * n_features + 2

    def check_budget(self, max_evals: int, n_features: int) -> None:
        if max_evals < 2:
            raise ValueError(f"max_evals must be at least 2; got {max_evals}")

    def shap_values(  # type: ignore[override]
        self,
        X: Any,
        nsamples: int | str = "auto",
        min_samples_per_feature: int = 100,
        silent: bool = False,
        **kwargs: Any,
    ) -> np.ndarray:
        """shap's layout (see KernelExplainer.shap_values); ``min_samples_per_feature`` is
        accepted for shap compatibility (every order credits every feature)."""
        return super().shap_values(X, nsamples=nsamples, silent=silent)

    def estimate_row(
        self, game: RowGame, max_evals: int, rng: np.random.Generator, **options: Any
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        n = game.n_features
        varying = varying_features(game)  # the others cannot change the model input: value 0
        m = len(varying)
        ends = np.zeros((2, n), dtype=bool)
        ends[1] = True
        if m <= 1:
            empty, full = game.values(ends)
            values = np.zeros((n, len(empty)))
            values[varying] = full - empty
            return values, empty, full
        n_pairs = max(1, (max_evals - 2) // (2 * (m - 1)))
        orders = antithetic_orders(m, n_pairs, rng)
        chains = prefix_masks(orders)  # (orders, m + 1, m) over the varying features
        masks = np.zeros((*chains.shape[:2], n), dtype=bool)
        masks[..., varying] = chains
        table = game.values(masks.reshape(-1, n)).reshape(len(orders), m + 1, -1)
        gains = np.diff(table, axis=1)  # (orders, m, O): what the feature at each step adds
        credit = np.zeros((len(orders), m, table.shape[-1]))
        np.put_along_axis(credit, orders[:, :, None], gains, axis=1)
        values = np.zeros((n, table.shape[-1]))
        values[varying] = credit.mean(axis=0)
        return values, table[0, 0], table[0, -1]


Sampling = SamplingExplainer
