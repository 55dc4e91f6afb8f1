"""explain_partition: one partition explained as the explainer explains it, empty ones shaped."""

from __future__ import annotations

import threading

import numpy as np
import pandas as pd
import pytest

import shapwise
from shapwise.scale import Layout, PortableExplainer, explain_partition


@pytest.fixture(scope="module")
def exact(table, forest):
    return shapwise.explainers.Exact(forest.predict, table[0][:20])


def test_a_numpy_block_gets_the_explainers_values(exact, table, forest):
    X, _ = table
    values, base, data = explain_partition(exact, X[30:40])
    local = exact(X[30:40])
    np.testing.assert_array_equal(values, local.values)
    np.testing.assert_array_equal(base, local.base_values)
    np.testing.assert_array_equal(data, X[30:40])
    # additivity, independently of the explainer's own check: values + base = model output
    np.testing.assert_allclose(values.sum(axis=1) + base, forest.predict(X[30:40]), rtol=1e-12)


def test_a_dataframe_block_is_read_by_column_name(table, linear_model):
    X, _ = table
    columns = [f"x{i}" for i in range(5)]
    frame = pd.DataFrame(X, columns=columns)
    explainer = shapwise.LinearExplainer(linear_model, frame.iloc[:20])
    values, base, data = explain_partition(explainer, frame.iloc[40:50])
    # the closed form of independent linear SHAP: coef * (x - background mean)
    closed = linear_model.coef_.T[None] * (X[40:50] - X[:20].mean(axis=0))[:, :, None]
    np.testing.assert_allclose(values, closed, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(base, np.broadcast_to(linear_model.predict(X[:20]).mean(0), (10, 2)))
    np.testing.assert_array_equal(data, X[40:50])


def test_an_empty_partition_has_the_layout_of_one_row(exact, table):
    X, _ = table
    layout = Layout.of(exact(X[:1]))
    assert layout == Layout((5,), (2,), "float64", "float64", "float64")
    values, base, data = explain_partition(exact, X[:0], layout)
    assert values.shape == (0, 5, 2) and base.shape == (0, 2) and data.shape == (0, 5)
    # without a layout: the width of the block and the explainer's base value (two outputs)
    values, base, data = explain_partition(exact, pd.DataFrame(X[:0]))
    assert values.shape == (0, 5, 2) and base.shape == (0, 2) and data.shape == (0, 5)


def test_an_empty_partition_of_a_single_output_model(table, forest):
    X, _ = table
    explainer = shapwise.explainers.Exact(lambda rows: forest.predict(rows)[:, 0], X[:20])
    layout = Layout.of(explainer(X[:1]))
    assert layout.output_shape == ()
    for given in (layout, None):
        values, base, data = explain_partition(explainer, X[:0], given)
        assert values.shape == (0, 5) and base.shape == (0,) and data.shape == (0, 5)


def test_a_block_that_does_not_fit_the_layout_is_an_error(exact, table):
    X, _ = table
    wrong = Layout((5,), (3,))
    with pytest.raises(ValueError, match="every partition must have the same columns"):
        explain_partition(exact, X[:3], wrong)


def test_portable_explainer_refuses_what_cannot_travel(table):
    X, _ = table

    class LockedModel:
        def __init__(self) -> None:
            self.lock = threading.Lock()

        def __call__(self, rows):
            return rows.sum(axis=1)

    explainer = shapwise.explainers.Exact(LockedModel(), X[:20])
    with pytest.raises(TypeError, match="cannot be pickled to send it to the workers"):
        PortableExplainer(explainer)


def test_portable_explainer_gives_each_thread_its_own_copy(exact, table):
    X, _ = table
    portable = PortableExplainer(exact)
    copies = []
    worker = threading.Thread(target=lambda: copies.append(portable.get()))
    worker.start()
    worker.join()
    mine = portable.get()
    assert mine is portable.get() and mine is not copies[0] and mine is not exact
    np.testing.assert_array_equal(copies[0](X[:3]).values, exact(X[:3]).values)
