"""``MaskedModel``: a model and a masker bound to one input, as a function of masks."""

from __future__ import annotations

from typing import Any

import numpy as np


def _identity(values: np.ndarray) -> np.ndarray:
    return values


class MaskedModel:
    """The value of each coalition of one input: ``masked_model(masks)`` gives, for every mask
    (K, features), the link of the model's mean output over the masker's rows.

    Args:
        model: a function of the masked inputs (as many arguments as the masker returns).
        masker: a masker speaking shap's protocol, ``masker(mask, *args) -> tuple``.
        link: applied to the mean output of each coalition (identity when None).
        linearize_link: kept for shap's signature; means are taken before the link.
        *args: the input(s) to explain.
    """

    delta_mask_noop_value = 2147483647

    def __init__(self, model: Any, masker: Any, link: Any, linearize_link: bool, *args: Any):
        self.model = model
        self.masker = masker
        self.link = _identity if link is None else link
        self.linearize_link = linearize_link
        self.args = args
        shape = masker.shape(*args) if callable(getattr(masker, "shape", None)) else None
        if shape is None:
            shape = getattr(masker, "shape", None)
        if shape is None:
            shape = (None, int(sum(np.prod(np.shape(a)) for a in args)))
        self._rows, self._n_features = shape[0], int(shape[1])
        weights = getattr(masker, "weights", None)
        self._weights = None if weights is None else np.asarray(weights, dtype=np.float64)

    def __len__(self) -> int:
        """How many features the masks toggle."""
        return self._n_features

    @property
    def mask_shapes(self) -> list[tuple[int, ...]]:
        if callable(getattr(self.masker, "mask_shapes", None)):
            return self.masker.mask_shapes(*self.args)
        return [np.shape(a) for a in self.args]

    def _value(self, mask: np.ndarray) -> np.ndarray:
        masked = self.masker(mask, *self.args)
        masked = masked if isinstance(masked, tuple) else (masked,)
        outputs = np.asarray(self.model(*masked), dtype=np.float64)
        rows = len(masked[0])
        if len(outputs) != rows:
            raise ValueError(
                f"The model produced {len(outputs)} output rows when given {rows} input rows; "
                "it must give one output per input row"
            )
        if self._weights is not None and len(self._weights) == rows:
            mean = np.tensordot(self._weights, outputs, axes=1)
        else:
            mean = outputs.mean(axis=0)
        return np.asarray(self.link(mean), dtype=np.float64)

    def __call__(self, masks: Any, zero_index: Any = None, batch_size: Any = None) -> np.ndarray:
        """Coalition values (K, *outputs) for boolean masks (K, features)."""
        masks = np.asarray(masks)
        if masks.dtype != bool:
            raise ValueError(
                "MaskedModel takes boolean masks (K, features); shap's delta-encoded integer "
                "masks are not supported"
            )
        masks = masks.reshape(-1, self._n_features)
        return np.stack([self._value(mask) for mask in masks])

    def main_effects(self, inds: Any = None, batch_size: Any = None) -> np.ndarray:
        """Each feature alone against none: v({i}) - v({}) for the features ``inds`` (all)."""
        inds = np.arange(self._n_features) if inds is None else np.asarray(inds)
        masks = np.zeros((len(inds) + 1, self._n_features), dtype=bool)
        masks[np.arange(1, len(inds) + 1), inds] = True
        values = self(masks)
        effects = np.zeros((self._n_features, *values.shape[1:]))
        effects[inds] = values[1:] - values[0]
        return effects
