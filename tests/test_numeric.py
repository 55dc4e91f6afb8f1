"""The numeric boundary turns every framework's arrays into numpy float32/float64."""

from __future__ import annotations

import ml_dtypes
import numpy as np
import pandas as pd
import pytest

from shapwise.numeric import (
    additivity_tolerance,
    check_finite,
    feature_names_of,
    native_dtype_name,
    to_numpy,
)


@pytest.mark.parametrize(
    ("dtype", "expected"),
    [
        (np.float16, np.float32),
        (np.float32, np.float32),
        (np.float64, np.float64),
        (ml_dtypes.bfloat16, np.float32),
        (ml_dtypes.float8_e4m3fn, np.float32),
        (np.int32, np.float64),
        (np.bool_, np.float64),
    ],
)
def test_numpy_dtypes_become_float32_or_float64(dtype, expected):
    source = np.array([[0.5, 1.0], [2.0, 0.0]]).astype(dtype)
    out = to_numpy(source)
    assert out.dtype == expected
    np.testing.assert_array_equal(out, source.astype(np.float64))


def test_integers_kept_when_allowed():
    out = to_numpy(np.array([[1, 2]], dtype=np.int64), allow_integers=True)
    assert out.dtype == np.int64


@pytest.mark.parametrize("dtype_name", ["bfloat16", "float16", "float32", "float64"])
def test_torch_tensors_any_dtype(dtype_name):
    torch = pytest.importorskip("torch")
    tensor = torch.tensor([[0.25, -1.5]], dtype=getattr(torch, dtype_name), requires_grad=True)
    out = to_numpy(tensor)
    assert out.dtype == (np.float64 if dtype_name == "float64" else np.float32)
    np.testing.assert_array_equal(out, [[0.25, -1.5]])
    assert native_dtype_name(tensor) == dtype_name


@pytest.mark.parametrize("dtype_name", ["bfloat16", "float16", "float32"])
def test_tensorflow_tensors_any_dtype(dtype_name):
    tf = pytest.importorskip("tensorflow")
    tensor = tf.constant([[0.25, -1.5]], dtype=getattr(tf, dtype_name))
    out = to_numpy(tensor)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, [[0.25, -1.5]])
    assert native_dtype_name(tensor) == dtype_name


def test_pandas_keeps_column_names():
    frame = pd.DataFrame({"age": [1.0, 2.0], "bmi": [3.0, 4.0]})
    assert feature_names_of(frame) == ["age", "bmi"]
    assert to_numpy(frame).tolist() == [[1.0, 3.0], [2.0, 4.0]]
    assert feature_names_of(np.zeros((2, 2))) is None


def test_lists_and_errors():
    assert to_numpy([[1, 2], [3, 4]]).dtype == np.float64
    with pytest.raises(TypeError, match="non-numeric values"):
        to_numpy(np.array([["a", 1]], dtype=object))
    with pytest.raises(TypeError, match="complex"):
        to_numpy(np.array([1 + 2j]))


def test_check_finite_names_what_and_where():
    check_finite(np.ones(3), "x")
    with pytest.raises(
        ValueError,
        match=r"the rows contains 2 NaN or infinite value\(s\) \(first at index \(1,\)\)",
    ):
        check_finite(np.array([1.0, np.nan, np.inf]), "the rows")


@pytest.mark.filterwarnings("error")  # and says nothing about the overflow
def test_check_finite_tells_an_overflowing_sum_from_infinite_values():
    check_finite(np.array([1e308, 1e308, -1.0]), "x")  # finite, though their sum is not
    check_finite(np.full((3, 2), 3e38, dtype=np.float32), "x")
    for values in ([np.inf, -np.inf], [1e308, 1e308, np.nan], [-np.inf, 0.0]):
        with pytest.raises(ValueError, match="NaN or infinite"):
            check_finite(np.array(values), "x")


def test_tolerance_follows_dtype_and_scale():
    assert additivity_tolerance("float64", 1.0) < additivity_tolerance("float32", 1.0)
    assert additivity_tolerance("float32", 1.0) < additivity_tolerance("float16", 1.0)
    assert additivity_tolerance("float16", 1.0) <= additivity_tolerance("bfloat16", 1.0)
    assert additivity_tolerance("float32", 100.0) == pytest.approx(
        100 * additivity_tolerance("float32", 1.0)
    )
