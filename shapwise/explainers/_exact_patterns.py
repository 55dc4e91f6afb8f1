"""Exact Shapley values one background pattern at a time.

With a masker that fills hidden features from background rows and the identity link,
v(S) = sum_b p_b f(x_S, b). Where row x and background row b agree on a feature, hiding it
changes nothing: f(x_S, b) depends on S only through S & D_b, D_b the features where they
differ. The background rows with the same D form a pattern (``_game._Patterns``), and

    v(S) = sum over patterns D of G_D(S & D),   G_D(T) = sum_{b of D} p_b f(x_T, b),

so by linearity phi(v) = sum_D phi(G_D), each G_D a game of |D| players: 2^|D| coalitions per
pattern instead of 2^M, and nothing to search for. Each distinct masked row is evaluated once:
f(b) of every background row once per explanation (T empty), f(x) once per row (T = D gives x
itself), and 2^|D| - 2 rows per member of a pattern besides. On continuous data every
background row differs everywhere, one pattern holds them all, and this is the table of
v(S) over all 2^M coalitions.

The values do not depend on how the rows are split into model calls or groups: every sum runs
in a fixed order (patterns by row and bits, members in order).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from shapwise.explainers import _game
from shapwise.explainers._coalitions import _table_weights, masks_of_codes
from shapwise.explainers._game import CoalitionGame, _Patterns

# One row's distinct masked rows times outputs at most (B 2^M O, whatever the data, so that the
# choice of path does not depend on which rows are explained together): their outputs are kept
# until the row's values are summed. Rows are grouped to hold about GROUP_OUTPUTS at once.
ROW_OUTPUTS = 8_000_000
GROUP_OUTPUTS = 1_000_000


def pattern_exact_estimate(
    game: CoalitionGame, done: Callable[[int], Any]
) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """Exact values (rows, M, O), v(empty) (rows, O) and v(full) (rows, O) of every row of
    ``game``; None where the decomposition does not hold or is not at hand (a link other than
    the identity, a masker that does not fill hidden features from background rows, cannot say
    where a row differs from them or writes masked rows its own way), or where a row could
    need more than ROW_OUTPUTS outputs (the table path then goes chunk by chunk)."""
    masker = game.masker
    if not (
        _game.FIND_DISTINCT_ROWS is not False  # False: every masked row, for comparisons
        and game.link.name == "identity"
        and not game.linearize_link
        and masker.fills_from_background
        and masker.supports_out
        and _writes_rows_as_independent(masker)
        and game.rows.ndim == 2
        and 0 < game.n_features <= 52  # mask codes as float64 (_Plan)
    ):
        return None
    dtype = _game._input_dtype(game)
    n_background = masker.shape[0]
    most = n_background * 2.0**game.n_features
    if masker.differs(game.rows[:1], dtype) is None or most > ROW_OUTPUTS:
        return None
    background_out = _background_outputs(game)  # f(b): the empty coalition's rows
    n_outputs = background_out.shape[1]
    if most * n_outputs > ROW_OUTPUTS:
        return None
    probabilities = game.probabilities(n_background)
    empty = probabilities @ background_out
    parts = []
    for rows in _groups(_distinct_rows_per_row(game, dtype), n_outputs):
        plan = _Plan(game, rows.start, rows.stop, dtype)
        values, full = plan.values(plan.evaluate(game), background_out, probabilities)
        parts.append((values, np.broadcast_to(empty, full.shape).copy(), full))
        done(len(rows))
    return _game.concatenate_rows(parts)


def _writes_rows_as_independent(masker: Any) -> bool:
    """Whether the masker writes masked rows as the tabular masker does (a subclass that writes
    them its own way keeps the table path, which asks it for them)."""
    from shapwise.maskers.tabular import Independent

    kind = type(masker)
    return isinstance(masker, Independent) and all(
        getattr(kind, name) is getattr(Independent, name)
        for name in ("masked_rows", "masked_pairs", "masked_units", "masked_batch", "differs")
    )


def _background_outputs(game: CoalitionGame) -> np.ndarray:
    """The model's outputs (B, O) at every background row, in one model call (or in calls of
    the explanation's batch size)."""
    n_background = game.masker.shape[0]
    buffer = _game._input_buffer(game, 1)
    flat = buffer.reshape(-1, buffer.shape[-1])[:n_background]
    game.masker.masked_units(
        np.zeros((1, game.n_features), dtype=bool),
        game.rows[:1],
        np.zeros(1, dtype=np.int64),
        np.zeros(n_background, dtype=np.int64),
        np.arange(n_background, dtype=np.int64),
        np.ones(n_background, dtype=np.int64),
        out=flat,
    )
    out = game.model(flat, game.batch_size or n_background, check=False, owned=True)
    if not np.isfinite(out).all():
        game.model.check_outputs(out)
    return out


def _distinct_rows_per_row(game: CoalitionGame, dtype: np.dtype) -> np.ndarray:
    """Each row's distinct masked rows at most (sum over background rows of 2^d)."""
    counts = []
    for start in range(0, game.n_rows, 1024):
        differs = game.masker.differs(game.rows[start : start + 1024], dtype)
        counts.append((2.0 ** differs.sum(axis=2)).sum(axis=1))
    return np.concatenate(counts)


def _groups(rows_of: np.ndarray, n_outputs: int) -> list[range]:
    """Consecutive rows whose distinct masked rows times outputs stay under GROUP_OUTPUTS."""
    groups, start, held = [], 0, 0.0
    for row, count in enumerate(rows_of.tolist()):
        if row > start and (held + count) * n_outputs > GROUP_OUTPUTS:
            groups.append(range(start, row))
            start, held = row, 0.0
        held += count
    groups.append(range(start, len(rows_of)))
    return groups


class _Plan:
    """The distinct masked rows of rows ``start:stop`` as units, each unit one background row
    under consecutive masks: per pattern and member, the subsets T of the pattern's features
    (numbered by their bits, 1 .. 2^d - 2); then each row's own row x."""

    def __init__(self, game: CoalitionGame, start: int, stop: int, dtype: np.dtype) -> None:
        n = game.n_features
        self.x = game.rows[start:stop]
        self.patterns = patterns = _Patterns(game.masker.differs(self.x, dtype))
        self.n_rows, self.n_features = stop - start, n
        self.d = d = patterns.n_differing.astype(np.int64)
        inner = np.maximum(2**d - 2, 0)  # subsets besides the empty and the whole one
        # masks: each pattern's inner subsets (patterns of one size together), then each row's
        # full mask
        n_inner = int(inner.sum())
        masks = np.zeros((n_inner + self.n_rows, n), dtype=bool)
        owners = np.zeros(len(masks), dtype=np.int64)
        mask_start = np.zeros(len(d), dtype=np.int64)
        codes = []
        at = 0
        for size in np.unique(d[inner > 0]).tolist():
            which = np.flatnonzero(d == size)
            count = 2**size - 2
            mask_start[which] = at + count * np.arange(len(which))
            # subset j of a pattern: bit t of j set where its t-th differing feature is kept
            bits = (np.arange(1, count + 1)[:, None] >> np.arange(size)) & 1  # (T, d)
            # as floats, a matrix product of BLAS's (exact: sums of distinct powers of two)
            powers = 2.0 ** _positions(patterns.differing[which], size)
            codes.append((powers @ bits.T.astype(np.float64)).astype(np.int64).ravel())
            owners[at : at + count * len(which)] = np.repeat(patterns.row[which], count)
            at += count * len(which)
        if codes:
            masks[:at] = masks_of_codes(np.concatenate(codes), n)
        masks[n_inner : n_inner + self.n_rows] = True
        owners[n_inner : n_inner + self.n_rows] = np.arange(self.n_rows)
        self.masks, self.owners = masks, owners
        # the units: (pattern, member) of patterns with inner subsets, then each row's x
        member_pattern = np.repeat(np.arange(len(d)), patterns.size)
        sampled = inner[member_pattern] > 0
        unit_pattern = member_pattern[sampled]
        self.unit_mask = np.concatenate(
            [mask_start[unit_pattern], n_inner + np.arange(self.n_rows)]
        )
        self.unit_source = np.concatenate(
            [patterns.members[sampled], np.zeros(self.n_rows, np.int64)]
        ).astype(np.int64)
        self.unit_length = np.concatenate([inner[unit_pattern], np.ones(self.n_rows, np.int64)])
        self.n_units = len(unit_pattern)  # of sampled subsets
        n_sampled = int(self.unit_length[: self.n_units].sum())
        self.own = slice(n_sampled, n_sampled + self.n_rows)
        # each pattern's table of 2^d entries, pattern after pattern; a unit's first entry
        self.table_start = np.cumsum(2**d) - 2**d
        self.unit_entry = self.table_start[unit_pattern] + 1
        self.member_pattern = member_pattern

    def evaluate(self, game: CoalitionGame) -> np.ndarray:
        """The model's outputs (L, O) at every distinct row, in model calls as the adapter
        plans them."""
        n_background = game.masker.shape[0]
        ends = np.cumsum(self.unit_length)
        total = int(ends[-1])
        parts = []
        done_rows = 0
        while done_rows < total:
            call, most_calls = game.model.call_plan(game.rows.shape[1:], game.batch_size)
            calls = max(1, _game._chunk_rows(game) // call)
            if most_calls:
                calls = min(calls, most_calls)
            size = min(call * calls, total - done_rows)
            first = int(np.searchsorted(ends, done_rows, side="right"))  # the unit row done is in
            last = int(np.searchsorted(ends, done_rows + size - 1, side="right"))
            skip = done_rows - (int(ends[first - 1]) if first else 0)
            buffer = _game._input_buffer(game, -(-size // n_background))
            flat = buffer.reshape(-1, buffer.shape[-1])[:size]
            game.masker.masked_units(
                self.masks,
                self.x,
                self.owners,
                self.unit_mask[first : last + 1],
                self.unit_source[first : last + 1],
                self.unit_length[first : last + 1],
                out=flat,
                skip=skip,
            )
            out = game.model(flat, call, check=False, owned=True)
            if not np.isfinite(out).all():
                game.model.check_outputs(out)
            parts.append(out)
            done_rows += size
        return parts[0] if len(parts) == 1 else np.concatenate(parts)

    def values(
        self, outputs: np.ndarray, background_out: np.ndarray, probabilities: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """The values (rows, M, O) and each row's f(x) (rows, O) from the outputs."""
        patterns, d = self.patterns, self.d
        n_outputs = outputs.shape[1]
        own = outputs[self.own]  # f(x) of each row
        tables = np.zeros((int((2**d).sum()), n_outputs))
        sampled = outputs[: self.own.start]
        length = self.unit_length[: self.n_units]
        weight = probabilities[self.unit_source[: self.n_units]]
        _unit_sums(tables, sampled, self.unit_entry, length, weight)
        # T empty: sum_b p_b f(b); T whole (d > 0): the members' weight times f(x)
        members, member_pattern = patterns.members, self.member_pattern
        for output in range(n_outputs):
            tables[self.table_start, output] = np.bincount(
                member_pattern,
                probabilities[members] * background_out[members, output],
                minlength=len(d),
            )
        whole = d > 0
        pattern_weight = np.bincount(member_pattern, probabilities[members], minlength=len(d))
        tables[self.table_start[whole] + 2 ** d[whole] - 1] = (
            pattern_weight[whole, None] * own[patterns.row[whole]]
        )
        values = np.zeros((self.n_rows * self.n_features, n_outputs))
        for size in np.unique(d[whole]).tolist():
            which = np.flatnonzero(d == size)
            at = self.table_start[which][None, :] + np.arange(2**size)[:, None]  # (2^d, P)
            shares = _shapley(tables[at].reshape(2**size, -1), size)
            positions = _positions(patterns.differing[which], size)
            index = patterns.row[which][None, :] * self.n_features + positions.T  # (d, P)
            np.add.at(values, index.reshape(-1), shares.reshape(-1, n_outputs))
        return values.reshape(self.n_rows, self.n_features, n_outputs), own


def _unit_sums(
    tables: np.ndarray,
    outputs: np.ndarray,
    unit_entry: np.ndarray,
    unit_length: np.ndarray,
    unit_weight: np.ndarray,
) -> None:
    """tables[unit_entry[u] + t] += unit_weight[u] * outputs of unit u's row t, unit after
    unit and row after row (compiled, or numpy's bincount, which adds in the same order)."""
    outputs = np.ascontiguousarray(outputs, dtype=np.float64)
    if _game._distinct is not None and _game.COMPILED_DISTINCT:
        _game._distinct.unit_sums(
            tables, outputs, unit_entry.astype(np.int64), unit_length.astype(np.int64),
            unit_weight.astype(np.float64), tables.shape[1],
        )  # fmt: skip
        return
    first = np.cumsum(unit_length) - unit_length
    entry = np.repeat(unit_entry - first, unit_length) + np.arange(int(unit_length.sum()))
    weight = np.repeat(unit_weight, unit_length)
    for output in range(tables.shape[1]):
        tables[:, output] += np.bincount(entry, weight * outputs[:, output], minlength=len(tables))


def _positions(differing: np.ndarray, size: int) -> np.ndarray:
    """The features (patterns, size) where each of these patterns of ``size`` features
    differs, in increasing order."""
    return np.nonzero(differing)[1].reshape(len(differing), size)


def _shapley(tables: np.ndarray, n_players: int) -> np.ndarray:
    """Shapley values (n_players, C) of C games' tables (2^n_players, C), as
    ``shapley_from_table``, with every column summed row after row: reductions along the
    first axis of a C-contiguous array of at least two columns run that way, so a game's values
    do not depend on the games beside it (one column alone would be summed pairwise)."""
    both, lacking = _table_weights(n_players)
    alone = tables.shape[1] < 2
    if alone:
        tables = np.column_stack([tables, np.zeros(len(tables))])
    tables = tables - tables[0]
    weighted = both[:, None] * tables
    n_columns = tables.shape[1]
    values = np.empty((n_players, n_columns))
    for player in range(n_players):
        # coalitions that hold the player: the second half of each block of 2^(player + 1)
        holding = weighted.reshape(-1, 2, 2**player, n_columns)[:, 1].reshape(-1, n_columns)
        values[player] = np.add.reduce(holding, axis=0)
    values -= np.add.reduce(lacking[:, None] * tables, axis=0)
    return values[:, :1] if alone else values
