"""Calls into the compiled Tree SHAP core (``_core.cpp``): arrays in, float64 values out.

Each function takes a :class:`TreeEnsemble` and float64 rows; the core checks every buffer's size
and dtype and every index of the table before it walks anything.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from ._table import TreeEnsemble, read_inputs

try:  # built at install (see pyproject.toml); missing only where no C++ compiler was found
    from shapwise.explainers.tree import _core
except ImportError:  # pragma: no cover - depends on the build
    _core = None

# Bytes the interventional background patterns may take before pairs are walked instead.
DEFAULT_MEMORY_BUDGET = 2.0**30


def _require_core() -> None:
    if _core is None:
        raise ImportError(
            "the compiled Tree SHAP core (shapwise/explainers/tree/_core.cpp) is not built; "
            "reinstall shapwise where a C++17 compiler is available "
            "(pip install --force-reinstall --no-deps shapwise)"
        )


def default_jobs(n_jobs: int | None) -> int:
    """Threads to use: ``n_jobs``, or every core for None / -1."""
    if n_jobs is None or n_jobs == -1:
        return os.cpu_count() or 1
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, (int, np.integer)) or n_jobs < 1:
        raise ValueError(f"n_jobs must be a positive number of threads or -1; got {n_jobs!r}")
    return int(n_jobs)


def table_fields(ensemble: TreeEnsemble) -> tuple[np.ndarray, ...]:
    """The table's arrays in the order the core reads them, each contiguous in its dtype."""
    e = ensemble

    def c(array: np.ndarray, dtype: type) -> np.ndarray:
        return np.ascontiguousarray(array, dtype=dtype)

    return (
        c(e.left, np.int64),
        c(e.right, np.int64),
        c(e.feature, np.int64),
        c(e.threshold, np.float64),
        c(e.decision, np.int8),
        c(e.missing, np.int8),
        c(e.default_left, np.bool_),
        c(e.category_start, np.int64),
        c(e.category_stop, np.int64),
        c(e.category_words, np.uint64),
        c(e.cover, np.float64),
        c(e.value, np.float64),
        c(e.tree_start, np.int64),
        c(e.tree_output, np.int64),
    )


def _rows(X: np.ndarray, ensemble: TreeEnsemble, what: str = "X") -> np.ndarray:
    X = np.ascontiguousarray(X, dtype=np.float64)
    if X.ndim != 2 or X.shape[1] != ensemble.n_features:
        raise ValueError(
            f"{what} must have {ensemble.n_features} columns (the model's features); "
            f"got shape {X.shape}"
        )
    return np.ascontiguousarray(read_inputs(ensemble, X), dtype=np.float64)


def predict(ensemble: TreeEnsemble, X: np.ndarray, n_jobs: int | None = None) -> np.ndarray:
    """The margin (rows, outputs) of every row."""
    _require_core()
    X = _rows(X, ensemble)
    out = np.zeros((len(X), ensemble.n_outputs))
    base = np.ascontiguousarray(ensemble.base_offset, dtype=np.float64)
    _core.predict(
        table_fields(ensemble),
        ensemble.n_features,
        ensemble.n_outputs,
        X,
        base,
        out,
        default_jobs(n_jobs),
    )
    return out


def expected_margin(ensemble: TreeEnsemble) -> np.ndarray:
    """The cover-weighted mean margin (outputs,): the base value of path-dependent values.

    Each node's weight is its parent's times its share of the parent's cover, half under a node
    of no cover, as the compiled walk takes them.
    """
    e = ensemble
    weight = np.zeros(e.n_nodes)
    weight[e.tree_start[:-1]] = 1.0
    internal = np.flatnonzero(e.left >= 0)
    parent_cover = e.cover[internal]
    with np.errstate(divide="ignore", invalid="ignore"):
        share_left = np.where(parent_cover > 0, e.cover[e.left[internal]] / parent_cover, 0.5)
        share_right = np.where(parent_cover > 0, e.cover[e.right[internal]] / parent_cover, 0.5)
    reached = np.zeros(e.n_nodes, dtype=bool)
    reached[e.tree_start[:-1]] = True
    frontier = reached[internal]
    while frontier.any():  # one level of every tree at a time
        at = internal[frontier]
        weight[e.left[at]] = weight[at] * share_left[frontier]
        weight[e.right[at]] = weight[at] * share_right[frontier]
        reached[e.left[at]] = reached[e.right[at]] = True
        reached[at] = False
        frontier = reached[internal]
    sizes = np.diff(e.tree_start)
    tree_of = np.repeat(np.arange(e.n_trees), sizes)
    leaf = e.left < 0
    contribution = weight[:, None] * e.value
    own = e.tree_output[tree_of]
    keep = (own[:, None] < 0) | (own[:, None] == np.arange(e.n_outputs)[None, :])
    contribution = np.where(keep & leaf[:, None], contribution, 0.0)
    return e.base_offset + contribution.sum(axis=0)


def path_dependent(
    ensemble: TreeEnsemble,
    X: np.ndarray,
    *,
    interactions: bool = False,
    n_jobs: int | None = None,
) -> np.ndarray:
    """Path-dependent values (rows, features, outputs), or pair interactions
    (rows, features, features, outputs)."""
    _require_core()
    X = _rows(X, ensemble)
    F = ensemble.n_features
    shape = (len(X), F, F, ensemble.n_outputs) if interactions else (len(X), F, ensemble.n_outputs)
    out = np.zeros(shape)
    _core.path_dependent(
        table_fields(ensemble), F, ensemble.n_outputs, X, out, default_jobs(n_jobs), interactions
    )
    return out


def path_dependent_trees(
    ensemble: TreeEnsemble,
    X: np.ndarray,
    trees: np.ndarray,
    rows: np.ndarray,
    out: np.ndarray,
    *,
    interactions: bool = False,
    n_jobs: int | None = None,
) -> None:
    """Add the path-dependent values (or pair interactions) of the single tree ``trees[i]`` on
    the row ``X[rows[i]]`` into ``out[i]``; ``out`` is zeroed float64 (items, features[,
    features] x outputs), ``X`` rows as :func:`read_inputs` gives them."""
    _require_core()
    X = _rows(X, ensemble)
    _core.path_dependent_trees(
        table_fields(ensemble),
        ensemble.n_features,
        ensemble.n_outputs,
        X,
        np.ascontiguousarray(trees, dtype=np.int64),
        np.ascontiguousarray(rows, dtype=np.int64),
        out,
        default_jobs(n_jobs),
        interactions,
    )


def oblivious_leaves(
    levels: Any, X: np.ndarray, *, n_jobs: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """The leaf slot (rows, trees) of every row of ``X`` (read as ``read_inputs`` reads them) in
    every tree of an ``_oblivious.ObliviousLevels``, and per slot the first row reaching it
    (-1 for none)."""
    _require_core()
    X = np.ascontiguousarray(X, dtype=np.float64)
    n_trees = len(levels.leaf_start) - 1
    slots = np.zeros((len(X), n_trees), dtype=np.int64)
    reaching = np.full(levels.n_leaves, -1, dtype=np.int64)
    _core.oblivious_leaves(
        np.ascontiguousarray(levels.feature, dtype=np.int64),
        np.ascontiguousarray(levels.threshold, dtype=np.float64),
        np.ascontiguousarray(levels.strict, dtype=np.bool_),
        np.ascontiguousarray(levels.default_left, dtype=np.bool_),
        np.ascontiguousarray(levels.weight, dtype=np.int64),
        np.ascontiguousarray(levels.leaf_start, dtype=np.int64),
        X.shape[1],
        X,
        slots,
        reaching,
        default_jobs(n_jobs),
    )
    return slots, reaching


def add_table_rows(
    table: np.ndarray,
    slots: np.ndarray,
    targets: np.ndarray,
    out: np.ndarray,
    *,
    n_jobs: int | None = None,
) -> None:
    """``out[r, targets[k]] += table[slots[r, k]]`` for every row r and every k in order, a
    target of -1 skipped: ``table`` (slots, width), ``targets`` (slots.shape[1], width) int64
    positions in a row of ``out`` (rows, out width), C-contiguous float64."""
    _require_core()
    _core.add_table_rows(
        np.ascontiguousarray(table, dtype=np.float64),
        table.shape[1],
        np.ascontiguousarray(slots, dtype=np.int64),
        slots.shape[1],
        np.ascontiguousarray(targets, dtype=np.int64),
        out,
        out.shape[1],
        default_jobs(n_jobs),
    )


def interventional(
    ensemble: TreeEnsemble,
    X: np.ndarray,
    background: np.ndarray,
    *,
    interactions: bool = False,
    n_jobs: int | None = None,
    method: str = "auto",
    memory_budget: float = DEFAULT_MEMORY_BUDGET,
) -> tuple[np.ndarray, str]:
    """Interventional values over every background row, or pair interactions; and the method
    used ('patterns': the background aggregated per leaf, 'pairs': every pair walked)."""
    _require_core()
    X = _rows(X, ensemble)
    background = _rows(background, ensemble, "the background")
    if len(background) == 0:
        raise ValueError("the background has no rows; pass at least one background row")
    F = ensemble.n_features
    shape = (len(X), F, F, ensemble.n_outputs) if interactions else (len(X), F, ensemble.n_outputs)
    out = np.zeros(shape)
    used = _core.interventional(
        table_fields(ensemble),
        F,
        ensemble.n_outputs,
        X,
        background,
        out,
        default_jobs(n_jobs),
        interactions,
        method,
        float(memory_budget),
    )
    return out, used


# How the margin becomes the explained output (the core's transform codes).
SIGMOID, SOFTMAX, LOGISTIC_LOSS, SOFTMAX_LOSS = 0, 1, 2, 3


def transformed(
    ensemble: TreeEnsemble,
    X: np.ndarray,
    background: np.ndarray,
    transform: int,
    labels: np.ndarray | None = None,
    *,
    n_jobs: int | None = None,
    max_exact: int = 12,
    permutations: int = 64,
) -> tuple[np.ndarray, int]:
    """Shapley values (rows, features, outputs) of E_b[link(margin(x_S, b_rest))], a link of
    ``transform``; and how many (row, background row) pairs were sampled.

    A pair's players are the features on which some tree sends the row and the background row
    different ways. Up to ``max_exact`` players the pair's game is enumerated over every
    coalition (exact); beyond, it is estimated from ``permutations`` antithetic permutations,
    whose values still add up exactly.
    """
    _require_core()
    X = _rows(X, ensemble)
    background = _rows(background, ensemble, "the background")
    if len(background) == 0:
        raise ValueError("the background has no rows; pass at least one background row")
    n_outputs = ensemble.n_outputs if transform == SOFTMAX else 1
    out = np.zeros((len(X), ensemble.n_features, n_outputs))
    loss = transform in (LOGISTIC_LOSS, SOFTMAX_LOSS)
    labels = np.ascontiguousarray(labels if loss else np.zeros(0), dtype=np.float64).reshape(-1)
    sampled = _core.probability(
        table_fields(ensemble),
        ensemble.n_features,
        ensemble.n_outputs,
        X,
        background,
        labels,
        np.ascontiguousarray(ensemble.base_offset, dtype=np.float64),
        out,
        default_jobs(n_jobs),
        transform,
        int(max_exact),
        int(permutations),
    )
    return out, int(sampled)


def link(margin: np.ndarray, transform: int, labels: np.ndarray | None = None) -> np.ndarray:
    """The explained output (rows, outputs) of margins (rows, model outputs)."""
    if transform == SIGMOID:
        return 1.0 / (1.0 + np.exp(-margin))
    top = margin.max(axis=1, keepdims=True)
    log_total = top + np.log(np.exp(margin - top).sum(axis=1, keepdims=True))
    if transform == SOFTMAX:
        return np.exp(margin - log_total)
    labels = np.asarray(labels, dtype=np.float64).reshape(-1)
    if transform == LOGISTIC_LOSS:
        return (np.logaddexp(0.0, margin[:, 0]) - labels * margin[:, 0])[:, None]
    return (log_total[:, 0] - margin[np.arange(len(margin)), labels.astype(np.int64)])[:, None]
