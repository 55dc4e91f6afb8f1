"""The shap-facing part that KernelExplainer and SamplingExplainer share: shap 0.51's constructor
(background data of many forms, feature names, link, nsamples, l1_reg, keep_index, ...), its
attributes, the one-row call and the legacy ``shap_values`` layout. Each explainer adds its own
estimator of a row's values.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from shapwise.explainers._base import ExplainerBase
from shapwise.explainers._driver import is_lazy
from shapwise.explainers._kernel_inputs import (
    ArrayModel,
    FrameModel,
    as_frame,
    check_l1_reg,
    dense,
    is_sparse,
    is_text_array,
    kernel_link,
    not_equal,
)
from shapwise.explanation import Explanation
from shapwise.links import Link
from shapwise.maskers._base import Masker
from shapwise.maskers.tabular import Independent


class KernelStyleExplainer(ExplainerBase):
    """What shap 0.51's KernelExplainer and SamplingExplainer take and give: the constructor,
    shap's attributes, the one-row call and the legacy ``shap_values``; subclasses say how
    rows' games become values (``estimate``, or ``estimate_row`` per row) and what budget they
    need.

    Args:
        model: a function of a 2-D array, torch module, Keras model or sklearn estimator.
        data: background rows (array, DataFrame or scipy sparse matrix, all of them are used),
            ``shapwise.kmeans(X, k)`` / ``shapwise.sample(X, n)``, shap's ``DenseData``, or any
            masker.
        feature_names: names of the features (taken from a DataFrame otherwise).
        link: 'identity' or 'logit': values add up to link(output); v(S) is the link of the
            background-averaged output, as in shap's KernelExplainer. As there, 'logit' reads
            probabilities of exactly 0 or 1 as 1e-15 from them, so certain predictions get
            finite log-odds.
        l1_reg: default feature selection, see :meth:`shap_values`.
        nsamples: default number of sampled coalitions of a call ("auto": 2M + 2048).
        regression_adjustment: False for plain KernelSHAP (the kernel-weighted linear fit only).
        seed / random_state: seed of the coalition sampling (``random_state`` is shap's name).
        keep_index: the model is given DataFrames with the background's columns (shap's
            ``keep_index``; the model sees the columns by name, the rows' index is not kept).
        keep_index_ordered: accepted with ``keep_index``, as shap does; it changes nothing here.
    """

    def __init__(
        self,
        model: Any,
        data: Any,
        feature_names: list[str] | None = None,
        link: str | Link = "identity",
        *,
        output_names: list[str] | None = None,
        l1_reg: Any = False,
        nsamples: int | str = "auto",
        regression_adjustment: bool = True,
        batch_size: int | None = None,
        seed: int | None = 0,
        random_state: int | None = None,
        keep_index: bool = False,
        keep_index_ordered: bool = False,
    ) -> None:
        data = dense(data)
        self._text_dtype = data.dtype if is_text_array(data) else None
        if self._text_dtype is not None:  # strings or objects, for a model that encodes them
            model, data = ArrayModel(model, self._text_dtype), as_frame(data)
        masker = _as_background(data)
        if keep_index:
            model = _frame_model(model, data)
        super().__init__(
            model,
            masker,
            link=kernel_link(link),
            feature_names=feature_names,
            output_names=output_names,
            batch_size=batch_size,
            seed=seed if random_state is None else random_state,
        )
        self.l1_reg = check_l1_reg(l1_reg)
        self.nsamples = _check_nsamples(nsamples)
        self.regression_adjustment = bool(regression_adjustment)
        self.keep_index = bool(keep_index)
        self.keep_index_ordered = bool(keep_index_ordered)

    not_equal = staticmethod(not_equal)

    # --------------------------------------------------------------- shap's attributes
    @property
    def data_feature_names(self) -> list[str] | None:
        """The feature names (given, or the background DataFrame's), as shap names them."""
        return self.feature_names

    @property
    def N(self) -> int:
        """The number of background rows."""
        return len(self.masker.data)

    @property
    def P(self) -> int:
        """The number of features."""
        return self.masker.shape[1]

    @property
    def fnull(self) -> np.ndarray:
        """The background-averaged model output, one per output (before the link)."""
        return np.atleast_1d(self.link.inverse(np.asarray(self.expected_value, np.float64)))

    @property
    def vector_out(self) -> bool:
        """Whether the model has an output axis (shap's name)."""
        self.expected_value  # noqa: B018 (calls the model once, which tells its outputs)
        return not self.model.single_output

    @property
    def D(self) -> int:
        """The number of model outputs."""
        return len(self.fnull)

    # --------------------------------------------------------------- public API
    def __call__(self, *args: Any, **options: Any) -> Any:
        """Explain rows (an Explanation); one row (1-D, or a pandas Series) gives the
        Explanation of that row, values (features[, outputs])."""
        if len(args) == 2 and self.masker.per_text:
            return self._explanation(args[0], targets=args[1], **options)
        if len(args) != 1:
            raise TypeError("pass the rows to explain as one array, DataFrame or tensor")
        X = args[0]
        if is_lazy(X):
            from shapwise._dask import explain_lazily

            return explain_lazily(self, X, **options)
        if not self.masker.per_text and _is_one_row(X):
            return self._explanation(_as_one_row(X), **options)[0]
        return self._explanation(X, **options)

    def _explanation(
        self,
        X: Any,
        max_evals: int | str = "auto",
        l1_reg: Any = None,
        nsamples: int | str | None = None,
        gc_collect: bool = False,
        **options: Any,
    ) -> Explanation:
        """The Explanation of rows ``X``; ``max_evals`` counts coalitions, including the empty
        and full ones (``nsamples``, shap's count, leaves those two out)."""
        if nsamples is not None and nsamples != "auto":
            max_evals = int(nsamples) + 2
        chosen = self.l1_reg if l1_reg is None else check_l1_reg(l1_reg)
        X = dense(X)
        if self._text_dtype is not None and isinstance(X, np.ndarray):
            X = as_frame(X)
        return super().explain(X, max_evals=max_evals, l1_reg=chosen, **options)

    def explain(self, incoming_instance: Any, **kwargs: Any) -> np.ndarray:
        """shap's one-row call: the values of one row (1-D, (1, M), or a pandas Series) as an
        array (features,) or (features, outputs). Takes the options of :meth:`shap_values`."""
        row = _as_one_row(incoming_instance)
        kwargs.pop("silent", None)
        return np.asarray(self._explanation(row, silent=True, **kwargs).values[0])

    def shap_values(  # type: ignore[override]
        self,
        X: Any,
        nsamples: int | str = "auto",
        l1_reg: Any = None,
        silent: bool = False,
        gc_collect: bool = False,
    ) -> np.ndarray:
        """Values in shap 0.51's layout: (rows, features), or (rows, features, outputs) for a
        model with several outputs; a single row (1-D ``X`` or a pandas Series) drops the rows
        axis.

        Args:
            X: rows (array, DataFrame, scipy sparse matrix), or one row.
            nsamples: coalitions to evaluate besides the empty and full ones ("auto": the
                constructor's, else 2M + 2048).
            l1_reg: feature selection before the regression, for budgets far below 2^M:
                'num_features(k)' (or 'rank(k)') keeps k features (LARS), 'aic' / 'bic' choose
                the number by an information criterion, a float is a Lasso penalty, 'auto' uses
                'aic' when fewer than 20% of the coalitions are evaluated, False (the default,
                unlike shap's 'num_features(10)') keeps every feature. Unselected features get 0
                and the selected ones still add up to the output.
            silent: hide the progress bar.
            gc_collect: accepted for shap compatibility; nothing is kept between rows here.
        """
        from shapwise.errors import DimensionError

        X = dense(X)
        if not self.masker.per_text and np.ndim(X) not in (1, 2):
            raise DimensionError(
                f"Instance must have 1 or 2 dimensions! Got shape {np.shape(X)}; pass rows "
                "(rows, features) or one row (features,)"
            )
        one_row = not self.masker.per_text and _is_one_row(X)  # texts: a list is many rows
        rows = _as_one_row(X) if one_row else X
        values = self._explanation(rows, nsamples=nsamples, l1_reg=l1_reg, silent=silent).values
        return values[0] if one_row else values


def _check_nsamples(nsamples: int | str) -> int | str:
    if isinstance(nsamples, str) and nsamples == "auto":
        return nsamples
    if isinstance(nsamples, bool) or not isinstance(nsamples, (int, np.integer)) or nsamples < 1:
        raise ValueError(f"nsamples must be a positive integer or 'auto'; got {nsamples!r}")
    return int(nsamples)


def _is_one_row(X: Any) -> bool:
    """A pandas Series or a 1-D array: one row of features."""
    if type(X).__name__ == "Series" and type(X).__module__.startswith("pandas"):
        return True
    return not is_sparse(X) and not hasattr(X, "columns") and np.ndim(X) == 1


def _as_one_row(X: Any) -> Any:
    """One row (1-D, a Series, or already (1, M)) as a (1, M) array or one-row DataFrame."""
    if type(X).__name__ == "Series" and type(X).__module__.startswith("pandas"):
        return X.to_frame().T if X.index.is_unique else np.asarray(X)[None]
    X = dense(X)
    if hasattr(X, "columns"):
        return X
    return np.asarray(X).reshape(1, -1) if np.ndim(X) == 1 else X


def _frame_model(model: Any, data: Any) -> FrameModel:
    """``model`` fed DataFrames with the background's columns (``keep_index``)."""
    columns = getattr(data, "columns", None)
    if columns is None:
        raise ValueError(
            "keep_index=True gives the model DataFrames with the background's columns; pass the "
            "background as a pandas DataFrame"
        )
    return FrameModel(model, list(columns))


def _as_background(data: Any) -> Masker:
    """A masker from background data, a masker, or a weighted summary (shap's DenseData too)."""
    from shapwise.background import WeightedBackground

    if isinstance(data, Masker):
        return data
    if data is None or isinstance(data, (str, bytes)):
        raise (ValueError if data is None else TypeError)(
            "KernelExplainer needs background data (rows, features) to hide features, e.g. "
            f"KernelExplainer(model, shapwise.kmeans(X_train, 10)); got {data!r}"
        )
    data = dense(data)  # shap takes scipy sparse backgrounds (CSR, CSC, ...)
    if hasattr(data, "weights") and hasattr(data, "data") and not hasattr(data, "shape"):
        names = getattr(data, "group_names", None)
        return WeightedBackground(data.data, data.weights, feature_names=names)
    rows = np.asarray(data) if not hasattr(data, "shape") else data
    return Independent(data, max_samples=max(len(rows), 1))
