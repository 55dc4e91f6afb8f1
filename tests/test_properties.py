"""Property tests of the numeric boundary and of Explanation, over generated inputs.

Properties: every input is converted exactly or refused with a ValueError or TypeError (never
another exception); the caller's object is never modified; save -> load round trips values, names
and data bit for bit, or refuses before writing. Example budgets are fixed so the suite stays fast.
"""

from __future__ import annotations

import ml_dtypes
import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from shapwise.explanation import Explanation
from shapwise.numeric import check_finite, feature_names_of, to_numpy

SETTINGS = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
DTYPES = [
    np.float16,
    np.float32,
    np.float64,
    np.int8,
    np.int16,
    np.int32,
    np.int64,
    np.uint8,
    np.uint32,
    np.uint64,
    np.bool_,
]
SHAPES = hnp.array_shapes(min_dims=1, max_dims=3, min_side=0, max_side=5)


def arrays_of_every_dtype() -> st.SearchStrategy[np.ndarray]:
    """Arrays of every numeric dtype, empty and 1-row shapes included, NaN and inf anywhere."""
    plain = st.sampled_from(DTYPES).flatmap(lambda dtype: hnp.arrays(dtype, SHAPES))
    bfloat16 = hnp.arrays(np.float32, SHAPES).map(lambda a: a.astype(ml_dtypes.bfloat16))
    return st.one_of(plain, bfloat16)


def _exactly_equal(converted: np.ndarray, original: np.ndarray) -> bool:
    """Same shape, and every element the same number (NaN where NaN), compared as Python
    numbers: an int and a float are equal only when the float holds that int exactly."""
    if original.dtype == ml_dtypes.bfloat16:
        original = original.astype(np.float32)  # exact: bfloat16 is float32 with fewer bits
    if converted.shape != original.shape:
        return False
    pairs = zip(converted.ravel().tolist(), original.ravel().tolist(), strict=True)
    return all(a == b or (a != a and b != b) for a, b in pairs)


@SETTINGS
@given(arrays_of_every_dtype())
@example(np.array([2**53 + 1, 3], dtype=np.int64))
@example(np.array([[2**64 - 1]], dtype=np.uint64))
@example(np.array([np.nan, np.inf, -np.inf], dtype=np.float16))
@example(np.zeros((0, 3), dtype=np.float32))
def test_every_array_is_converted_exactly_or_refused(array):
    before = array.copy()
    try:
        converted = to_numpy(array)
    except (TypeError, ValueError):
        return
    finally:
        assert np.array_equal(array.view(np.uint8), before.view(np.uint8))  # untouched
    assert converted.dtype in (np.float32, np.float64)
    assert converted.dtype == np.float64 or array.dtype.itemsize <= 4 or array.dtype.kind == "f"
    assert _exactly_equal(converted, array)


@SETTINGS
@given(arrays_of_every_dtype())
def test_check_finite_refuses_exactly_the_arrays_with_nan_or_inf(array):
    try:
        converted = to_numpy(array)
    except ValueError:  # integers float64 cannot hold (the test above)
        return
    finite = bool(np.isfinite(converted).all())
    if finite:
        check_finite(converted, "x")
    else:
        with pytest.raises(ValueError, match="NaN or infinite"):
            check_finite(converted, "x")


@st.composite
def frames(draw) -> pd.DataFrame:
    """DataFrames with shuffled, duplicated or non-string column names and mixed numeric dtypes."""
    n_columns = draw(st.integers(1, 4))
    n_rows = draw(st.integers(0, 4))
    names = draw(
        st.lists(
            st.one_of(st.text(max_size=3), st.integers(-3, 3), st.floats(allow_nan=False)),
            min_size=n_columns,
            max_size=n_columns,
        )
    )
    columns = {}
    for position in range(n_columns):
        dtype = draw(st.sampled_from([np.float32, np.float64, np.int64, np.bool_]))
        columns[position] = draw(hnp.arrays(dtype, n_rows))
    frame = pd.DataFrame(columns)
    frame.columns = names
    return frame


@SETTINGS
@given(frames())
def test_dataframes_convert_column_by_column_and_keep_their_names(frame):
    before = frame.copy(deep=True)
    try:
        converted = to_numpy(frame)
    except (TypeError, ValueError):
        return
    finally:
        pd.testing.assert_frame_equal(frame, before)
    assert converted.shape == frame.shape
    for position in range(frame.shape[1]):
        column = frame.iloc[:, position].to_numpy()
        assert _exactly_equal(converted[:, position], column)
    assert feature_names_of(frame) == [str(name) for name in frame.columns]


@st.composite
def explanations(draw) -> Explanation:
    """Explanations of (rows, features) or (rows, features, outputs), with names and data of
    numbers, strings or mixed objects."""
    rows, features = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    outputs = draw(st.sampled_from([None, 1, 2]))
    shape = (rows, features) if outputs is None else (rows, features, outputs)
    values = draw(hnp.arrays(np.float64, shape))
    base_shape = (rows,) if outputs is None else (rows, outputs)
    base_values = draw(hnp.arrays(np.float64, base_shape))
    kind = draw(st.sampled_from(["float32", "strings", "mixed", "none"]))
    if kind == "float32":
        data = draw(hnp.arrays(np.float32, (rows, features)))
    elif kind == "strings":
        data = draw(hnp.arrays(np.dtype("<U4"), (rows, features)))
    elif kind == "mixed":
        items = st.one_of(
            st.floats(), st.integers(-(2**62), 2**62), st.text(max_size=4), st.none(), st.booleans()
        )
        data = np.empty((rows, features), dtype=object)
        for index in np.ndindex(rows, features):
            data[index] = draw(items)
    else:
        data = None
    names = draw(st.lists(st.text(max_size=4), min_size=features, max_size=features))
    output_names = None
    if outputs is not None:
        output_names = draw(st.lists(st.text(max_size=3), min_size=outputs, max_size=outputs))
    return Explanation(
        values,
        base_values=base_values,
        data=data,
        feature_names=names,
        output_names=output_names,
        model_dtype="float64",
    )


def _same_items(a: np.ndarray | None, b: np.ndarray | None) -> bool:
    if a is None or b is None:
        return a is b
    if a.dtype == object or b.dtype == object:
        pairs = zip(a.ravel().tolist(), b.ravel().tolist(), strict=True)
        return a.shape == b.shape and all(
            type(x) is type(y) and (x == y or (x != x and y != y)) for x, y in pairs
        )
    return a.dtype == b.dtype and np.array_equal(a.view(np.uint8), b.view(np.uint8))


@SETTINGS
@given(explanations())
def test_save_then_load_round_trips_bit_for_bit(tmp_path_factory, explanation):
    path = tmp_path_factory.mktemp("saved") / "explanation.npz"
    explanation.save(path)
    loaded = Explanation.load(path)
    assert _same_items(loaded.values, explanation.values)
    assert _same_items(loaded.base_values, explanation.base_values)
    assert _same_items(loaded.data, explanation.data)
    assert loaded.feature_names == explanation.feature_names
    assert loaded.output_names == explanation.output_names


@SETTINGS
@given(st.sampled_from([object(), pd.Timestamp("2020-01-01"), {"a": 1}, b"bytes", 1j]))
def test_what_cannot_be_saved_is_refused_before_the_file_is_touched(tmp_path_factory, item):
    path = tmp_path_factory.mktemp("saved") / "explanation.npz"
    path.write_bytes(b"a good file")
    data = np.array([[1.0, item]], dtype=object)
    explanation = Explanation(np.ones((1, 2)), base_values=np.zeros(1), data=data)
    with pytest.raises(TypeError, match="cannot be saved"):
        explanation.save(path)
    assert path.read_bytes() == b"a good file"
    assert [p.name for p in path.parent.iterdir()] == ["explanation.npz"]


def test_a_dataframe_refuses_the_integers_its_float_array_would_round():
    # pandas reads an int64 column beside a float one as float64, rounding 2**53 + 1
    frame = pd.DataFrame({"count": np.array([2**53 + 1, 3]), "rate": [0.5, 0.25]})
    with pytest.raises(ValueError, match=r"column 'count'\) holds integers as large as"):
        to_numpy(frame, name="rows")
    exact = pd.DataFrame({"count": np.array([2**53, 3]), "rate": [0.5, 0.25]})
    np.testing.assert_array_equal(to_numpy(exact), [[2.0**53, 0.5], [3.0, 0.25]])
    # the same when two columns share a name (found by the property test)
    twins = pd.DataFrame({0: np.array([2**53 + 1]), 1: [0.0]})
    twins.columns = ["", ""]
    with pytest.raises(ValueError, match=r"column ''\) holds integers as large as"):
        to_numpy(twins, name="rows")
    # and beside a boolean column, where pandas gives objects (found by the property test)
    flagged = pd.DataFrame({"flag": [False], "count": np.array([2**53 + 1])})
    with pytest.raises(ValueError, match=r"column 'count'\) holds integers as large as"):
        to_numpy(flagged, name="rows")
