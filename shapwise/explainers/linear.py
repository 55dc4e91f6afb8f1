"""Closed-form Shapley values of linear and logistic models, in the model's margin (log-odds).

For f(x) = coef @ x + intercept every coalition value is linear in x, so the Shapley values are a
fixed linear map of x - mean(background):

- interventional (features hidden independently, as maskers.Independent does):
  v(S) = f(x_S, mean_rest), so phi_i = coef_i (x_i - mean_i);
- correlation_dependent (hidden features follow the background's Gaussian conditional given the
  shown ones): v(S) = f(E[X | X_S = x_S]) = f(mean) + g_S @ (x - mean), with
  g_S = coef restricted to S plus coef_rest @ cov_rest,S @ cov_S,S^-1. The Shapley values of the
  vector game S -> g_S give a matrix T with phi = T (x - mean). T is computed once, exactly from
  all 2^M coalitions up to ``EXACT_MAX_FEATURES`` features, else from antithetic permutations.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from shapwise.errors import InvalidFeaturePerturbationError
from shapwise.explainers._coalitions import all_coalitions, shapley_from_table
from shapwise.explainers._driver import (
    Attribution,
    Driver,
    build_explanation,
    check_names,
    legacy_expected_value,
    read_rows,
)
from shapwise.explainers._driver import check_additivity as check_additivity_of
from shapwise.explainers._kernel_inputs import dense
from shapwise.explanation import Explanation
from shapwise.links import Link, get_link
from shapwise.maskers._base import Masker
from shapwise.numeric import check_finite, feature_names_of, to_numpy

EXACT_MAX_FEATURES = 14
# Eigenvalues of a covariance block below this share of its largest are treated as zero
# (constant or duplicated features), so the conditional expectation stays finite.
PSEUDO_INVERSE_RCOND = 1e-10

PERTURBATIONS = ("interventional", "correlation_dependent")


def linear_parameters(model: Any) -> tuple[np.ndarray, np.ndarray, bool]:
    """(coef (O, M), intercept (O,), single_output) of an sklearn linear model or a (coef, b) pair.

    Raises:
        TypeError: the model is neither.
    """
    if isinstance(model, tuple) and len(model) == 2:
        coef, intercept = model
    elif hasattr(model, "coef_") and hasattr(model, "intercept_"):
        coef, intercept = model.coef_, model.intercept_
    else:
        raise TypeError(
            f"LinearExplainer explains linear models: an sklearn estimator with coef_ and "
            f"intercept_, or a (coef, intercept) tuple; got {type(model).__name__}. "
            "For other models use shapwise.Explainer or KernelExplainer"
        )
    coef = to_numpy(coef, name="the model's coefficients").astype(np.float64)
    if coef.ndim not in (1, 2):
        raise ValueError(
            f"coefficients must be (features,) or (outputs, features); got {coef.shape}"
        )
    single = coef.ndim == 1 or coef.shape[0] == 1
    coef = coef.reshape(-1, coef.shape[-1])
    intercept = to_numpy(np.asarray(intercept), name="the model's intercept").astype(np.float64)
    intercept = np.broadcast_to(intercept.reshape(-1), (coef.shape[0],)).copy()
    check_finite(coef, "the model's coefficients")
    check_finite(intercept, "the model's intercept")
    return coef, intercept, single


def background_moments(
    masker: Any, n_features: int, with_covariance: bool
) -> tuple[np.ndarray, np.ndarray | None, list[str] | None]:
    """(mean, covariance or None, feature names) of the background, honouring row weights.

    ``masker`` is background rows (array or DataFrame), a tabular masker with ``data`` (and
    optional ``weights``), or a ``(mean, cov)`` pair.
    """
    weights = None
    if isinstance(masker, dict) and "mean" in masker and "cov" in masker:
        masker = (masker["mean"], masker["cov"])
    moments = (getattr(masker, "mean", None), getattr(masker, "cov", None))
    if isinstance(masker, Masker) and moments[0] is not None and moments[1] is not None:
        masker = moments  # Impute, or Independent({"mean": ..., "cov": ...})
    if isinstance(masker, tuple) and len(masker) == 2:
        mean = to_numpy(masker[0], name="the background mean").astype(np.float64).ravel()
        cov = to_numpy(masker[1], name="the background covariance").astype(np.float64)
        if mean.shape != (n_features,) or cov.shape != (n_features, n_features):
            raise ValueError(
                f"a (mean, cov) background for {n_features} features needs shapes "
                f"({n_features},) and ({n_features}, {n_features}); got {mean.shape}, {cov.shape}"
            )
        check_finite(cov, "the background covariance")
        return mean, cov, feature_names_of(masker[0])
    if isinstance(masker, Masker):
        rows, weights, names = masker.data, masker.weights, masker.feature_names
        if rows is None or np.ndim(rows) != 2:
            raise TypeError(
                f"LinearExplainer needs tabular background rows; the masker {type(masker).__name__} "
                "has none. Pass background data, maskers.Independent or maskers.Partition"
            )
    elif masker is None:
        raise ValueError("LinearExplainer needs background data (rows, features) to hide features")
    else:
        masker = dense(masker)  # scipy sparse backgrounds, as shap takes them
        names = feature_names_of(masker)
        rows = to_numpy(masker, name="the background data")
    if rows.ndim != 2 or len(rows) == 0 or rows.shape[1] != n_features:
        raise ValueError(
            f"the background must be a non-empty (rows, {n_features}) array for a model with "
            f"{n_features} coefficients; got shape {rows.shape}"
        )
    check_finite(rows, "the background data")
    rows = rows.astype(np.float64)
    mean = np.average(rows, axis=0, weights=weights)
    cov = None
    if with_covariance:
        if len(rows) < 2:
            raise ValueError("correlation_dependent needs at least two background rows")
        cov = np.atleast_2d(np.cov(rows, rowvar=False, aweights=weights))
    return mean, cov, names


def conditional_gains(masks: np.ndarray, coef: np.ndarray, cov: np.ndarray) -> np.ndarray:
    """g_S (K, O, M) for K coalitions: v(S) - f(mean) = g_S @ (x - mean) under a Gaussian background.

    Batched by coalition size: one stacked pseudo-inverse per size.
    """
    n_coalitions, n_features = masks.shape
    gains = np.zeros((n_coalitions, coef.shape[0], n_features))
    sizes = masks.sum(axis=1)
    for size in np.unique(sizes):
        rows = np.flatnonzero(sizes == size)
        if size == 0:
            continue
        if size == n_features:
            gains[rows] = coef[None]
            continue
        order = np.argsort(~masks[rows], axis=1, kind="stable")
        shown, hidden = order[:, :size], order[:, size:]
        cov_shown = cov[shown[:, :, None], shown[:, None, :]]
        cov_hidden_shown = cov[hidden[:, :, None], shown[:, None, :]]
        inverse = np.linalg.pinv(cov_shown, rcond=PSEUDO_INVERSE_RCOND, hermitian=True)
        coef_hidden = np.moveaxis(coef[:, hidden], 1, 0)  # (k, O, hidden)
        carried = coef_hidden @ cov_hidden_shown @ inverse  # (k, O, shown)
        block = np.moveaxis(coef[:, shown], 1, 0) + carried
        target = gains[rows]
        np.put_along_axis(target, np.broadcast_to(shown[:, None, :], block.shape), block, axis=2)
        gains[rows] = target
    return gains


def correlation_transform(
    coef: np.ndarray, cov: np.ndarray, nsamples: int, rng: np.random.Generator
) -> np.ndarray:
    """T (M, O, M) with phi[i, o] = T[i, o] @ (x - mean) for conditional (Gaussian) coalitions.

    Exact over all 2^M coalitions for up to EXACT_MAX_FEATURES features; otherwise averaged over
    ``nsamples`` permutations, each with its reverse.
    """
    n_outputs, n = coef.shape
    if n <= EXACT_MAX_FEATURES:
        gains = conditional_gains(all_coalitions(n), coef, cov)
        table = gains.reshape(len(gains), n_outputs * n)
        return shapley_from_table(table, n).reshape(n, n_outputs, n)
    n_pairs = max(1, nsamples // 2)
    orders = rng.random((n_pairs, n)).argsort(axis=1)
    orders = np.concatenate([orders, orders[:, ::-1]])
    position = np.empty_like(orders)
    position[np.arange(len(orders))[:, None], orders] = np.arange(n)
    transform = np.zeros((n, n_outputs, n))
    for order, where in zip(orders, position, strict=True):
        chain = where[None, :] < np.arange(n + 1)[:, None]  # prefixes of the order
        gains = conditional_gains(chain, coef, cov)
        transform[order] += np.diff(gains, axis=0)
    return transform / len(orders)


class LinearExplainer(Driver):
    """Exact Shapley values of a linear or logistic model (values in the model's margin).

    Args:
        model: an sklearn linear model (LinearRegression, Ridge, Lasso, LogisticRegression binary
            or multinomial, ...) or a ``(coef, intercept)`` pair.
        masker: background rows (array, DataFrame or scipy sparse matrix; every row is used),
            maskers.Independent / Partition / Impute, ``shapwise.kmeans(...)`` (weighted), a
            ``(mean, cov)`` pair or shap's ``{"mean": ..., "cov": ...}``.
        link: only 'identity': the values add up in the model's margin (log-odds for logistic).
        nsamples: permutations for the correlation-dependent transform beyond
            EXACT_MAX_FEATURES features.
        feature_perturbation: None (shap's default: the masker decides, maskers.Impute is
            'correlation_dependent', anything else 'interventional'), 'interventional'
            (features hidden independently) or 'correlation_dependent' (hidden features follow
            the background's Gaussian conditional given the shown ones).
        feature_names / output_names: labels for the explanation.
        seed: seed of those permutations.
    """

    algorithm = "linear"

    def __init__(
        self,
        model: Any,
        masker: Any,
        link: str | Link = "identity",
        nsamples: int = 1000,
        feature_perturbation: str | None = None,
        *,
        feature_names: list[str] | None = None,
        output_names: list[str] | None = None,
        seed: int | None = 0,
        feature_dependence: Any = None,
    ) -> None:
        if feature_dependence is not None:
            raise ValueError(
                "The option feature_dependence has been renamed to feature_perturbation!"
            )
        if get_link(link).name != "identity":
            raise ValueError(
                "LinearExplainer's values add up in the model's margin (log-odds for logistic "
                "models), which is linear in the inputs; use link='identity', or KernelExplainer "
                "with link='logit' on predict_proba"
            )
        feature_perturbation = _perturbation_of(masker, feature_perturbation)
        self.coef, self.intercept, self._single_output = linear_parameters(model)
        n_outputs, n_features = self.coef.shape
        self.mean, cov, names = background_moments(
            masker, n_features, feature_perturbation == "correlation_dependent"
        )
        self.masker = _masker_for(dense(masker), feature_perturbation)
        fitted = getattr(model, "feature_names_in_", None)
        # the columns rows to explain are matched to by name: the background's, else the fit's
        self._columns = names or (None if fitted is None else [str(n) for n in fitted])
        self.feature_perturbation = feature_perturbation
        self.feature_names = check_names(feature_names, n_features, "feature") or names
        self.output_names = check_names(output_names, n_outputs, "output")
        self.link = get_link("identity")
        self._base = self.coef @ self.mean + self.intercept
        self.transform: np.ndarray | None = None  # T (M, O, M) for correlation_dependent
        if feature_perturbation == "correlation_dependent":
            rng = np.random.default_rng(seed)
            self.transform = correlation_transform(self.coef, cov, nsamples, rng)

    @property
    def expected_value(self) -> float | np.ndarray:
        """f(mean background): the base value, a float for a single-output model."""
        return legacy_expected_value(self._base, self._single_output)

    def explain(self, X: Any, silent: bool = False, check_additivity: bool = True) -> Explanation:
        """Explain the rows of ``X``; returns an :class:`Explanation`."""
        rows, names = read_rows(dense(X), self._columns)
        rows = rows.astype(np.float64)
        n_features = self.coef.shape[1]
        if rows.ndim != 2 or rows.shape[1] != n_features:
            raise ValueError(
                f"the rows to explain must have shape (rows, {n_features}); got {rows.shape}"
            )
        output = rows @ self.coef.T + self.intercept
        attribution = Attribution(
            self._values(rows), np.broadcast_to(self._base, output.shape).copy(), output
        )
        if check_additivity:
            check_additivity_of(attribution, "float64", self.algorithm)
        return build_explanation(
            attribution,
            data=rows,
            algorithm=self.algorithm,
            model_dtype="float64",
            single_output=self._single_output,
            feature_names=self.feature_names or names,
            output_names=self.output_names,
        )

    def shap_values(self, X: Any) -> np.ndarray:
        """shap's layout: (rows, features) or (rows, features, outputs); 1-D ``X`` drops rows."""
        X = dense(X)
        one_row = np.ndim(X) == 1
        values = self(np.asarray(X).reshape(1, -1) if one_row else X).values
        return values[0] if one_row else values

    def _values(self, rows: np.ndarray) -> np.ndarray:
        """(N, M, O) values for rows (N, M)."""
        centred = rows - self.mean
        if self.transform is None:
            return centred[:, :, None] * self.coef.T[None]
        return np.einsum("iom,nm->nio", self.transform, centred)


def _perturbation_of(masker: Any, given: str | None) -> str:
    """shap's feature_perturbation: given, or decided by the masker (Impute: conditional)."""
    from shapwise.maskers.impute import Impute

    if given is None:
        return "correlation_dependent" if isinstance(masker, Impute) else "interventional"
    if given not in PERTURBATIONS:
        raise InvalidFeaturePerturbationError(
            "feature_perturbation must be one of 'interventional' or 'correlation_dependent'; "
            f"got {given!r}"
        )
    if isinstance(masker, Masker) and isinstance(masker, Impute) != (
        given == "correlation_dependent"
    ):
        raise InvalidFeaturePerturbationError(
            f"feature_perturbation={given!r} contradicts the masker {type(masker).__name__}: "
            "maskers.Impute hides features by their conditional expectation "
            "('correlation_dependent'), the other maskers independently ('interventional'); "
            "leave feature_perturbation=None to follow the masker"
        )
    return given


def _masker_for(background: Any, feature_perturbation: str) -> Any:
    """The masker shap's LinearExplainer keeps as ``.masker``: the given one, else Independent
    (interventional) or Impute (correlation_dependent) of the background rows or moments."""
    from shapwise.maskers.impute import Impute
    from shapwise.maskers.tabular import Independent

    if isinstance(background, Masker) or background is None:
        return background
    if isinstance(background, tuple) and len(background) == 2:
        background = {"mean": background[0], "cov": background[1]}
    if not isinstance(background, dict) and np.ndim(background) != 2:
        return None  # refused with its own message by background_moments
    if feature_perturbation == "correlation_dependent":
        return Impute(background)
    if isinstance(background, dict):
        return Independent(background)
    return Independent(background, max_samples=len(background))  # every row, as the values use


Linear = LinearExplainer
