"""Reading inputs for the framework explainers: one array per model input, checked against the background."""

from __future__ import annotations

import numpy as np
import pytest

from shapwise.explainers._tensor_inputs import output_ranks, read_background, read_inputs


def test_output_ranks_sort_each_row():
    outputs = np.array([[0.1, -3.0, 2.0], [5.0, 1.0, -0.5]])
    np.testing.assert_array_equal(output_ranks(outputs, 2, "max", True), [[2, 0], [0, 1]])
    np.testing.assert_array_equal(output_ranks(outputs, 1, "min", True), [[1], [2]])
    np.testing.assert_array_equal(output_ranks(outputs, 2, "max_abs", True), [[1, 2], [0, 1]])
    # Unranked, or a single-output model: every output in order.
    np.testing.assert_array_equal(output_ranks(outputs, None, "max", True), [[0, 1, 2]] * 2)
    np.testing.assert_array_equal(output_ranks(outputs[:, :1], 3, "max", False), [[0], [0]])


def test_read_inputs_accepts_one_array_or_a_list_of_one():
    background, multi_input, names = read_background(np.zeros((4, 3)))
    assert not multi_input and names is None
    X = np.ones((2, 3))
    for given in (X, [X]):
        (read,) = read_inputs(given, background, multi_input)
        np.testing.assert_array_equal(read, X)


@pytest.mark.parametrize(
    ("data", "X", "error", "message"),
    [
        ([], None, ValueError, "at least one background array"),
        (np.zeros((0, 3)), None, ValueError, "no rows"),
        ([np.zeros((4, 3)), np.zeros((5, 2))], None, ValueError, "same number of rows"),
        (np.zeros((4, 3)), [np.ones((2, 3))] * 2, TypeError, "X must be a single array"),
        ([np.zeros((4, 3))] * 2, np.ones((2, 3)), TypeError, "X must be a list of arrays"),
        ([np.zeros((4, 3))] * 2, [np.ones((2, 3))] * 3, ValueError, "model takes 2 input"),
        (np.zeros((4, 3)), np.ones((2, 4)), ValueError, "rows of shape"),
        ([np.zeros((4, 3))] * 2, [np.ones((2, 3)), np.ones((1, 3))], ValueError, "same number"),
    ],
)
def test_errors_say_what_to_pass(data, X, error, message):
    with pytest.raises(error, match=message):
        background, multi_input, _ = read_background(data)
        read_inputs(X, background, multi_input)
