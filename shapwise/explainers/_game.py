"""The coalition game of one explanation: v_r(S) = link(mean over background of f(row r masked to S)).

One :class:`CoalitionGame` per explanation holds the model, the masker, the link, the rows being
explained and typed caches of what does not depend on the row; the coalition estimators (exact,
permutation, partition, kernel) only choose coalitions and combine their values.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from itertools import pairwise

import numpy as np

from shapwise.explainers._coalitions import coalition_keys
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
# Repeated masked rows are numbered densely when a chunk's pairs of a row and a background row
# have at most this many possible masked rows per (coalition, pair) entry, else by sorting.
DENSE_SLOTS_PER_PAIR = 4

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
    """

    empty: np.ndarray | None = None
    link_weights: tuple[np.ndarray, np.ndarray] | None = None
    probabilities: np.ndarray | None = None
    input_buffer: np.ndarray | None = None
    distinct_share: float = 1.0
    row_link_weights: dict[int, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)


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

    def row_groups(self, coalitions_per_row: int) -> list[range]:
        """The rows in consecutive groups of at most GROUP_COALITIONS coalitions (at least one
        row each), evaluated together: bounds the memory of their value tables, and lets a
        progress bar move."""
        size = max(1, GROUP_COALITIONS // max(coalitions_per_row, 1))
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
        out, inputs = _chunk_outputs(game, masks[chunk], rows, chunk_owners - first, call)
        reduced.append(reduce(out, positions[chunk]))
        if not np.isfinite(reduced[-1]).all():  # so is an output: one pass over far fewer values
            game.model.check_outputs(inputs)
            check_finite(reduced[-1], "the model's mean output over the background rows")
    if not reduced:
        return np.empty((0, 0), dtype=np.float64)
    return reduced[0] if len(reduced) == 1 else np.concatenate(reduced)


def _chunk_outputs(
    game: CoalitionGame, masks: np.ndarray, rows: np.ndarray, owners: np.ndarray, call: int
) -> tuple[np.ndarray, np.ndarray]:
    """The model outputs (K, background rows, O) of K masks of ``rows[owners]``, and the
    outputs as the model gave them (the rows it was given, O).

    With a masker that fills hidden features from background rows, each distinct masked row
    is evaluated once: where the row's value equals background row b's, hiding the feature
    changes nothing, so masks that differ only there give b the same masked row; their
    outputs are copied back to every mask that has them.
    """
    pairs = _distinct_pairs(game, masks, rows, owners)
    if pairs is None:
        inputs = game.masker.masked_rows(masks, rows, owners, out=_input_buffer(game, len(masks)))
        k, n_rows = inputs.shape[:2]
        flat = inputs.reshape(k * n_rows, *inputs.shape[2:])
        out = game.model(flat, call, check=False, owned=True)  # a fresh buffer of ours
        return out.reshape(k, n_rows, -1), out
    coalition, background_row, positions = pairs
    n_background = game.masker.shape[0]
    buffer = _input_buffer(game, -(-len(coalition) // n_background))
    flat = buffer.reshape(-1, buffer.shape[-1])[: len(coalition)]
    game.masker.masked_pairs(masks[coalition], rows, owners[coalition], background_row, out=flat)
    out = game.model(flat, call, check=False, owned=True)
    return out[positions].reshape(len(masks), n_background, out.shape[-1]), out


def _distinct_pairs(
    game: CoalitionGame, masks: np.ndarray, rows: np.ndarray, owners: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """The distinct masked rows of K masks of ``rows[owners]``: for one (mask, background row)
    pair of each, its mask and background row; and the position of every pair (k * B + b)
    among them. None where no row has a feature equal to a background row's (every pair is
    distinct), or the masker cannot say.

    Pair (k, b) is the masked row of ``mask_k & differs(row, b)`` over background row b: two
    masks of one row that agree where the row differs from b give b the same masked row, bit
    for bit.
    """
    masker = game.masker
    n_features = game.n_features
    if not masker.fills_from_background or not masker.supports_out or n_features > 64:
        return None
    differs = masker.differs(rows, _input_dtype(game))  # (rows, B, M)
    if differs is None:
        return None
    codes = coalition_keys(differs)  # (rows, B)
    tied = codes != coalition_keys(np.ones(n_features, dtype=bool))  # some feature is the same
    if not tied.any():
        game.cache.distinct_share = 1.0
        return None
    n_background = differs.shape[1]
    tied_pairs = tied[owners].reshape(-1)  # (K * B,)
    mine = np.flatnonzero(tied_pairs)
    # pair (r, b) has 2^(features that differ) possible masked rows: numbered densely when
    # they are not many more than the masks that could reach them, else found by sorting
    n_differing = differs.sum(axis=2)
    slots = np.where(tied, 2.0**n_differing, 0.0)
    if n_features <= 52 and slots.sum() <= DENSE_SLOTS_PER_PAIR * max(len(mine), 1):
        first, group = _dense_groups(masks, owners, differs, slots, mine)
    else:
        coalition = mine // n_background
        background_row = mine - coalition * n_background
        owner = owners[coalition]
        keys = coalition_keys(masks)[coalition] & codes[owner, background_row]
        pair = owner.astype(np.uint64) * np.uint64(n_background)
        pair += background_row.astype(np.uint64)
        first, group = _groups(pair, keys, 8 * -(-n_features // 8), len(rows) * n_background)
    alone = np.flatnonzero(~tied_pairs)
    positions = np.empty(len(tied_pairs), dtype=np.intp)
    positions[alone] = np.arange(len(alone))
    positions[mine] = len(alone) + group
    chosen = np.concatenate([alone, mine[first]])
    game.cache.distinct_share = len(chosen) / len(positions)
    return chosen // n_background, chosen % n_background, positions


def _dense_groups(
    masks: np.ndarray,
    owners: np.ndarray,
    differs: np.ndarray,
    slots: np.ndarray,
    mine: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Entries ``mine`` (k * B + b) with the same masked row, found without sorting: (an entry
    of each distinct masked row, each entry's group).

    The masked row of (k, b) is numbered by the bits of mask k at the features where row
    owners[k] differs from background row b, packed in order, after the numbers of the pairs
    before it (``slots`` of them each)."""
    # bit j of the packed number, where the row differs from b: 2^(differing features before j)
    place = np.where(differs, 2.0 ** (np.cumsum(differs, axis=2) - 1), 0.0)  # (rows, B, M)
    n_background = differs.shape[1]
    packed = np.empty((len(masks), n_background))
    starts = [0, *(np.flatnonzero(np.diff(owners)) + 1).tolist(), len(masks)]
    for start, stop in pairwise(starts):
        packed[start:stop] = masks[start:stop].astype(np.float64) @ place[owners[start]].T
    offsets = np.concatenate([[0.0], np.cumsum(slots.reshape(-1))[:-1]]).reshape(slots.shape)
    packed += offsets[owners]
    flat = packed.reshape(-1)
    numbers = (flat if len(mine) == len(flat) else flat[mine]).astype(np.int64)
    present = np.zeros(int(slots.sum()), dtype=bool)
    present[numbers] = True
    group = (np.cumsum(present) - 1)[numbers]
    entry = np.empty(len(present), dtype=np.intp)
    entry[numbers] = np.arange(len(numbers))  # any entry of a number gives the same row
    return entry[present], group


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
        buffer = game.cache.input_buffer = np.empty((n_masks, *shape), dtype=dtype)
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
