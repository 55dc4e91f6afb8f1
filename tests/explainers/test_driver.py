"""The driver: one additivity check, output selection, names and rows read once, legacy layouts."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from shapwise.errors import AdditivityError, ShapwiseWarning
from shapwise.explainers._driver import (
    Attribution,
    build_explanation,
    check_additivity,
    check_batch_size,
    check_names,
    legacy_expected_value,
    legacy_values,
    rank_outputs,
    read_rows,
)


def _attribution(error: float = 0.0, base: float = 1.0, notes: tuple[str, ...] = ()):
    values = np.array([[[1.0, 2.0], [3.0, 4.0]]])  # (1 row, 2 features, 2 outputs)
    base_values = np.full((1, 2), base)
    outputs = values.sum(axis=1) + base_values + error
    return Attribution(values, base_values, outputs, notes)


def test_additivity_within_the_dtype_tolerance_passes_and_returns_the_error():
    assert check_additivity(_attribution(1e-12), "float64", "exact") == pytest.approx(1e-12)
    # float32 tolerates 1e-4 of the output scale (here 7), float64 does not
    assert check_additivity(_attribution(1e-4), "float32", "deep") == pytest.approx(1e-4)
    with pytest.raises(AdditivityError, match="differ from the model output by up to 0.0001"):
        check_additivity(_attribution(1e-4), "float64", "exact")


def test_the_scale_is_the_largest_output_or_base_value():
    # outputs near 0, base value 1e6: judged against 1e6, an error of 1e-3 is within float64's
    attribution = Attribution(np.array([[[-1e6]]]), np.array([[1e6]]), np.array([[1e-3]]), ())
    check_additivity(attribution, "float64", "linear")
    with pytest.raises(AdditivityError):  # the same error against a scale of 1 is not
        check_additivity(_attribution(1e-3, base=0.0), "float64", "linear")


def test_an_additivity_error_names_the_notes_and_calls_nothing_a_bug_then():
    noted = _attribution(0.5, notes=("operations without an exact rule: cumprod",))
    with pytest.raises(AdditivityError) as raised:
        check_additivity(noted, "float32", "deep")
    message = str(raised.value)
    assert "cumprod" in message and "bug" not in message and "check_additivity=False" in message
    with pytest.raises(AdditivityError, match="shapwise bug"):
        check_additivity(_attribution(0.5), "float32", "deep")
    with pytest.raises(AdditivityError, match="a residual connection"):
        check_additivity(_attribution(0.5), "float32", "deep", hint="a residual connection")


def test_nan_is_never_additive():
    with pytest.raises(AdditivityError):
        check_additivity(_attribution(np.nan), "float64", "exact")


def test_a_reporting_estimator_warns_with_its_error_instead_of_failing():
    with pytest.warns(ShapwiseWarning, match="gradient: .* by up to 0.5"):
        error = check_additivity(_attribution(0.5), "float32", "gradient", enforce=False)
    assert error == pytest.approx(0.5)


def test_take_outputs_picks_each_rows_own_outputs():
    values = np.arange(2 * 3 * 4, dtype=float).reshape(2, 3, 4)
    base = np.arange(8, dtype=float).reshape(2, 4)
    attribution = Attribution(values, base, values.sum(1) + base)
    picked = attribution.take_outputs(np.array([[3, 0], [1, 1]]))
    np.testing.assert_array_equal(picked.values[0], values[0][:, [3, 0]])
    np.testing.assert_array_equal(picked.values[1], values[1][:, [1, 1]])
    np.testing.assert_array_equal(picked.base_values, [[3, 0], [5, 5]])
    check_additivity(picked, "float64", "exact")


def test_rank_outputs_sorts_each_row():
    outputs = np.array([[0.1, -3.0, 2.0], [5.0, 1.0, -0.5]])
    np.testing.assert_array_equal(rank_outputs(outputs, 2, "max"), [[2, 0], [0, 1]])
    np.testing.assert_array_equal(rank_outputs(outputs, 1, "min"), [[1], [2]])
    np.testing.assert_array_equal(rank_outputs(outputs, 2, "max_abs"), [[1, 2], [0, 1]])
    assert rank_outputs(outputs, None) is None
    with pytest.raises(ValueError, match="output_rank_order"):
        rank_outputs(outputs, 1, "largest")
    with pytest.raises(ValueError, match="positive"):
        rank_outputs(outputs, 0)


def test_names_of_the_wrong_length_or_duplicated_are_errors():
    assert check_names(("a", "b"), 2, "feature") == ["a", "b"]
    with pytest.raises(ValueError, match="3 names but there are 2 features"):
        check_names(["a", "b", "c"], 2, "feature")
    with pytest.raises(ValueError, match="duplicated names \\('a'\\)"):
        check_names(["a", "b", "a"], 3, "output")
    with pytest.raises(TypeError, match="list of names"):
        check_names("ab", 2, "feature")


def test_columns_are_matched_by_name():
    frame = pd.DataFrame({"b": [2.0, 20.0], "a": [1.0, 10.0], "c": [3.0, 30.0]})
    rows, names = read_rows(frame, ["a", "b", "c"])
    np.testing.assert_array_equal(rows, [[1, 2, 3], [10, 20, 30]])
    assert names == ["a", "b", "c"]
    with pytest.raises(ValueError, match="missing 'd'; extra 'c'"):
        read_rows(frame, ["a", "b", "d"])
    with pytest.raises(ValueError, match="repeated column names"):
        read_rows(pd.DataFrame([[1.0, 2.0]], columns=["a", "a"]), ["a", "b"])
    # names not known: the frame's own order and names
    assert read_rows(frame)[1] == ["b", "a", "c"]
    # the rows are a copy: the caller's frame is never written through them
    rows, _ = read_rows(frame)
    rows[:] = 0
    assert frame.to_numpy().sum() == 66


def test_empty_rows_and_bad_batch_sizes_are_errors():
    with pytest.raises(ValueError, match="at least one row"):
        read_rows(np.zeros((0, 3)))
    with pytest.raises(ValueError, match="at least one row"):
        read_rows(pd.DataFrame({"a": []}))
    for bad in (0, -4):
        with pytest.raises(ValueError, match="batch_size must be a positive integer"):
            check_batch_size(bad)
    with pytest.raises(TypeError, match="batch_size"):
        check_batch_size(2.5)
    assert check_batch_size("auto") is None and check_batch_size(np.int64(8)) == 8


def test_explanation_of_a_single_output_model_drops_the_output_axis():
    attribution = Attribution(np.ones((2, 3, 1)), np.zeros((2, 1)), np.full((2, 1), 3.0))
    one = build_explanation(
        attribution,
        data=np.ones((2, 3)),
        algorithm="exact",
        model_dtype="float64",
        single_output=True,
        feature_names=["a", "b", "c"],
    )
    assert one.shape == (2, 3) and one.base_values.shape == (2,) and one.feature_names[1] == "b"
    kept = build_explanation(
        attribution, data=None, algorithm="exact", model_dtype="float64", single_output=False
    )
    assert kept.shape == (2, 3, 1)


def test_legacy_layouts_are_shaps():
    values = [np.ones((2, 3, 1)), np.ones((2, 4, 1))]
    assert legacy_values(values[:1], multi_input=False, drop_output_axis=True).shape == (2, 3)
    pair = legacy_values(values, multi_input=True, drop_output_axis=False, ranks=np.zeros((2, 1)))
    assert isinstance(pair, tuple) and [v.shape for v in pair[0]] == [(2, 3, 1), (2, 4, 1)]
    assert legacy_expected_value(np.array([0.5]), True) == 0.5
    assert legacy_expected_value(np.array([0.5, 1.0]), False).shape == (2,)


def test_a_dask_array_is_handed_to_the_lazy_explainer():
    dask_array = pytest.importorskip("dask.array")
    lazy = pytest.importorskip("shapwise._dask")
    from shapwise.explainers import Exact

    rng = np.random.default_rng(0)
    background, X = rng.normal(size=(6, 3)), rng.normal(size=(8, 3))
    explainer = Exact(lambda rows: rows @ np.array([1.0, -2.0, 0.5]), background)
    result = explainer(dask_array.from_array(X, chunks=4))
    assert isinstance(result, lazy.LazyExplanation)
    eager = explainer(X)
    np.testing.assert_allclose(np.asarray(result.values), eager.values, atol=1e-12)
