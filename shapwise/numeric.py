"""The one numeric boundary: anything a user or a model hands us becomes numpy float32/float64 here.

Nothing past this module sees float16, bfloat16 or a framework tensor. Framework modules are never
imported here: a tensor is recognised by the module its type comes from, so converting a torch tensor
only works when the caller has torch, and importing shapwise stays light.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import numpy as np

# Machine epsilon of each dtype we may meet, by name. Used for dtype-aware tolerances.
_EPSILON = {
    "float64": float(np.finfo(np.float64).eps),
    "float32": float(np.finfo(np.float32).eps),
    "float16": float(np.finfo(np.float16).eps),
    "bfloat16": 2.0**-7,
    "float8_e4m3fn": 2.0**-3,
    "float8_e5m2": 2.0**-2,
}


def _type_module(x: Any) -> str:
    return type(x).__module__.split(".")[0]


def native_dtype_name(x: Any) -> str:
    """The dtype of ``x`` as its framework names it ('float16', 'bfloat16', 'float32', ...)."""
    dtype = getattr(x, "dtype", None)
    if dtype is None:
        dtype = np.asarray(x).dtype
    try:
        return _dtype_name(dtype)
    except TypeError:  # a dtype that cannot be hashed
        return _dtype_name.__wrapped__(dtype)


@lru_cache(maxsize=64)
def _dtype_name(dtype: Any) -> str:
    # cached: numpy works a dtype's name out in Python, slowly (~40 us right after a model call)
    name = getattr(dtype, "name", None) or str(dtype)
    return str(name).replace("torch.", "")


def _framework_to_numpy(x: Any) -> Any:
    """Turn a torch / tensorflow / jax / pandas object into something np.asarray can take."""
    module = _type_module(x)
    if module == "torch":
        tensor = x.detach()
        if tensor.is_complex():
            raise TypeError("complex tensors cannot be explained; pass a real-valued tensor")
        if tensor.dtype.is_floating_point and tensor.dtype.itemsize < 4:
            tensor = tensor.float()  # bfloat16/float16 have no numpy twin in torch
        return tensor.cpu().numpy()
    if module in ("tensorflow", "keras", "tf_keras"):
        if hasattr(x, "numpy"):
            return x.numpy()
        return np.asarray(x)
    if module == "pandas":
        return x.to_numpy()
    if module in ("jax", "jaxlib"):
        return np.asarray(x)
    return x


def to_numpy(x: Any, *, name: str = "data", allow_integers: bool = False) -> np.ndarray:
    """Convert ``x`` to a numpy array of float32 or float64.

    float64 stays float64; every other float type (float16, bfloat16, float8, float32) becomes float32.
    Integers and booleans become float64, or stay integers when ``allow_integers`` (token ids).

    Raises:
        TypeError: ``x`` cannot be read as numbers.
    """
    raw = _framework_to_numpy(x)
    try:
        array = np.asarray(raw)
    except (TypeError, ValueError) as error:
        raise TypeError(f"{name} could not be read as a numeric array: {error}") from error
    if array.dtype == object:
        try:
            array = array.astype(np.float64)
        except (TypeError, ValueError) as error:
            raise TypeError(
                f"{name} holds non-numeric values (dtype object); encode categories as numbers first"
            ) from error
    kind = array.dtype.kind
    if array.dtype == np.float64:
        return array
    if kind == "f" or array.dtype.name in _EPSILON:
        return array.astype(np.float32)
    if kind in "iub":
        return array if allow_integers else array.astype(np.float64)
    if kind == "c":
        raise TypeError(
            f"{name} is complex ({array.dtype}); shapwise explains real-valued data only"
        )
    if kind == "V" or array.dtype.name.startswith("float"):
        # ml_dtypes types (bfloat16, float8_*) that numpy reports as void-like.
        return array.astype(np.float32)
    raise TypeError(f"{name} has dtype {array.dtype}, which is not numeric; pass numbers")


def feature_names_of(x: Any) -> list[str] | None:
    """Column names of a pandas DataFrame (or the name of a Series), else None."""
    columns = getattr(x, "columns", None)
    if columns is not None and _type_module(x) == "pandas":
        return [str(c) for c in columns]
    return None


def check_finite(array: np.ndarray, what: str) -> None:
    """Raise a ValueError naming ``what`` if ``array`` holds NaN or inf."""
    if array.dtype.kind != "f":
        return
    with np.errstate(over="ignore", invalid="ignore"):
        total = np.add.reduce(array, axis=None)
    if np.isfinite(total):
        return  # a sum is NaN or infinite when any term is (one pass, no temporary)
    bad = ~np.isfinite(array)
    if bad.any():  # else the sum only overflowed
        count = int(bad.sum())
        first = tuple(int(i) for i in np.argwhere(bad)[0])
        raise ValueError(
            f"{what} contains {count} NaN or infinite value(s) (first at index {first}); "
            "impute or drop them before explaining"
        )


def epsilon(dtype_name: str) -> float:
    """Machine epsilon for a dtype name; float32's for unknown names."""
    return _EPSILON.get(dtype_name, _EPSILON["float32"])


def compute_dtype(dtype_name: str) -> np.dtype:
    """The dtype shapwise computes in for a model of ``dtype_name``: float64 stays, all else float32."""
    return np.dtype(np.float64) if dtype_name == "float64" else np.dtype(np.float32)


def additivity_tolerance(dtype_name: str, scale: float) -> float:
    """Absolute tolerance for values + base value = output, for a model computing in ``dtype_name``.

    Relative to ``scale`` (the typical magnitude of the outputs), with a floor so that outputs near
    zero do not demand more than the dtype can give. Half types get a loose bound because the model's
    own arithmetic rounds at that precision.
    """
    eps = epsilon(dtype_name)
    relative = {"float64": 1e-8, "float32": 1e-4}.get(dtype_name, max(20 * eps, 1e-2))
    return relative * max(float(scale), 1.0)
