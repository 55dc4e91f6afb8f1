"""The coalition game of one row: v(S) = link(mean over background of f(x masked to S))."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import lru_cache

import numpy as np

from shapwise.links import Link
from shapwise.maskers._base import Masker
from shapwise.models import Model
from shapwise.numeric import check_finite

# Masked rows built at once (one masker pass and one reduction for what may be several model
# calls): a whole number of calls, of at most ROWS_PER_CHUNK rows and CHUNK_ELEMENTS input
# elements (and output values), but at least one call, and no more calls than the batch tuner
# wants to time when it is timing a size. Large chunks mean few of the steps between them, each
# slow in caches the model has just filled.
ROWS_PER_CHUNK = 400_000
CHUNK_ELEMENTS = 4_000_000
# Coalitions of several rows evaluated together (their model calls span the rows).
GROUP_COALITIONS = 8192


class CoalitionGame:
    """Evaluates coalitions of one row's features, in large batches, each coalition once.

    Args:
        model: the batched model.
        masker: builds the masked inputs.
        x: the row being explained (the masker's feature layout).
        link: applied to the background-averaged output.
        shared: a dict shared by the games of one explanation, holding values that do not depend
            on the row (the empty coalition, when the masker says so).
        outputs: the output positions this row is explained for (None: all); an explainer may
            spend its budget on them.
        linearize_link: average the linked outputs of the background rows with weights that make
            the empty coalition's value link(mean output) (shap's ``linearize_link``), so v(S) is a
            weighted sum of per-background-row games and a model additive in link space for one
            background row stays additive for many. Only matters for a non-identity link.
    """

    def __init__(
        self,
        model: Model,
        masker: Masker,
        x: np.ndarray,
        link: Link,
        shared: dict | None = None,
        outputs: np.ndarray | None = None,
        linearize_link: bool = False,
    ) -> None:
        self.model = model
        self.masker = masker
        self.x = x
        self.link = link
        self.n_features = masker.shape[1]
        self.shared = {} if shared is None else shared
        self.outputs = outputs
        self.linearize_link = linearize_link and link.name != "identity"
        self._link_weights: tuple[np.ndarray, np.ndarray] | None = None

    def values(self, masks: np.ndarray) -> np.ndarray:
        """v(S) for K masks: (K, n_outputs) float64.

        link(background-averaged output), or with ``linearize_link`` the weighted mean of the
        linked outputs of the background rows.
        """
        masks = np.asarray(masks, dtype=bool)
        return _values([self], masks, [len(masks)])

    def _row_probabilities(self, n_rows: int) -> np.ndarray:
        """The masker's weights of its ``n_rows`` background rows, normalised to sum to one
        (equal weights when it has none)."""
        weights = getattr(self.masker, "weights", None)
        if weights is None:
            return _equal_probabilities(n_rows)
        key = ("row probabilities", n_rows)
        if key not in self.shared:
            weights = np.asarray(weights, np.float64)
            self.shared[key] = weights / weights.sum()
        return self.shared[key]

    def background_mean(self, out: np.ndarray) -> np.ndarray:
        """(Weighted) mean over the background rows: (K, rows, O) -> (K, O)."""
        k, rows, n_outputs = out.shape
        by_output = out.transpose(0, 2, 1).reshape(k * n_outputs, rows)  # a view for one output
        return (by_output @ self._row_probabilities(rows)).reshape(k, n_outputs)

    def linearization(self) -> tuple[np.ndarray, np.ndarray]:
        """Background-row weights (rows, O) for the linearised link, and v(empty) = link(mean)."""
        if self._link_weights is None:
            constant = self.masker.empty_is_constant
            if constant and "link_weights" in self.shared:
                self._link_weights = self.shared["link_weights"]
            else:
                empty = np.zeros((1, self.n_features), dtype=bool)
                rows = _evaluate_masks([self], empty, np.zeros(1, np.intp), lambda out, _: out)[0]
                probabilities = self._row_probabilities(len(rows))
                weights = link_weights(rows, self.link, probabilities)
                self._link_weights = (weights, self.link(probabilities @ rows))
                if constant:
                    self.shared["link_weights"] = self._link_weights
        return self._link_weights


@lru_cache(maxsize=16)
def _equal_probabilities(n_rows: int) -> np.ndarray:
    probabilities = np.full(n_rows, 1.0 / n_rows)
    probabilities.setflags(write=False)
    return probabilities


def value_tables(
    games: Sequence[CoalitionGame], masks: np.ndarray, empty_at: int | None = None
) -> np.ndarray:
    """v(S) of K masks per game, masks (games, K, M) -> values (K, games, n_outputs).

    The games belong to one explanation (same model, masker, link and ``shared``); evaluating
    their coalitions together means fewer, fuller model calls and no per-row round trips.
    ``empty_at``: the position of the empty coalition among every game's K masks, when the caller
    knows it (else it is looked for).
    """
    n_games, k, n_features = masks.shape
    every = masks.reshape(-1, n_features).astype(bool, copy=False)
    empty = None if empty_at is None else np.arange(n_games) * k + empty_at
    values = _values(games, every, [k] * n_games, empty)
    return values.reshape(n_games, k, -1).transpose(1, 0, 2)


def _values(
    games: Sequence[CoalitionGame],
    every: np.ndarray,
    counts: list[int],
    empty: np.ndarray | None = None,
) -> np.ndarray:
    """v(S) of the masks ``every`` (total, M), the first counts[0] of games[0] and so on:
    (total, n_outputs). ``empty``: the positions of the empty masks, if known."""
    owners = np.repeat(np.arange(len(games)), counts)
    if empty is None:
        empty = np.flatnonzero(~every.any(axis=1))
    first = games[0]
    if first.linearize_link:
        weighted = [game.linearization() for game in games]
        weights = np.stack([w for w, _ in weighted])  # (games, rows, O)
        empty_values = np.stack([value for _, value in weighted])[owners[empty]]

        def reduce(out: np.ndarray, of: np.ndarray) -> np.ndarray:
            return first.background_mean(weights[of] * first.link(out))

        return _evaluate_all_but(games, every, owners, empty, reduce, empty_values)

    def mean(out: np.ndarray, of: np.ndarray) -> np.ndarray:
        return first.background_mean(out)

    if not first.masker.empty_is_constant:
        return first.link(_evaluate_masks(games, every, owners, mean))
    # the empty coalition is evaluated once per explanation (the first time a game has it)
    if "empty" in first.shared:
        values = _evaluate_all_but(games, every, owners, empty, mean, first.shared["empty"])
    else:
        values = _evaluate_all_but(games, every, owners, empty[1:], mean, None)
        if len(empty):  # nothing before the first empty mask was left out
            first.shared["empty"] = values[empty[0]]
            values[empty[1:]] = first.shared["empty"]
    return first.link(values)


def _evaluate_all_but(
    games: Sequence[CoalitionGame],
    every: np.ndarray,
    owners: np.ndarray,
    left_out: np.ndarray,
    reduce: Callable[[np.ndarray, np.ndarray], np.ndarray],
    others: np.ndarray | None,
) -> np.ndarray:
    """Values of all masks, evaluating all but those at ``left_out``, which get ``others`` (one
    value, or one per mask left out; when None they are left for the caller to fill)."""
    if not len(left_out):
        return _evaluate_masks(games, every, owners, reduce)
    keep = np.ones(len(every), dtype=bool)
    keep[left_out] = False
    kept = _evaluate_masks(games, every[keep], owners[keep], reduce)
    if not len(kept):  # all were left out
        return np.broadcast_to(others, (len(every), np.shape(others)[-1])).copy()
    values = np.empty((len(every), kept.shape[-1]), dtype=np.float64)
    values[keep] = kept
    if others is not None:
        values[left_out] = others
    return values


def row_groups(games: list[CoalitionGame], coalitions_per_row: int) -> list[list[CoalitionGame]]:
    """The games in consecutive groups of at most GROUP_COALITIONS coalitions (at least one game
    each), evaluated together: bounds the memory of their value tables, and lets a progress bar
    move."""
    size = max(1, GROUP_COALITIONS // max(coalitions_per_row, 1))
    return [games[start : start + size] for start in range(0, len(games), size)]


def concatenate_rows(
    parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]],
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(values, base values, outputs) of groups of rows as those of all rows."""
    if len(parts) == 1:
        return parts[0]
    return tuple(np.concatenate(part) for part in zip(*parts, strict=True))  # type: ignore[return-value]


def _evaluate_masks(
    games: Sequence[CoalitionGame],
    masks: np.ndarray,
    owners: np.ndarray,
    reduce: Callable[[np.ndarray, np.ndarray], np.ndarray],
) -> np.ndarray:
    """``reduce(outputs (K, rows, O), owners (K,))`` of the model outputs of ``masks``, mask k of
    ``games[owners[k]]`` (owners non-decreasing): masked inputs built in large chunks, each
    evaluated in one or more model calls."""
    first = games[0]
    rows_per_mask = max(first.masker.shape[0], 1)
    xs = np.array([game.x for game in games])  # np.stack costs ~40 us more here
    reduced = []
    start = 0
    while start < len(masks):
        call = first.model.rows_per_call(first.x.shape)
        calls = max(1, _chunk_rows(first) // call)
        if first.model.calls_to_time:  # no more than the tuner wants to time at this size
            calls = min(calls, first.model.calls_to_time)
        per_chunk = max(1, call * calls // rows_per_mask)
        chunk_masks = masks[start : start + per_chunk]
        chunk_owners = owners[start : start + per_chunk]
        start += per_chunk
        inputs = first.masker.masked_rows(
            chunk_masks, xs, chunk_owners, out=_input_buffer(first, len(chunk_masks))
        )
        k, n_rows = inputs.shape[:2]
        out = first.model(inputs.reshape(k * n_rows, *inputs.shape[2:]), call, check=False)
        reduced.append(reduce(out.reshape(k, n_rows, -1), chunk_owners))
        if not np.isfinite(reduced[-1]).all():  # so is an output: one pass over far fewer values
            first.model.check_outputs(out)
            check_finite(reduced[-1], "the model's mean output over the background rows")
    if not reduced:
        return np.empty((0, 0), dtype=np.float64)
    return reduced[0] if len(reduced) == 1 else np.concatenate(reduced)


def _chunk_rows(game: CoalitionGame) -> int:
    """The most masked rows of ``game`` to build at once; before the model's first call its
    outputs per row are unknown, and that chunk is one call."""
    n_outputs = game.model.n_outputs
    if n_outputs is None:
        return 1
    return min(ROWS_PER_CHUNK, CHUNK_ELEMENTS // max(game.x.size, n_outputs, 1))


def _input_buffer(game: CoalitionGame, n_masks: int) -> np.ndarray | None:
    """A buffer for the masked inputs of ``n_masks`` masks, reused for the whole call (a fresh
    array per chunk costs more than filling it), or None when the masker cannot write into one."""
    if not game.masker.writes_into:
        return None
    shape, data_dtype = game.masker.batch_layout(game.x)
    dtype = game.model.input_array_dtype(data_dtype)
    buffer = game.shared.get("input buffer")
    if (
        buffer is None
        or len(buffer) < n_masks
        or buffer.shape[1:] != shape
        or buffer.dtype != dtype
    ):
        buffer = game.shared["input buffer"] = np.empty((n_masks, *shape), dtype=dtype)
    return buffer[:n_masks]


def link_weights(outputs: np.ndarray, link: Link, probabilities: np.ndarray) -> np.ndarray:
    """Weights w (rows, O) with sum_r p_r w_r = 1 and sum_r p_r w_r link(o_r) = link(sum_r p_r o_r).

    From the first-order expansion of the link at the mean (as shap's ``link_reweighting``): a row's
    weight is the linearised link's change over the true link's change; rows at the mean weigh 1.
    """
    mean = probabilities @ outputs
    step = 1e-6 * np.maximum(np.abs(mean), 1e-6)
    slope = (link(mean + step) - link(mean - step)) / (2 * step)
    change = link(outputs) - link(mean)
    linear = slope * (outputs - mean)
    close = np.abs(change) <= 1e-12 * np.maximum(np.abs(link(mean)), 1.0)
    weights = np.where(close, 1.0, linear / np.where(close, 1.0, change))
    return weights / (probabilities @ weights)
