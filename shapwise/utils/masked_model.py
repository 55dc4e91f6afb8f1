"""``MaskedModel``: a model and a masker bound to one input, as a function of masks."""

from __future__ import annotations

from typing import Any

import numpy as np

from shapwise.maskers._base import Masker
from shapwise.maskers._delta import NOOP, delta_to_full, is_delta_mask, rows_changed


def _identity(values: np.ndarray) -> np.ndarray:
    return values


class MaskedModel:
    """The value of each coalition of one input: ``masked_model(masks)`` gives, for every mask,
    the link of the model's mean output over the masker's rows (a weighted mean where the masker
    has ``weights``). A masker over a DataFrame gives the model DataFrames with its columns and
    dtypes, as shap's does.

    Args:
        model: a function of the masked inputs (as many arguments as the masker returns).
        masker: a masker speaking shap's protocol, ``masker(mask, *args) -> tuple``.
        link: applied to the mean output of each coalition (identity when None).
        linearize_link: kept for shap's signature; means are taken before the link.
        *args: the input(s) to explain.
    """

    delta_mask_noop_value = NOOP

    def __init__(self, model: Any, masker: Any, link: Any, linearize_link: bool, *args: Any):
        self.model = model
        self.masker = masker
        self.link = _identity if link is None else link
        self.linearize_link = linearize_link
        self.args = args
        shape = masker.shape(*args) if callable(getattr(masker, "shape", None)) else None
        if shape is None and getattr(masker, "per_text", False):  # the tokens of this text
            shape = masker.for_text(*args).shape
        if shape is None:
            shape = getattr(masker, "shape", None)
        if shape is None:
            shape = (None, int(sum(np.prod(np.shape(a)) for a in args)))
        self._rows, self._n_features = shape[0], int(shape[1])
        weights = getattr(masker, "weights", None)
        self._weights = None if weights is None else np.asarray(weights, dtype=np.float64)
        # shapwise's maskers take every coalition of a batch in one call
        self._batched = (
            isinstance(masker, Masker) and masker.supports_delta_masking and len(args) == 1
        )

    def __len__(self) -> int:
        """How many features the masks toggle."""
        return self._n_features

    @property
    def mask_shapes(self) -> list[tuple[int, ...]]:
        if callable(getattr(self.masker, "mask_shapes", None)):
            return self.masker.mask_shapes(*self.args)
        return [np.shape(a) for a in self.args]

    def varying_inputs(self) -> np.ndarray:
        """The features whose hiding can change the model's input: where the row differs from
        some background row (every feature for a masker without ``invariants``)."""
        if not callable(getattr(self.masker, "invariants", None)):
            return np.arange(self._n_features)
        return np.flatnonzero((~self.masker.invariants(*self.args)).any(axis=0))

    def __call__(self, masks: Any, zero_index: Any = None, batch_size: Any = None) -> np.ndarray:
        """Coalition values (K, *outputs) for boolean masks (K, features), one boolean mask
        (features,), or shap's delta-encoded 1-D integer mask (one value per step).

        ``zero_index`` is kept for shap's signature (it marks the empty coalition for link
        linearisation, which shapwise does not do); ``batch_size`` masks go to the model at once
        (all of them when None).
        """
        masks = np.asarray(masks)
        if is_delta_mask(masks):
            masks = delta_to_full(masks, self._n_features)
        elif masks.dtype != bool:
            raise ValueError(
                "MaskedModel takes boolean masks (K, features) or shap's delta-encoded 1-D "
                f"integer masks; got {masks.dtype} of shape {masks.shape}"
            )
        if masks.shape[-1:] != (self._n_features,):
            raise ValueError(
                f"masks of shape {masks.shape} do not cover the {self._n_features} features; "
                f"pass masks shaped (K, {self._n_features})"
            )
        masks = masks.reshape(-1, self._n_features)
        step = len(masks) if batch_size is None else max(1, int(batch_size))
        parts = [self._values(masks[start : start + step]) for start in range(0, len(masks), step)]
        if not parts:
            return np.zeros((0,))
        return np.concatenate(parts)

    def _values(self, masks: np.ndarray) -> np.ndarray:
        """Coalition values (K, *outputs) of one batch of boolean masks."""
        if self._batched:
            outputs, rows = self._batched_outputs(masks)
        else:
            outputs, rows = self._outputs_one_by_one(masks)
        if self._weights is not None and len(self._weights) == rows:
            means = np.tensordot(outputs, self._weights, axes=([1], [0]))
        else:
            means = outputs.mean(axis=1)
        return np.asarray(self.link(means), dtype=np.float64)

    def _batched_outputs(self, masks: np.ndarray) -> tuple[np.ndarray, int]:
        """Outputs (K, rows, *outputs) from one masker call; a masked row equal to the previous
        coalition's row is not evaluated again (its output is carried over)."""
        model_rows, changed = self._changed_rows(masks)
        columns = getattr(self.masker, "columns", None)
        if columns is not None and model_rows.ndim == 2:  # a DataFrame background's columns
            model_rows = columns.frame(model_rows)
        evaluated = self._model_rows(model_rows)
        rows = changed.shape[1]
        outputs = np.empty((len(masks), rows, *evaluated.shape[1:]))
        outputs[changed] = evaluated
        if changed.all():
            return outputs, rows
        # each unevaluated row takes the output of the last coalition that changed it
        last = np.where(changed, np.arange(len(masks))[:, None], 0)
        last = np.maximum.accumulate(last, axis=0)
        return outputs[last, np.arange(rows)[None, :]], rows

    def _changed_rows(self, masks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The masked rows that differ, bit for bit, from the previous coalition's (every row of
        the first), in coalition order, and where they are (K, rows) bool."""
        masker, x = self.masker, self.args[0]
        if masker.fills_from_background:  # hidden values are the background row's own
            x = np.asarray(x)
            dtype = masker.batch_layout(x)[1]
            differs = masker.differs(x[None], dtype)
            if differs is not None:  # a row changes where a toggled feature differs from it
                changed = np.ones((len(masks), len(differs[0])), dtype=bool)
                changed[1:] = rows_changed(masks[1:] ^ masks[:-1], differs[0])
                coalitions, background_rows = np.nonzero(changed)
                out = np.empty((len(coalitions), x.size), dtype=dtype)
                owners = np.zeros(len(coalitions), dtype=np.intp)
                masker.masked_pairs(masks[coalitions], x[None], owners, background_rows, out)
                return out, changed
        (inputs,), _ = masker(masks, *self.args)
        inputs = np.asarray(inputs)
        by_coalition = inputs.reshape(len(masks), -1, *inputs.shape[1:])
        changed = np.ones(by_coalition.shape[:2], dtype=bool)
        if len(masks) > 1 and by_coalition.dtype.kind in "biuf":
            steps = (by_coalition[1:] != by_coalition[:-1]).reshape(len(masks) - 1, -1)
            changed[1:] = steps.reshape(len(masks) - 1, by_coalition.shape[1], -1).any(axis=2)
        return by_coalition[changed], changed

    def _outputs_one_by_one(self, masks: np.ndarray) -> tuple[np.ndarray, int]:
        """Outputs (K, rows, *outputs): one masker call per mask, one model call in all."""
        entries: list[list[Any]] = []
        counts = []
        for mask in masks:
            masked = self.masker(mask, *self.args)
            masked = masked if isinstance(masked, tuple) else (masked,)
            if not entries:
                entries = [[] for _ in masked]
            for store, value in zip(entries, masked, strict=True):
                store.append(value)
            counts.append(len(masked[0]))
        if len(set(counts)) > 1:
            raise ValueError(
                f"the masker gave {sorted(set(counts))} rows for different masks; a masker must "
                "give the same number of rows for every mask"
            )
        joined = [np.concatenate([np.asarray(v) for v in store]) for store in entries]
        outputs = self._model_rows(*joined)
        return outputs.reshape(len(masks), counts[0], *outputs.shape[1:]), counts[0]

    def _model_rows(self, *inputs: Any) -> np.ndarray:
        outputs = np.asarray(self.model(*inputs), dtype=np.float64)
        if len(outputs) != len(inputs[0]):
            raise ValueError(
                f"The model produced {len(outputs)} output rows when given {len(inputs[0])} "
                "input rows; it must give one output per input row"
            )
        return outputs

    def main_effects(self, inds: Any = None, batch_size: Any = None) -> np.ndarray:
        """Each feature alone against none: v({i}) - v({}) for the features ``inds`` (all)."""
        inds = np.arange(self._n_features) if inds is None else np.asarray(inds)
        masks = np.zeros((len(inds) + 1, self._n_features), dtype=bool)
        masks[np.arange(1, len(inds) + 1), inds] = True
        values = self(masks, batch_size=batch_size)
        effects = np.zeros((self._n_features, *values.shape[1:]))
        effects[inds] = values[1:] - values[0]
        return effects
