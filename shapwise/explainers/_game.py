"""The coalition game of one row: v(S) = link(mean over background of f(x masked to S))."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import NamedTuple

import numpy as np

from shapwise.links import Link
from shapwise.maskers._base import Masker
from shapwise.models import Model

# Masked rows built at once: as many as the model takes in one call (so a batch is built, evaluated
# and reduced while it is still in cache), at least MIN_ROWS_PER_CHUNK and at most ROWS_PER_CHUNK.
ROWS_PER_CHUNK = 100_000
MIN_ROWS_PER_CHUNK = 4096
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
        return evaluate([self], [masks])[0]

    def _row_probabilities(self, n_rows: int) -> np.ndarray:
        """The masker's weights of its ``n_rows`` background rows, normalised to sum to one
        (equal weights when it has none)."""
        key = ("row probabilities", n_rows)
        if key not in self.shared:
            weights = getattr(self.masker, "weights", None)
            weights = np.ones(n_rows) if weights is None else np.asarray(weights, np.float64)
            self.shared[key] = weights / weights.sum()
        return self.shared[key]

    def background_mean(self, out: np.ndarray) -> np.ndarray:
        """(Weighted) mean over the background rows: (K, rows, O) -> (K, O)."""
        return np.matmul(self._row_probabilities(out.shape[1]), out)

    def linearization(self) -> tuple[np.ndarray, np.ndarray]:
        """Background-row weights (rows, O) for the linearised link, and v(empty) = link(mean)."""
        if self._link_weights is None:
            constant = self.masker.empty_is_constant
            if constant and "link_weights" in self.shared:
                self._link_weights = self.shared["link_weights"]
            else:
                empty = np.zeros((1, self.n_features), dtype=bool)
                rows = _evaluate_requests([_Request(self, empty, lambda out: out)])[0][0]
                probabilities = self._row_probabilities(len(rows))
                weights = link_weights(rows, self.link, probabilities)
                self._link_weights = (weights, self.link(probabilities @ rows))
                if constant:
                    self.shared["link_weights"] = self._link_weights
        return self._link_weights


class _Request(NamedTuple):
    """Coalitions of one game to evaluate, and how to reduce their (K, rows, O) model outputs."""

    game: CoalitionGame
    masks: np.ndarray
    reduce: Callable[[np.ndarray], np.ndarray]


def evaluate(games: Sequence[CoalitionGame], masks: Sequence[np.ndarray]) -> list[np.ndarray]:
    """v(S) of each game's masks, [(K_i, n_outputs)], the model calls spanning the games.

    The games belong to one explanation (same model, masker, link and ``shared``); batching their
    coalitions together means fewer, fuller model calls and no per-row round trips.
    """
    masks = [np.asarray(m, dtype=bool) for m in masks]
    empties = list(~np.any(masks, axis=2)) if _same_shape(masks) else [~m.any(1) for m in masks]
    first = games[0]
    if first.linearize_link:
        weighted = [game.linearization() for game in games]
        requests = [
            _Request(game, m[~e], lambda out, g=game, w=w: g.background_mean(w * g.link(out)))
            for game, m, e, (w, _) in zip(games, masks, empties, weighted, strict=True)
        ]
        reduced = _evaluate_requests(requests)
        constants = [empty_value for _, empty_value in weighted]
        return [_fill(e, r, c) for e, r, c in zip(empties, reduced, constants, strict=True)]

    # With a constant empty coalition, it is evaluated once (in the first game that has it).
    constant = first.masker.empty_is_constant
    owner = None
    if constant and "empty" not in first.shared:
        owner = next((i for i, e in enumerate(empties) if e.any()), None)
    mean = first.background_mean  # the same for every game of the explanation
    requests = [
        _Request(game, m if not constant or i == owner else m[~e], mean)
        for i, (game, m, e) in enumerate(zip(games, masks, empties, strict=True))
    ]
    reduced = _evaluate_requests(requests)
    if owner is not None:
        first.shared["empty"] = reduced[owner][np.flatnonzero(empties[owner])[0]]
    if constant:
        reduced = [
            r if i == owner else _fill(e, r, first.shared.get("empty"))
            for i, (r, e) in enumerate(zip(reduced, empties, strict=True))
        ]
    return [first.link(r) for r in reduced]


def _same_shape(arrays: list[np.ndarray]) -> bool:
    return all(a.shape == arrays[0].shape for a in arrays)


def row_groups(games: list[CoalitionGame], coalitions_per_row: int) -> list[list[CoalitionGame]]:
    """The games in consecutive groups of at most GROUP_COALITIONS coalitions (at least one game
    each), evaluated together: bounds the memory of their value tables, and lets a progress bar
    move."""
    size = max(1, GROUP_COALITIONS // max(coalitions_per_row, 1))
    return [games[start : start + size] for start in range(0, len(games), size)]


def _fill(empty: np.ndarray, others: np.ndarray, constant: np.ndarray | None) -> np.ndarray:
    """Values of K masks from the values of the non-empty ones and one value for the empty ones."""
    if not empty.any():
        return others
    result = np.empty((len(empty), len(constant)), dtype=np.float64)
    result[empty] = constant
    result[~empty] = others
    return result


def _evaluate_requests(requests: list[_Request]) -> list[np.ndarray]:
    """Reduced model outputs of every request's masks, built and evaluated in chunks that fill
    model calls across requests."""
    first = requests[0].game
    rows_per_mask = max(first.masker.shape[0], 1)
    rows = max(first.model.rows_per_call(first.x.shape), MIN_ROWS_PER_CHUNK)
    chunk = max(1, min(rows, ROWS_PER_CHUNK) // rows_per_mask)
    pieces: list[list[np.ndarray]] = [[] for _ in requests]
    n_outputs = None
    pending: list[tuple[int, int, int]] = []  # (request, start, stop) making up the next chunk
    filled = 0
    work = [(i, r) for i, r in enumerate(requests) if len(r.masks)]
    for index, request in work:
        start = 0
        while start < len(request.masks):
            stop = min(len(request.masks), start + chunk - filled)
            pending.append((index, start, stop))
            filled += stop - start
            start = stop
            if filled == chunk:
                n_outputs = _run_chunk(requests, pending, pieces)
                pending, filled = [], 0
    if pending:
        n_outputs = _run_chunk(requests, pending, pieces)
    return [
        np.concatenate(p) if p else np.empty((0, n_outputs or 0), dtype=np.float64) for p in pieces
    ]


def _run_chunk(
    requests: list[_Request], pending: list[tuple[int, int, int]], pieces: list[list[np.ndarray]]
) -> int:
    """Build the masked inputs of one chunk, call the model once, reduce each piece."""
    first = requests[0].game
    total = sum(stop - start for _, start, stop in pending)
    buffer = _input_buffer(first, total)
    parts, offset = [], 0
    for index, start, stop in pending:
        request = requests[index]
        masks = request.masks[start:stop]
        if buffer is None:
            parts.append(request.game.masker.masked_batch(masks, request.game.x))
        else:
            request.game.masker.masked_batch(
                masks, request.game.x, out=buffer[offset : offset + len(masks)]
            )
        offset += len(masks)
    inputs = (
        buffer if buffer is not None else parts[0] if len(parts) == 1 else np.concatenate(parts)
    )
    k, rows = inputs.shape[:2]
    out = first.model(inputs.reshape(k * rows, *inputs.shape[2:])).reshape(k, rows, -1)
    reduce = requests[pending[0][0]].reduce
    together = all(requests[index].reduce is reduce for index, _, _ in pending)
    reduced = reduce(out) if together else None
    offset = 0
    for index, start, stop in pending:
        part = slice(offset, offset + stop - start)
        pieces[index].append(reduced[part] if together else requests[index].reduce(out[part]))
        offset += stop - start
    return out.shape[2]


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
