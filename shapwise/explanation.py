"""`Explanation`: Shapley values with their base values, data and names, indexed like shap's."""

from __future__ import annotations

import json
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from shapwise._files import write_binary_atomically

ROW, FEATURE, OUTPUT = "row", "feature", "output"

_ARRAY_FIELDS = (
    "values",
    "base_values",
    "data",
    "output_values",
    "native_output_values",
    "clustering",
)


def _infer_axis_kinds(values: np.ndarray, base_values: np.ndarray | None) -> tuple[str, ...]:
    """Guess which axes of ``values`` are rows, features and outputs from the base values' shape."""
    ndim = values.ndim
    if ndim == 0:
        return ()
    if base_values is None or base_values.ndim == 0:
        if base_values is None and ndim >= 2:
            return (ROW,) + (FEATURE,) * (ndim - 1)
        return (FEATURE,) * ndim
    if base_values.ndim >= 2:
        return (ROW,) + (FEATURE,) * (ndim - 2) + (OUTPUT,)
    size = base_values.shape[0]
    rows_match = values.shape[0] == size
    outputs_match = ndim >= 2 and values.shape[-1] == size
    if outputs_match and not rows_match:
        return (FEATURE,) * (ndim - 1) + (OUTPUT,)
    if ndim == 1:
        return (FEATURE,)
    return (ROW,) + (FEATURE,) * (ndim - 1)


class OpChain:
    """Operations on an Explanation recorded now and applied later.

    shap's idiom ``outputs=Explanation.argsort.flip[:3]`` (the top three outputs of each row) or
    ``order=Explanation.abs.mean(0)`` starts such a chain from the class.
    """

    def __init__(self, steps: tuple = ()) -> None:
        self._steps = steps

    def __getattr__(self, name: str) -> OpChain:
        if name.startswith("__"):
            raise AttributeError(name)
        return OpChain((*self._steps, ("attribute", name)))

    def __call__(self, *args: Any, **kwargs: Any) -> OpChain:
        return OpChain((*self._steps, ("call", args, kwargs)))

    def __getitem__(self, key: Any) -> OpChain:
        return OpChain((*self._steps, ("item", key)))

    def apply(self, explanation: Explanation) -> Any:
        """Run the recorded operations on ``explanation``."""
        result: Any = explanation
        for step in self._steps:
            if step[0] == "attribute":
                result = getattr(result, step[1])
            elif step[0] == "call":
                result = result(*step[1], **step[2])
            else:
                result = result[step[1]]
        return result

    def __repr__(self) -> str:
        return "Explanation" + "".join(
            f".{s[1]}" if s[0] == "attribute" else "(...)" if s[0] == "call" else f"[{s[1]!r}]"
            for s in self._steps
        )


class _chainable:
    """A property of an Explanation that, read from the class, starts an :class:`OpChain`."""

    def __init__(self, getter: Any) -> None:
        self.getter = getter
        self.__doc__ = getter.__doc__

    def __get__(self, instance: Any, owner: Any) -> Any:
        if instance is None:
            return OpChain().__getattr__(self.getter.__name__)
        return self.getter(instance)


class _chainable_method:
    """A method of an Explanation that, read from the class, starts an :class:`OpChain`
    (shap's ``Explanation.sum(1)``, ``Explanation.hclust()``)."""

    def __init__(self, method: Any) -> None:
        self.method = method
        self.__doc__ = method.__doc__

    def __get__(self, instance: Any, owner: Any) -> Any:
        if instance is None:
            return OpChain().__getattr__(self.method.__name__)
        return self.method.__get__(instance, owner)


def is_ragged(values: np.ndarray) -> bool:
    """Whether ``values`` holds one array per row of different lengths (texts: one per token)."""
    return (
        values.dtype == object
        and values.ndim == 1
        and len(values) > 0
        and isinstance(values[0], np.ndarray)
    )


def object_array(items: Sequence[Any]) -> np.ndarray:
    """A 1-D object array of ``items`` (arrays stay whole, even when their shapes agree)."""
    array = np.empty(len(items), dtype=object)
    for i, item in enumerate(items):
        array[i] = item
    return array


# shap's other constructor keywords, stored and carried through indexing:
# arrays shaped like the values, like the data, and one entry per row.
_VALUE_SHAPED = ("lower_bounds", "upper_bounds", "error_std", "main_effects")
_DATA_SHAPED = ("display_data",)
_PER_ROW = ("instance_names", "hierarchical_values")
_EXTRA_ARRAYS = (*_VALUE_SHAPED, *_DATA_SHAPED, *_PER_ROW, "output_indexes")


def _optional_array(array: Any) -> np.ndarray | None:
    if array is None:
        return None
    if hasattr(array, "to_numpy"):  # a DataFrame of display values keeps its cells, not its index
        return array.to_numpy()
    return np.asarray(array)


def _names(names: Sequence[str] | str | None) -> list[str] | str | None:
    """Names as a list of strings; a single string names the one feature or output picked."""
    if names is None or isinstance(names, str):
        return names
    return [str(n) for n in names]


class Explanation:
    """Attributions for a set of rows, shaped like shap's ``Explanation``.

    Args:
        values: (N, *features) for one output or (N, *features, O) for several; for texts
            (a different number of tokens per row) an object array of N such arrays, one per
            row, with ``data`` holding each row's tokens (``exp[i]`` is then a plain one).
        base_values: (N,) or (N, O): what the values start from (the expected output).
        data: the explained inputs, (N, *features).
        feature_names / output_names: labels of the feature axis and the output axis.
        clustering: a scipy linkage matrix over the features, when the masker had one.
        output_values: the model output (in the link's space) that values + base_values add up to.
        native_output_values: the model's own output in its native dtype, when it differs from
            ``output_values`` (e.g. a float16 model explained with float32 arithmetic).
        model_dtype: the dtype the model computes in ('float32', 'float16', 'bfloat16', ...).
        algorithm: the name of the explainer that produced the values.
        display_data, instance_names, output_indexes, lower_bounds, upper_bounds, error_std,
        main_effects, hierarchical_values, compute_time: shap's other fields, stored as given;
            those shaped like the values, the data or the rows are indexed with them.
        notes: what the explainer could not attribute exactly (e.g. operations without an exact
            rule, a surrogate's weights); empty when every part was attributed exactly.
    """

    def __init__(
        self,
        values: Any,
        base_values: Any = None,
        data: Any = None,
        feature_names: Sequence[str] | None = None,
        output_names: Sequence[str] | None = None,
        clustering: Any = None,
        output_values: Any = None,
        native_output_values: Any = None,
        model_dtype: str | None = None,
        algorithm: str | None = None,
        axis_kinds: Sequence[str] | None = None,
        *,
        display_data: Any = None,
        instance_names: Any = None,
        output_indexes: Any = None,
        lower_bounds: Any = None,
        upper_bounds: Any = None,
        error_std: Any = None,
        main_effects: Any = None,
        hierarchical_values: Any = None,
        compute_time: float | None = None,
        notes: Sequence[str] = (),
    ) -> None:
        if isinstance(values, Explanation):  # shap's copy constructor: values, base values, data
            values, base_values, data = values.values, values.base_values, values.data
        self.display_data = _optional_array(display_data)
        self.instance_names = _optional_array(instance_names)
        self.output_indexes = _optional_array(output_indexes)
        self.lower_bounds = _optional_array(lower_bounds)
        self.upper_bounds = _optional_array(upper_bounds)
        self.error_std = _optional_array(error_std)
        self.main_effects = _optional_array(main_effects)
        self.hierarchical_values = _optional_array(hierarchical_values)
        self.compute_time = compute_time
        if isinstance(notes, str):
            notes = (notes,)
        self.notes = tuple(str(note) for note in notes)
        self.values = np.asarray(values)
        self.base_values = None if base_values is None else np.asarray(base_values)
        self.data = None if data is None else np.asarray(data)
        self.clustering = None if clustering is None else np.asarray(clustering)
        self.output_values = None if output_values is None else np.asarray(output_values)
        self.native_output_values = (
            None if native_output_values is None else np.asarray(native_output_values)
        )
        self.feature_names = _names(feature_names)
        self.output_names = _names(output_names)
        self.model_dtype = model_dtype
        self.algorithm = algorithm
        self.ragged = is_ragged(self.values)
        if axis_kinds is None and self.ragged:
            axis_kinds = (ROW, FEATURE, OUTPUT)[: 1 + self.values[0].ndim]
        if axis_kinds is None:
            axis_kinds = _infer_axis_kinds(self.values, self.base_values)
        self.axis_kinds = tuple(axis_kinds)
        if len(self.axis_kinds) != self.values.ndim and not self.ragged:
            raise ValueError(
                f"axis_kinds {self.axis_kinds} does not match values with {self.values.ndim} axes"
            )

    # ----------------------------------------------------------------- basic protocol
    @property
    def shape(self) -> tuple[int | None, ...]:
        """The values' shape; for texts the token axis is None (it differs between rows)."""
        if self.ragged:
            return (len(self.values), None, *self.values[0].shape[1:])
        return self.values.shape

    def __len__(self) -> int:
        return len(self.values)

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        return self.values if dtype is None else self.values.astype(dtype)

    def __repr__(self) -> str:
        parts = [f".values =\n{self.values!r}"]
        if self.base_values is not None:
            base = self.base_values
            # a single base value prints as the number it is, as shap prints it (0.5)
            shown = base.item() if base.ndim == 0 else base
            parts.append(f".base_values =\n{shown!r}")
        if self.data is not None:
            parts.append(f".data =\n{self.data!r}")
        return "\n\n".join(parts)

    # The notebook view, registered from above by shapwise.report (which imports this module;
    # the value object does not know its HTML view).
    html_view: Any = None

    def _repr_html_(self) -> str:
        """The notebook view: a summary, the additivity check and the main plot."""
        view = type(self).html_view
        if view is None:
            import html

            return f"<pre>{html.escape(repr(self))}</pre>"
        return view(self)

    def _with(self, **changes: Any) -> Explanation:
        fields = {
            "values": self.values,
            "base_values": self.base_values,
            "data": self.data,
            "feature_names": self.feature_names,
            "output_names": self.output_names,
            "clustering": self.clustering,
            "output_values": self.output_values,
            "native_output_values": self.native_output_values,
            "model_dtype": self.model_dtype,
            "algorithm": self.algorithm,
            "axis_kinds": self.axis_kinds,
            "compute_time": self.compute_time,
            "notes": self.notes,
            **{name: getattr(self, name) for name in _EXTRA_ARRAYS},
        }
        fields.update(changes)
        return Explanation(**fields)

    def _axes_of(self, kinds: Sequence[str]) -> list[int]:
        return [i for i, kind in enumerate(self.axis_kinds) if kind in kinds]

    def _companion_axes(self, array: np.ndarray | None, kinds: Sequence[str]) -> list[int] | None:
        """The axes of ``values`` that a companion array (data, base values) carries, or None."""
        if array is None:
            return None
        axes = self._axes_of(kinds)
        if array.shape == tuple(self.values.shape[a] for a in axes):
            return axes
        return None

    # ----------------------------------------------------------------- indexing
    def _resolve(self, item: Any, axis: int) -> Any:
        """Turn feature or output names into positions along ``axis``."""
        kind = self.axis_kinds[axis]
        names = {FEATURE: self.feature_names, OUTPUT: self.output_names}.get(kind)
        if isinstance(item, str):
            return self._position(item, names, kind)
        if isinstance(item, (list, tuple)) and item and all(isinstance(i, str) for i in item):
            return [self._position(i, names, kind) for i in item]
        if isinstance(item, Explanation):
            return item.values
        return item

    @staticmethod
    def _position(name: str, names: list[str] | None, kind: str) -> int:
        if names is None or name not in names:
            known = "none are set" if names is None else f"known: {names[:10]}"
            raise KeyError(f"no {kind} named {name!r} ({known})")
        return names.index(name)

    def _text(self, row: int) -> Explanation:
        """Row ``row`` of an explanation of texts, as a plain explanation of its tokens."""

        def at(array: np.ndarray | None) -> Any:
            return None if array is None else array[row]

        tokens = at(self.data)
        return Explanation(
            self.values[row],
            base_values=at(self.base_values),
            data=tokens,
            feature_names=None if tokens is None else list(tokens),
            output_names=self.output_names,
            clustering=at(self.clustering),
            output_values=at(self.output_values),
            native_output_values=at(self.native_output_values),
            model_dtype=self.model_dtype,
            algorithm=self.algorithm,
            axis_kinds=self.axis_kinds[1:],
            notes=self.notes,
        )

    def _texts_item(self, key: tuple) -> Explanation:
        """Indexing an explanation of texts: the row part picks texts, the rest applies to each."""
        rows, rest = key[0], key[1:]
        if isinstance(rows, (str, bool, np.bool_)):
            raise IndexError(
                f"rows of an explanation of texts are picked by position; got {rows!r}"
            )
        if np.ndim(rows) == 0 and not isinstance(rows, slice):
            text = self._text(int(rows))
            return text[rest] if rest else text
        if rest and not isinstance(rest[0], slice):
            raise IndexError(
                "the tokens of each text are different, so several texts cannot be indexed by "
                "token; pick one text first (exp[0, 2]) or keep every token (exp[:, :, 1])"
            )
        picked = [self._text(i) for i in np.arange(len(self.values))[rows]]
        if not picked:
            raise IndexError("the index picks no rows")
        return join_texts([text[rest] for text in picked] if rest else picked)

    def _refuse_texts(self, operation: str) -> None:
        if self.ragged:
            raise ValueError(
                f"{operation} needs the same features in every row, but these rows are texts "
                "with different numbers of tokens; pick one text first, e.g. exp[0]"
            )

    def __getitem__(self, key: Any) -> Explanation:
        key = key if isinstance(key, tuple) else (key,)
        if any(k is Ellipsis for k in key):
            at = next(i for i, k in enumerate(key) if k is Ellipsis)
            fill = len(self.axis_kinds) - (len(key) - 1)
            key = key[:at] + (slice(None),) * fill + key[at + 1 :]
        if self.ragged:
            return self._texts_item(key)
        if len(key) > self.values.ndim:
            raise IndexError(f"too many indices: {len(key)} for {self.values.ndim} axes")
        key = tuple(self._resolve(k, axis) for axis, k in enumerate(key))
        key = key + (slice(None),) * (self.values.ndim - len(key))

        def take(array: np.ndarray | None, kinds: Sequence[str]) -> np.ndarray | None:
            axes = self._companion_axes(array, kinds)
            if axes is None:
                return None
            return array[tuple(key[a] for a in axes)]

        def take_names(names: list[str] | None, kind: str) -> list[str] | None:
            axes = self._axes_of([kind])
            if names is None or len(axes) != 1:
                return names
            picked = np.asarray(names, dtype=object)[key[axes[0]]]
            return str(picked) if np.ndim(picked) == 0 else list(picked)

        kept = []
        for kind, k in zip(self.axis_kinds, key, strict=True):
            if np.ndim(k) == 0 and not isinstance(k, slice):
                continue
            kept.append(kind)
        values = self.values[key]

        def take_like_values(array: np.ndarray | None) -> np.ndarray | None:
            return array[key] if array is not None and array.shape == self.values.shape else None

        def take_rows(array: np.ndarray | None) -> np.ndarray | None:
            if array is None or self.axis_kinds[:1] != (ROW,) or len(array) != len(self.values):
                return array if ROW not in self.axis_kinds else None
            return array[key[0]]

        extras = {name: take_like_values(getattr(self, name)) for name in _VALUE_SHAPED}
        extras.update({name: take_rows(getattr(self, name)) for name in _PER_ROW})
        extras["display_data"] = take(self.display_data, (ROW, FEATURE))
        return Explanation(
            values,
            base_values=take(self.base_values, (ROW, OUTPUT)),
            data=take(self.data, (ROW, FEATURE)),
            feature_names=take_names(self.feature_names, FEATURE),
            output_names=take_names(self.output_names, OUTPUT),
            clustering=self.clustering,
            output_values=take(self.output_values, (ROW, OUTPUT)),
            native_output_values=take(self.native_output_values, (ROW, OUTPUT)),
            model_dtype=self.model_dtype,
            algorithm=self.algorithm,
            axis_kinds=tuple(kept) if len(kept) == np.ndim(values) else None,
            output_indexes=self.output_indexes,
            compute_time=self.compute_time,
            notes=self.notes,
            **extras,
        )

    # ---------------------------------------------------------------- arithmetic
    def _arithmetic(self, other: Any, operation: Any, reflected: bool = False) -> Explanation:
        """``operation`` (numpy's) on the values, base values and numeric data, with a number,
        an array or another Explanation's own (as shap's operators, for every order of
        operands). What no longer holds after it is dropped: the outputs the values add up
        to, and the standard errors and bounds."""

        def apply(mine: Any, theirs: Any) -> Any:
            if mine is None or (isinstance(mine, np.ndarray) and mine.dtype.kind not in "fiub"):
                return None
            if theirs is None:
                return None
            return operation(theirs, mine) if reflected else operation(mine, theirs)

        if isinstance(other, Explanation):
            values, base, data = other.values, other.base_values, other.data
        else:
            values = base = data = other
        return self._with(
            values=operation(values, self.values) if reflected else operation(self.values, values),
            base_values=apply(self.base_values, base),
            data=apply(self.data, data),
            display_data=None,
            output_values=None,
            native_output_values=None,
            **{name: None for name in _VALUE_SHAPED},
        )

    def __add__(self, other: Any) -> Explanation:
        return self._arithmetic(other, np.add)

    def __radd__(self, other: Any) -> Explanation:
        return self._arithmetic(other, np.add, reflected=True)

    def __sub__(self, other: Any) -> Explanation:
        return self._arithmetic(other, np.subtract)

    def __rsub__(self, other: Any) -> Explanation:
        return self._arithmetic(other, np.subtract, reflected=True)

    def __mul__(self, other: Any) -> Explanation:
        return self._arithmetic(other, np.multiply)

    def __rmul__(self, other: Any) -> Explanation:
        return self._arithmetic(other, np.multiply, reflected=True)

    def __truediv__(self, other: Any) -> Explanation:
        return self._arithmetic(other, np.true_divide)

    def __rtruediv__(self, other: Any) -> Explanation:
        return self._arithmetic(other, np.true_divide, reflected=True)

    def __neg__(self) -> Explanation:
        return self._arithmetic(-1.0, np.multiply)

    # ----------------------------------------------------------------- operations
    @_chainable
    def abs(self) -> Explanation:
        return self._with(values=np.abs(self.values))

    def _reduce(self, func: Any, axis: int) -> Explanation:
        self._refuse_texts("a reduction over rows or features")
        axis = axis % self.values.ndim
        kind = self.axis_kinds[axis]
        kinds = self.axis_kinds[:axis] + self.axis_kinds[axis + 1 :]

        def reduce_companion(array: np.ndarray | None, carried: Sequence[str]) -> Any:
            axes = self._companion_axes(array, carried)
            if axes is None:
                return None
            if axis not in axes:
                return array
            if array.dtype.kind not in "fiub":
                return None
            return func(array, axis=axes.index(axis))

        changes: dict[str, Any] = {
            "values": func(self.values, axis=axis),
            "axis_kinds": kinds,
            "base_values": reduce_companion(self.base_values, (ROW, OUTPUT)),
            "output_values": reduce_companion(self.output_values, (ROW, OUTPUT)),
            "native_output_values": reduce_companion(self.native_output_values, (ROW, OUTPUT)),
            "data": reduce_companion(self.data, (ROW, FEATURE)) if kind == ROW else None,
            "display_data": None,
            **{name: None for name in (*_VALUE_SHAPED, *_PER_ROW)},
        }
        if kind == FEATURE:
            changes["feature_names"] = None
        if kind == OUTPUT:
            changes["output_names"] = None
        return self._with(**changes)

    @_chainable_method
    def mean(self, axis: int) -> Explanation:
        """Mean over ``axis`` (0: rows, giving a global explanation)."""
        return self._reduce(np.mean, axis)

    @_chainable_method
    def sum(self, axis: int | None = None) -> Explanation:
        """Sum over ``axis``; over features it gives output - base value."""
        self._refuse_texts("sum")
        if axis is None:
            return self._with(values=np.sum(self.values), axis_kinds=(), data=None)
        return self._reduce(np.sum, axis)

    @_chainable_method
    def max(self, axis: int) -> Explanation:
        return self._reduce(np.max, axis)

    @_chainable_method
    def min(self, axis: int) -> Explanation:
        return self._reduce(np.min, axis)

    @_chainable_method
    def percentile(self, q: float, axis: int) -> Explanation:
        return self._reduce(lambda a, axis: np.percentile(a, q, axis=axis), axis)

    @_chainable
    def argsort(self) -> Explanation:
        """Positions that sort the values along the last axis (ascending)."""
        self._refuse_texts("argsort")
        return self._with(values=np.argsort(self.values, axis=-1, kind="stable"), data=None)

    @_chainable
    def flip(self) -> Explanation:
        """The values reversed along the last axis (e.g. argsort.flip for descending order)."""
        self._refuse_texts("flip")
        return self._with(values=np.flip(self.values, axis=-1), data=None)

    @_chainable_method
    def hclust(self, metric: str = "sqeuclidean", axis: int = 0) -> np.ndarray:
        """An order of the rows (axis 0) or features (axis 1) that keeps similar values next to
        each other (optimal leaf order of a complete-linkage clustering), as shap's."""
        from shapwise.errors import DimensionError
        from shapwise.utils.clustering import hclust_ordering

        if self.values.ndim != 2 or self.ragged:
            raise DimensionError(
                f"hclust orders the rows or features of values (rows, features); these have "
                f"shape {self.shape}"
            )
        return hclust_ordering(self.values.T if axis == 1 else self.values, metric=metric)

    @_chainable_method
    def sample(self, max_samples: int, replace: bool = False, random_state: int = 0) -> Explanation:
        """``max_samples`` random rows (all of them, shuffled, when there are fewer)."""
        rng = np.random.default_rng(random_state)
        count = len(self.values)
        rows = rng.choice(
            count, size=min(max_samples, count) if not replace else max_samples, replace=replace
        )
        return self[rows]

    def hstack(self, other: Explanation) -> Explanation:
        """Join the features of two explanations of the same rows side by side."""
        self._refuse_texts("hstack")
        # shap's exception types and messages, which its users catch and match
        assert self.values.shape[0] == other.values.shape[0], (
            "Can't hstack explanations with different numbers of rows!"
        )
        outputs = [
            e.values.shape[-1] if e.axis_kinds[-1:] == (OUTPUT,) else None for e in (self, other)
        ]
        if outputs[0] != outputs[1]:
            counted = [("no output axis" if n is None else f"{n} outputs") for n in outputs]
            raise ValueError(
                f"Can't hstack explanations with different numbers of outputs ({counted[0]} vs "
                f"{counted[1]}); pick the same outputs of both first, e.g. exp[..., 0]"
            )
        both = self.base_values is not None and other.base_values is not None
        if both and (
            self.base_values.shape != other.base_values.shape
            or not np.allclose(self.base_values, other.base_values, atol=1e-6)
        ):
            raise ValueError("Can't hstack explanations with different base values!")
        names = None
        if self.feature_names is not None and other.feature_names is not None:
            names = self.feature_names + other.feature_names
        data = None
        if self.data is not None and other.data is not None:
            data = np.concatenate([self.data, other.data], axis=1)
        return self._with(
            values=np.concatenate([self.values, other.values], axis=1),
            data=data,
            feature_names=names,
            clustering=None,
            display_data=None,
            notes=tuple(dict.fromkeys((*self.notes, *other.notes))),
            **{name: None for name in _VALUE_SHAPED},
        )

    def cohorts(self, cohorts: int | Sequence[Any]) -> Cohorts:
        """Split the rows into groups: ``n`` groups found by a decision tree, or given labels."""
        if isinstance(cohorts, (int, np.integer)):
            self._refuse_texts("cohorts found by a decision tree")
            labels = _tree_cohorts(self, int(cohorts))
        else:
            labels = np.asarray(cohorts)
            if labels.shape[0] != self.values.shape[0]:
                raise ValueError(
                    f"cohort labels must have one entry per row: {labels.shape[0]} "
                    f"labels for {self.values.shape[0]} rows"
                )
        return Cohorts(**{str(label): self[labels == label] for label in _unique(labels)})

    # ----------------------------------------------------------------- persistence
    def save(self, path: str | Path) -> None:
        """Write to a single ``.npz`` file, with no pickle in it (``.npz`` is added to a path
        without it). Texts are stored end to end with their token counts; strings and mixed
        columns of ``data`` as JSON. What cannot be stored is refused before the file is touched,
        and an existing file is replaced only by a complete new one."""
        fields = (*_ARRAY_FIELDS, *_VALUE_SHAPED)
        arrays = {f: getattr(self, f) for f in fields if getattr(self, f) is not None}
        if self.ragged:
            arrays = {name: _end_to_end(name, array) for name, array in arrays.items()}
            arrays["token_counts"] = np.array([len(v) for v in self.values], dtype=np.int64)
        if arrays["values"].dtype == object:
            raise TypeError("values of dtype object cannot be saved; convert them to numbers")
        as_json = [name for name, array in arrays.items() if array.dtype == object]
        for name in as_json:
            arrays[name] = np.array(_objects_to_json(name, arrays[name]))
        meta = {
            "feature_names": self.feature_names,
            "output_names": self.output_names,
            "model_dtype": self.model_dtype,
            "algorithm": self.algorithm,
            "axis_kinds": list(self.axis_kinds),
            "notes": list(self.notes),
        }
        meta_json = json.dumps({**meta, "json_fields": as_json})
        target = Path(path)
        if target.suffix != ".npz":
            target = target.with_name(target.name + ".npz")
        write_binary_atomically(
            target,
            lambda stream: np.savez_compressed(stream, __meta__=np.array(meta_json), **arrays),
        )

    @classmethod
    def load(cls, path: str | Path) -> Explanation:
        """Read an explanation written by ``save``; any other file is refused, and no pickle is
        ever loaded."""
        path = Path(path)
        not_ours = f"{path.name} is not a shapwise explanation (a file written by Explanation.save)"
        with open(path, "rb") as stream:
            magic = stream.read(6)
        if not magic.startswith(b"PK\x03\x04"):  # an .npz is a zip archive
            kind = {b"\x93NUMPY": "a single numpy array", b"\x80": "a pickle"}
            found = next((what for start, what in kind.items() if magic.startswith(start)), None)
            raise ValueError(f"{not_ours}: it holds {found or 'no numpy archive'}")
        try:
            stored = np.load(path, allow_pickle=False)
        except (OSError, ValueError, EOFError, zipfile.BadZipFile) as error:
            raise ValueError(f"{not_ours}: {error}") from None
        with stored:
            if "__meta__" not in stored.files:
                raise ValueError(f"{not_ours}: it has no shapwise metadata")
            try:
                meta = json.loads(str(stored["__meta__"]))
                fields = (*_ARRAY_FIELDS, *_VALUE_SHAPED)
                arrays = {f: stored[f] for f in fields if f in stored.files}
                counts = stored["token_counts"] if "token_counts" in stored.files else None
            except ValueError as error:
                pickled = "allow_pickle" in str(error)
                detail = "it holds a pickle, which may run code when loaded" if pickled else error
                raise ValueError(f"{not_ours}: {detail}") from None
        for name in meta.pop("json_fields", []):
            arrays[name] = _objects_from_json(str(arrays[name]))
        if counts is not None:  # texts: split each per-token array back into one per text
            ends = np.cumsum(counts)[:-1]
            splits = {"values": ends, "data": ends, "clustering": ends - np.arange(1, len(counts))}
            splits.update(dict.fromkeys(_VALUE_SHAPED, ends))
            for name, at in splits.items():
                if name in arrays:
                    pieces = np.split(arrays[name], at)
                    if name == "data":
                        pieces = [piece.astype(object) for piece in pieces]
                    arrays[name] = object_array(pieces)
        return cls(**arrays, **meta)


def _plain_item(field: str, item: Any) -> Any:
    """An element of an object array as a JSON value of the same Python kind, or a TypeError."""
    if item is None or isinstance(item, (bool, str)):
        return item
    if isinstance(item, np.bool_):
        return bool(item)
    if isinstance(item, (int, np.integer)):
        return int(item)
    if isinstance(item, (float, np.floating)):
        return float(item)
    if isinstance(item, np.str_):
        return str(item)
    raise TypeError(
        f"{field} holds a {type(item).__name__} ({item!r}), which cannot be saved without a "
        "pickle; convert it to a number or a string first (nothing was written)"
    )


def _objects_to_json(field: str, array: np.ndarray) -> str:
    items = [_plain_item(field, item) for item in array.ravel()]
    return json.dumps({"shape": list(array.shape), "items": items})


def _objects_from_json(text: str) -> np.ndarray:
    stored = json.loads(text)
    array = np.empty(len(stored["items"]), dtype=object)
    array[:] = stored["items"]
    return array.reshape(stored["shape"])


def _end_to_end(name: str, array: np.ndarray) -> np.ndarray:
    """A per-text field of an explanation of texts as one array (tokens as unicode strings)."""
    if name not in ("values", "data", "clustering", *_VALUE_SHAPED):
        return array  # one entry per text already
    joined = np.concatenate(list(array))
    return joined.astype(str) if name == "data" else joined


def join_texts(texts: Sequence[Explanation]) -> Explanation:
    """Explanations of single texts (values (tokens,) or (tokens, O)) as one of many texts."""

    def gather(field: str) -> np.ndarray | None:
        items = [getattr(text, field) for text in texts]
        return None if items[0] is None else object_array(items)

    def stack(field: str) -> np.ndarray | None:
        items = [getattr(text, field) for text in texts]
        return None if items[0] is None else np.stack(items)

    first = texts[0]
    same_names = all(text.output_names == first.output_names for text in texts)
    return Explanation(
        gather("values"),
        base_values=stack("base_values"),
        data=gather("data"),
        output_names=first.output_names if same_names else None,
        clustering=gather("clustering"),
        output_values=stack("output_values"),
        native_output_values=stack("native_output_values"),
        model_dtype=first.model_dtype,
        algorithm=first.algorithm,
        axis_kinds=(ROW, *first.axis_kinds),
        notes=tuple(dict.fromkeys(note for text in texts for note in text.notes)),
    )


class Cohorts:
    """Named groups of rows of one explanation; operations apply to every group.

    Built as shap builds it, ``Cohorts(name=explanation, ...)``; ``cohorts`` is the dict of groups.
    """

    def __init__(self, **cohorts: Explanation) -> None:
        self.cohorts = cohorts

    @property
    def cohorts(self) -> dict[str, Explanation]:
        return self._cohorts

    @cohorts.setter
    def cohorts(self, cohorts: dict[str, Explanation]) -> None:
        if not isinstance(cohorts, dict):
            raise TypeError(
                f"Cohorts.cohorts must be a dict of name -> Explanation; got {type(cohorts)}"
            )
        for name, member in cohorts.items():
            if not isinstance(member, Explanation):
                raise TypeError(
                    "Arguments to a Cohorts set must be Explanation objects, but found "
                    f"{type(member)} for {name!r}"
                )
        self._cohorts = dict(cohorts)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        members = {label: getattr(exp, name) for label, exp in self.cohorts.items()}
        if all(isinstance(m, Explanation) for m in members.values()):
            return Cohorts(**members)
        if all(callable(m) for m in members.values()):
            return lambda *args, **kwargs: Cohorts(
                **{label: m(*args, **kwargs) for label, m in members.items()}
            )
        return members

    def __getitem__(self, key: Any) -> Cohorts:
        return Cohorts(**{label: exp[key] for label, exp in self.cohorts.items()})

    def __repr__(self) -> str:
        return f"Cohorts({ {k: v.shape for k, v in self.cohorts.items()} })"


def _unique(labels: np.ndarray) -> list[Any]:
    seen: list[Any] = []
    for label in labels.tolist():
        if label not in seen:
            seen.append(label)
    return seen


def _tree_cohorts(explanation: Explanation, n: int) -> np.ndarray:
    """Label rows by the leaves of a shallow tree that splits the data to separate the values."""
    from sklearn.tree import DecisionTreeRegressor

    if explanation.data is None:
        raise ValueError("cohorts(n) needs the explanation's data to split on")
    values = explanation.values.reshape(len(explanation.values), -1)
    data = explanation.data.reshape(len(explanation.data), -1)
    tree = DecisionTreeRegressor(max_leaf_nodes=max(n, 2), random_state=0).fit(data, values)
    leaves = tree.apply(data)
    names = explanation.feature_names or [f"Feature {i}" for i in range(data.shape[1])]
    paths = tree.decision_path(data)
    structure = tree.tree_
    labels = []
    for row, leaf in enumerate(leaves):
        conditions = []
        for node in paths.indices[paths.indptr[row] : paths.indptr[row + 1]]:
            if node == leaf:
                continue
            feature, threshold = structure.feature[node], structure.threshold[node]
            sign = "<" if data[row, feature] <= threshold else ">="
            conditions.append(f"{names[feature]} {sign} {threshold:.4g}")
        labels.append(" & ".join(conditions) or "all")
    return np.asarray(labels, dtype=object)
