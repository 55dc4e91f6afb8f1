"""Inputs and outputs of the framework explainers (Deep, Gradient): one array per model input.

A model of one input takes one array (or a one-element list); a model of several inputs takes a
list with one array per input, in order. Background and explained rows are read the same way; the
driver (``_driver.explanations_per_input``) turns the values into one ``Explanation`` per input.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from shapwise.explainers._driver import rank_outputs
from shapwise.numeric import align_columns, check_finite, feature_names_of, to_numpy


def as_list(data: Any) -> tuple[list[Any], bool]:
    """Split a single input or a list/tuple of inputs; the flag says whether it was a list."""
    if isinstance(data, (list, tuple)):
        return list(data), True
    return [data], False


def read_background(data: Any) -> tuple[list[np.ndarray], bool, list[str] | None]:
    """The background arrays, whether they came as a list, and the feature names of a single input."""
    raw, is_list = as_list(data)
    if not raw:
        raise ValueError("data must hold at least one background array")
    feature_names = feature_names_of(raw[0]) if len(raw) == 1 else None
    background = [to_numpy(d, name="background data") for d in raw]
    for array in background:
        check_finite(array, "background data")
    if len({len(array) for array in background}) != 1:
        raise ValueError("every background array must have the same number of rows")
    if len(background[0]) == 0:
        raise ValueError("background data has no rows; pass at least one background row")
    return background, is_list, feature_names


def read_inputs(
    X: Any,
    background: list[np.ndarray],
    multi_input: bool,
    feature_names: list[str] | None = None,
) -> list[np.ndarray]:
    """The rows to explain as arrays, checked against the background: same inputs, same row
    shapes, at least one row; a DataFrame's columns matched by name to ``feature_names`` (those
    of a background DataFrame)."""
    raw, is_list = as_list(X)
    if len(raw) == 1:
        raw = [align_columns(raw[0], feature_names, "X")]
    if is_list != multi_input and not (is_list and len(raw) == 1):
        expected = "a list of arrays, one per input" if multi_input else "a single array"
        raise TypeError(f"X must be {expected}, like the background data")
    if len(raw) != len(background):
        raise ValueError(
            f"X holds {len(raw)} array(s) but the model takes {len(background)} input(s)"
        )
    inputs = [to_numpy(x, name="X") for x in raw]
    for x, bg in zip(inputs, background, strict=True):
        check_finite(x, "X")
        if x.shape[1:] != bg.shape[1:]:
            raise ValueError(
                f"X has rows of shape {x.shape[1:]} but the background has {bg.shape[1:]}"
            )
    if len({len(x) for x in inputs}) != 1:
        raise ValueError("every array in X must have the same number of rows")
    if inputs and (inputs[0].ndim == 0 or len(inputs[0]) == 0):
        raise ValueError("X must hold at least one row to explain; got none")
    return inputs


def output_ranks(
    outputs: np.ndarray, ranked_outputs: int | None, order: str, multi_output: bool
) -> np.ndarray:
    """(N, K): which output each explained slice is, per row; all outputs unless ranked.

    Args:
        outputs: the model outputs, (N, O).
        ranked_outputs: explain only the top K outputs of each row, ranked by ``order``.
        order: 'max' (largest first), 'min' (smallest first) or 'max_abs' (largest magnitude first).
        multi_output: False for a single-output model, which ignores ``ranked_outputs``.
    """
    n_rows, n_outputs = outputs.shape
    ranks = rank_outputs(outputs, ranked_outputs if multi_output else None, order)
    return np.tile(np.arange(n_outputs), (n_rows, 1)) if ranks is None else ranks
