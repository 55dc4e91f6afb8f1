"""Masks given as a sequence of coalitions: shap's delta-encoded integer masks, and the rows each
coalition changes from the one before.

A delta mask is a 1-D integer array read as steps, starting from the empty coalition. Each step
toggles features: an entry ``-(i + 1)`` toggles feature ``i`` and the step goes on; an entry
``i >= 0`` toggles feature ``i`` and ends the step; ``NOOP`` ends a step without toggling. Every
step gives one coalition, the one before it with its toggles applied.
"""

from __future__ import annotations

from typing import Any

import numpy as np

# shap's ``MaskedModel.delta_mask_noop_value``: a step that toggles nothing.
NOOP = 2147483647


def is_delta_mask(mask: Any) -> bool:
    """Whether ``mask`` is a delta mask: a 1-D array of integers (not booleans)."""
    return isinstance(mask, np.ndarray) and mask.ndim == 1 and mask.dtype.kind in "iu"


def delta_to_full(deltas: Any, n_features: int) -> np.ndarray:
    """The coalitions (steps, n_features) bool that a delta mask steps through."""
    deltas = np.asarray(deltas)
    if deltas.ndim != 1 or deltas.dtype.kind not in "iu":
        raise ValueError(
            f"a delta mask is a 1-D array of integers; got {deltas.dtype} of shape {deltas.shape}"
        )
    deltas = deltas.astype(np.int64)
    if len(deltas) == 0:
        return np.zeros((0, n_features), dtype=bool)
    ends = deltas >= 0
    if not ends[-1]:
        raise ValueError(
            f"the delta mask ends with {deltas[-1]}, a toggle that continues its step; end the "
            f"last step with a feature index (0 to {n_features - 1}) or the no-op {NOOP}"
        )
    noop = deltas == NOOP
    features = np.where(ends, deltas, -deltas - 1)
    bad = ~noop & ((features < 0) | (features >= n_features))
    if bad.any():
        raise ValueError(
            f"the delta mask has entries {deltas[bad][:5].tolist()} outside the {n_features} "
            f"features: use i (0 to {n_features - 1}) to toggle feature i and end the step, "
            f"-(i + 1) to toggle it and go on, or {NOOP} for a step that toggles nothing"
        )
    steps = np.concatenate([[0], np.cumsum(ends)[:-1]])  # the step each entry belongs to
    toggles = np.zeros((int(ends.sum()), n_features), dtype=np.int64)
    np.add.at(toggles, (steps[~noop], features[~noop]), 1)
    return (np.cumsum(toggles, axis=0) % 2).astype(bool)


def rows_changed(toggled: np.ndarray, variants: np.ndarray) -> np.ndarray:
    """(steps, rows) bool: whether any feature a step toggles (``toggled``, (steps, features))
    changes each row (``variants``, (rows, features) bool)."""
    changed = np.zeros((len(toggled), len(variants)), dtype=bool)
    steps, features = np.nonzero(toggled)  # in step order
    if len(steps):
        starts = np.flatnonzero(np.r_[True, steps[1:] != steps[:-1]])
        changed[steps[starts]] = np.logical_or.reduceat(variants.T[features], starts, axis=0)
    return changed


def varying_rows(masks: np.ndarray, variants: np.ndarray | None, rows: int) -> np.ndarray:
    """Which of the ``rows`` masked rows of each coalition differ from the coalition before's
    (steps, rows) bool; every row of the first coalition counts as changed.

    Args:
        masks: the coalitions (steps, features), in order.
        variants: (rows, features) bool, where hiding a feature changes that row (a tabular
            masker's ``~invariants(x)``), or None: every row changes when the coalition does.
        rows: masked rows per coalition.
    """
    out = np.ones((len(masks), rows), dtype=bool)
    toggled = masks[1:] ^ masks[:-1]
    if variants is None:
        out[1:] = toggled.any(axis=1)[:, None]
    else:
        out[1:] = rows_changed(toggled, variants)
    return out
