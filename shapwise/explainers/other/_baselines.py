"""Benchmark baselines shap 0.51 keeps in ``explainers.other``: random attributions, model
coefficients and tree gain importances. None of them are Shapley values, and their values do not
add up to the model output; they are what a benchmark compares real explainers against."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from shapwise.explainers._base import Estimate, ExplainerBase
from shapwise.explainers._driver import (
    Attribution,
    Driver,
    build_explanation,
    read_rows,
)
from shapwise.explainers._game import CoalitionGame
from shapwise.explainers._seeds import RowSeeds
from shapwise.explanation import Explanation
from shapwise.links import Link
from shapwise.maskers._base import Masker
from shapwise.numeric import feature_names_of, to_numpy

# Random attributions are this small, so a benchmark's errors are close to a constant model's.
RANDOM_SCALE = 0.001


class Random(ExplainerBase):
    """Random attributions, normal with standard deviation 0.001 (shap's ``other.Random``); the
    base value is the model's with every feature hidden. ``constant=True`` gives every row the
    same attributions. Not additive, so no additivity check is made."""

    algorithm = "random"
    estimator_notes = ("random attributions (a benchmark baseline)",)

    def __init__(
        self,
        model: Any,
        masker: Any,
        link: str | Link = "identity",
        feature_names: list[str] | None = None,
        linearize_link: bool = True,
        constant: bool = False,
        *,
        seed: int | None = None,
    ) -> None:
        super().__init__(model, masker, link=link, feature_names=feature_names, seed=seed)
        self.constant = bool(constant)
        self.constant_attributions: np.ndarray | None = None

    def default_max_evals(self, n_features: int) -> int:
        return 2

    def estimate(
        self,
        game: CoalitionGame,
        max_evals: int,
        seeds: RowSeeds,
        done: Callable[[int], Any],
        **options: Any,
    ) -> Estimate:
        n = game.n_features
        ends = np.zeros((2, n), dtype=bool)
        ends[1] = True
        tables = game.tables(range(game.n_rows), np.broadcast_to(ends, (game.n_rows, 2, n)), 0)
        shape = (game.n_rows, n, tables.shape[-1])
        if self.constant:
            if self.constant_attributions is None or self.constant_attributions.shape != shape[1:]:
                draw = seeds.shared().standard_normal(shape[1:])
                self.constant_attributions = draw * RANDOM_SCALE
            values = np.broadcast_to(self.constant_attributions, shape).copy()
        else:
            draws = [seeds.row(i).standard_normal(shape[1:]) for i in range(game.n_rows)]
            values = np.stack(draws) * RANDOM_SCALE
        done(game.n_rows)
        return values, tables[0], tables[1]

    def _finish(
        self,
        attribution: Attribution,
        outputs: Any,
        X: np.ndarray,
        feature_names: list[str] | None,
        masker: Masker,
        check: bool,
    ) -> Explanation:
        """Random values never add up: no additivity check."""
        return super()._finish(attribution, outputs, X, feature_names, masker, False)


class _GlobalImportance(Driver):
    """Every row gets the same attributions: one global importance per feature."""

    algorithm = "global"
    attribute = ""

    def __init__(self, model: Any) -> None:
        importance = getattr(model, self.attribute, None)
        if importance is None:
            raise TypeError(
                f"{type(self).__name__} reads the model's {self.attribute}; "
                f"{type(model).__name__} has none (fit the model first, or pick another "
                "explainer)"
            )
        self.model = model
        self.importance = to_numpy(importance, name=f"the model's {self.attribute}").astype(
            np.float64
        )
        fitted = getattr(model, "feature_names_in_", None)
        self.feature_names = None if fitted is None else [str(name) for name in fitted]

    def attributions(self, X: Any) -> np.ndarray:
        """shap's call: the importances tiled over the rows of ``X``, (rows, features) (a
        (outputs, features) coefficient matrix gives (rows, features, outputs))."""
        n_rows = len(X) if hasattr(X, "__len__") else np.shape(X)[0]
        importance = self.importance
        if importance.ndim == 2 and importance.shape[0] == 1:
            importance = importance[0]
        tiled = np.broadcast_to(importance, (n_rows, *importance.shape)).copy()
        return tiled if tiled.ndim == 2 else tiled.transpose(0, 2, 1)

    def explain(self, X: Any, **options: Any) -> Explanation:
        """An Explanation whose values are the importances of every row (base values 0)."""
        rows, names = read_rows(X, self.feature_names)
        values = self.attributions(rows)
        n_outputs = 1 if values.ndim == 2 else values.shape[-1]
        zeros = np.zeros((len(rows), n_outputs))
        attribution = Attribution(values.reshape(len(rows), rows.shape[1], n_outputs), zeros, zeros)
        return build_explanation(
            attribution,
            data=rows,
            algorithm=self.algorithm,
            model_dtype="float64",
            single_output=values.ndim == 2,
            feature_names=self.feature_names or names or feature_names_of(X),
        )


class Coefficient(_GlobalImportance):
    """The model's coefficients (``coef_``) as every row's attributions (shap's
    ``other.Coefficient``)."""

    algorithm = "coefficient"
    attribute = "coef_"


class TreeGain(_GlobalImportance):
    """A tree model's gain (impurity) importances (``feature_importances_``) as every row's
    attributions (shap's ``other.TreeGain``): scikit-learn trees and ensembles, XGBoost,
    LightGBM and CatBoost estimators."""

    algorithm = "tree_gain"
    attribute = "feature_importances_"
