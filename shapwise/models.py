"""Model adapters: any callable, torch module, Keras model or sklearn estimator as one batched f(X)."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any, Literal

import numpy as np

from shapwise._torch_modes import eval_mode
from shapwise.numeric import check_finite, native_dtype_name, to_numpy

# Without an explicit batch size, a model call gets at most this many rows, and at most this many
# input elements (so that large inputs such as images come in batches that fit in memory).
DEFAULT_BATCH_ROWS = 65_536
DEFAULT_BATCH_ELEMENTS = 4_000_000


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
        output_dtype: the dtype name of the model's own output ('float16', 'bfloat16', ...).
        input_dtype: the dtype name the model computes its inputs in, when known (torch and
            Keras models, sklearn trees); inputs built for it can be made in that precision.
    """

    def __init__(
        self,
        predict: Callable[[np.ndarray], Any],
        batch_size: int | None = None,
        name: str = "model",
        input_dtype: str | None = None,
    ) -> None:
        self._predict = predict
        self.batch_size = None if batch_size is None else int(batch_size)
        self.name = name
        self.input_dtype = input_dtype
        self.single_output: bool | None = None
        self.output_dtype: str | None = None
        self.n_evaluations = 0
        self.n_calls = 0
        self.seconds = 0.0

    def __call__(self, X: np.ndarray) -> np.ndarray:
        """Evaluate on all rows of ``X`` in batches; returns (n, n_outputs) float64."""
        n = len(X)
        if n == 0:
            raise ValueError("the model was asked to evaluate zero rows")
        step = self.rows_per_call(X.shape[1:])
        chunks = [self._evaluate(X[start : start + step]) for start in range(0, n, step)]
        return chunks[0] if len(chunks) == 1 else np.concatenate(chunks, axis=0)

    def input_array_dtype(self, data_dtype: np.dtype) -> np.dtype:
        """The dtype to build inputs in: float32 for float64 data and a model that reads float32
        (it would round the inputs to the same float32 values itself), else ``data_dtype``.

        Half the memory traffic for inputs that are cheap to evaluate per row.
        """
        if self.input_dtype == "float32" and np.dtype(data_dtype) == np.float64:
            return np.dtype(np.float32)
        return np.dtype(data_dtype)

    def rows_per_call(self, row_shape: tuple[int, ...]) -> int:
        """The most rows of shape ``row_shape`` passed to the model in one call."""
        if self.batch_size is not None:
            return self.batch_size
        row_size = max(math.prod(row_shape), 1)
        return max(1, min(DEFAULT_BATCH_ROWS, DEFAULT_BATCH_ELEMENTS // row_size))

    def _evaluate(self, X: np.ndarray) -> np.ndarray:
        start = time.perf_counter()
        raw = self._predict(X)
        self.seconds += time.perf_counter() - start
        self.n_calls += 1
        self.n_evaluations += len(X)
        if self.output_dtype is None:
            self.output_dtype = native_dtype_name(raw)
        if type(raw) is np.ndarray and raw.dtype == np.float64:
            out = raw  # the common case, without the boundary's type checks
        else:
            out = to_numpy(raw, name=f"the output of {self.name}").astype(np.float64, copy=False)
        if out.ndim == 0 or out.shape[0] != len(X):
            got = "a scalar" if out.ndim == 0 else f"{out.shape[0]} rows (shape {out.shape})"
            raise ValueError(
                f"{self.name} returned {got} for {len(X)} input rows; it must return one "
                "output row per input row"
            )
        if self.single_output is None:
            self.single_output = out.ndim == 1
        out = out.reshape(len(X), -1)
        check_finite(out, f"the output of {self.name}")
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


def _with_column_names(predict: Callable[[np.ndarray], Any]) -> Callable[[np.ndarray], Any]:
    """For a method of an estimator fitted on a DataFrame, pass rows as a DataFrame with its own
    column names (as it was fitted), not a bare array it would warn about."""
    columns = getattr(getattr(predict, "__self__", None), "feature_names_in_", None)
    if columns is None:
        return predict

    def predict_frame(X: np.ndarray) -> Any:
        import pandas as pd

        if X.ndim != 2 or X.shape[1] != len(columns):
            return predict(X)
        return predict(pd.DataFrame(X, columns=columns))

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
    framework = framework_of(model)
    name = type(model).__name__
    if framework == "torch" and hasattr(model, "parameters"):
        predict, dtype = _torch_predict(model)
        return Model(predict, batch_size, name=name, input_dtype=dtype)
    if framework == "tensorflow" and hasattr(model, "layers"):
        predict, dtype = _keras_predict(model)
        return Model(predict, batch_size, name=name, input_dtype=dtype)
    if hasattr(model, "predict") and hasattr(model, "fit"):
        dtype = "float32" if _reads_float32(model) else None
        predict = _with_column_names(_sklearn_predict(model))
        return Model(predict, batch_size, name=name, input_dtype=dtype)
    if callable(model):
        name = getattr(model, "__name__", name)
        owner = getattr(model, "__self__", None)  # e.g. a fitted estimator's predict
        dtype = "float32" if owner is not None and _reads_float32(owner) else None
        return Model(_with_column_names(model), batch_size, name=name, input_dtype=dtype)
    raise TypeError(
        f"cannot explain a {name}: pass a function of a 2-D array, a torch.nn.Module, a Keras "
        "model, or an estimator with predict / predict_proba"
    )
