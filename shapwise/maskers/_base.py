"""What every masker provides: masked inputs for a batch of coalitions of one row."""

from __future__ import annotations

from typing import Any

import numpy as np

from shapwise.maskers._delta import delta_to_full, is_delta_mask, varying_rows


def standard_mask(mask: Any, n_features: int) -> np.ndarray:
    """A boolean mask over ``n_features`` features; a single True / False applies to all of them."""
    if isinstance(mask, (bool, np.bool_)):
        return np.full(n_features, bool(mask))
    return np.asarray(mask, dtype=bool)


class Masker:
    """Builds model inputs in which only the features of a coalition keep the row's values.

    The masker protocol: explainers use only what is declared here, never a concrete masker
    class. A masker provides ``shape`` and ``masked_batch`` (``masked_rows``, ``check_row`` and
    ``__call__`` have defaults built on it), and declares its capabilities as attributes.

    Attributes:
        shape: (rows produced per coalition, number of features).
        clustering: a scipy linkage matrix over the features (a hierarchy for Owen values), or None.
        empty_is_constant: the empty coalition gives the same inputs for every row, so its value
            can be computed once per explanation.
        feature_names: names of the features, when the masker knows them.
        weights: a weight per background row (e.g. k-means cluster sizes), or None for equal weights.
        columns: the background DataFrame's columns (``numeric.Columns``: names, and dtypes of
            a table of mixed types), which rows to explain are matched to by name, or None.
        data: the background rows whose values hidden features take, column by column
            (tabular maskers), or None: a feature equal to the row's value in every one of them
            cannot change the model input.
        supports_out: ``masked_batch`` / ``masked_rows`` accept ``out=``, an array to fill and
            return instead of a new one, with ``batch_layout`` saying its shape and dtype
            (explainers reuse one buffer for every batch of a call).
        per_text: the features differ from one input to the next (the tokens of texts); such a
            masker gives the masker of one input with ``for_text``.
        fills_from_background: a hidden feature of a row takes, in the masked row made from
            background row b, exactly b's value (tabular maskers); such a masker provides
            ``differs`` and ``masked_pairs``, so a coalition that only hides features equal to
            b's is known to give b's masked row of a smaller coalition, evaluated once.
        supports_delta_masking: a call takes several coalitions at once (boolean masks
            (K, features) or shap's delta-encoded integer masks), as shap's tabular maskers do.
    """

    shape: tuple[int, int]
    clustering: np.ndarray | None = None
    empty_is_constant: bool = False
    feature_names: list[str] | None = None
    weights: np.ndarray | None = None
    columns: Any = None
    data: np.ndarray | None = None
    supports_out: bool = False
    per_text: bool = False
    fills_from_background: bool = False
    supports_delta_masking: bool = True

    def save(self, out_file: Any) -> None:
        """Write this masker to ``out_file`` (a path or binary file) without pickles."""
        from shapwise._saving import save_masker

        save_masker(self, out_file)

    @classmethod
    def load(cls, in_file: Any, instantiate: bool = True) -> Masker:
        """A masker :meth:`save` wrote."""
        from shapwise._saving import SavingError, load_masker

        masker = load_masker(in_file, instantiate)
        if not isinstance(masker, cls):
            raise SavingError(f"this file holds a {type(masker).__name__}, not a {cls.__name__}")
        return masker

    @property
    def has_hierarchy(self) -> bool:
        """Whether the features come with a hierarchy, so explainers can compute Owen values."""
        return self.clustering is not None

    def masked_batch(self, masks: np.ndarray, x: np.ndarray) -> np.ndarray:
        """Masked inputs for K boolean masks (K, n_features) of one row: shape (K, rows, *x.shape)."""
        raise NotImplementedError

    def masked_rows(
        self,
        masks: np.ndarray,
        rows: np.ndarray,
        owners: np.ndarray,
        out: np.ndarray | None = None,
    ) -> np.ndarray:
        """Masked inputs for K masks of several rows: mask k hides features of ``rows[owners[k]]``
        (``owners`` non-decreasing); shape (K, rows per coalition, *row shape), in ``out`` when
        given and the masker ``supports_out``.

        By default one ``masked_batch`` per run of masks of the same row.
        """
        starts = np.flatnonzero(np.diff(owners)) + 1
        bounds = zip([0, *starts.tolist()], [*starts.tolist(), len(masks)], strict=True)
        parts = []
        for start, stop in bounds:
            x = rows[owners[start]]
            if out is not None and self.supports_out:
                self.masked_batch(masks[start:stop], x, out=out[start:stop])  # type: ignore[call-arg]
            else:
                parts.append(self.masked_batch(masks[start:stop], x))
        if not parts:
            return out
        return parts[0] if len(parts) == 1 else np.concatenate(parts)

    def batch_layout(self, x: np.ndarray) -> tuple[tuple[int, ...], np.dtype]:
        """Shape and dtype of one coalition's masked inputs of ``x`` (for ``supports_out``)."""
        raise NotImplementedError

    def __call__(self, mask: Any, *args: Any) -> Any:
        """shap's masker protocol: the masked inputs of one row, as a tuple with one entry per
        model input (here one array).

        The forms of ``mask``:

        - one boolean mask over the features (``True`` / ``False`` keep / hide all of them):
          ``(rows,)``, the masked inputs shaped (rows, *x.shape);
        - several coalitions, as boolean masks (K, features) or as shap's delta-encoded 1-D
          integer mask (see ``maskers._delta``): ``((inputs,), varying)``, the masked inputs of
          every coalition one after the other, (K * rows, *x.shape), and which rows of each
          coalition differ from the coalition before's, (K, rows) bool (all of the first's).
        """
        if len(args) != 1:
            raise TypeError(
                f"{type(self).__name__} masks one input per row; got {len(args)}. For several "
                "inputs join one masker per input with maskers.Composite"
            )
        x = np.asarray(args[0])
        mask = np.asarray(mask)
        if mask.ndim == 0 and mask.dtype == bool:
            mask = np.full(x.size, bool(mask))
        if is_delta_mask(mask):
            return self._masked_coalitions(delta_to_full(mask, x.size), x)
        if mask.dtype != bool:
            raise TypeError(
                f"a mask must be boolean (or shap's 1-D integer delta mask); got {mask.dtype}. "
                "Pass mask.astype(bool)"
            )
        if mask.ndim == 2:
            return self._masked_coalitions(mask, x)
        return (self.masked_batch(mask.reshape(1, -1), x)[0],)

    def _masked_coalitions(self, masks: np.ndarray, x: np.ndarray) -> tuple[tuple[Any], Any]:
        """``((inputs (K * rows, ...),), varying (K, rows))`` for coalitions (K, features)."""
        if masks.shape[1:] != (x.size,):
            raise ValueError(
                f"masks of shape {masks.shape} do not fit a row of {x.size} features; pass "
                f"masks shaped (coalitions, {x.size})"
            )
        batch = self.masked_batch(masks, x)
        coalitions, rows = batch.shape[:2]
        variants = ~self.invariants(x) if callable(getattr(self, "invariants", None)) else None
        inputs = batch.reshape(coalitions * rows, *batch.shape[2:])
        return (inputs,), varying_rows(masks, variants, rows)

    def check_row(self, x: np.ndarray) -> None:
        """Raise a ValueError if ``x`` (one row) does not fit this masker."""


class CallableMasker(Masker):
    """Adapts a user function ``masker(mask, x) -> masked rows`` to the batched protocol."""

    def __init__(self, function: Any, n_features: int | None = None) -> None:
        self.function = function
        self.clustering = getattr(function, "clustering", None)
        shape = getattr(function, "shape", None)
        self._n_features = n_features if shape is None else int(shape[1])
        self._rows = None if shape is None else int(shape[0])

    @property
    def shape(self) -> tuple[int, int]:  # type: ignore[override]
        if self._n_features is None or self._rows is None:
            raise ValueError("the masker's shape is unknown until it has masked a row")
        return (self._rows, self._n_features)

    def check_row(self, x: np.ndarray) -> None:
        if self._n_features is None:
            self._n_features = int(np.prod(x.shape))
        elif self._n_features != x.size:
            raise ValueError(
                f"the masker has {self._n_features} features but a row to explain has {x.size} "
                "values; pass rows with as many values as the masker's features"
            )
        if self._rows is None:
            probe = self._masked(np.ones(self._n_features, dtype=bool), x)
            self._rows = probe.shape[0]

    def _masked(self, mask: np.ndarray, x: np.ndarray) -> np.ndarray:
        from shapwise.numeric import to_numpy

        out = self.function(mask, x)
        if isinstance(out, tuple):
            out = out[0]
        out = to_numpy(out, name="the masker's output")
        fits = out.shape[max(out.ndim - x.ndim, 0) :] == x.shape or (
            out.ndim == 2 and out.shape[1] == x.size
        )
        if out.size == 0 or not fits:
            raise ValueError(
                f"the masker function returned an array of shape {out.shape} for a row of shape "
                f"{x.shape}; it must return masked rows shaped (rows, {', '.join(map(str, x.shape))})"
            )
        return out.reshape(-1, *x.shape)

    def masked_batch(self, masks: np.ndarray, x: np.ndarray) -> np.ndarray:
        return np.stack([self._masked(mask, x) for mask in masks])
