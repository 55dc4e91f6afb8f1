"""Exact Shapley values: every coalition evaluated once, combined with the Shapley weights."""

from __future__ import annotations

from math import factorial

import numpy as np

from shapwise.explainers._base import ExplainerBase
from shapwise.explainers._game import CoalitionGame

MAX_FEATURES = 20


def all_coalitions(n_features: int) -> np.ndarray:
    """Every subset of ``n_features`` as boolean masks; row k is the subset with bit pattern k."""
    codes = np.arange(2**n_features, dtype=np.int64)
    return ((codes[:, None] >> np.arange(n_features)) & 1).astype(bool)


def shapley_from_table(table: np.ndarray, n_features: int) -> np.ndarray:
    """Shapley values from v(S) for all subsets (indexed by bit pattern): (n_features, n_outputs)."""
    codes = np.arange(2**n_features, dtype=np.int64)
    sizes = np.zeros(len(codes), dtype=np.int64)
    for bit in range(n_features):
        sizes += (codes >> bit) & 1
    weights = np.array(
        [
            factorial(s) * factorial(n_features - s - 1) / factorial(n_features)
            for s in range(n_features)
        ]
    )
    values = np.empty((n_features, table.shape[1]), dtype=np.float64)
    for feature in range(n_features):
        without = codes[(codes >> feature) & 1 == 0]
        with_feature = without | (1 << feature)
        values[feature] = weights[sizes[without]] @ (table[with_feature] - table[without])
    return values


class ExactExplainer(ExplainerBase):
    """Exact Shapley values by evaluating all 2^M coalitions (for up to ~20 features)."""

    algorithm = "exact"

    def default_max_evals(self, n_features: int) -> int:
        return 2**n_features

    def explain_row(
        self, game: CoalitionGame, max_evals: int, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        n = game.n_features
        if n > MAX_FEATURES:
            raise ValueError(
                f"exact explanations of {n} features need 2^{n} coalitions; use "
                "explainers.Permutation or explainers.Partition for more than "
                f"{MAX_FEATURES} features"
            )
        table = game.values(all_coalitions(n))
        return shapley_from_table(table, n), table[0], table[-1]


Exact = ExactExplainer
