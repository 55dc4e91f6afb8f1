"""The one numeric boundary: anything a user or a model hands us becomes numpy float32/float64 here.

Nothing past this module sees float16, bfloat16 or a framework tensor. Framework modules are never
imported here: a tensor is recognised by the module its type comes from, so converting a torch tensor
only works when the caller has torch, and importing shapwise stays light.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
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
    _refuse_containers(x, name)
    raw = _framework_to_numpy(x)
    if _type_module(x) == "pandas" and getattr(getattr(raw, "dtype", None), "kind", "") in "fO":
        # pandas rounded them to a common float type, or left them as objects (beside booleans)
        # that become float64 below
        _refuse_rounded_integer_columns(x, name)
    try:
        array = np.asarray(raw)
    except (TypeError, ValueError) as error:
        raise TypeError(f"{name} could not be read as a numeric array: {error}") from error
    if array.dtype == object:
        try:
            array = array.astype(np.float64)
        except (TypeError, ValueError) as error:
            raise TypeError(_non_numeric_message(array, name)) from error
    kind = array.dtype.kind
    if kind in "mM":
        raise TypeError(_DATETIME_MESSAGE.format(what=name, dtype=array.dtype))
    if array.dtype == np.float64:
        return array
    if kind == "f" or array.dtype.name in _EPSILON:
        return array.astype(np.float32)
    if kind in "iub":
        return array if allow_integers else _integers_as_float64(array, name)
    if kind == "c":
        raise TypeError(
            f"{name} is complex ({array.dtype}); shapwise explains real-valued data only"
        )
    if kind == "V" or array.dtype.name.startswith("float"):
        # ml_dtypes types (bfloat16, float8_*) that numpy reports as void-like.
        return array.astype(np.float32)
    raise TypeError(f"{name} has dtype {array.dtype}, which is not numeric; pass numbers")


# Every integer of at most this magnitude is a float64 exactly.
_FLOAT64_EXACT_INTEGERS = 2**53


def _integers_as_float64(array: np.ndarray, name: str) -> np.ndarray:
    """Integers (or booleans) as float64, refused when a value would be rounded."""
    if array.dtype.itemsize >= 8 and array.size:
        largest = max(abs(int(array.min())), abs(int(array.max())))
        if largest > _FLOAT64_EXACT_INTEGERS:
            raise ValueError(
                f"{name} holds integers as large as {largest}, beyond 2**53, which float64 "
                "cannot hold exactly; scale them down, or convert them to floats yourself if "
                "rounding them is acceptable"
            )
    return array.astype(np.float64)


def _refuse_rounded_integer_columns(frame: Any, name: str) -> None:
    """A DataFrame's 64-bit integer columns that its float array rounded: refused, as the same
    integers in an array of their own are (:func:`_integers_as_float64`)."""
    dtypes = getattr(frame, "dtypes", None)
    if not hasattr(dtypes, "items"):  # a Series: one dtype, which its array keeps
        return
    for position, (column, dtype) in enumerate(dtypes.items()):
        if getattr(dtype, "kind", "") in "iu" and dtype.itemsize >= 8:
            values = frame.iloc[:, position].to_numpy()  # by position: names may repeat
            _integers_as_float64(values, f"{name} (column {column!r})")


_DATETIME_MESSAGE = (
    "{what} holds datetimes ({dtype}); convert them to numbers first, e.g. seconds since 1970 "
    "with (df['when'] - pd.Timestamp('1970-01-01')) // pd.Timedelta('1s'), or days between two "
    "dates"
)


def _is_scipy_sparse(x: Any) -> bool:
    return _type_module(x) == "scipy" and hasattr(x, "toarray") and hasattr(x, "nnz")


def _refuse_containers(x: Any, name: str) -> None:
    """Clear errors for inputs that np.asarray would turn into a meaningless object array."""
    if _is_scipy_sparse(x):
        raise TypeError(
            f"{name} is a scipy sparse matrix ({x.shape[0]} x {x.shape[1]}); pass dense rows "
            "instead, e.g. X.toarray() (for a large matrix, of a sample of its rows: explainers "
            "build dense masked copies of every row anyway)"
        )
    if isinstance(x, Mapping):
        keys = ", ".join(repr(key) for key in list(x)[:8])
        raise TypeError(
            f"{name} is a dict (keys {keys}), not an array; pass the array itself, e.g. "
            "data['input']"
        )


def _non_numeric_message(array: np.ndarray, name: str) -> str:
    """Why an object array could not become float64, and what to do about it."""
    import datetime

    items = array.reshape(-1)
    kinds = {type(item) for item in items}
    if any(item is None or type(item).__name__ in ("NAType", "NaTType") for item in items):
        return (
            f"{name} holds missing values (pd.NA or None); impute or drop them before "
            "explaining, e.g. df.fillna(df.median()) or df.dropna()"
        )
    if any(issubclass(kind, (datetime.date, datetime.timedelta, np.datetime64)) for kind in kinds):
        return _DATETIME_MESSAGE.format(what=name, dtype="dtype object")
    if any(issubclass(kind, Mapping) for kind in kinds):
        return f"{name} holds dicts; pass an array of numbers"
    example = next((item for item in items if isinstance(item, (str, bytes))), items[0])
    return (
        f"{name} holds non-numeric values (such as {example!r}); encode categories as "
        "numbers first, or pass a pandas DataFrame with a model that encodes them itself (e.g. "
        "a Pipeline of a ColumnTransformer with a OneHotEncoder and an estimator)"
    )


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


# ------------------------------------------------------------------------------------ tables
@dataclass(frozen=True)
class Columns:
    """The columns of a table, as the model is to receive them.

    Attributes:
        labels: the DataFrame's own column labels.
        dtypes: the pandas dtype of each column, for a table of mixed types (strings,
            categories) that reaches the model as a DataFrame; None when all columns are numeric.
    """

    labels: tuple[Any, ...]
    dtypes: tuple[Any, ...] | None = None

    @property
    def names(self) -> list[str]:
        """The column labels as strings (the feature names)."""
        return [str(label) for label in self.labels]

    @property
    def mixed(self) -> bool:
        """Whether the table holds non-numeric columns (its values are an object array)."""
        return self.dtypes is not None

    def take(self, order: Sequence[int]) -> Columns:
        """These columns in the order ``order`` (positions)."""
        dtypes = None if self.dtypes is None else tuple(self.dtypes[i] for i in order)
        return Columns(tuple(self.labels[i] for i in order), dtypes)

    def frame(self, values: np.ndarray) -> Any:
        """Rows ``values`` (rows, columns) as a DataFrame with these labels and dtypes.

        A categorical column keeps its categories; values it has never seen are added to them
        (rather than becoming missing).
        """
        import pandas as pd

        if values.ndim != 2 or values.shape[1] != len(self.labels):
            raise ValueError(
                f"rows of shape {values.shape} do not fit a table of {len(self.labels)} columns"
            )
        if self.dtypes is None:
            return pd.DataFrame(values, columns=list(self.labels), copy=False)
        columns = {
            position: _column(values[:, position], dtype)
            for position, dtype in enumerate(self.dtypes)
        }
        frame = pd.DataFrame(columns, copy=False)
        frame.columns = pd.Index(list(self.labels), dtype=object)
        return frame


def _column(values: np.ndarray, dtype: Any) -> Any:
    """One column of object values rebuilt in its pandas ``dtype``."""
    import pandas as pd

    if isinstance(dtype, pd.CategoricalDtype):
        unseen = (dtype.categories.get_indexer(values) == -1) & pd.notna(values)
        if unseen.any():
            new = pd.unique(values[unseen])
            dtype = pd.CategoricalDtype([*dtype.categories, *new], ordered=dtype.ordered)
        return pd.Categorical(values, dtype=dtype)
    if isinstance(dtype, np.dtype):
        return values if dtype.kind == "O" else values.astype(dtype)
    return pd.array(values, dtype=dtype)


@dataclass(frozen=True)
class Table:
    """Rows read from the user: ``values`` (float32/float64, or object for a table of mixed
    types) and the ``columns`` of a DataFrame (None for an array or tensor)."""

    values: np.ndarray
    columns: Columns | None = None

    @property
    def names(self) -> list[str] | None:
        """The feature names of a DataFrame, else None."""
        return None if self.columns is None else self.columns.names


def _is_frame(x: Any) -> bool:
    return _type_module(x) == "pandas" and hasattr(x, "columns") and hasattr(x, "dtypes")


def read_table(data: Any, *, name: str = "data") -> Table:
    """Read rows from the user, once: the one place a table of mixed types is recognised.

    A DataFrame whose columns are all numeric, an array or a tensor gives the numeric array of
    :func:`to_numpy` (same float32/float64 rules). A DataFrame with string, categorical or
    object columns gives an object array of its values with the dtypes to rebuild it for the
    model; its numeric columns must be finite (its other columns may hold missing values for
    the model's own encoder). The array returned never shares memory with ``data``, so a model
    that writes into its input cannot change the caller's data.

    Raises:
        TypeError: datetimes, missing values (pd.NA) in numeric columns, sparse data, or
            values that are not numbers outside a DataFrame (each with its own message).
    """
    if not _is_frame(data):
        return Table(_owned(to_numpy(data, name=name), data))
    dtypes = tuple(data.dtypes)
    labels = tuple(data.columns)
    kinds = [_column_kind(dtype) for dtype in dtypes]
    timed = [str(label) for label, kind in zip(labels, kinds, strict=True) if kind == "time"]
    if timed:
        what = f"{name} (column{'s' if len(timed) > 1 else ''} {', '.join(map(repr, timed))})"
        raise TypeError(_DATETIME_MESSAGE.format(what=what, dtype=dtypes[kinds.index("time")]))
    if "sparse" in kinds:
        raise TypeError(
            f"{name} has sparse columns; pass dense rows instead, e.g. df.sparse.to_dense()"
        )
    missing = [
        position
        for position, kind in enumerate(kinds)
        if kind == "number" and data.iloc[:, position].isna().any()
    ]
    with_na = [str(labels[i]) for i in missing if not isinstance(dtypes[i], np.dtype)]
    if with_na:  # nullable extension dtypes (Int64, Float64, boolean) holding pd.NA
        raise TypeError(
            f"{name} holds missing values (pd.NA) in numeric column(s) "
            f"{', '.join(map(repr, with_na))}; impute or drop them before explaining, e.g. "
            "df.fillna(df.median(numeric_only=True)) or df.dropna()"
        )
    if all(kind == "number" for kind in kinds):
        return Table(_owned(to_numpy(data, name=name), data), Columns(labels))
    if missing:  # NaN in a numeric column of a mixed table, which check_finite cannot see
        raise ValueError(
            f"{name} contains NaN in numeric column(s) "
            f"{', '.join(repr(str(labels[i])) for i in missing)}; impute or drop them before "
            "explaining"
        )
    values = np.array(data.to_numpy(dtype=object), dtype=object, order="C")
    return Table(values, Columns(labels, dtypes))


def _column_kind(dtype: Any) -> str:
    """'number', 'time', 'sparse' or 'other' (strings, categories, objects) for a pandas dtype."""
    import pandas as pd

    if isinstance(dtype, pd.SparseDtype):
        return "sparse"
    if isinstance(dtype, pd.CategoricalDtype):
        return "other"
    if pd.api.types.is_datetime64_any_dtype(dtype) or pd.api.types.is_timedelta64_dtype(dtype):
        return "time"
    if isinstance(dtype, pd.PeriodDtype):
        return "time"
    if pd.api.types.is_bool_dtype(dtype) or pd.api.types.is_numeric_dtype(dtype):
        return "number"
    return "other"


def _owned(array: np.ndarray, source: Any) -> np.ndarray:
    """``array``, copied unless it is a fresh array of our own (not ``source`` or a view of
    anything)."""
    if array is source or not array.flags.owndata:
        return array.copy()
    return array


def column_order(given: Sequence[str], wanted: Sequence[str], what: str) -> list[int]:
    """The positions in ``given`` of each name of ``wanted``.

    Raises:
        ValueError: a wanted name is missing from ``given``, ``given`` has extra names, or
            names repeat; each is named, with ``what`` saying whose columns ``given`` are.
    """
    given, wanted = [str(name) for name in given], [str(name) for name in wanted]
    repeated = sorted({name for name in given if given.count(name) > 1})
    if repeated:
        raise ValueError(
            f"{what} has repeated column names {', '.join(map(repr, repeated))}; every column "
            "needs its own name"
        )
    missing = [name for name in wanted if name not in given]
    extra = [name for name in given if name not in wanted]
    if missing or extra:
        parts = [f"missing {', '.join(map(repr, missing))}"] if missing else []
        parts += [f"extra {', '.join(map(repr, extra))}"] if extra else []
        raise ValueError(
            f"the columns of {what} do not match by name ({'; '.join(parts)}); pass the "
            f"columns {wanted}"
        )
    position = {name: i for i, name in enumerate(given)}
    return [position[name] for name in wanted]


def align_columns(
    frame: Any,
    names: Sequence[str] | None,
    what: str,
    spelled: Callable[[str], str] | None = None,
) -> Any:
    """A DataFrame ``frame`` with its columns reordered to ``names`` (matched as strings); any
    other input, or ``names`` None, unchanged. ``spelled``: how the model spells a column's
    name (LightGBM writes spaces as underscores), tried where the names as given do not match;
    the frame keeps its own names.

    Raises:
        ValueError: columns are missing, extra or repeated (each named; ``what`` says whose
            columns they are, e.g. 'the rows to explain').
    """
    if names is None or not _is_frame(frame):
        return frame
    given = [str(label) for label in frame.columns]
    if given == [str(name) for name in names]:
        return frame
    if spelled is not None and set(map(str, names)) - set(given):
        as_model = [spelled(name) for name in given]
        if len(set(as_model)) == len(as_model) and set(as_model) == set(map(str, names)):
            return frame.iloc[:, column_order(as_model, names, what)]
    return frame.iloc[:, column_order(given, names, what)]
