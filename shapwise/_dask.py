"""Explaining a dask DataFrame or Array lazily, one partition per task.

``explainer(dask_collection)`` lands here. The result is a :class:`LazyExplanation` whose arrays are
dask arrays with known chunks: nothing is explained until ``.compute()`` (or ``.persist()``).
The explainer is one input of the graph that every task depends on: a distributed cluster sends
it to each worker once (not once per task), and the graph computes under any scheduler, a
client's or a local one. Progress shows through dask's own tools::

    from dask.diagnostics import ProgressBar      # local schedulers
    with ProgressBar():
        explanation = lazy.compute()

    from distributed import progress              # a distributed cluster
    lazy = lazy.persist()
    progress(lazy.values)
"""

from __future__ import annotations

import operator
import uuid
from collections.abc import Sequence
from typing import Any

import numpy as np

from shapwise._optional import require
from shapwise.explanation import FEATURE, OUTPUT, ROW, Explanation, OpChain
from shapwise.scale.partition import Layout, explain_block, explain_partition, with_job_seed
from shapwise.scale.portable import PortableExplainer


def explain_lazily(explainer: Any, X: Any, **call_options: Any) -> LazyExplanation:
    """A lazy explanation of the rows of a dask DataFrame or Array.

    One row is explained here at once to learn the results' shapes, dtypes and names, and a
    DataFrame's partition lengths are counted (one pass over its partitions) so the chunks are
    known; the rest is explained when the result is computed. Results do not depend on the
    partitioning: sampling explainers (Permutation, Kernel, Sampling, Gradient) draw each row's
    choices from the root seed and the row's content, and a missing seed is drawn once here
    for every partition.

    Raises:
        TypeError: ``X`` is not a dask DataFrame or Array, holds non-numeric columns, or the
            explainer cannot be pickled.
        ValueError: ``X`` has no rows, or fewer than two axes.
    """
    require("dask", "dask")
    if "outputs" in call_options and not _fixed_outputs(call_options["outputs"]):
        raise TypeError(
            "a lazy explanation needs the same outputs for every partition: pass output "
            "positions (outputs=[0, 2]), not a ranking of each row's outputs"
        )
    call_options = with_job_seed(explainer, call_options)
    blocks, lengths = _blocks(X)
    probe = explain_block(explainer, _first_row(X, lengths), **call_options)
    layout = Layout.of(probe)
    shared = _share(PortableExplainer(explainer, _cloudpickle_dumps()))
    return LazyExplanation.from_blocks(shared, blocks, lengths, layout, probe, call_options)


class LazyExplanation:
    """An explanation whose ``values``, ``base_values`` and ``data`` are dask arrays.

    Rows are the first axis, chunked as the input was; the other axes are single chunks.
    ``compute()`` returns the ordinary :class:`~shapwise.Explanation`. Row indexing, ``abs``
    and reductions (``mean``, ``sum``, ``max``, ``min``) stay lazy.
    """

    def __init__(
        self,
        values: Any,
        base_values: Any,
        data: Any,
        axis_kinds: Sequence[str],
        feature_names: Any = None,
        output_names: Any = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        self.values = values
        self.base_values = base_values
        self.data = data
        self.axis_kinds = tuple(axis_kinds)
        self.feature_names = feature_names
        self.output_names = output_names
        self.details = dict(details or {})  # clustering, model dtype, algorithm, notes

    @classmethod
    def from_blocks(
        cls,
        shared: Any,
        blocks: Sequence[Any],
        lengths: Sequence[int],
        layout: Layout,
        probe: Explanation,
        call_options: dict[str, Any],
    ) -> LazyExplanation:
        """One task per block explains it with the ``shared`` explainer; names come from the
        ``probe`` (an explanation of one row)."""
        dask = require("dask", "dask")
        explain = dask.delayed(_explain_shared, pure=True)
        tasks = [explain(shared, block, layout, call_options) for block in blocks]
        values, base_values, data = (
            _rows_of(tasks, position, lengths, shape, dtype, field)
            for position, (field, shape, dtype) in enumerate(
                [
                    ("values", layout.values_shape, layout.values_dtype),
                    ("base-values", layout.output_shape, layout.base_dtype),
                    ("data", layout.feature_shape, layout.data_dtype),
                ]
            )
        )
        return cls(
            values,
            base_values,
            data,
            axis_kinds=probe.axis_kinds,
            feature_names=probe.feature_names,
            output_names=probe.output_names,
            details={
                "clustering": probe.clustering,
                "model_dtype": probe.model_dtype,
                "algorithm": probe.algorithm,
                "notes": probe.notes,
            },
        )

    # ----------------------------------------------------------------- basic protocol
    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.values.shape)

    def __len__(self) -> int:
        return int(self.values.shape[0])

    def __repr__(self) -> str:
        return (
            f"LazyExplanation(values={self.values!r}, base_values={self.base_values!r}, "
            f"data={self.data!r})"
        )

    def _arrays(self) -> list[Any]:
        return [self.values, self.base_values, self.data]

    def _with(self, **changes: Any) -> LazyExplanation:
        fields = {
            "values": self.values,
            "base_values": self.base_values,
            "data": self.data,
            "axis_kinds": self.axis_kinds,
            "feature_names": self.feature_names,
            "output_names": self.output_names,
            "details": self.details,
            **changes,
        }
        return LazyExplanation(**fields)

    def compute(self, **compute_options: Any) -> Explanation:
        """Explain every partition; the ordinary Explanation (``compute_options`` go to
        ``dask.compute``, e.g. ``scheduler="sync"``)."""
        dask = require("dask", "dask")
        present = [array for array in self._arrays() if array is not None]
        computed = iter(dask.compute(*present, **compute_options))
        values, base_values, data = (
            None if array is None else next(computed) for array in self._arrays()
        )
        return Explanation(
            values,
            base_values=base_values,
            data=data,
            feature_names=self.feature_names,
            output_names=self.output_names,
            axis_kinds=self.axis_kinds,
            **self.details,
        )

    def persist(self, **persist_options: Any) -> LazyExplanation:
        """The same explanation with its arrays computed and kept (on the cluster with a
        distributed client), still as dask arrays."""
        dask = require("dask", "dask")
        present = [array for array in self._arrays() if array is not None]
        persisted = iter(dask.persist(*present, **persist_options))
        values, base_values, data = (
            None if array is None else next(persisted) for array in self._arrays()
        )
        return self._with(values=values, base_values=base_values, data=data)

    # ----------------------------------------------------------------- operations
    @property
    def abs(self) -> LazyExplanation:
        """The absolute values (base values and data unchanged)."""
        return self._with(values=abs(self.values))

    def mean(self, axis: int) -> LazyExplanation:
        """Mean over ``axis`` (0: rows, a global explanation)."""
        return self._reduce("mean", axis)

    def sum(self, axis: int) -> LazyExplanation:
        """Sum over ``axis``; over the features it gives output - base value."""
        return self._reduce("sum", axis)

    def max(self, axis: int) -> LazyExplanation:
        return self._reduce("max", axis)

    def min(self, axis: int) -> LazyExplanation:
        return self._reduce("min", axis)

    def _companion_axes(self, array: Any, kinds: Sequence[str]) -> list[int] | None:
        """The axes of ``values`` that a companion array (base values, data) carries."""
        if array is None:
            return None
        axes = [i for i, kind in enumerate(self.axis_kinds) if kind in kinds]
        if tuple(array.shape) == tuple(self.values.shape[a] for a in axes):
            return axes
        return None

    def _reduce(self, how: str, axis: int) -> LazyExplanation:
        axis = axis % self.values.ndim
        kind = self.axis_kinds[axis]

        def reduce_companion(array: Any, kinds: Sequence[str]) -> Any:
            axes = self._companion_axes(array, kinds)
            if axes is None:
                return None
            if axis not in axes:
                return array
            return getattr(array, how)(axis=axes.index(axis))

        return self._with(
            values=getattr(self.values, how)(axis=axis),
            base_values=reduce_companion(self.base_values, (ROW, OUTPUT)),
            data=reduce_companion(self.data, (ROW, FEATURE)) if kind == ROW else None,
            axis_kinds=self.axis_kinds[:axis] + self.axis_kinds[axis + 1 :],
            feature_names=None if kind == FEATURE else self.feature_names,
            output_names=None if kind == OUTPUT else self.output_names,
        )

    def __getitem__(self, key: Any) -> LazyExplanation:
        """Rows, features (by position or name) and outputs, as ``Explanation`` indexes them."""
        key = key if isinstance(key, tuple) else (key,)
        if any(k is Ellipsis for k in key):
            at = next(i for i, k in enumerate(key) if k is Ellipsis)
            key = key[:at] + (slice(None),) * (self.values.ndim - len(key) + 1) + key[at + 1 :]
        if len(key) > self.values.ndim:
            raise IndexError(f"too many indices: {len(key)} for {self.values.ndim} axes")
        key = tuple(self._resolve(k, axis) for axis, k in enumerate(key))
        key = key + (slice(None),) * (self.values.ndim - len(key))

        def take(array: Any, axes: list[int] | None) -> Any:
            if axes is None:
                return None
            # one axis at a time, last first: dask indexes by a list along one axis per step
            for position in reversed(range(len(axes))):
                array = array[(slice(None),) * position + (key[axes[position]],)]
            return array

        kept = [
            kind
            for kind, k in zip(self.axis_kinds, key, strict=True)
            if isinstance(k, slice) or np.ndim(k) > 0
        ]
        return self._with(
            values=take(self.values, list(range(self.values.ndim))),
            base_values=take(
                self.base_values, self._companion_axes(self.base_values, (ROW, OUTPUT))
            ),
            data=take(self.data, self._companion_axes(self.data, (ROW, FEATURE))),
            axis_kinds=tuple(kept),
            feature_names=self._take_names(self.feature_names, FEATURE, key),
            output_names=self._take_names(self.output_names, OUTPUT, key),
        )

    def _resolve(self, item: Any, axis: int) -> Any:
        """Feature or output names as positions along ``axis``."""
        kind = self.axis_kinds[axis]
        names = {FEATURE: self.feature_names, OUTPUT: self.output_names}.get(kind)

        def position(name: str) -> int:
            if names is None or name not in names:
                known = "none are set" if names is None else f"known: {list(names)[:10]}"
                raise KeyError(f"no {kind} named {name!r} ({known})")
            return list(names).index(name)

        if isinstance(item, str):
            return position(item)
        if isinstance(item, (list, tuple)) and item and all(isinstance(i, str) for i in item):
            return [position(i) for i in item]
        return item

    def _take_names(self, names: Any, kind: str, key: tuple) -> Any:
        axes = [i for i, k in enumerate(self.axis_kinds) if k == kind]
        if names is None or isinstance(names, str) or len(axes) != 1:
            return names
        picked = np.asarray(names, dtype=object)[key[axes[0]]]
        return str(picked) if np.ndim(picked) == 0 else list(picked)


# --------------------------------------------------------------------------- helpers
def _explain_shared(
    shared: PortableExplainer, block: Any, layout: Layout, call_options: dict[str, Any]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The task run for each partition, with this worker thread's copy of the explainer."""
    return explain_partition(shared.get(), block, layout, **call_options)


def _rows_of(
    tasks: list[Any],
    position: int,
    lengths: Sequence[int],
    shape: tuple[int, ...],
    dtype: str,
    field: str,
) -> Any:
    """A dask array of item ``position`` of each task's result, one chunk of rows per task.

    Built from the graph directly (not ``da.concatenate``, which drops empty pieces) so the
    chunks are the input's, empty partitions included."""
    da = require("dask.array", "dask")
    from dask.base import tokenize
    from dask.highlevelgraph import HighLevelGraph

    name = f"shapwise-{field}-{tokenize(*(task.key for task in tasks), position)}"
    trailing = (0,) * len(shape)
    layer = {
        (name, i, *trailing): (operator.getitem, task.key, position) for i, task in enumerate(tasks)
    }
    graph = HighLevelGraph.from_collections(name, layer, dependencies=tasks)
    chunks = (tuple(int(n) for n in lengths), *((n,) for n in shape))
    return da.Array(graph, name, chunks=chunks, dtype=dtype)


def _fixed_outputs(outputs: Any) -> bool:
    """Whether ``outputs`` names the same positions for every row (not a per-row ranking)."""
    if outputs is None:
        return True
    if isinstance(outputs, OpChain):  # e.g. Explanation.argsort.flip[:3]: each row its own
        return False
    indices = np.asarray(getattr(outputs, "values", outputs))
    return indices.dtype.kind in "iu" and indices.ndim <= 1


def _cloudpickle_dumps() -> Any:
    return require("cloudpickle", "dask").dumps


def _share(portable: PortableExplainer) -> Any:
    """The explainer as one graph input that every task depends on.

    Any scheduler can compute it (a distributed client, or the local ``sync``, threaded and
    process schedulers, even with a client active). A distributed cluster sends it to each
    worker that runs a task once, not once per task; each worker thread unpickles it once.
    """
    dask = require("dask", "dask")
    return dask.delayed(portable, name=f"shapwise-explainer-{uuid.uuid4().hex}")


def _blocks(X: Any) -> tuple[list[Any], list[int]]:
    """The row blocks of ``X`` as delayed objects (numpy blocks, or pandas partitions) and the
    number of rows of each."""
    da = require("dask.array", "dask")
    if isinstance(X, da.Array):
        if X.ndim < 2:
            raise ValueError(
                f"pass the rows to explain as a dask array of rows (rows, features...); got "
                f"shape {X.shape}"
            )
        if X.dtype.kind not in "fiub":
            raise TypeError(f"the rows to explain have dtype {X.dtype}, which is not numeric")
        if any(np.isnan(size) for size in X.chunks[0]):
            X = X.compute_chunk_sizes()
        X = X.rechunk({axis: -1 for axis in range(1, X.ndim)})  # whole rows in every block
        return list(X.to_delayed().reshape(-1)), [int(n) for n in X.chunks[0]]
    dd = require("dask.dataframe", "dask")
    if isinstance(X, dd.DataFrame):
        wrong = [
            f"{name!r} ({dtype})" for name, dtype in X.dtypes.items() if dtype.kind not in "fiub"
        ]
        if wrong:
            raise TypeError(
                f"the rows to explain hold non-numeric columns: {', '.join(wrong)}; encode them "
                "as numbers or leave them out (X[numeric_columns])"
            )
        lengths = X.map_partitions(len).compute()
        return list(X.to_delayed()), [int(n) for n in lengths]
    raise TypeError(
        f"shapwise explains a dask DataFrame or Array lazily; got a {type(X).__name__} (pass a "
        "dask Series as a one-column frame: series.to_frame())"
    )


def _first_row(X: Any, lengths: Sequence[int]) -> Any:
    """The first row of ``X`` in memory (a numpy array or pandas DataFrame of one row)."""
    filled = [i for i, rows in enumerate(lengths) if rows > 0]
    if not filled:
        raise ValueError("the dask collection has no rows to explain")
    da = require("dask.array", "dask")
    if isinstance(X, da.Array):
        return X[:1].compute()
    return X.partitions[filled[0]].head(1, npartitions=1)
