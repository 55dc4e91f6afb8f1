"""``Maple`` and ``TreeMaple``: MAPLE (Plumb, Molitor and Talwalkar, 2018) behind shap 0.51's
``explainers.other`` interface.

A forest is fitted to the model's outputs on the background (``Maple``) or the model's own trees
are used (``TreeMaple``). A row's neighbourhood weights every background row by how often it
shares a leaf with the row (each tree's leaf mates share that tree's unit weight), and a ridge
regression of the model's outputs on the background under those weights gives the row's local
linear coefficients. Only the most important features (by impurity at the trees' roots) enter
the regression: as many as give the smallest error on a held-out fifth of the background.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from shapwise.explainers._driver import Attribution, Driver, build_explanation, read_rows
from shapwise.explainers._kernel_inputs import dense
from shapwise.explanation import Explanation
from shapwise.numeric import feature_names_of, to_numpy

RIDGE_ALPHA = 0.001


def _leaf_weights(train_leaves: np.ndarray, leaves: np.ndarray) -> np.ndarray:
    """(rows, train rows): each tree gives its unit weight to the train rows in the row's leaf."""
    same = train_leaves[None, :, :] == leaves[:, None, :]  # (rows, train, trees)
    counts = np.maximum(same.sum(axis=1, keepdims=True), 1)
    return (same / counts).sum(axis=2)


def _root_importance(forest: Any, n_features: int) -> np.ndarray:
    """Impurity at each tree's root, summed by the feature the root splits on."""
    scores = np.zeros(n_features)
    for tree in np.asarray(forest.estimators_).reshape(-1):
        feature = int(tree.tree_.feature[0])
        if feature >= 0:
            scores[feature] += float(tree.tree_.impurity[0])
    return scores


def _leaves(forest: Any, X: np.ndarray) -> np.ndarray:
    return np.asarray(forest.apply(X)).reshape(len(X), -1)


class _MapleBase(Driver):
    """The shared part: local ridge coefficients of the model's outputs around each row."""

    algorithm = "maple"

    def _prepare(self, model: Any, data: Any) -> None:
        from sklearn.model_selection import train_test_split

        data = dense(data)
        self.feature_names = feature_names_of(data)
        self.data = to_numpy(data, name="the background data").astype(np.float64)
        self.data_mean = self.data.mean(axis=0)
        self.model = model
        outputs = np.asarray(self._model_outputs(self.data), dtype=np.float64)
        self.flat_out = outputs.ndim == 1
        self.outputs = outputs.reshape(len(self.data), -1)
        split = train_test_split(self.data, self.outputs, test_size=0.2, random_state=0)
        self._train, self._valid, self._train_out, self._valid_out = split

    def _model_outputs(self, X: np.ndarray) -> Any:
        return self.model(X)

    def _fit(self, forest: Any) -> None:
        """Choose how many of the most important features the local regressions keep."""
        self.forest = forest
        self._train_leaves = _leaves(forest, self._train)
        n_features = self.data.shape[1]
        self.order = np.argsort(-_root_importance(forest, n_features), kind="stable")
        weights = _leaf_weights(self._train_leaves, _leaves(forest, self._valid))
        best, self.retain = np.inf, n_features
        for retain in range(1, n_features + 1):
            kept = np.sort(self.order[:retain])
            predictions = np.stack(
                [
                    self._ridge(kept, w).predict(self._valid[i : i + 1, kept])[0]
                    for i, w in enumerate(weights)
                ]
            ).reshape(len(self._valid), -1)
            error = float(np.sqrt(np.mean((predictions - self._valid_out) ** 2)))
            if error < best:
                best, self.retain = error, retain

    def _ridge(self, kept: np.ndarray, weights: np.ndarray) -> Any:
        from sklearn.linear_model import Ridge

        return Ridge(alpha=RIDGE_ALPHA).fit(self._train[:, kept], self._train_out, weights)

    def _coefficients(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(rows, M, outputs) local coefficients and (rows, outputs) intercepts."""
        kept = np.sort(self.order[: self.retain])
        weights = _leaf_weights(self._train_leaves, _leaves(self.forest, X))
        n_outputs = self.outputs.shape[1]
        coefficients = np.zeros((len(X), X.shape[1], n_outputs))
        intercepts = np.zeros((len(X), n_outputs))
        for row, w in enumerate(weights):
            fit = self._ridge(kept, w)
            coefficients[row][kept] = np.asarray(fit.coef_).reshape(n_outputs, -1).T
            intercepts[row] = np.asarray(fit.intercept_).reshape(-1)
        return coefficients, intercepts

    def attributions(self, X: Any, multiply_by_input: bool = False) -> Any:
        """shap's call: each row's local coefficients, (rows, features) for a single output
        (a list of one per output otherwise); ``multiply_by_input`` scales them by the row
        minus the background mean, which makes them comparable to SHAP values."""
        rows, _ = read_rows(dense(X), self.feature_names)
        coefficients, _ = self._coefficients(rows.astype(np.float64))
        if multiply_by_input:
            coefficients = coefficients * (rows - self.data_mean)[:, :, None]
        if self.flat_out:
            return coefficients[..., 0]
        return [coefficients[..., k] for k in range(coefficients.shape[-1])]

    def explain(self, X: Any, **options: Any) -> Explanation:
        """An Explanation of the local coefficients times (row - background mean); the base
        value is the background's mean output. Not Shapley values: no additivity check."""
        rows, names = read_rows(dense(X), self.feature_names)
        coefficients, _ = self._coefficients(rows.astype(np.float64))
        values = coefficients * (rows - self.data_mean)[:, :, None]
        base = np.broadcast_to(self.outputs.mean(axis=0), (len(rows), values.shape[-1])).copy()
        return build_explanation(
            Attribution(values, base, base + values.sum(axis=1), notes=("MAPLE",)),
            data=rows,
            algorithm=self.algorithm,
            model_dtype="float64",
            single_output=self.flat_out,
            feature_names=self.feature_names or names,
        )


class Maple(_MapleBase):
    """MAPLE with a random forest (200 trees, leaves of at least 10 rows, half the features per
    split) fitted to the model's outputs on the background ``data``."""

    def __init__(self, model: Any, data: Any, seed: int = 0) -> None:
        from sklearn.ensemble import RandomForestRegressor

        self._prepare(model, data)
        forest = RandomForestRegressor(
            n_estimators=200, min_samples_leaf=10, max_features=0.5, random_state=seed
        )
        target = self._train_out[:, 0] if self._train_out.shape[1] == 1 else self._train_out
        self._fit(forest.fit(self._train, target))


class TreeMaple(_MapleBase):
    """MAPLE over the trees of the model itself: a scikit-learn random forest or gradient
    boosting regressor, explained on the background ``data``."""

    algorithm = "tree_maple"

    def __init__(self, model: Any, data: Any) -> None:
        if not hasattr(model, "apply") or not hasattr(model, "estimators_"):
            raise TypeError(
                "TreeMaple uses the trees of a fitted scikit-learn forest or gradient boosting "
                f"regressor; got {type(model).__name__}. For other models use other.Maple"
            )
        self.tree_model = model
        self._prepare(model.predict, data)
        self._fit(model)
