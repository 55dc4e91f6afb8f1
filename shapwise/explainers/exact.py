"""Exact Shapley values: every coalition evaluated once, combined with the Shapley weights.

With a table's ``maskers.Partition`` (a feature hierarchy), exact Owen values over it instead,
as shap's ExactExplainer gives: the Partition explainer's recursion with every term expanded.
Texts and images keep Shapley values.

``interactions=True`` gives shap's exact pairwise interaction values instead (see
``_interactions``): per row an (M, M) matrix of main effects and halved pair interactions.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from shapwise import maskers
from shapwise.explainers._base import Estimate, ExplainerBase
from shapwise.explainers._coalitions import MAX_EXACT_FEATURES, check_exact_size, exact_estimate
from shapwise.explainers._driver import Attribution, check_batch_size, select_outputs
from shapwise.explainers._game import CoalitionGame
from shapwise.explainers._interactions import exact_interactions
from shapwise.explainers._owen import owen_by_groups
from shapwise.explainers._seeds import RowSeeds
from shapwise.explanation import Explanation
from shapwise.maskers._hierarchy import Hierarchy


def _wants_interactions(interactions: bool | int) -> bool:
    """shap's spellings: False / 1 for Shapley values, True / 2 for pairwise interactions."""
    if interactions is True or (interactions is not False and interactions == 2):
        return True
    if interactions is False or interactions == 1:
        return False
    raise NotImplementedError(
        f"interactions={interactions!r}: the exact explainer computes Shapley values "
        "(interactions=False) or pairwise interaction values (interactions=True); higher orders "
        "are not supported"
    )


class ExactExplainer(ExplainerBase):
    """Exact Shapley values by evaluating all 2^M coalitions (for up to ~20 features); with a
    table's ``maskers.Partition``, exact Owen values over its hierarchy (as shap)."""

    algorithm = "exact"

    def default_max_evals(self, n_features: int) -> int:
        return 2**n_features

    def explain(  # type: ignore[override]
        self, X: Any, *args: Any, interactions: bool | int = False, **options: Any
    ) -> Explanation:
        """Explain the rows of ``X``; ``interactions=True`` gives values (rows, M, M[, outputs])."""
        if not _wants_interactions(interactions):
            return super().explain(X, *args, **options)
        return self._explain_interactions(X, *args, **options)

    def estimate(
        self,
        game: CoalitionGame,
        max_evals: int,
        seeds: RowSeeds,
        done: Callable[[int], Any],
        **options: Any,
    ) -> Estimate:
        if isinstance(game.masker, maskers.Partition):
            return self._owen(game, done)
        check_exact_size(game.n_features)
        return exact_estimate(game, done)

    def _owen(self, game: CoalitionGame, done: Callable[[int], Any]) -> Estimate:
        """Exact Owen values over the masker's hierarchy."""
        tree = Hierarchy(game.masker.clustering, game.n_features)
        needed = tree.owen_evaluations()
        if needed > 2**MAX_EXACT_FEATURES:
            raise ValueError(
                f"exact Owen values over this feature hierarchy need {needed} coalitions per "
                "row; use explainers.Partition with a max_evals budget"
            )
        return owen_by_groups(game, tree, needed, self.link, done)

    def _explain_interactions(
        self,
        X_raw: Any,
        max_evals: int | str = "auto",
        batch_size: int | str | None = "auto",
        outputs: Any = None,
        silent: bool = False,
        check_additivity: bool = True,
    ) -> Explanation:
        from shapwise._progress import progress

        if self.masker.per_text:
            raise ValueError(
                "interaction values are computed for tables; explain texts with interactions=False"
            )
        X, call_names = self._rows(X_raw)
        if X.ndim != 2:
            raise ValueError(
                f"interaction values need rows of features (rows, features); got shape {X.shape}"
            )
        n_features = self.masker.shape[1]
        self._budget(max_evals, n_features)
        check_exact_size(n_features)
        game = CoalitionGame(
            self.model,
            self.masker,
            X,
            self.link,
            outputs=select_outputs(outputs, len(X), None),
            linearize_link=self.linearize_link,
            batch_size=check_batch_size(batch_size),
        )
        with progress(len(X), f"{type(self).__name__}", silent) as bar:
            values, base_values, model_outputs = exact_interactions(game, bar.update)
        attribution = Attribution(values, base_values, model_outputs)
        feature_names = self.feature_names or call_names
        return self._finish(attribution, outputs, X, feature_names, self.masker, check_additivity)


Exact = ExactExplainer
