"""Exact Shapley values: every coalition evaluated once, combined with the Shapley weights."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from shapwise.explainers._base import Estimate, ExplainerBase
from shapwise.explainers._coalitions import check_exact_size, exact_estimate
from shapwise.explainers._game import CoalitionGame


class ExactExplainer(ExplainerBase):
    """Exact Shapley values by evaluating all 2^M coalitions (for up to ~20 features)."""

    algorithm = "exact"

    def default_max_evals(self, n_features: int) -> int:
        return 2**n_features

    def estimate(
        self,
        game: CoalitionGame,
        max_evals: int,
        rng: np.random.Generator,
        done: Callable[[int], Any],
        **options: Any,
    ) -> Estimate:
        check_exact_size(game.n_features)
        return exact_estimate(game, done)


Exact = ExactExplainer
