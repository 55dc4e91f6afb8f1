"""Model adapters: any callable, torch module, Keras model or sklearn estimator as one batched f(X)."""

from __future__ import annotations

import math
import time
import weakref
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from functools import lru_cache
from typing import Any, Literal

import numpy as np

from shapwise._torch_modes import eval_mode
from shapwise.numeric import Columns, check_finite, column_order, native_dtype_name, to_numpy

# Without an explicit batch size, the rows per model call are learnt among these (BatchTuner), and
# a call gets at most DEFAULT_BATCH_ELEMENTS input elements (large inputs such as images come in
# batches that fit in memory).
BATCH_ROWS_CANDIDATES = (4096, 16_384, 65_536)
DEFAULT_BATCH_ELEMENTS = 4_000_000


class BatchTuner:
    """Learns the rows per model call with the lowest time per row.

    Models differ: one with a fixed cost per call (input validation, a framework's dispatch) runs
    faster in large calls, one whose activations stay in cache in small ones (measured on a 64-wide
    MLP: 266 ns per row in calls of 4,096 rows, 350 ns in calls of 65,536; gradient boosting the
    other way round, 304 and 242 ns). Each candidate size is first timed on SAMPLES calls, then the
    size with the lowest median over its last SAMPLES calls is used, and now and then (after
    FIRST_EXPLORE_ROWS rows, then twice as many each time, up to EXPLORE_ROWS) the size timed
    longest ago is timed again on SAMPLES calls: a process's first seconds run slow, and a size
    timed only then would never be chosen. Re-timing costs about a percent. The values do not
    depend on it: rows are evaluated independently.
    """

    SAMPLES = 3
    FIRST_EXPLORE_ROWS = 250_000
    EXPLORE_ROWS = 5_000_000

    def __init__(self) -> None:
        self.recent: dict[int, deque[float]] = {}  # seconds per row of the last calls, by size
        self._last_timed: dict[int, int] = {}  # the call count when each size was last timed
        self._calls = 0
        self._rows = 0
        self._explore_every = self.FIRST_EXPLORE_ROWS  # doubling up to EXPLORE_ROWS
        self._explore_at = self._explore_every  # the row count at which a size is timed again
        self._retiming: int | None = None  # the size being timed again
        self._fresh = 0  # its calls timed since
        self.calls_to_time = 0
        self.n_outputs: int | None = None  # the model's outputs per row, once seen

    def rows(self, most: int) -> int:
        """Rows for the next batch of calls, at most ``most``; ``calls_to_time`` then says how
        many calls of that size it still wants to time (0: any number, the size is chosen)."""
        sizes = _sizes_up_to(most)
        for size in sizes:
            timed = len(self.recent.get(size, ()))
            if timed < self.SAMPLES:
                self.calls_to_time = self.SAMPLES - timed
                return size
        if self._retiming not in sizes:  # none, or one this input's size cap rules out
            self._retiming = None
        if self._retiming is None and self._rows >= self._explore_at:
            self._explore_every = min(2 * self._explore_every, self.EXPLORE_ROWS)
            self._explore_at = self._rows + self._explore_every
            self._retiming, self._fresh = min(sizes, key=self._last_timed.__getitem__), 0
        if self._retiming is not None:
            self.calls_to_time = self.SAMPLES - self._fresh
            return self._retiming
        self.calls_to_time = 0
        return min(sizes, key=self.seconds_per_row)

    def seconds_per_row(self, size: int) -> float:
        """The median time per row of the last calls of ``size`` rows."""
        times = sorted(self.recent[size])
        return times[len(times) // 2]

    def record(self, size: int, rows: int, seconds: list[float]) -> None:
        """Calls asked for as ``size`` rows each (the last may be shorter), ``rows`` rows in
        all, took ``seconds``."""
        self._calls += len(seconds)
        self._rows += rows
        last = rows - size * (len(seconds) - 1)
        # a call well short of its size says little about it
        timed = seconds if 2 * last >= size else seconds[:-1]
        if not timed:
            return
        per_row = [took / size for took in timed]
        if timed is seconds:
            per_row[-1] = seconds[-1] / last
        self.recent.setdefault(size, deque(maxlen=self.SAMPLES)).extend(per_row)
        self._last_timed[size] = self._calls
        if size == self._retiming:
            self._fresh += len(per_row)
            if self._fresh >= self.SAMPLES:
                self._retiming = None


@lru_cache(maxsize=64)
def _sizes_up_to(most: int) -> tuple[int, ...]:
    return tuple(sorted({min(size, most) for size in BATCH_ROWS_CANDIDATES}))


_TUNERS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def batch_tuner(model: Any) -> BatchTuner:
    """The tuner of ``model`` (of its estimator, for a bound method), kept while the model lives,
    so that explainers of the same model share what was learnt."""
    owner = getattr(model, "__self__", None)
    key = model if owner is None else owner
    try:
        return _TUNERS.setdefault(key, BatchTuner())
    except TypeError:  # not weakly referable: this adapter learns on its own
        return BatchTuner()


def framework_of(model: Any) -> Literal["torch", "tensorflow"] | None:
    """The deep-learning framework that defined ``model``'s class, or None for anything else."""
    for cls in type(model).__mro__:
        root = cls.__module__.split(".")[0]
        if root == "torch":
            return "torch"
        if root in ("keras", "tensorflow", "tf_keras"):
            return "tensorflow"
    return None


class Model:
    """A model seen as ``f(X: ndarray) -> ndarray`` of shape (n, n_outputs), float64, in batches.

    Attributes:
        single_output: the original model returned one value per row as a 1-D array.
        n_outputs: the outputs per row, None until this model (through any adapter of it) has
            been called.
        output_dtype: the dtype name of the model's own output ('float16', 'bfloat16', ...).
        input_dtype: the dtype name the model computes its inputs in, when known (torch and
            Keras models, sklearn trees); inputs built for it can be made in that precision.
        fitted_names: the column names an estimator was fitted on (``feature_names_in_``): its
            inputs reach it as a DataFrame with these columns, matched by name to the columns
            given to :meth:`expect_columns`.
        columns: the columns of the arrays this model is given (see :meth:`expect_columns`).
        source: the torch module or Keras model this adapter runs, else None (for saving it in
            its own safe format).
    """

    source: Any = None

    def __init__(
        self,
        predict: Callable[[np.ndarray], Any],
        batch_size: int | None = None,
        name: str = "model",
        input_dtype: str | None = None,
        tuner: BatchTuner | None = None,
        fitted_names: Sequence[str] | None = None,
    ) -> None:
        self._model_predict = predict
        self.fitted_names = None if fitted_names is None else [str(n) for n in fitted_names]
        self.columns: Columns | None = None
        self._predict = _feeder(predict, self.fitted_names, None, name)
        self.tuner = BatchTuner() if tuner is None else tuner
        self.batch_size = None if batch_size is None else int(batch_size)
        self.name = name
        self.input_dtype = input_dtype
        self.single_output: bool | None = None
        self.output_dtype: str | None = None
        self.n_evaluations = 0
        self.n_calls = 0
        self.seconds = 0.0

    def expect_columns(self, columns: Columns | None) -> None:
        """Say what the columns of the arrays given to this model are (those of the background,
        whose layout masked inputs have); None for unnamed arrays.

        A model fitted on a DataFrame then gets its columns in its fitted order, matched by
        name; a table of mixed types reaches any model as a DataFrame with these labels and
        dtypes (the arrays given are object arrays).

        Raises:
            ValueError: the columns do not match the names the model was fitted on.
        """
        self.columns = columns
        self._predict = _feeder(self._model_predict, self.fitted_names, columns, self.name)

    def __call__(
        self,
        X: np.ndarray,
        rows_per_call: int | None = None,
        check: bool = True,
        owned: bool = False,
    ) -> np.ndarray:
        """Evaluate on all rows of ``X`` in calls of ``rows_per_call`` rows (default: as
        :meth:`rows_per_call` says); returns (n, n_outputs) float64, checked to be finite
        unless ``check`` is False (for a caller that checks what it makes of them).

        The model may write into what it is given: ``X`` is copied first unless ``owned`` says
        it is a buffer of the caller's own that may be overwritten (masked inputs).

        Between calls the outputs are only kept; they are checked and joined after the last
        call (each step right after a model call runs slowly, in caches the model has just
        filled).
        """
        n = len(X)
        if n == 0:
            raise ValueError("the model was asked to evaluate zero rows")
        if not owned:
            X = X.copy()
        step = rows_per_call or self.rows_per_call(X.shape[1:])
        predict, clock = self._predict, time.perf_counter
        raws, seconds = [], []
        for start in range(0, n, step):
            began = clock()
            raws.append(predict(X[start : start + step]))
            seconds.append(clock() - began)
        self._account(step, n, seconds)
        out = self._join(raws, [min(step, n - start) for start in range(0, n, step)])
        if check:
            self.check_outputs(out)
        return out

    def _join(self, raws: list[Any], sizes: list[int]) -> np.ndarray:
        """The model's outputs of calls of ``sizes`` rows as one (rows, outputs) float64 array."""
        tail = raws[0].shape[1:] if type(raws[0]) is np.ndarray else None
        if tail is not None and all(
            type(raw) is np.ndarray and raw.dtype == np.float64 and raw.shape == (k, *tail)
            for raw, k in zip(raws, sizes, strict=True)
        ):  # the common case: join first, then look at them once
            return self._outputs(raws[0] if len(raws) == 1 else np.concatenate(raws), sum(sizes))
        first = self._outputs(raws[0], sizes[0])
        later = zip(raws[1:], sizes[1:], strict=True)
        return np.concatenate([first, *(self._outputs(r, k, first.shape[1]) for r, k in later)])

    def input_array_dtype(self, data_dtype: np.dtype) -> np.dtype:
        """The dtype to build inputs in: float32 for float64 data and a model that reads float32
        (it would round the inputs to the same float32 values itself), else ``data_dtype``.

        Half the memory traffic for inputs that are cheap to evaluate per row.
        """
        if self.input_dtype == "float32" and np.dtype(data_dtype) == np.float64:
            return np.dtype(np.float32)
        return np.dtype(data_dtype)

    def rows_per_call(self, row_shape: tuple[int, ...]) -> int:
        """The most rows of shape ``row_shape`` to pass to the model in one call, for the next
        batch of calls."""
        if self.batch_size is not None:
            return self.batch_size
        row_size = max(math.prod(row_shape), 1)
        return self.tuner.rows(max(1, DEFAULT_BATCH_ELEMENTS // row_size))

    @property
    def n_outputs(self) -> int | None:
        """The outputs per row, once this model has been called (through any adapter of it)."""
        return self.tuner.n_outputs

    @property
    def seconds_per_row(self) -> float | None:
        """The model's measured seconds per row: over this adapter's calls so far, else the
        fastest size its tuner has timed (another adapter of the same model), else None."""
        if self.n_evaluations:
            return self.seconds / self.n_evaluations
        timed = [self.tuner.seconds_per_row(size) for size in self.tuner.recent]
        return min(timed) if timed else None

    @property
    def calls_to_time(self) -> int:
        """How many calls of the size :meth:`rows_per_call` last gave are wanted before asking
        again (the size is being timed), or 0 for any number."""
        return 0 if self.batch_size is not None else self.tuner.calls_to_time

    def call_plan(
        self, row_shape: tuple[int, ...], batch_size: int | None = None
    ) -> tuple[int, int]:
        """(rows per model call, the most calls of that size wanted before asking again, 0 for
        any number) for the next batch of calls of rows shaped ``row_shape``; ``batch_size``, a
        caller's own rows per call for one explanation, overrides both."""
        if batch_size is not None:
            return int(batch_size), 0
        return self.rows_per_call(row_shape), self.calls_to_time

    def _account(self, size: int, n_rows: int, seconds: list[float]) -> None:
        """Count calls of ``size`` rows (the last one may be shorter) over ``n_rows`` rows that
        took ``seconds``, and tell the tuner."""
        self.n_calls += len(seconds)
        self.n_evaluations += n_rows
        self.seconds += sum(seconds)
        if self.batch_size is None:
            self.tuner.record(size, n_rows, seconds)

    def check_outputs(self, out: np.ndarray) -> None:
        """Raise a ValueError naming this model if its outputs ``out`` hold NaN or inf."""
        check_finite(out, f"the output of {self.name}")

    def _outputs(self, raw: Any, n_rows: int, n_outputs: int | None = None) -> np.ndarray:
        """The model's output for ``n_rows`` rows as (rows, outputs) float64; an error if it has
        another row count, or other than ``n_outputs`` outputs (those of the earlier calls)."""
        if isinstance(raw, Mapping):
            keys = ", ".join(repr(key) for key in list(raw)[:8])
            first = next(iter(raw), "logits")
            raise TypeError(
                f"{self.name} returned a dict (keys {keys}), not an array; pass a function "
                f"that returns one array per row, e.g. lambda X: model(X)[{first!r}]"
            )
        if self.output_dtype is None:
            self.output_dtype = native_dtype_name(raw)
        if type(raw) is np.ndarray and raw.dtype == np.float64:
            out = raw
        else:
            out = to_numpy(raw, name=f"the output of {self.name}").astype(np.float64, copy=False)
        if out.ndim == 0 or out.shape[0] != n_rows:
            got = "a scalar" if out.ndim == 0 else f"{out.shape[0]} rows (shape {out.shape})"
            raise ValueError(
                f"{self.name} returned {got} for {n_rows} input rows; it must return one "
                "output row per input row"
            )
        if self.single_output is None:
            self.single_output = out.ndim == 1
        out = out.reshape(n_rows, -1)
        self.tuner.n_outputs = out.shape[1]
        if n_outputs is not None and out.shape[1] != n_outputs:
            raise ValueError(
                f"{self.name} returned {out.shape[1]} outputs per row in one call and "
                f"{n_outputs} in another; it must return the same outputs for every batch of rows"
            )
        return out


def _torch_predict(module: Any) -> tuple[Callable[[np.ndarray], Any], str]:
    import torch

    parameter = next(module.parameters(), None)
    dtype = parameter.dtype if parameter is not None else torch.float32
    device = parameter.device if parameter is not None else torch.device("cpu")

    def predict(X: np.ndarray) -> Any:
        with eval_mode(module), torch.no_grad():
            return module(torch.as_tensor(X).to(device=device, dtype=dtype))

    return predict, str(dtype).replace("torch.", "")


def _keras_predict(model: Any) -> tuple[Callable[[np.ndarray], Any], str]:
    dtype = getattr(getattr(model, "dtype_policy", None), "compute_dtype", None) or "float32"

    def predict(X: np.ndarray) -> Any:
        return model(X, training=False)

    return predict, str(dtype)


def _sklearn_predict(estimator: Any) -> Callable[[np.ndarray], Any]:
    if (
        hasattr(estimator, "predict_proba")
        and getattr(estimator, "_estimator_type", None) != "regressor"
    ):
        return estimator.predict_proba
    return estimator.predict


def _reads_float32(estimator: Any) -> bool:
    """Whether an sklearn-style estimator predicts through sklearn's decision trees, which read
    their input as float32 (a single tree, or an ensemble whose members all are trees)."""
    if hasattr(estimator, "tree_"):
        return True
    members = getattr(estimator, "estimators_", None)
    if members is None:
        return False
    # a list of estimators, or an array of them (gradient boosting: one per stage and class)
    members = members.ravel().tolist() if isinstance(members, np.ndarray) else list(members)
    return bool(members) and all(hasattr(member, "tree_") for member in members)


def _fitted_names(predict: Callable[[np.ndarray], Any]) -> list[str] | None:
    """The columns the estimator of a bound method was fitted on (``feature_names_in_``)."""
    names = getattr(getattr(predict, "__self__", None), "feature_names_in_", None)
    return None if names is None else [str(name) for name in names]


def _feeder(
    predict: Callable[[Any], Any],
    fitted_names: list[str] | None,
    columns: Columns | None,
    name: str,
) -> Callable[[np.ndarray], Any]:
    """``predict`` fed as the model expects: rows as a DataFrame with the fitted names (in the
    fitted order, matched by name to ``columns`` when they are known), or with the labels and
    dtypes of a table of mixed types; plain arrays otherwise."""
    order = None
    if fitted_names is not None:
        if columns is None:  # unnamed arrays: their columns are taken as the fitted ones
            columns = Columns(tuple(fitted_names))
        else:
            what = f"the background data (against those {name} was fitted on)"
            order = column_order(columns.names, fitted_names, what)
            if order == list(range(len(order))):
                order = None
            else:
                columns = columns.take(order)
    if columns is None or (fitted_names is None and not columns.mixed):
        return predict
    width = len(columns.labels)

    def predict_frame(X: np.ndarray) -> Any:
        if X.ndim != 2 or X.shape[1] != width:
            return predict(X)
        return predict(columns.frame(X if order is None else X[:, order]))

    return predict_frame


def as_model(model: Any, batch_size: int | None = None) -> Model:
    """Wrap ``model`` as a batched :class:`Model`.

    Accepts a :class:`Model`, a ``torch.nn.Module`` (run in eval mode without gradients, inputs cast to
    the module's dtype and device), a Keras model, an sklearn-style estimator (``predict_proba`` for
    classifiers, else ``predict``), or any callable taking a 2-D numpy array.
    """
    if isinstance(model, Model):
        if batch_size is not None:
            model.batch_size = int(batch_size)
        return model
    if any(cls.__module__.startswith("transformers.pipelines") for cls in type(model).__mro__):
        from shapwise.text_models import TransformersPipeline

        return TransformersPipeline(model, batch_size=batch_size)
    framework = framework_of(model)
    name = type(model).__name__
    if framework == "torch" and hasattr(model, "parameters"):
        predict, dtype = _torch_predict(model)
        adapted = Model(predict, batch_size, name, dtype, batch_tuner(model))
        adapted.source = model
        return adapted
    if framework == "tensorflow" and hasattr(model, "layers"):
        predict, dtype = _keras_predict(model)
        adapted = Model(predict, batch_size, name, dtype, batch_tuner(model))
        adapted.source = model
        return adapted
    if hasattr(model, "predict") and hasattr(model, "fit"):
        dtype = "float32" if _reads_float32(model) else None
        predict = _sklearn_predict(model)
        return Model(predict, batch_size, name, dtype, batch_tuner(model), _fitted_names(predict))
    if callable(model):
        name = getattr(model, "__name__", name)
        owner = getattr(model, "__self__", None)  # e.g. a fitted estimator's predict
        dtype = "float32" if owner is not None and _reads_float32(owner) else None
        return Model(model, batch_size, name, dtype, batch_tuner(model), _fitted_names(model))
    raise TypeError(
        f"cannot explain a {name}: pass a function of a 2-D array, a torch.nn.Module, a Keras "
        "model, or an estimator with predict / predict_proba"
    )


# Adapters for transformers (text-classification pipelines, text generation), loaded when used.
_TEXT_MODELS = ("TransformersPipeline", "TeacherForcing", "TextGeneration")


def __getattr__(name: str) -> Any:
    if name in _TEXT_MODELS:
        from shapwise import text_models

        return getattr(text_models, name)
    raise AttributeError(f"module 'shapwise.models' has no attribute {name!r}")
