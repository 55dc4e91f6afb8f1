"""Combinatorics of coalitions: every subset, subsets of one size, Shapley values of a full table.

Shared by the coalition estimators (Exact, Permutation, Kernel) and by Linear's correlation
transform; only :func:`exact_estimate` touches a game.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from itertools import combinations
from math import factorial
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from shapwise.explainers._game import CoalitionGame

# Exact values evaluate all 2^M coalitions; beyond this many features that is too many.
MAX_EXACT_FEATURES = 20


@lru_cache(maxsize=4)
def all_coalitions(n_features: int) -> np.ndarray:
    """Every subset of ``n_features`` as boolean masks; row k is the subset with bit pattern k.

    Cached and read-only.
    """
    codes = np.arange(2**n_features, dtype=np.int64)
    masks = ((codes[:, None] >> np.arange(n_features)) & 1).astype(bool)
    masks.setflags(write=False)
    return masks


def coalitions_of_size(n_features: int, size: int) -> np.ndarray:
    """Every coalition of exactly ``size`` features as boolean masks: (C(M, size), M)."""
    members = np.array(list(combinations(range(n_features), size)), dtype=np.int64)
    masks = np.zeros((len(members), n_features), dtype=bool)
    masks[np.arange(len(members))[:, None], members.reshape(len(members), size)] = True
    return masks


def coalition_keys(masks: np.ndarray) -> np.ndarray:
    """One hashable key per boolean mask (last axis): uint64 up to 64 features, bytes beyond."""
    packed = np.packbits(masks, axis=-1)
    width = packed.shape[-1]
    if width <= 8:
        padded = np.zeros((*packed.shape[:-1], 8), dtype=np.uint8)
        padded[..., :width] = packed
        return padded.view(np.uint64)[..., 0]
    return np.ascontiguousarray(packed).view(np.dtype((np.void, width)))[..., 0]


def masks_of_codes(codes: np.ndarray, n_features: int) -> np.ndarray:
    """The masks (codes.size, n_features) bool whose bit i (of integer codes, feature i = bit
    i, up to 64 features) is feature i."""
    as_bytes = np.ascontiguousarray(codes, dtype="<i8").reshape(-1, 1).view(np.uint8)
    needed = as_bytes[:, : -(-n_features // 8)]  # the bytes that hold the features
    return np.unpackbits(needed, axis=1, bitorder="little")[:, :n_features].view(bool)


@lru_cache(maxsize=64)
def _table_weights(n_features: int) -> tuple[np.ndarray, np.ndarray]:
    """Per coalition T (by bit pattern): the weight of v(T) in the value of a feature in T plus
    that of a feature not in T, and the latter alone.

    The Shapley value of f is sum_{T holds f} w(|T| - 1) v(T) - sum_{T lacks f} w(|T|) v(T), with
    w(s) = s! (n - s - 1)! / n!; writing both sums over all T makes it one sum over the T that hold
    f minus one sum that is the same for every feature.
    """
    n = n_features
    w = np.array([factorial(s) * factorial(n - s - 1) / factorial(n) for s in range(n)] + [0.0])
    sizes = all_coalitions(n).sum(axis=1)
    lacking = w[sizes]
    holding = np.where(sizes > 0, w[np.maximum(sizes - 1, 0)], 0.0)
    return holding + lacking, lacking


def shapley_from_table(table: np.ndarray, n_features: int) -> np.ndarray:
    """Shapley values from v(S) for all subsets (indexed by bit pattern): (n_features, n_outputs)."""
    both, lacking = _table_weights(n_features)
    table = table - table[0]  # values ignore a constant; this keeps the two sums small
    weighted = both[:, None] * table
    n_outputs = table.shape[1]
    values = np.empty((n_features, n_outputs), dtype=np.float64)
    for feature in range(n_features):
        # coalitions whose bit `feature` is set: the second half of each block of 2^(feature+1)
        blocks = weighted.reshape(-1, 2, 2**feature, n_outputs)
        values[feature] = blocks[:, 1].sum(axis=(0, 1))
    return values - lacking @ table


def check_exact_size(n_features: int) -> None:
    """Raise a ValueError when 2^n_features coalitions are too many to evaluate."""
    if n_features > MAX_EXACT_FEATURES:
        raise ValueError(
            f"exact explanations of {n_features} features need 2^{n_features} coalitions; use "
            "explainers.Permutation or explainers.Partition for more than "
            f"{MAX_EXACT_FEATURES} features"
        )


def exact_estimate(
    game: CoalitionGame, done: Callable[[int], Any]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Exact Shapley values of every row of ``game``: (values (rows, M, O), v(empty), v(full)).

    One background pattern at a time where that holds (``_exact_patterns``); otherwise all
    coalitions of several rows are evaluated together, then the weights are applied to all
    their tables at once.
    """
    from shapwise.explainers._exact_patterns import pattern_exact_estimate

    found = pattern_exact_estimate(game, done)
    if found is not None:
        return found
    n = game.n_features
    coalitions = all_coalitions(n)
    parts = []
    for rows in game.row_groups(len(coalitions)):
        masks = np.broadcast_to(coalitions, (len(rows), *coalitions.shape))
        tables = game.tables(rows, masks, empty_at=0)  # (2^n, rows, O)
        values = shapley_from_table(tables.reshape(len(coalitions), -1), n)
        values = values.reshape(n, *tables.shape[1:]).transpose(1, 0, 2)  # (rows, M, O)
        parts.append((values, tables[0], tables[-1]))
        done(len(rows))
    if len(parts) == 1:
        return parts[0]
    return tuple(np.concatenate(part) for part in zip(*parts, strict=True))  # type: ignore[return-value]
