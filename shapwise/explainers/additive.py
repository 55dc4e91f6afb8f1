"""Shapley values of additive models (GAMs): each feature's value is its own main effect.

For a model without interactions, f(x) = b + sum_i g_i(x_i), every feature's marginal contribution
is the same in every coalition, so its Shapley value is v({i}) - v(empty): M + 2 coalitions per
row (the empty, each single feature, and the full one for the additivity check) instead of 2^M.
A model with interactions fails the driver's additivity check, which says so.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from shapwise.explainers._base import Estimate, ExplainerBase
from shapwise.explainers._game import CoalitionGame
from shapwise.explainers._seeds import RowSeeds
from shapwise.links import Link

ADDITIVE_NOTE = (
    "the values are main effects, exact only for an additive model (no interactions between "
    "features); explain a model with interactions with explainers.Exact or explainers.Permutation"
)


class AdditiveExplainer(ExplainerBase):
    """Exact Shapley values of an additive model from M + 2 coalitions per row (shap 0.51's
    ``AdditiveExplainer``).

    Args:
        model: a function of a 2-D array, torch module, Keras model or sklearn estimator.
        masker: background data or a tabular masker.
        link: 'identity' or 'logit'.
        feature_names: labels for the explanation.
        linearize_link: accepted for shap compatibility (the values of an additive game do not
            depend on it).
    """

    algorithm = "additive"
    estimator_notes = (ADDITIVE_NOTE,)

    def __init__(
        self,
        model: Any,
        masker: Any,
        link: str | Link | None = None,
        feature_names: list[str] | None = None,
        linearize_link: bool = True,
        *,
        output_names: list[str] | None = None,
        batch_size: int | None = None,
    ) -> None:
        super().__init__(
            model,
            masker,
            link="identity" if link is None else link,
            feature_names=feature_names,
            output_names=output_names,
            batch_size=batch_size,
        )

    def default_max_evals(self, n_features: int) -> int:
        return n_features + 2

    def estimate(
        self,
        game: CoalitionGame,
        max_evals: int,
        seeds: RowSeeds,
        done: Callable[[int], Any],
        **options: Any,
    ) -> Estimate:
        n = game.n_features
        masks = np.zeros((n + 2, n), dtype=bool)
        masks[np.arange(1, n + 1), np.arange(n)] = True  # each feature alone
        masks[-1] = True
        parts = []
        for rows in game.row_groups(len(masks)):
            every = np.broadcast_to(masks, (len(rows), *masks.shape))
            tables = game.tables(rows, every, empty_at=0)
            values = (tables[1 : n + 1] - tables[0][None]).transpose(1, 0, 2)  # (rows, M, O)
            parts.append((values, tables[0], tables[-1]))
            done(len(rows))
        return tuple(np.concatenate(part) for part in zip(*parts, strict=True))  # type: ignore[return-value]


Additive = AdditiveExplainer
