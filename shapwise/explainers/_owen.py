"""The Owen values of one row over a binary feature hierarchy, refined where they matter most
within a budget of coalitions (the Partition explainer's estimator; with every term expanded,
exact Owen values, as the Exact explainer gives over a Partition masker).

For a binary tree the Owen value has a simple recursion. A *term* is a node N met in a context C (a
union of whole nodes outside N) with a weight w; it stands for w * (v(C + N) - v(C)). Expanding it
into the children L and R costs two coalitions, v(C + L) and v(C + R), and gives four terms of weight
w/2: L in C, R in C + L, R in C and L in C + R. Their contributions add up to the parent's exactly,
so the values are additive at every budget. Expanding every term down to the leaves gives exact Owen
values (the root term is the whole game with weight 1).

With a smaller budget the terms with the largest |contribution| are expanded first (as shap does); a
term left unexpanded keeps its contribution on its node, spread evenly over the node's leaves. Each
round expands a batch of terms of every row at once and evaluates all their coalitions in one call of
the game (the rows move in lockstep, each with its own frontier and budget; how the rows are grouped
changes no value). No coalition is evaluated twice: a coalition C + L determines its term (N is the
smallest node that it cuts, and C is what it holds outside N), so no cache is needed.

Half precision: a model computing in float16 or bfloat16 rounds its output to a grid of spacing about
eps * |output|, so a measured difference below that spacing is indistinguishable from zero. When a
term is expanded, its difference d is split between its two halves (in each order: first half, then
the second half given the first). If one half's share is within the resolution and the other's is not,
the small share is reported as zero: that half is not refined further in that context, and the share
(smaller than the resolution) is kept on its sibling, so the values still add up exactly. Nothing
changes for float32/float64 models.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np

from shapwise.explainers._game import CoalitionGame
from shapwise.links import Link
from shapwise.maskers._hierarchy import Hierarchy
from shapwise.numeric import epsilon

# With a partial budget, each round expands at most this share of it (the rest waits for the
# priorities the round reveals); rounds are never smaller than MIN_ROUND_TERMS terms.
ROUND_SHARE = 1 / 16
MIN_ROUND_TERMS = 16
# Rows refined together hold their node values (2n - 1 nodes, every output) in at most this
# many bytes (an image of many pixels explained for a thousand classes: a row at a time).
NODE_VALUE_BYTES = 64 * 2**20


def output_resolution(ends: np.ndarray, link: Link, precision: str | None) -> np.ndarray:
    """The smallest output difference a model computing in ``precision`` can resolve, per output.

    ``ends`` holds v(empty) and v(full) (2, ..., O) in link space. Zero for float32/float64 models.
    """
    eps = epsilon(precision or "float64")
    if eps <= epsilon("float32"):
        return np.zeros(ends.shape[1:])
    raw = link.inverse(ends)
    try:
        spacing = np.abs(ends - link(raw - eps * raw))
    except ValueError:
        spacing = eps * np.abs(ends)
    return spacing.max(axis=0)


def coarsest_precision(*names: str | None) -> str | None:
    known = [n for n in names if n]
    return max(known, key=epsilon) if known else None


class _Terms(NamedTuple):
    """Unexpanded terms of every row, one entry each: its row, node, context (leaf positions),
    v(C) and v(C + N) (O,), weight, the outputs still refined (live), priority, and its place
    among its row's terms in the order they were made (ties in priority go to the older)."""

    row: np.ndarray
    node: np.ndarray
    context: np.ndarray
    low: np.ndarray
    high: np.ndarray
    weight: np.ndarray
    live: np.ndarray
    priority: np.ndarray
    made: np.ndarray

    def take(self, where: np.ndarray) -> _Terms:
        return _Terms(*(part[where] for part in self))

    def by_priority(self) -> np.ndarray:
        """The order of the terms: row by row, the highest priority first (the oldest first
        among equals)."""
        return np.lexsort((self.made, -self.priority, self.row))


def _join(parts: list[_Terms]) -> _Terms:
    return _Terms(*(np.concatenate(columns) for columns in zip(*parts, strict=True)))


def owen_by_groups(
    game: CoalitionGame,
    tree: Hierarchy,
    max_evals: int,
    link: Link,
    done: Callable[[int], Any],
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`owen_estimates` of every row of ``game``, in groups of rows whose coalitions
    (at most ``max_evals`` each) the game's row groups bound, and their node values
    NODE_VALUE_BYTES; ``done(n)`` after each group."""
    n = tree.n_leaves
    ends_masks = np.stack([np.zeros(n, dtype=bool), np.ones(n, dtype=bool)])
    parts = []
    for group in game.row_groups(min(max_evals, tree.owen_evaluations())):
        ends = game.tables(group, np.broadcast_to(ends_masks, (len(group), 2, n)), empty_at=0)
        held = max(1, NODE_VALUE_BYTES // (8 * (2 * n - 1) * ends.shape[2]))
        for start in range(group.start, group.stop, held):  # many outputs: fewer rows at once
            rows = range(start, min(group.stop, start + held))
            own = ends[:, rows.start - group.start : rows.stop - group.start]
            parts.append(owen_estimates(game, rows, tree, max_evals, link, own))
            done(len(rows))
    return tuple(np.concatenate(part) for part in zip(*parts, strict=True))  # type: ignore[return-value]


def owen_estimates(
    game: CoalitionGame,
    rows: range,
    tree: Hierarchy,
    max_evals: int,
    link: Link,
    ends: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Owen values (R, M, O), v(empty) and v(full) (R, O) of ``rows`` of ``game`` over ``tree``,
    given their v(empty) and v(full) ``ends`` (2, R, O), each within ``max_evals`` (exact
    where it covers ``tree.owen_evaluations()``); differences below the resolution of the
    model's coarsest float type are taken as zero (see the module's text)."""
    n, n_rows = tree.n_leaves, len(rows)
    empty_value, full_value = ends[0], ends[1]  # (R, O)
    n_outputs = ends.shape[2]
    if n == 1:
        return (full_value - empty_value)[:, None], empty_value, full_value
    if game.outputs is None:
        focus = np.broadcast_to(np.arange(n_outputs), (n_rows, n_outputs))
    else:
        focus = np.asarray(game.outputs[rows.start : rows.stop], dtype=np.intp)
    if focus.size and focus.max() >= n_outputs:
        raise ValueError(
            f"outputs must be between 0 and {n_outputs - 1}; got {np.unique(focus).tolist()}"
        )
    # read after the first call of the model, which tells the dtype of a plain function's outputs
    precision = coarsest_precision(game.model.output_dtype, game.model.input_dtype)
    state = _Refinement(tree, game, rows, focus, output_resolution(ends, link, precision))
    terms = _Terms(
        row=np.arange(n_rows),
        node=np.full(n_rows, tree.root),
        context=np.zeros((n_rows, n), dtype=bool),
        low=empty_value,
        high=full_value,
        weight=np.ones(n_rows),
        live=np.ones((n_rows, n_outputs), dtype=bool),
        priority=np.full(n_rows, np.inf),
        made=np.zeros(n_rows, dtype=np.int64),
    )
    exact = tree.owen_evaluations() <= max_evals
    round_terms = max(MIN_ROUND_TERMS, int(max_evals * ROUND_SHARE))
    remaining = np.full(n_rows, max_evals - 2)
    while len(terms.row):
        pending = np.bincount(terms.row, minlength=n_rows)
        wanted = pending if exact else np.minimum(round_terms, remaining // 2)
        wanted = np.where((pending > 0) & (remaining >= 2), wanted, 0)
        if not wanted.any():
            break
        order = terms.by_priority()
        ordered_rows = terms.row[order]
        rank = np.arange(len(order)) - np.searchsorted(ordered_rows, ordered_rows)
        chosen = rank < wanted[ordered_rows]
        batch = terms.take(order[chosen])
        remaining -= 2 * np.bincount(batch.row, minlength=n_rows)
        terms = _join([terms.take(order[~chosen]), state.expand(batch)])
    rest = terms.take(terms.by_priority())
    np.add.at(
        state.node_values,
        (rest.row, rest.node),
        rest.weight[:, None] * (rest.high - rest.low) * rest.live,
    )
    values = np.stack([tree.spread(node_values) for node_values in state.node_values])
    return values, empty_value, full_value


class _Refinement:
    """The node values (R, 2n - 1, O) of rows being refined, and the expansion of their terms."""

    def __init__(
        self,
        tree: Hierarchy,
        game: CoalitionGame,
        rows: range,
        focus: np.ndarray,
        resolution: np.ndarray,
    ) -> None:
        self.tree = tree
        self.game = game
        self.rows = rows
        self.focus = focus  # (R, k) the outputs whose contributions set the priorities
        self.resolution = resolution  # (R, O)
        n_outputs = resolution.shape[1]
        self.node_values = np.zeros((len(rows), 2 * tree.n_leaves - 1, n_outputs))
        self.made = np.ones(len(rows), dtype=np.int64)  # terms made so far, per row

    def expand(self, batch: _Terms) -> _Terms:
        """Evaluate the two new coalitions of every term in ``batch`` (row by row) at once, add
        the leaves' contributions to the node values and return the new terms."""
        tree, n = self.tree, self.tree.n_leaves
        left, right = tree.left[batch.node - n], tree.right[batch.node - n]
        with_left = tree.node_masks(batch.context, left)
        with_right = tree.node_masks(batch.context, right)
        value_left, value_right = self._evaluate(batch.row, with_left, with_right)
        half = batch.weight[:, None] / 2
        resolution = self.resolution[batch.row]
        # Two orders in which the halves join; in each the two shares add up to high - low.
        orders = (
            (
                (left, batch.context, batch.low, value_left),
                (right, with_left, value_left, batch.high),
            ),
            (
                (right, batch.context, batch.low, value_right),
                (left, with_right, value_right, batch.high),
            ),
        )
        made = []
        for first, second in orders:
            shares = [end - start for _, _, start, end in (first, second)]
            small = [(np.abs(s) <= resolution) & (resolution > 0) for s in shares]
            dropped = [small[0] & ~small[1], small[1] & ~small[0]]
            for me, other in ((0, 1), (1, 0)):
                child, context, start, end = (first, second)[me]
                child_live = batch.live & ~dropped[me]
                moved = half * shares[me] * (batch.live & dropped[me])
                np.add.at(self.node_values, (batch.row, (first, second)[other][0]), moved)
                contribution = half * shares[me] * child_live
                is_leaf = child < n
                np.add.at(
                    self.node_values, (batch.row[is_leaf], child[is_leaf]), contribution[is_leaf]
                )
                priority = np.take_along_axis(
                    np.abs(contribution), self.focus[batch.row], axis=1
                ).max(axis=1)
                kept = np.flatnonzero(~is_leaf & child_live.any(axis=1))
                made.append(
                    _Terms(
                        row=batch.row[kept],
                        node=child[kept],
                        context=context[kept],
                        low=start[kept],
                        high=end[kept],
                        weight=half[kept, 0],
                        live=child_live[kept],
                        priority=priority[kept],
                        made=self._number(batch.row[kept]),
                    )
                )
        return _join(made)

    def _number(self, rows: np.ndarray) -> np.ndarray:
        """Each new term's place among its row's terms (``rows`` grouped by row)."""
        counts, rank = _rank_in_row(rows, len(self.made))
        places = self.made[rows] + rank
        self.made += counts
        return places

    def _evaluate(
        self, rows: np.ndarray, with_left: np.ndarray, with_right: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """v(C + L) and v(C + R) (B, O) of the batch's terms, in one call of the game: each
        row's coalitions together, those with the left half first."""
        counts, rank = _rank_in_row(rows, len(self.made))
        place = 2 * (np.arange(len(rows)) - rank) + rank  # with_left's: twice the row's start
        coalitions = np.empty((2 * len(rows), self.tree.n_leaves), dtype=bool)
        coalitions[place] = with_left
        coalitions[place + counts[rows]] = with_right
        owners = np.repeat(np.arange(self.rows.start, self.rows.stop), 2 * counts)
        evaluated = self.game.values_of(coalitions[:, self.tree.position], owners)
        return evaluated[place], evaluated[place + counts[rows]]


def _rank_in_row(rows: np.ndarray, n_rows: int) -> tuple[np.ndarray, np.ndarray]:
    """How many entries each row has (n_rows,), and each entry's place among its row's
    (``rows`` grouped by row)."""
    counts = np.bincount(rows, minlength=n_rows)
    first = np.cumsum(counts) - counts
    return counts, np.arange(len(rows)) - first[rows]
