"""The coalition game of one explanation: v_r(S) = link(mean over background of f(row r masked to S)).

One :class:`CoalitionGame` per explanation holds the model, the masker, the link, the rows being
explained and typed caches of what does not depend on the row; the coalition estimators (exact,
permutation, partition, kernel) only choose coalitions and combine their values.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from shapwise.explainers._coalitions import coalition_keys

try:  # the compiled distinct-row finder (_distinct.c), built at install with a C compiler
    from shapwise.explainers import _distinct
except ImportError:  # pragma: no cover - the numpy path below does the same
    _distinct = None
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
# Where masked rows repeat, chunks hold up to 1 / MIN_DISTINCT_SHARE times as many masks.
MIN_DISTINCT_SHARE = 1 / 8
# Repeated masked rows are numbered densely when a chunk's patterns (see _Patterns) have at most
# this many possible keys per (mask, pattern) entry, else by sorting.
DENSE_SLOTS_PER_PAIR = 4
# What looking for distinct masked rows costs beyond writing every masked row: per masked row,
# and per (mask, pattern) entry grouped (see _Patterns), measured on 2 cores (_worth_finding).
FIND_SECONDS_PER_MASKED_ROW = 25e-9
FIND_SECONDS_PER_ENTRY = 30e-9
FIND_SECONDS_PER_ENTRY_COMPILED = 8e-9  # the compiled finder's (_distinct.c)
# None: distinct masked rows are looked for where _worth_finding says it pays; True / False:
# always / never (where the masker allows it), for comparing the two.
FIND_DISTINCT_ROWS: bool | None = None
# Whether the compiled finder is used where it is built (False: the numpy path, for tests).
COMPILED_DISTINCT = True

Reduce = Callable[[np.ndarray, np.ndarray], np.ndarray]


@dataclass
class GameCache:
    """What one explanation computes once and every row reuses.

    Attributes:
        empty: v(empty), when the masker's empty coalition gives the same inputs for every row.
        link_weights: the linearised link's background-row weights and v(empty), likewise.
        probabilities: the background rows' weights, normalised to sum to one.
        input_buffer: masked inputs are written into this array, reused for every chunk.
        distinct_share: the share of distinct masked rows among the last chunk's (its size
            is scaled by it, so model calls stay full).
        scratch: arrays the distinct-row finder reuses for every chunk, by name (fresh large
            arrays cost a page fault per page each time).
        patterns: the last chunk's rows (first, count) and their background patterns.
    """

    empty: np.ndarray | None = None
    link_weights: tuple[np.ndarray, np.ndarray] | None = None
    probabilities: np.ndarray | None = None
    input_buffer: np.ndarray | None = None
    distinct_share: float = 1.0
    row_link_weights: dict[int, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    scratch: dict[str, np.ndarray] = field(default_factory=dict)
    patterns: tuple[tuple[int, int], _Patterns | None] | None = None

    def reused(self, name: str, size: int, dtype: type) -> np.ndarray:
        """A 1-D array of ``size`` items under ``name``, reused (grown as needed): what it
        held before is overwritten by the next caller."""
        array = self.scratch.get(name)
        if array is None or len(array) < size or array.dtype != dtype:
            array = self.scratch[name] = np.empty(max(size, 1), dtype=dtype)
        return array[:size]


class CoalitionGame:
    """Evaluates coalitions of the features of the rows of one explanation, in large batches.

    Args:
        model: the batched model.
        masker: builds the masked inputs (its protocol only).
        rows: the rows being explained, (N, *row shape) in the masker's feature layout.
        link: applied to the background-averaged output.
        outputs: (N, k) the output positions each row is explained for (None: all); an estimator
            may spend its budget on them.
        linearize_link: average the linked outputs of the background rows with weights that make
            the empty coalition's value link(mean output) (shap's ``linearize_link``), so v(S) is a
            weighted sum of per-background-row games and a model additive in link space for one
            background row stays additive for many. Only matters for a non-identity link.
        batch_size: rows per model call for this explanation (None: the model adapter decides).
    """

    def __init__(
        self,
        model: Model,
        masker: Masker,
        rows: np.ndarray,
        link: Link,
        *,
        outputs: np.ndarray | None = None,
        linearize_link: bool = False,
        batch_size: int | None = None,
    ) -> None:
        self.model = model
        self.masker = masker
        self.rows = rows
        self.link = link
        self.n_rows = len(rows)
        self.n_features = masker.shape[1]
        self.outputs = outputs
        self.linearize_link = linearize_link and link.name != "identity"
        self.batch_size = batch_size
        self.cache = GameCache()

    def row(self, index: int) -> RowGame:
        """The game of one row."""
        return RowGame(self, index)

    def values(self, masks: np.ndarray, row: int = 0) -> np.ndarray:
        """v(S) of K masks of one row: (K, n_outputs) float64."""
        masks = np.asarray(masks, dtype=bool)
        return _values(self, masks, np.full(len(masks), row, dtype=np.intp))

    def values_of(self, masks: np.ndarray, owners: np.ndarray) -> np.ndarray:
        """v(S) of K masks, mask k of row ``owners[k]`` (non-decreasing): (K, n_outputs)."""
        return _values(self, np.asarray(masks, dtype=bool), np.asarray(owners, dtype=np.intp))

    def tables(self, rows: range, masks: np.ndarray, empty_at: int | None = None) -> np.ndarray:
        """v(S) of K masks per row of ``rows``, masks (rows, K, M) -> values (K, rows, n_outputs).

        Evaluating several rows' coalitions together means fewer, fuller model calls.
        ``empty_at``: the position of the empty coalition among every row's K masks, when the
        caller knows it (else it is looked for).
        """
        n_rows, k, n_features = masks.shape
        every = masks.reshape(-1, n_features).astype(bool, copy=False)
        owners = np.repeat(np.arange(rows.start, rows.stop, dtype=np.intp), k)
        empty = None if empty_at is None else np.arange(n_rows) * k + empty_at
        values = _values(self, every, owners, empty)
        return values.reshape(n_rows, k, -1).transpose(1, 0, 2)

    def row_groups(self, coalitions_per_row: int, min_rows: int = 1) -> list[range]:
        """The rows in consecutive groups of at most GROUP_COALITIONS coalitions (at least
        ``min_rows`` rows each, as many as fit threads that share a group), evaluated
        together: bounds the memory of their value tables, and lets a progress bar move."""
        size = max(min_rows, 1, GROUP_COALITIONS // max(coalitions_per_row, 1))
        return [range(s, min(s + size, self.n_rows)) for s in range(0, self.n_rows, size)]

    # ---------------------------------------------------------------- row-independent parts
    def probabilities(self, n_rows: int) -> np.ndarray:
        """The masker's weights of its ``n_rows`` background rows, normalised to sum to one
        (equal weights when it has none)."""
        weights = self.masker.weights
        if weights is None:
            return _equal_probabilities(n_rows)
        if self.cache.probabilities is None:
            weights = np.asarray(weights, np.float64)
            self.cache.probabilities = weights / weights.sum()
        return self.cache.probabilities

    def background_mean(self, out: np.ndarray) -> np.ndarray:
        """(Weighted) mean over the background rows: (K, rows, O) -> (K, O).

        Each mean is summed in the same order however many masks come at once (a matrix
        product's order depends on its shape), so values do not depend on how the masks were
        split into chunks; it is also faster here.
        """
        return np.einsum("kbo,b->ko", out, self.probabilities(out.shape[1]))

    def linearization(self, row: int) -> tuple[np.ndarray, np.ndarray]:
        """Background-row weights (rows, O) for the linearised link, and v(empty) = link(mean)."""
        constant = self.masker.empty_is_constant
        if constant and self.cache.link_weights is not None:
            return self.cache.link_weights
        if row in self.cache.row_link_weights:
            return self.cache.row_link_weights[row]
        empty = np.zeros((1, self.n_features), dtype=bool)
        rows = _evaluate_masks(self, empty, np.array([row], np.intp), lambda out, _: out)[0]
        probabilities = self.probabilities(len(rows))
        weights = link_weights(rows, self.link, probabilities)
        found = (weights, self.link(probabilities @ rows))
        if constant:
            self.cache.link_weights = found
        else:
            self.cache.row_link_weights[row] = found
        return found


class RowGame:
    """The game of one row of a :class:`CoalitionGame` (for estimators that go row by row)."""

    def __init__(self, game: CoalitionGame, index: int) -> None:
        self.game = game
        self.index = index
        self.x = game.rows[index]
        self.n_features = game.n_features
        self.masker = game.masker
        self.outputs = None if game.outputs is None else game.outputs[index]

    def values(self, masks: np.ndarray) -> np.ndarray:
        """v(S) for K masks: (K, n_outputs) float64."""
        return self.game.values(masks, self.index)


@lru_cache(maxsize=16)
def _equal_probabilities(n_rows: int) -> np.ndarray:
    probabilities = np.full(n_rows, 1.0 / n_rows)
    probabilities.setflags(write=False)
    return probabilities


def _values(
    game: CoalitionGame, every: np.ndarray, owners: np.ndarray, empty: np.ndarray | None = None
) -> np.ndarray:
    """v(S) of the masks ``every`` (total, M), mask k of row ``owners[k]`` (non-decreasing):
    (total, n_outputs). ``empty``: the positions of the empty masks, if known."""
    if empty is None:
        empty = np.flatnonzero(~every.any(axis=1))
    if game.linearize_link:
        distinct = np.unique(owners)
        weighted = {int(row): game.linearization(int(row)) for row in distinct}
        weights = np.stack([weighted[int(row)][0] for row in distinct])  # (rows, bg rows, O)
        where = np.searchsorted(distinct, owners)
        empty_values = (
            np.stack([weighted[int(owners[k])][1] for k in empty]) if len(empty) else None
        )

        def reduce(out: np.ndarray, of: np.ndarray) -> np.ndarray:
            return game.background_mean(weights[where[of]] * game.link(out))

        return _evaluate_all_but(
            game, every, np.arange(len(every)), owners, empty, reduce, empty_values
        )

    def mean(out: np.ndarray, of: np.ndarray) -> np.ndarray:
        return game.background_mean(out)

    positions = np.arange(len(every))
    if not game.masker.empty_is_constant:
        return game.link(_evaluate_masks(game, every, owners, mean))
    # the empty coalition is evaluated once per explanation (the first time a row has it)
    cache = game.cache
    if cache.empty is not None:
        values = _evaluate_all_but(game, every, positions, owners, empty, mean, cache.empty)
    else:
        values = _evaluate_all_but(game, every, positions, owners, empty[1:], mean, None)
        if len(empty):  # nothing before the first empty mask was left out
            cache.empty = values[empty[0]].copy()
            values[empty[1:]] = cache.empty
    return game.link(values)


def _evaluate_all_but(
    game: CoalitionGame,
    every: np.ndarray,
    positions: np.ndarray,
    owners: np.ndarray,
    left_out: np.ndarray,
    reduce: Reduce,
    others: np.ndarray | None,
) -> np.ndarray:
    """Values of all masks, evaluating all but those at ``left_out``, which get ``others`` (one
    value, or one per mask left out; when None they are left for the caller to fill).

    ``reduce`` gets the positions of its masks among ``every``."""
    if not len(left_out):
        return _evaluate_masks(game, every, owners, reduce, positions)
    keep = np.ones(len(every), dtype=bool)
    keep[left_out] = False
    kept = _evaluate_masks(game, every[keep], owners[keep], reduce, positions[keep])
    if not len(kept):  # all were left out
        return np.broadcast_to(others, (len(every), np.shape(others)[-1])).copy()
    values = np.empty((len(every), kept.shape[-1]), dtype=np.float64)
    values[keep] = kept
    if others is not None:
        values[left_out] = others
    return values


def _evaluate_masks(
    game: CoalitionGame,
    masks: np.ndarray,
    owners: np.ndarray,
    reduce: Reduce,
    positions: np.ndarray | None = None,
) -> np.ndarray:
    """``reduce(outputs (K, rows, O), positions (K,))`` of the model outputs of ``masks``, mask k
    of row ``owners[k]`` (non-decreasing): masked inputs built in large chunks, each evaluated in
    one or more model calls. ``positions`` (default 0..K-1) are handed to ``reduce``."""
    if positions is None:
        positions = np.arange(len(masks))
    rows_per_mask = max(game.masker.shape[0], 1)
    reduced = []
    start = 0
    while start < len(masks):
        call, most_calls = game.model.call_plan(game.rows.shape[1:], game.batch_size)
        calls = max(1, _chunk_rows(game) // call)
        if most_calls:  # no more than the adapter wants at this size (it is timing it)
            calls = min(calls, most_calls)
        # where masked rows repeat, a chunk of as many masks gives fewer model rows
        share = max(game.cache.distinct_share, MIN_DISTINCT_SHARE)
        per_chunk = max(1, int(call * calls / (rows_per_mask * share)))
        chunk = slice(start, start + per_chunk)
        start += per_chunk
        chunk_owners = owners[chunk]
        first = int(chunk_owners[0])
        rows = game.rows[first : int(chunk_owners[-1]) + 1]
        out, inputs = _chunk_outputs(game, masks[chunk], first, rows, chunk_owners - first, call)
        reduced.append(reduce(out, positions[chunk]))
        if not np.isfinite(reduced[-1]).all():  # so is an output: one pass over far fewer values
            game.model.check_outputs(inputs)
            check_finite(reduced[-1], "the model's mean output over the background rows")
    if not reduced:
        return np.empty((0, 0), dtype=np.float64)
    return reduced[0] if len(reduced) == 1 else np.concatenate(reduced)


def _chunk_outputs(
    game: CoalitionGame,
    masks: np.ndarray,
    first: int,
    rows: np.ndarray,
    owners: np.ndarray,
    call: int,
) -> tuple[np.ndarray, np.ndarray]:
    """The model outputs (K, background rows, O) of K masks of ``rows[owners]`` (the game's
    rows from ``first`` on), and the outputs as the model gave them (the rows it was given,
    O).

    With a masker that fills hidden features from background rows, each distinct masked row
    is evaluated once: where the row's value equals background row b's, hiding the feature
    changes nothing, so masks that differ only there give b the same masked row; their
    outputs are copied back to every mask that has them.
    """
    pairs = _distinct_pairs(game, masks, first, rows, owners)
    n_background = game.masker.shape[0]
    if pairs is None:
        inputs = game.masker.masked_rows(masks, rows, owners, out=_input_buffer(game, len(masks)))
        k, n_rows = inputs.shape[:2]
        flat = inputs.reshape(k * n_rows, *inputs.shape[2:])
        out = game.model(flat, call, check=False, owned=True)  # a fresh buffer of ours
        return out.reshape(k, n_rows, -1), out
    coalition, background_row, spread = pairs
    buffer = _input_buffer(game, -(-len(coalition) // n_background))
    flat = buffer.reshape(-1, buffer.shape[-1])[: len(coalition)]
    game.masker.masked_pairs(masks, rows, owners, background_row, out=flat, coalition=coalition)
    out = game.model(flat, call, check=False, owned=True)
    return spread(out).reshape(len(masks), n_background, out.shape[1]), out


Spread = Callable[[np.ndarray], np.ndarray]


def _row_patterns(game: CoalitionGame, first: int, rows: np.ndarray) -> _Patterns | None:
    """The :class:`_Patterns` of ``rows``, the game's rows from ``first`` on; None where the
    masker cannot say where rows differ. Kept for the next chunk of the same rows (an
    estimator that refines in rounds, such as Partition's, evaluates them again and again)."""
    key = (first, len(rows))
    cached = game.cache.patterns
    if cached is None or cached[0] != key:
        differs = game.masker.differs(rows, _input_dtype(game))  # (rows, B, M)
        cached = game.cache.patterns = (key, None if differs is None else _Patterns(differs))
    return cached[1]


def _distinct_pairs(
    game: CoalitionGame, masks: np.ndarray, first: int, rows: np.ndarray, owners: np.ndarray
) -> tuple[np.ndarray, np.ndarray, Spread] | None:
    """The distinct masked rows of K masks of ``rows[owners]`` (the game's rows from
    ``first`` on): for each, a mask and a
    background row that give it; and a function from their outputs (L, O) float64 to those of
    every (mask k, background row b) entry, (K * B, O) in order. None where they are not
    looked for (see :func:`_worth_finding`), no masked row can repeat, or the masker cannot
    say.

    Entry (k, b) is the masked row of ``mask_k & differs(row, b)`` over background row b: two
    masks of one row that agree where the row differs from b give b the same masked row, bit
    for bit. The background rows where a row differs in the same features form one pattern;
    masks are grouped once per (row, pattern), not once per (row, background row), which on
    mostly continuous data (a few patterns per row) makes the search far cheaper.
    """
    masker = game.masker
    if (
        FIND_DISTINCT_ROWS is False
        or not masker.fills_from_background
        or not masker.supports_out
        or game.n_features > 64
    ):
        return None
    patterns = _row_patterns(game, first, rows)
    if patterns is None:
        return None
    masks_per_row = np.bincount(owners, minlength=len(rows))
    n_masked = len(masks) * patterns.n_background
    fewest, most = patterns.distinct_bounds(masks_per_row)
    n_entries = int(masks_per_row @ np.diff(patterns.first_of_row))  # (mask, pattern) pairs
    worth = _worth_finding(game, n_masked, n_entries, fewest, most)
    if worth is False:
        game.cache.distinct_share = 1.0
        return None
    found = patterns.distinct_rows(masks, owners, masks_per_row, game.cache.reused)
    distinct = len(found[0])  # counted: is writing them and copying back still worth it?
    if worth is None and not _worth_finding(game, n_masked, 0, distinct, distinct):
        game.cache.distinct_share = 1.0
        return None
    game.cache.distinct_share = distinct / n_masked
    return found


def _worth_finding(
    game: CoalitionGame, n_masked: int, n_entries: int, fewest: int, most: int
) -> bool | None:
    """Whether looking for the distinct ones among ``n_masked`` masked rows pays, knowing that
    there are ``fewest`` to ``most`` of them: True, False, or None when the bounds do not say
    (count them first, then ask again with the count as both bounds and no ``n_entries``).

    Each repeated row found spares the model's measured seconds per row (this explainer's
    calls so far, or those of another explainer of the same model). Finding them costs
    FIND_SECONDS_PER_MASKED_ROW per masked row (writing the distinct ones and copying their
    outputs back, beyond writing every one) and FIND_SECONDS_PER_ENTRY per (mask, pattern)
    entry grouped (FIND_SECONDS_PER_ENTRY_COMPILED with the compiled finder). It pays when the
    saving exceeds the cost: surely when ``n_masked - most``
    rows spared do, never when ``n_masked - fewest`` do not. Before the model's cost is known
    (its first call), distinct rows are looked for wherever some can repeat.
    ``FIND_DISTINCT_ROWS`` True or False overrides the rule.
    """
    if FIND_DISTINCT_ROWS is not None:
        return FIND_DISTINCT_ROWS
    if fewest >= n_masked:
        return False
    per_row = game.model.seconds_per_row
    if per_row is None:
        return True
    per_entry = FIND_SECONDS_PER_ENTRY_COMPILED if _compiled() else FIND_SECONDS_PER_ENTRY
    cost = n_masked * FIND_SECONDS_PER_MASKED_ROW + n_entries * per_entry
    if (n_masked - most) * per_row > cost:
        return True
    if (n_masked - fewest) * per_row <= cost:
        return False
    return None


def _fresh(name: str, size: int, dtype: type) -> np.ndarray:
    """A new array where no :meth:`GameCache.reused` is at hand."""
    return np.empty(size, dtype=dtype)


def _compiled() -> bool:
    """Whether distinct masked rows are found by the compiled finder."""
    return _distinct is not None and COMPILED_DISTINCT


class _Patterns:
    """The background rows of each row grouped by the features where the row differs from
    them (a pattern), from ``differs`` (rows, B, M).

    Patterns are numbered by row, then by their bits; members lists every pattern's background
    rows, pattern by pattern, and rank is each (row, background row)'s place among its
    pattern's members.
    """

    def __init__(self, differs: np.ndarray) -> None:
        n_rows, n_background, n_features = differs.shape
        self.n_background = n_background
        self.n_features = n_features
        codes = coalition_keys(differs)  # (rows, B) uint64
        order = np.argsort(codes, axis=1, kind="stable")
        sorted_codes = np.take_along_axis(codes, order, axis=1).reshape(-1)
        new = np.ones(n_rows * n_background, dtype=bool)
        new[1:] = sorted_codes[1:] != sorted_codes[:-1]
        new[::n_background] = True  # every row starts its own patterns
        self.start = np.flatnonzero(new)  # each pattern's first member among ``members``
        self.size = np.diff(self.start, append=n_rows * n_background)
        self.code = sorted_codes[self.start]
        self.row = self.start // n_background
        self.members = order.reshape(-1)  # background rows, pattern by pattern
        sorted_pattern = np.cumsum(new) - 1
        flat = (np.arange(n_rows)[:, None] * n_background + order).reshape(-1)
        self.pattern = np.empty(n_rows * n_background, dtype=np.intp)
        self.pattern[flat] = sorted_pattern
        self.pattern = self.pattern.reshape(n_rows, n_background)  # global pattern ids
        self.rank = np.empty(n_rows * n_background, dtype=np.intp)
        self.rank[flat] = np.arange(n_rows * n_background) - self.start[sorted_pattern]
        self.rank = self.rank.reshape(n_rows, n_background)
        self.first_of_row = np.searchsorted(self.row, np.arange(n_rows + 1))
        first_member = self.row * n_background + self.members[self.start]
        self.differing = differs.reshape(-1, n_features)[first_member]  # (patterns, M)
        self.n_differing = self.differing.sum(axis=1)

    def distinct_bounds(self, masks_per_row: np.ndarray) -> tuple[int, int]:
        """Bounds on the number of distinct masked rows of that many distinct masks per row.

        A (row, background row) pair differing in d of M features has at most
        min(masks, 2^d) of them, and at least masks / 2^(M - d): masks agreeing on the d
        features give one row, and at most 2^(M - d) distinct masks agree there.
        """
        masks = masks_per_row[self.row].astype(np.float64)
        most = np.minimum(masks, 2.0**self.n_differing)
        fewest = np.ceil(masks / 2.0 ** (self.n_features - self.n_differing))
        return int(self.size @ fewest), int(self.size @ most)

    def distinct_rows(
        self,
        masks: np.ndarray,
        owners: np.ndarray,
        masks_per_row: np.ndarray,
        reused: Callable[[str, int, type], np.ndarray] | None = None,
    ) -> tuple[np.ndarray, np.ndarray, Spread]:
        """(mask, background row) of each distinct masked row of ``masks`` of ``owners``, and
        the function that spreads their values to every (k, b) entry (as
        :func:`_distinct_pairs`).

        Each mask is keyed once per pattern of its row by its bits where the pattern's
        features differ; equal keys of one pattern are one masked row for every background
        row of the pattern. The compiled finder lays distinct rows out in the order their
        (pattern, key) groups are first met, mask by mask, then by member; numpy's by
        pattern, key group, then member. ``reused`` (as :meth:`GameCache.reused`) gives the
        compiled finder its working arrays; they hold this chunk's until the next one.
        """
        if _compiled():
            return self._compiled_distinct_rows(masks, owners, reused or _fresh)
        patterns_per_row = np.diff(self.first_of_row)
        per_mask = patterns_per_row[owners]  # (K,) patterns of each mask's row
        entry_start = np.cumsum(per_mask) - per_mask  # each mask's first (mask, pattern) entry
        first, group = self._groups(masks, owners, masks_per_row, per_mask, entry_start)
        # group g: its mask and pattern, its masked rows (one per member), the first one's place
        group_mask = np.searchsorted(entry_start, first, side="right") - 1
        group_pattern = self.first_of_row[owners[group_mask]] + first - entry_start[group_mask]
        rows_of_group = self.size[group_pattern]
        group_place = np.cumsum(rows_of_group) - rows_of_group
        # entry (k, b) is in the group of (k, the pattern of (k's row, b)), at b's rank
        row_pattern = self.pattern - self.first_of_row[:-1, None]  # (rows, B) local ids
        entry_place = group_place[group]
        positions = np.empty((len(masks), self.n_background), dtype=np.intp)
        mask_start = np.cumsum(masks_per_row) - masks_per_row
        for row in np.flatnonzero(masks_per_row).tolist():  # a row's (masks, patterns) table
            start, stop = mask_start[row], mask_start[row] + masks_per_row[row]
            table = entry_place[
                entry_start[start] : entry_start[start] + (stop - start) * (patterns_per_row[row])
            ].reshape(stop - start, patterns_per_row[row])
            np.take(table, row_pattern[row], axis=1, out=positions[start:stop])
            positions[start:stop] += self.rank[row]
        coalition = np.repeat(group_mask, rows_of_group)
        member = np.repeat(self.start[group_pattern] - group_place, rows_of_group)
        member += np.arange(len(member))
        positions = positions.reshape(-1)

        def spread(values: np.ndarray) -> np.ndarray:
            if values.ndim == 2 and values.shape[1] == 1:  # a flat take is faster
                return np.take(values.reshape(-1), positions)[:, None]
            return np.take(values, positions, axis=0)

        return coalition, self.members[member], spread

    def _compiled_distinct_rows(
        self, masks: np.ndarray, owners: np.ndarray, reused: Callable[[str, int, type], np.ndarray]
    ) -> tuple[np.ndarray, np.ndarray, Spread]:
        """:meth:`distinct_rows` in one compiled pass, and the spread in another (see
        _distinct.c)."""
        owners = np.ascontiguousarray(owners, dtype=np.int64)
        first_of_row = self.first_of_row.astype(np.int64)
        places = reused("places", int(np.diff(first_of_row)[owners].sum()), np.int64)
        n_entries = len(masks) * self.n_background
        coalition = reused("coalition", n_entries, np.int64)  # one distinct row per entry at most
        background_row = reused("background_row", n_entries, np.int64)
        n_distinct = _distinct.distinct(
            places,
            coalition,
            background_row,
            np.ascontiguousarray(masks, dtype=bool),
            owners,
            first_of_row,
            np.ascontiguousarray(self.differing, dtype=bool),
            self.start.astype(np.int64),
            self.size.astype(np.int64),
            self.members.astype(np.int64),
            self.n_background,
            self.n_features,
        )
        row_pattern = (self.pattern - self.first_of_row[:-1, None]).astype(np.int64)
        rank = self.rank.astype(np.int64)

        def spread(values: np.ndarray) -> np.ndarray:
            values = np.ascontiguousarray(values, dtype=np.float64).reshape(n_distinct, -1)
            every = reused("every", n_entries * values.shape[1], np.float64)
            every = every.reshape(n_entries, values.shape[1])
            _distinct.spread(
                every, values, places, owners, first_of_row, row_pattern, rank,
                self.n_background, values.shape[1],
            )  # fmt: skip
            return every

        return coalition[:n_distinct], background_row[:n_distinct], spread

    def _groups(
        self,
        masks: np.ndarray,
        owners: np.ndarray,
        masks_per_row: np.ndarray,
        per_mask: np.ndarray,
        entry_start: np.ndarray,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Groups of equal (pattern, mask bits where the pattern differs) among the entries
        (mask k, each pattern of its row), entries mask by mask (``per_mask`` of them from
        ``entry_start``): the first entry of each group and each entry's group, groups ordered
        by pattern.

        Numbered densely (the bits packed, after the numbers of the patterns before) when the
        patterns have few possible keys for the entries that reach them, else by sorting."""
        n_entries = int(per_mask.sum())
        slots = 2.0**self.n_differing
        if self.n_features <= 52 and slots.sum() <= DENSE_SLOTS_PER_PAIR * n_entries:
            # bit j of the packed number, where the pattern differs: 2^(differing bits before j)
            place = np.where(self.differing, 2.0 ** (np.cumsum(self.differing, axis=1) - 1), 0.0)
            offsets = np.cumsum(slots) - slots
            packed = np.empty(n_entries)
            mask_start = np.cumsum(masks_per_row) - masks_per_row
            for row in np.flatnonzero(masks_per_row).tolist():
                start, stop = mask_start[row], mask_start[row] + masks_per_row[row]
                patterns = slice(self.first_of_row[row], self.first_of_row[row + 1])
                part = masks[start:stop].astype(np.float64) @ place[patterns].T
                part += offsets[patterns]  # (masks, patterns of the row)
                packed[entry_start[start] : entry_start[start] + part.size] = part.reshape(-1)
            numbers = packed.astype(np.intp)
            present = np.zeros(int(slots.sum()), dtype=bool)
            present[numbers] = True
            entry = np.empty(len(present), dtype=np.intp)
            entry[numbers] = np.arange(n_entries)  # any entry of a number gives the same row
            if present.all():  # every key of every pattern (Exact's coalitions)
                return entry, numbers
            return entry[present], (np.cumsum(present) - 1)[numbers]
        entry_mask = np.repeat(np.arange(len(masks)), per_mask)
        pattern = np.arange(n_entries) - entry_start[entry_mask]
        pattern += self.first_of_row[owners][entry_mask]
        keys = coalition_keys(masks)[entry_mask] & self.code[pattern]
        key_bits = 8 * -(-self.n_features // 8)
        return _groups(pattern.astype(np.uint64), keys, key_bits, len(self.code))


def _groups(
    pair: np.ndarray, keys: np.ndarray, key_bits: int, n_pairs: int
) -> tuple[np.ndarray, np.ndarray]:
    """Entries with equal (pair, key) (uint64 both, keys below 2^key_bits): the first entry of
    each group, and each entry's group."""
    if key_bits + max(n_pairs - 1, 1).bit_length() <= 64:  # one sort of one uint64 key
        _, first, group = np.unique(
            (pair << np.uint64(key_bits)) | keys, return_index=True, return_inverse=True
        )
        return first, group.reshape(-1)
    order = np.lexsort((keys, pair))
    sorted_pair, sorted_keys = pair[order], keys[order]
    starts = np.ones(len(order), dtype=bool)
    starts[1:] = (sorted_pair[1:] != sorted_pair[:-1]) | (sorted_keys[1:] != sorted_keys[:-1])
    group = np.empty(len(order), dtype=np.intp)
    group[order] = np.cumsum(starts) - 1
    return order[starts], group


def _chunk_rows(game: CoalitionGame) -> int:
    """The most masked rows to build at once; before the model's first call its outputs per row
    are unknown, and that chunk is one call."""
    n_outputs = game.model.n_outputs
    if n_outputs is None:
        return 1
    return min(ROWS_PER_CHUNK, CHUNK_ELEMENTS // max(game.rows[0].size, n_outputs, 1))


def _input_buffer(game: CoalitionGame, n_masks: int) -> np.ndarray | None:
    """A buffer for the masked inputs of ``n_masks`` masks, reused for the whole explanation (a
    fresh array per chunk costs more than filling it), or None when the masker cannot write into
    one."""
    if not game.masker.supports_out:
        return None
    shape = game.masker.batch_layout(game.rows[0])[0]
    dtype = _input_dtype(game)
    buffer = game.cache.input_buffer
    if (
        buffer is None
        or len(buffer) < n_masks
        or buffer.shape[1:] != shape
        or buffer.dtype != dtype
    ):
        # grown by doubling, up to a chunk's masks: chunks that grow (refinement rounds)
        # would otherwise each fault in a fresh array
        chunk_masks = -(-_chunk_rows(game) // max(game.masker.shape[0], 1))
        grown = n_masks if buffer is None else max(n_masks, min(2 * len(buffer), chunk_masks))
        buffer = game.cache.input_buffer = np.empty((grown, *shape), dtype=dtype)
    return buffer[:n_masks]


def _input_dtype(game: CoalitionGame) -> np.dtype:
    """The dtype masked inputs are built in (that of the background and rows, or the one the
    model computes in)."""
    return game.model.input_array_dtype(game.masker.batch_layout(game.rows[0])[1])


def concatenate_rows(
    parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]],
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(values, base values, outputs) of groups of rows as those of all rows."""
    if len(parts) == 1:
        return parts[0]
    return tuple(np.concatenate(part) for part in zip(*parts, strict=True))  # type: ignore[return-value]


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


def varying_features(game: RowGame) -> np.ndarray:
    """Features whose value in the row differs from some background row.

    A feature equal to the row's value in every background row cannot change the model input, so
    its Shapley value is exactly 0; leaving it out of the regression spends the budget on the
    others. Known for maskers that declare the background rows hidden features are taken from.
    """
    n = game.n_features
    background = game.masker.data
    if background is None:
        return np.arange(n)
    x = np.asarray(game.x).reshape(-1)
    if background.ndim != 2 or background.shape[1] != n or x.shape[0] != n:
        return np.arange(n)
    return np.flatnonzero(np.any(background != x[None, :], axis=0))
