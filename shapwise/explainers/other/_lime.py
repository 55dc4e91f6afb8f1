"""``LimeTabular``: LIME's tabular explainer behind shap 0.51's ``explainers.other`` interface
(needs the ``lime`` package). LIME fits a weighted linear surrogate on discretized features
around each row; its weights are not Shapley values."""

from __future__ import annotations

from typing import Any

import numpy as np

from shapwise.explainers._driver import Attribution, Driver, build_explanation, read_rows
from shapwise.explainers._kernel_inputs import dense
from shapwise.explanation import Explanation
from shapwise.numeric import feature_names_of, to_numpy

MODES = ("classification", "regression")


def _lime_tabular() -> Any:
    try:
        import lime.lime_tabular
    except ImportError:
        raise ImportError(
            "explainers.other.LimeTabular wraps the lime package; install it with pip install lime"
        ) from None
    return lime.lime_tabular


class LimeTabular(Driver):
    """LIME's local linear weights as attributions.

    Args:
        model: a function of a 2-D array; for ``mode="classification"`` it returns class
            probabilities (one column of them is read as the positive class's).
        data: background rows (array, DataFrame or scipy sparse matrix): LIME's training data.
        mode: 'classification' or 'regression'.
        seed: seed of LIME's sampling.

    Each row's Explanation holds the surrogate's weights as values and its intercept as the base
    value; together they give the surrogate's prediction, not the model's output, so no
    additivity check is made.
    """

    algorithm = "lime"

    def __init__(self, model: Any, data: Any, mode: str = "classification", seed: int = 0) -> None:
        if mode not in MODES:
            raise ValueError(
                f"Invalid mode {mode!r}, must be one of 'classification' or 'regression'"
            )
        lime_tabular = _lime_tabular()
        data = dense(data)
        self.feature_names = feature_names_of(data)
        self.data = to_numpy(data, name="the background data").astype(np.float64)
        self.model = model
        self.mode = mode
        out = np.asarray(model(self.data[:1]))
        self.flat_out = out.ndim == 1
        self.out_dim = 1 if self.flat_out else out.shape[1]
        self.explainer = lime_tabular.LimeTabularExplainer(self.data, mode=mode, random_state=seed)

    def _predict(self, X: np.ndarray) -> np.ndarray:
        out = np.asarray(self.model(X), dtype=np.float64)
        if self.mode == "classification" and out.ndim == 1:  # one probability: the positive class
            return np.stack([1.0 - out, out], axis=1)
        return out

    def _surrogates(
        self, X: np.ndarray, nsamples: int, num_features: int | None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Weights (rows, M, outputs) and intercepts (rows, outputs) of LIME's surrogates."""
        n_rows, n_features = X.shape
        keep = n_features if num_features is None else int(num_features)
        if self.mode == "regression":
            labels = [1]  # LIME's regression weights, for the output itself
        elif self.flat_out:
            labels = [1]  # the positive class of a model returning one probability
        else:
            labels = list(range(self.out_dim))
        weights = np.zeros((n_rows, n_features, len(labels)))
        intercepts = np.zeros((n_rows, len(labels)))
        for row in range(n_rows):
            found = self.explainer.explain_instance(
                X[row],
                self._predict,
                labels=labels if self.mode == "classification" else (1,),
                num_features=keep,
                num_samples=nsamples,
            )
            for column, label in enumerate(labels):
                for feature, weight in found.local_exp[label]:
                    weights[row, int(feature), column] = weight
                intercepts[row, column] = found.intercept[label]
        return weights, intercepts

    def attributions(
        self, X: Any, nsamples: int = 5000, num_features: int | None = None
    ) -> np.ndarray | list[np.ndarray]:
        """shap's call: (rows, features) for a single output, else a list of one per output."""
        rows, _ = read_rows(dense(X), self.feature_names)
        weights, _ = self._surrogates(rows.astype(np.float64), nsamples, num_features)
        if weights.shape[-1] == 1:
            return weights[..., 0]
        return [weights[..., k] for k in range(weights.shape[-1])]

    def explain(
        self, X: Any, nsamples: int = 5000, num_features: int | None = None, **options: Any
    ) -> Explanation:
        """An Explanation of LIME's weights (values) and intercepts (base values)."""
        rows, names = read_rows(dense(X), self.feature_names)
        weights, intercepts = self._surrogates(rows.astype(np.float64), nsamples, num_features)
        surrogate = intercepts + weights.sum(axis=1)
        return build_explanation(
            Attribution(weights, intercepts, surrogate, notes=("LIME surrogate weights",)),
            data=rows,
            algorithm=self.algorithm,
            model_dtype="float64",
            single_output=weights.shape[-1] == 1,
            feature_names=self.feature_names or names,
        )
