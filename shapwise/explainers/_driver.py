"""The driver every explainer goes through.

An explainer is an *estimator* under this driver: it turns rows into an :class:`Attribution`
(values, base values, the outputs they must add up to, notes). The driver owns everything around
that, written once:

- reading the rows to explain (:func:`read_rows`: DataFrame columns matched by name through
  ``numeric.align_columns``, names checked, empty input refused), and the per-call options
  (:func:`check_batch_size`);
- choosing and ranking outputs (:func:`select_outputs`, :func:`outputs_by_rank`,
  :func:`rank_outputs`, :meth:`Attribution.take_outputs`);
- the one additivity check (:func:`check_additivity`);
- assembling the :class:`~shapwise.explanation.Explanation` (:func:`build_explanation`) and shap
  0.51's legacy ``shap_values`` / ``expected_value`` layouts (:func:`legacy_values`,
  :func:`legacy_expected_value`);
- handing lazy (dask) inputs to ``shapwise._dask`` (:meth:`Driver.__call__`).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from shapwise.errors import AdditivityError, ShapwiseWarning
from shapwise.explanation import Explanation, OpChain
from shapwise.numeric import additivity_tolerance, align_columns, check_finite, read_table

RANK_ORDERS = ("max", "min", "max_abs")


@dataclass(frozen=True)
class Attribution:
    """What an estimator returns to the driver.

    Attributes:
        values: (rows, *feature_shape, outputs).
        base_values: (rows, outputs).
        outputs: (rows, outputs): what ``values`` summed over features plus ``base_values`` must
            add up to (the model output in the link's space).
        notes: what could not be attributed exactly (e.g. operations without an exact rule);
            named in the additivity error.
        standard_errors: like ``values``, for sampling estimators that know them, else None.
        native_outputs: (rows, outputs): the model's output in its own dtype when that differs
            from ``outputs`` (a float16 model explained in float32), else None.
    """

    values: np.ndarray
    base_values: np.ndarray
    outputs: np.ndarray
    notes: tuple[str, ...] = ()
    standard_errors: np.ndarray | None = None
    native_outputs: np.ndarray | None = None

    def take_outputs(self, indices: np.ndarray) -> Attribution:
        """Only the outputs ``indices`` (rows, k) of each row, in that order."""
        n_rows = len(indices)
        along_values = indices.reshape(n_rows, *([1] * (self.values.ndim - 2)), -1)

        def take(array: np.ndarray | None, along: np.ndarray) -> np.ndarray | None:
            return None if array is None else np.take_along_axis(array, along, axis=-1)

        return replace(
            self,
            values=take(self.values, along_values),
            base_values=take(self.base_values, indices),
            outputs=take(self.outputs, indices),
            standard_errors=take(self.standard_errors, along_values),
            native_outputs=take(self.native_outputs, indices),
        )

    def without_output_axis(self) -> Attribution:
        """The one output's arrays without their trailing output axis (single-output models)."""

        def drop(array: np.ndarray | None) -> np.ndarray | None:
            return None if array is None else array[..., 0]

        return replace(
            self,
            values=drop(self.values),
            base_values=drop(self.base_values),
            outputs=drop(self.outputs),
            standard_errors=drop(self.standard_errors),
            native_outputs=drop(self.native_outputs),
        )


# ------------------------------------------------------------------------------------ the call
def is_lazy(X: Any) -> bool:
    """Whether ``X`` is a dask collection (explained chunk by chunk by ``shapwise._dask``)."""
    return type(X).__module__.split(".")[0] == "dask"


class Driver:
    """The base of every explainer: ``explainer(X, ...)`` goes through :meth:`explain`.

    A dask DataFrame or Array is handed, with the call's options, to
    ``shapwise._dask.explain_lazily(explainer, X, **options)``, which explains it chunk by chunk
    through this same explainer. Subclasses implement :meth:`explain` for in-memory data.
    """

    algorithm = "base"

    def __call__(self, *args: Any, **options: Any) -> Any:
        """Explain the rows of ``X``; returns an :class:`Explanation`."""
        if len(args) != 1:
            raise TypeError("pass the rows to explain as one array, DataFrame or tensor")
        X = args[0]
        if is_lazy(X):
            from shapwise._dask import explain_lazily

            return explain_lazily(self, X, **options)
        return self.explain(X, **options)

    def explain(self, X: Any, **options: Any) -> Any:
        """Explain in-memory rows ``X``."""
        raise NotImplementedError

    def save(self, out_file: Any, model_saver: Any = ".save", masker_saver: Any = ".save") -> None:
        """Write this explainer to ``out_file`` (a path or binary file) without pickles; see
        ``shapwise._saving`` (``model_saver`` as in shap: '.save', a function, False)."""
        from shapwise._saving import save_explainer

        save_explainer(self, out_file, model_saver, masker_saver)

    @classmethod
    def load(
        cls,
        in_file: Any,
        model_loader: Callable[[Any], Any] | None = None,
        masker_loader: Callable[[Any], Any] | None = None,
        instantiate: bool = True,
        allow_pickle: bool = False,
    ) -> Any:
        """An explainer :meth:`save` wrote; a pickled model loads only with ``allow_pickle``."""
        from shapwise._saving import load_explainer

        return load_explainer(
            in_file, model_loader, masker_loader, instantiate, allow_pickle, expected=cls
        )


def check_batch_size(batch_size: Any) -> int | None:
    """A per-call ``batch_size`` as an int (None for 'auto' / None); an error unless positive."""
    if batch_size is None or (isinstance(batch_size, str) and batch_size == "auto"):
        return None
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)):
        raise TypeError(f"batch_size must be a positive integer or 'auto'; got {batch_size!r}")
    if batch_size <= 0:
        raise ValueError(
            f"batch_size must be a positive integer (rows per model call); got {batch_size}"
        )
    return int(batch_size)


# ------------------------------------------------------------------------------------ names and rows
def check_names(names: Sequence[Any] | None, count: int | None, what: str) -> list[str] | None:
    """``names`` as a list of strings, checked: one per item (when ``count`` is known), no
    duplicates. ``what`` says whose names they are ('feature', 'output')."""
    if names is None:
        return None
    if isinstance(names, str):
        raise TypeError(f"{what}_names must be a list of names, not one string ({names!r})")
    listed = [str(name) for name in names]
    if count is not None and len(listed) != count:
        raise ValueError(
            f"{what}_names has {len(listed)} names but there are {count} {what}s; pass one name "
            f"per {what}"
        )
    seen: set[str] = set()
    repeated = sorted({name for name in listed if name in seen or seen.add(name)})
    if repeated:
        raise ValueError(
            f"{what}_names holds duplicated names ({', '.join(map(repr, repeated))}); every "
            f"{what} needs its own name"
        )
    return listed


def read_rows(
    X: Any, expected_names: Sequence[str] | None = None, what: str = "the rows to explain"
) -> tuple[np.ndarray, list[str] | None]:
    """The rows to explain as a checked numpy array (rows, ...) of their own (never the caller's
    memory), and this call's column names.

    A DataFrame's columns are matched by name against ``expected_names`` (reordered, or an error
    naming missing and extra ones). Empty input, NaN and infinities are errors.
    """
    X = align_columns(X, expected_names, what)
    table = read_table(X, name=what)
    rows = table.values
    if rows.ndim < 2 or len(rows) == 0:
        got = "no rows" if rows.ndim >= 1 and len(rows) == 0 else f"shape {rows.shape}"
        raise ValueError(
            f"{what} must be an array of at least one row (rows, features...); got {got}"
        )
    check_finite(rows, what)
    return rows, table.names


# ------------------------------------------------------------------------------------ outputs
def outputs_by_rank(chain: OpChain, model_outputs: np.ndarray) -> np.ndarray:
    """Apply a chain such as ``Explanation.argsort.flip[:3]`` to each row's outputs: (rows, k)."""
    picked = [np.asarray(chain.apply(Explanation(row))) for row in model_outputs]
    return np.stack([np.asarray(getattr(p, "values", p)).reshape(-1) for p in picked]).astype(int)


def select_outputs(outputs: Any, n_rows: int, n_outputs: int | None) -> np.ndarray | None:
    """Per-row output indices (n_rows, k) from ``outputs``, or None for all outputs.

    ``n_outputs`` None skips the range check (the model has not been called yet).
    """
    if outputs is None:
        return None
    if isinstance(outputs, Explanation):
        outputs = outputs.values
    indices = np.asarray(outputs)
    if indices.dtype.kind not in "iu":
        raise TypeError("outputs must be integer output positions (e.g. [0, 2] or top-k per row)")
    if indices.ndim == 0:
        indices = indices.reshape(1)
    if indices.ndim == 1:
        indices = np.broadcast_to(indices, (n_rows, len(indices)))
    if indices.shape[0] != n_rows:
        raise ValueError(
            f"outputs has {indices.shape[0]} rows of indices but {n_rows} rows are explained"
        )
    if n_outputs is not None and (indices.min() < 0 or indices.max() >= n_outputs):
        raise ValueError(f"outputs must be between 0 and {n_outputs - 1}; got {indices.tolist()}")
    return indices


def rank_outputs(
    outputs: np.ndarray, ranked_outputs: int | None, order: str = "max"
) -> np.ndarray | None:
    """(rows, K): the top ``ranked_outputs`` outputs of each row by ``order`` ('max': largest
    first, 'min': smallest first, 'max_abs': largest magnitude first), or None for all."""
    if ranked_outputs is None:
        return None
    if order not in RANK_ORDERS:
        raise ValueError(f"output_rank_order must be one of {RANK_ORDERS}, got {order!r}")
    if int(ranked_outputs) < 1:
        raise ValueError(f"ranked_outputs must be a positive integer, got {ranked_outputs}")
    key = {"max": -outputs, "min": outputs, "max_abs": -np.abs(outputs)}[order]
    return np.argsort(key, axis=1, kind="stable")[:, : int(ranked_outputs)]


def picked_output_names(
    output_names: Sequence[str] | None, indices: np.ndarray | None
) -> list[str] | None:
    """The names of the outputs ``indices`` (rows, k) picked, when every row picked the same."""
    if output_names is None or indices is None:
        return None if output_names is None else list(output_names)
    if not len(indices) or not (indices == indices[0]).all():
        return None
    return [str(name) for name in np.asarray(output_names, dtype=object)[indices[0]]]


# ------------------------------------------------------------------------------------ additivity
def additivity_error(attribution: Attribution) -> tuple[float, float]:
    """(largest |values summed over features + base - outputs|, the scale it is judged against).

    The scale is the largest magnitude among the outputs and base values.
    """
    values = attribution.values
    if values.dtype == object:  # one text's values per row
        totals = np.stack([np.asarray(v, np.float64).sum(axis=0) for v in values])
    else:
        n_rows = len(values)
        n_outputs = values.shape[-1] if values.ndim > 1 else 1
        totals = values.reshape(n_rows, -1, n_outputs).sum(axis=1, dtype=np.float64)
    outputs = np.asarray(attribution.outputs, np.float64).reshape(totals.shape)
    base = np.asarray(attribution.base_values, np.float64).reshape(totals.shape)
    if not totals.size:
        return 0.0, 0.0
    error = float(np.max(np.abs(totals + base - outputs)))
    scale = max(float(np.max(np.abs(outputs))), float(np.max(np.abs(base))))
    return error, scale


def check_additivity(
    attribution: Attribution,
    dtype: str | None,
    algorithm: str,
    *,
    enforce: bool = True,
    hint: str | None = None,
) -> float:
    """The one additivity check: values + base values = outputs, within a tolerance that follows
    the model's ``dtype`` (see ``numeric.additivity_tolerance``).

    Returns the largest error. When it is beyond the tolerance (or NaN): with ``enforce`` an
    :class:`AdditivityError` naming the attribution's notes (or ``hint``, a likely cause), else a
    :class:`ShapwiseWarning` (for estimators that only approximate, such as expected gradients).
    """
    error, scale = additivity_error(attribution)
    dtype = dtype or "float64"
    tolerance = additivity_tolerance(dtype, scale)
    if error <= tolerance:
        return error
    head = (
        f"{algorithm}: the SHAP explanations do not sum up to the model's output: the values "
        "plus the base value differ from the model output by up to "
        f"{error:.3g} (tolerance {tolerance:.3g} for a {dtype} model, output scale {scale:.3g})"
    )
    if not enforce:
        warnings.warn(
            f"{head}; more samples make this error smaller", ShapwiseWarning, stacklevel=3
        )
        return error
    if attribution.notes:
        cause = "not attributed exactly: " + "; ".join(attribution.notes)
    elif hint:
        cause = hint
    else:
        cause = "every part was attributed exactly, so this is a shapwise bug; please report it"
    raise AdditivityError(f"{head}; {cause}. Pass check_additivity=False to get the values anyway")


# ------------------------------------------------------------------------------------ assembly
def build_explanation(
    attribution: Attribution,
    *,
    data: Any,
    algorithm: str,
    model_dtype: str | None,
    single_output: bool,
    feature_names: Sequence[str] | None = None,
    output_names: Sequence[str] | None = None,
    clustering: Any = None,
) -> Explanation:
    """The :class:`Explanation` of an attribution; a single-output model's arrays lose their
    output axis (``single_output`` and one output)."""
    if single_output and np.shape(attribution.base_values)[-1:] == (1,):
        attribution = attribution.without_output_axis()
    return Explanation(
        attribution.values,
        base_values=attribution.base_values,
        data=data,
        feature_names=feature_names,
        output_names=output_names,
        clustering=clustering,
        output_values=attribution.outputs,
        native_output_values=attribution.native_outputs,
        model_dtype=model_dtype,
        algorithm=algorithm,
        error_std=attribution.standard_errors,
        notes=attribution.notes,
    )


def legacy_values(
    values: list[np.ndarray],
    *,
    multi_input: bool,
    drop_output_axis: bool,
    ranks: np.ndarray | None = None,
) -> Any:
    """shap 0.51's ``shap_values`` layout of per-input values (rows, *shape, outputs).

    One array per model input (a list for several inputs, a bare array for one), the output
    axis dropped for a single-output model when ``drop_output_axis``; with ``ranks`` (shap's
    ``ranked_outputs``) the pair ``(values, ranks)``.
    """
    if drop_output_axis:
        values = [v[..., 0] for v in values]
    result: Any = values if multi_input else values[0]
    return (result, ranks) if ranks is not None else result


def legacy_expected_value(base: np.ndarray, single_output: bool) -> float | np.ndarray:
    """shap 0.51's ``expected_value``: a float for a single-output model, else one per output."""
    base = np.asarray(base, dtype=np.float64)
    if single_output and base.shape[-1:] == (1,):
        return float(base[..., 0]) if base.ndim == 1 else base[..., 0]
    return base.copy()


# ------------------------------------------------------------------------------------ several inputs
def joined_attribution(
    values: list[np.ndarray],
    base_values: np.ndarray,
    outputs: np.ndarray,
    notes: tuple[str, ...] = (),
    native_outputs: np.ndarray | None = None,
) -> Attribution:
    """One attribution of a model of several inputs (values (rows, *shape_i, outputs) each): the
    inputs' values flattened and joined along the feature axis, for the additivity check."""
    rows, n_outputs = np.shape(outputs)
    joined = np.concatenate([np.asarray(v).reshape(rows, -1, n_outputs) for v in values], axis=1)
    return Attribution(joined, base_values, outputs, notes, native_outputs=native_outputs)


def explanations_per_input(
    values: list[np.ndarray],
    data: list[Any],
    *,
    base_values: np.ndarray,
    outputs: np.ndarray,
    native_outputs: np.ndarray | None,
    single_output: bool,
    feature_names: Sequence[str] | None,
    model_dtype: str | None,
    algorithm: str,
    standard_errors: list[np.ndarray] | None = None,
) -> Explanation | list[Explanation]:
    """One ``Explanation`` per model input (just one for a single input) of all outputs.

    ``values`` (and ``standard_errors``, one per input where the estimator knows them) are
    shaped (rows, *shape, O), ``base_values``, ``outputs`` and ``native_outputs`` (rows, O); a
    single-output model drops the trailing output axis.
    """
    errors = standard_errors if standard_errors is not None else [None] * len(values)
    explanations = [
        build_explanation(
            Attribution(
                value,
                base_values,
                outputs,
                standard_errors=error,
                native_outputs=native_outputs,
            ),
            data=datum,
            algorithm=algorithm,
            model_dtype=model_dtype,
            single_output=single_output,
            feature_names=feature_names if len(values) == 1 else None,
        )
        for value, datum, error in zip(values, data, errors, strict=True)
    ]
    return explanations if len(explanations) > 1 else explanations[0]
