"""Maskers that join or wrap other maskers, for models with several inputs (shap's protocol).

``Composite`` masks several inputs, one masker each; ``FixedComposite`` passes the original input
along with the masked one; ``OutputComposite`` passes the model's output on the original input.
They speak shap's call protocol, ``masker(mask, *inputs) -> tuple``; shapwise's explainers call
models with one input, so they refuse these maskers with a clear error.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import numpy as np

from shapwise.errors import InvalidMaskerError
from shapwise.maskers._base import Masker, standard_mask


def one_mask(mask: Any, who: str) -> None:
    """Raise a TypeError unless ``mask`` is one mask (these maskers take no batch of them)."""
    array = np.asarray(mask)
    if array.ndim > 1 or (array.ndim == 1 and array.dtype.kind in "iu"):
        raise TypeError(
            f"{who} takes one boolean mask per call; got {array.dtype} of shape {array.shape}. "
            "Call it once per coalition, or use utils.MaskedModel, which does that for "
            "boolean and delta-encoded masks"
        )


def input_count(masker: Any) -> int:
    """How many model inputs ``masker(mask, *inputs)`` masks: one for shapwise's maskers, else
    the required positional parameters after the mask."""
    if isinstance(masker, Composite):
        return masker.total_args
    call = masker.__call__ if not inspect.isfunction(masker) else masker
    parameters = list(inspect.signature(call).parameters.values())[1:]  # after the mask
    if any(p.kind is p.VAR_POSITIONAL for p in parameters):
        return 1
    return sum(
        p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.default is p.empty
        for p in parameters
    )


def shape_for(masker: Any, *inputs: Any) -> tuple[int | None, int]:
    """(rows per mask, features) of ``masker`` for these inputs."""
    if callable(getattr(masker, "shape", None)):
        return masker.shape(*inputs)
    if getattr(masker, "per_text", False):
        return masker.for_text(*inputs).shape
    return masker.shape


def clustering_for(masker: Any, *inputs: Any) -> np.ndarray | None:
    clustering = getattr(masker, "clustering", None)
    if callable(clustering):
        return clustering(*inputs)
    if clustering is None and getattr(masker, "per_text", False):
        return masker.for_text(*inputs).clustering
    return clustering


def join_linkages(first: np.ndarray, n_first: int, second: np.ndarray, n_second: int) -> np.ndarray:
    """One linkage over ``n_first + n_second`` features: the two hierarchies side by side, their
    roots joined last (above both)."""
    if n_first == 0:
        return second
    if n_second == 0:
        return first
    n = n_first + n_second

    def relabel(
        matrix: np.ndarray, leaf_offset: int, n_leaves: int, node_offset: int
    ) -> np.ndarray:
        matrix = np.array(matrix, dtype=np.float64).reshape(-1, 4)
        ids = matrix[:, :2]
        matrix[:, :2] = np.where(
            ids < n_leaves, ids + leaf_offset, ids - n_leaves + n + node_offset
        )
        return matrix

    a = relabel(first, 0, n_first, 0)
    b = relabel(second, n_first, n_second, n_first - 1)
    root_a = n + n_first - 2 if n_first > 1 else 0
    root_b = n + n_first - 1 + n_second - 2 if n_second > 1 else n_first
    height = max([1.0, *a[:, 2], *b[:, 2]]) + 1.0
    return np.vstack([a, b, [[root_a, root_b, height, n]]])


class Composite(Masker):
    """Masks several model inputs, one masker each; the mask covers their features end to end.

    ``Composite(Independent(X), Fixed())(mask, x, y)`` masks ``x`` and leaves ``y``; the result
    is a tuple with the masked entries of every input, a masker that gives one row repeated to
    the others' row count.
    """

    supports_delta_masking = False  # one mask per call, split between the inputs

    def __init__(self, *maskers: Any) -> None:
        self.maskers = maskers
        self.arg_counts = [input_count(m) for m in maskers]
        self.total_args = sum(self.arg_counts)
        self.text_data = any(getattr(m, "text_data", False) for m in maskers)
        self.image_data = any(getattr(m, "image_data", False) for m in maskers)

    def _split(self, inputs: tuple) -> list[tuple]:
        if len(inputs) != self.total_args:
            raise InvalidMaskerError(
                f"this Composite masker takes {self.total_args} inputs "
                f"({', '.join(map(str, self.arg_counts))} for its {len(self.maskers)} maskers); "
                f"got {len(inputs)}"
            )
        parts, start = [], 0
        for count in self.arg_counts:
            parts.append(inputs[start : start + count])
            start += count
        return parts

    def _shapes(self, inputs: tuple) -> tuple[list[tuple], list[tuple[int | None, int]]]:
        """Each masker's inputs and its (rows, features) for them."""
        parts = self._split(inputs)
        shapes = [shape_for(m, *part) for m, part in zip(self.maskers, parts, strict=True)]
        return parts, shapes

    def shape(self, *inputs: Any) -> tuple[int | None, int]:  # type: ignore[override]
        """(rows per mask, features of every input together)."""
        shapes = self._shapes(inputs)[1]
        return _joint_rows(shapes), sum(features for _, features in shapes)

    def mask_shapes(self, *inputs: Any) -> list[tuple[int, ...]]:
        return [(features,) for _, features in self._shapes(inputs)[1]]

    def clustering(self, *inputs: Any) -> np.ndarray | None:  # type: ignore[override]
        """The maskers' hierarchies side by side under one root, or None if one has none."""
        joined, width = np.zeros((0, 4)), 0
        parts, shapes = self._shapes(inputs)
        for masker, part, (_, features) in zip(self.maskers, parts, shapes, strict=True):
            if features == 0:
                continue
            own = clustering_for(masker, *part)
            if own is None:
                return None
            joined = join_linkages(joined, width, own, features)
            width += features
        return joined

    def __call__(self, mask: Any, *inputs: Any) -> tuple[Any, ...]:
        one_mask(mask, "Composite")
        parts, shapes = self._shapes(inputs)
        rows = _joint_rows(shapes)
        mask = standard_mask(mask, sum(features for _, features in shapes))
        masked: list[Any] = []
        start = 0
        for masker, part, (own_rows, features) in zip(self.maskers, parts, shapes, strict=True):
            out = masker(mask[start : start + features], *part)
            out = out if isinstance(out, tuple) else (out,)
            if rows is not None and rows > 1 and own_rows in (None, 1):
                out = tuple([entry[0]] * rows for entry in out)
            masked.extend(out)
            start += features
        return tuple(masked)

    def masked_batch(self, masks: np.ndarray, x: np.ndarray) -> np.ndarray:
        raise _not_for_explainers("Composite")


def _joint_rows(shapes: list[tuple[int | None, int]]) -> int | None:
    """The rows per mask of maskers used together: those giving one row (or any) adapt."""
    rows: int | None = None
    for own, _ in shapes:
        if own in (None, 1):
            rows = rows if rows is not None else own
            continue
        if rows not in (None, 1) and rows != own:
            raise InvalidMaskerError(
                "The composite masker can only join maskers that give the same number of "
                f"background rows (or one); got {[s[0] for s in shapes]}"
            )
        rows = own
    return rows


def _not_for_explainers(name: str) -> InvalidMaskerError:
    return InvalidMaskerError(
        f"{name} gives a model several inputs per row, but shapwise's explainers call models "
        "with one input; call the masker directly (masker(mask, *inputs)) or explain a function "
        "of one input with the inner masker"
    )


class _Wrapper(Masker):
    """A masker around another one, sharing its shape, hierarchy and names."""

    supports_delta_masking = False  # one mask per call, as shap's

    def __init__(self, masker: Any) -> None:
        self.masker = masker

    @property
    def shape(self) -> Any:  # type: ignore[override]
        return self.masker.shape

    @property
    def clustering(self) -> Any:  # type: ignore[override]
        return getattr(self.masker, "clustering", None)

    @property
    def feature_names(self) -> Any:  # type: ignore[override]
        return getattr(self.masker, "feature_names", None)

    @property
    def text_data(self) -> bool:
        return getattr(self.masker, "text_data", False)

    @property
    def image_data(self) -> bool:
        return getattr(self.masker, "image_data", False)

    def invariants(self, *inputs: Any) -> np.ndarray:
        return self.masker.invariants(*inputs)

    def _masked(self, mask: Any, inputs: tuple) -> tuple[Any, ...]:
        one_mask(mask, type(self).__name__)
        out = self.masker(mask, *inputs)
        return out if isinstance(out, tuple) else (out,)

    def masked_batch(self, masks: np.ndarray, x: np.ndarray) -> np.ndarray:
        raise _not_for_explainers(type(self).__name__)


class FixedComposite(_Wrapper):
    """The masked inputs followed by the original inputs, each as one row: shap's masker for
    models that compare a masked input with its original (e.g. text generation)."""

    def __call__(self, mask: Any, *inputs: Any) -> tuple[Any, ...]:
        return self._masked(mask, inputs) + tuple(np.array([item]) for item in inputs)


class OutputComposite(_Wrapper):
    """The masked inputs followed by the model's output on the original inputs."""

    def __init__(self, masker: Any, model: Callable[..., Any]) -> None:
        super().__init__(masker)
        self.model = model

    def __call__(self, mask: Any, *inputs: Any) -> tuple[Any, ...]:
        output = self.model(*inputs)
        return self._masked(mask, inputs) + (output if isinstance(output, tuple) else (output,))
