"""The numeric boundary turns every framework's arrays into numpy float32/float64."""

from __future__ import annotations

import ml_dtypes
import numpy as np
import pandas as pd
import pytest

from shapwise.numeric import (
    Columns,
    additivity_tolerance,
    align_columns,
    check_finite,
    feature_names_of,
    native_dtype_name,
    read_table,
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


# ------------------------------------------------------------------------------------ tables
def _mixed() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "city": ["paris", "rome", "oslo"],
            "size": pd.Categorical(["S", "L", "S"], categories=["S", "M", "L"], ordered=True),
            "age": np.array([31.5, 40.0, 52.25], dtype=np.float32),
            "rooms": np.array([1, 4, 2], dtype=np.int64),
            "owner": pd.array([True, False, True], dtype="boolean"),
        }
    )


@pytest.mark.parametrize(
    ("columns", "expected"),
    [
        ({"a": np.float32, "b": np.float32}, np.float32),
        ({"a": np.float64, "b": np.float32}, np.float64),
        ({"a": np.int64, "b": np.float32}, np.float64),
        ({"a": np.int8, "b": np.bool_}, np.float64),
    ],
)
def test_numeric_frames_read_as_numbers_by_the_same_rules(columns, expected):
    frame = pd.DataFrame(
        {name: np.array([1, 0, 1]).astype(dtype) for name, dtype in columns.items()}
    )
    table = read_table(frame)
    assert table.values.dtype == expected
    assert table.values.dtype == to_numpy(frame).dtype
    np.testing.assert_array_equal(table.values, frame.to_numpy(dtype=np.float64))
    assert table.names == list(columns) and not table.columns.mixed


def test_mixed_frames_read_as_objects_and_rebuild_with_their_dtypes():
    frame = _mixed()
    table = read_table(frame, name="the rows")
    assert table.values.dtype == object and table.values.shape == (3, 5)
    assert table.values[:, 0].tolist() == ["paris", "rome", "oslo"]
    assert table.columns.mixed and table.names == list(frame.columns)
    rebuilt = table.columns.frame(table.values)
    pd.testing.assert_frame_equal(rebuilt, frame, check_column_type=False)
    # a category the table never had joins its categories instead of becoming missing
    unseen = table.values[:1].copy()
    unseen[0, 1] = "XL"
    column = table.columns.frame(unseen)["size"]
    assert column.tolist() == ["XL"]
    assert list(column.cat.categories) == ["S", "M", "L", "XL"] and column.cat.ordered


def test_columns_reorder_with_their_dtypes():
    columns = read_table(_mixed()).columns
    reordered = columns.take([2, 0])
    assert reordered.names == ["age", "city"]
    assert reordered.dtypes == (np.dtype(np.float32), columns.dtypes[0])
    assert Columns(("a", "b")).take([1, 0]) == Columns(("b", "a"))


def test_what_is_read_never_shares_memory_with_the_caller():
    torch = pytest.importorskip("torch")
    array = np.arange(6.0).reshape(3, 2)
    single = np.arange(6, dtype=np.float32).reshape(3, 2)
    frame = pd.DataFrame(array.copy(), columns=["a", "b"])
    tensor = torch.arange(6.0, dtype=torch.float64).reshape(3, 2)
    for source, memory in (
        (array, array),
        (single, single),
        (frame, frame["a"].to_numpy()),
        (tensor, tensor.numpy()),
        (array[:, ::-1], array),
    ):
        values = read_table(source).values
        assert not np.shares_memory(values, memory)
        np.testing.assert_array_equal(values, np.asarray(source))


def test_sparse_matrices_say_to_pass_dense_rows():
    sparse = pytest.importorskip("scipy.sparse")
    matrix = sparse.csr_matrix(np.eye(3))
    for read in (to_numpy, read_table):
        with pytest.raises(TypeError, match=r"scipy sparse matrix \(3 x 3\).*toarray\(\)"):
            read(matrix, name="the background data")
    frame = pd.DataFrame({"a": pd.arrays.SparseArray([0.0, 1.0, 0.0])})
    with pytest.raises(TypeError, match=r"sparse columns.*to_dense\(\)"):
        read_table(frame)


def test_datetimes_say_to_convert_them_to_numbers():
    frame = pd.DataFrame({"when": pd.to_datetime(["2024-01-01", "2024-02-01"]), "x": [1.0, 2.0]})
    with pytest.raises(
        TypeError, match=r"column 'when'\) holds datetimes.*convert them to numbers"
    ):
        read_table(frame, name="the rows")
    with pytest.raises(TypeError, match="holds datetimes.*convert them to numbers"):
        to_numpy(np.array(["2024-01-01"], dtype="datetime64[D]"))
    with pytest.raises(TypeError, match="holds datetimes"):
        to_numpy(np.array([[pd.Timestamp("2024-01-01"), 1.0]], dtype=object))
    with pytest.raises(TypeError, match="holds datetimes"):
        read_table(pd.DataFrame({"took": pd.to_timedelta([1, 2], unit="s")}))


def test_missing_values_in_numeric_columns_say_to_impute_or_drop():
    frame = pd.DataFrame({"a": pd.array([1, None, 3], dtype="Int64"), "b": [1.0, 2.0, 3.0]})
    with pytest.raises(TypeError, match=r"pd\.NA\) in numeric column\(s\) 'a'; impute or drop"):
        read_table(frame, name="the rows")
    with pytest.raises(TypeError, match=r"missing values \(pd\.NA or None\); impute or drop"):
        to_numpy(np.array([[1.0, pd.NA]], dtype=object))
    # without missing values, nullable columns are plain numbers
    np.testing.assert_array_equal(read_table(frame.dropna()).values, [[1.0, 1.0], [3.0, 3.0]])


def test_strings_outside_a_frame_say_how_to_explain_them():
    with pytest.raises(TypeError, match="encode categories as numbers first, or pass a pandas"):
        read_table(np.array([["paris", 1.0]], dtype=object))
    with pytest.raises(TypeError, match=r"is a dict \(keys 'input'\)"):
        to_numpy({"input": np.ones(3)})


def test_align_columns_reorders_by_name_or_names_what_is_wrong():
    frame = pd.DataFrame({"b": [1.0], "a": [2.0], "c": [3.0]})
    assert list(align_columns(frame, ["a", "b", "c"], "the rows").columns) == ["a", "b", "c"]
    assert align_columns(frame, ["b", "a", "c"], "the rows") is frame
    array = np.zeros((1, 3))
    assert align_columns(array, ["a", "b", "c"], "the rows") is array
    assert align_columns(frame, None, "the rows") is frame
    with pytest.raises(
        ValueError, match=r"the rows do not match by name \(missing 'd'; extra 'c'\)"
    ):
        align_columns(frame, ["a", "b", "d"], "the rows")
    repeated = pd.DataFrame([[1.0, 2.0]], columns=["a", "a"])
    with pytest.raises(ValueError, match="repeated column names 'a'"):
        align_columns(repeated, ["a", "b"], "the rows")
