"""Explaining one partition of a larger dataset: the step every engine runs on its workers."""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any

import numpy as np

from shapwise.explanation import Explanation


@dataclass(frozen=True)
class Layout:
    """Shapes and dtypes of a partition's results, without its row axis.

    ``output_shape`` is ``()`` for a single-output model (its values have no output axis) and
    ``(outputs,)`` otherwise. Engines read it from one explained row (:meth:`of`) to declare
    their lazy results, and pass it to :func:`explain_partition` for partitions with no rows.
    """

    feature_shape: tuple[int, ...]
    output_shape: tuple[int, ...]
    values_dtype: str = "float64"
    base_dtype: str = "float64"
    data_dtype: str = "float64"

    @classmethod
    def of(cls, explanation: Explanation) -> Layout:
        """The layout of ``explanation``'s rows (an explanation of one or more rows)."""
        values, base = explanation.values, np.asarray(explanation.base_values)
        output_shape = tuple(base.shape[1:])
        cut = values.ndim - len(output_shape)
        return cls(
            feature_shape=tuple(values.shape[1:cut]),
            output_shape=output_shape,
            values_dtype=values.dtype.name,
            base_dtype=base.dtype.name,
            data_dtype=np.asarray(explanation.data).dtype.name,
        )

    @property
    def values_shape(self) -> tuple[int, ...]:
        """The shape of one row's values."""
        return (*self.feature_shape, *self.output_shape)

    def empty(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(values, base values, data) of a partition with no rows."""
        return (
            np.empty((0, *self.values_shape), self.values_dtype),
            np.empty((0, *self.output_shape), self.base_dtype),
            np.empty((0, *self.feature_shape), self.data_dtype),
        )


def with_job_seed(explainer: Any, call_options: dict[str, Any]) -> dict[str, Any]:
    """The call options of a job, with one root seed for all of its partitions.

    Sampling explainers draw each row's choices from (root seed, the row's content), so their
    values do not depend on the partitioning once every partition has the same root. A
    Permutation, Kernel or Sampling explainer whose ``seed`` is None, or a Gradient explainer
    called without ``rseed``, would draw a fresh root in each partition: a root is drawn here,
    once, on the driver, and passed to every partition (as ``seed=`` or ``rseed=``).
    """
    from shapwise.explainers._base import ExplainerBase
    from shapwise.explainers._seeds import fresh_root
    from shapwise.explainers.gradient import GradientExplainer

    if isinstance(explainer, GradientExplainer):
        name, own = "rseed", None
    elif isinstance(explainer, ExplainerBase):
        name, own = "seed", explainer.seed
    else:
        return dict(call_options)
    if own is not None or call_options.get(name) is not None:
        return dict(call_options)
    return {**call_options, name: fresh_root()}


def explain_block(explainer: Any, block: Any, **call_options: Any) -> Explanation:
    """``explainer(block, **call_options)`` with its progress bar off (workers have no terminal).

    Raises:
        TypeError: the explainer returned one explanation per model input (a multi-input
            model); a partition of a table has one input.
    """
    if "silent" not in call_options and _takes_option(explainer, "silent"):
        call_options["silent"] = True
    explanation = explainer(block, **call_options)
    if not isinstance(explanation, Explanation):
        raise TypeError(
            f"the {type(explainer).__name__} returned {type(explanation).__name__}, not one "
            "Explanation; a partition of a table is one input, so explain a single-input model"
        )
    return explanation


def explain_partition(
    explainer: Any, block: Any, layout: Layout | None = None, **call_options: Any
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Explain the rows of one partition.

    Args:
        explainer: any shapwise explainer.
        block: the partition's rows, a pandas DataFrame or a numpy array (rows, features...).
        layout: the results' layout (:meth:`Layout.of` an explanation of one row). Results are
            cast to its dtypes and checked against its shapes; a partition with no rows gets
            empty results of this layout. Without it, an empty partition's layout is read from
            the explainer's ``expected_value`` (float64 results, one value per output).
        **call_options: passed to the explainer's call (``max_evals``, ``batch_size``, ...).

    Returns:
        (values (rows, *features[, outputs]), base values (rows[, outputs]), data (rows, *features)).
    """
    if len(block) == 0:
        return (layout or _layout_without_rows(explainer, block)).empty()
    explanation = explain_block(explainer, block, **call_options)
    values = np.asarray(explanation.values)
    base = np.asarray(explanation.base_values)
    data = np.asarray(explanation.data)
    if layout is None:
        return values, base, data
    if values.shape[1:] != layout.values_shape or base.shape[1:] != layout.output_shape:
        raise ValueError(
            f"a partition was explained with values of shape {values.shape[1:]} per row, but "
            f"{layout.values_shape} was expected; every partition must have the same columns "
            "and call options"
        )
    return (
        values.astype(layout.values_dtype, copy=False),
        base.astype(layout.base_dtype, copy=False),
        data.astype(layout.data_dtype, copy=False),
    )


def _layout_without_rows(explainer: Any, block: Any) -> Layout:
    """The layout of an empty partition, from its width and the explainer's base value."""
    expected = np.asarray(explainer.expected_value)
    outputs = expected.size
    return Layout(
        feature_shape=tuple(np.shape(block)[1:]),
        output_shape=() if outputs == 1 else (outputs,),
    )


def _takes_option(explainer: Any, name: str) -> bool:
    """Whether the explainer's call names the keyword ``name``."""
    call = getattr(explainer, "explain", None) or explainer.__call__
    try:
        parameters = inspect.signature(call).parameters
    except (TypeError, ValueError):
        return False
    return name in parameters
