"""Dask: lazy explanations with known chunks that equal the local ones, whatever the partitioning,
on dask's synchronous and threaded schedulers (a real cluster: test_dask_cluster.py)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import shapwise
from shapwise._dask import LazyExplanation, explain_lazily
from tests.scale.checks import assert_same, assert_same_explanation

da = pytest.importorskip("dask.array")
dd = pytest.importorskip("dask.dataframe")
COLUMNS = [f"x{i}" for i in range(5)]


@pytest.fixture(scope="module")
def exact(table, forest):
    return shapwise.explainers.Exact(forest.predict, table[0][:20])


@pytest.mark.parametrize(
    "chunks", [(120,), (0, 50, 0, 70), (7,) * 17 + (1,)], ids=["one", "with-empty", "many"]
)
def test_exact_equals_local_whatever_the_partitioning(exact, table, chunks):
    X, _ = table
    local = exact(X)
    lazy = explain_lazily(exact, da.from_array(X, chunks=(chunks, 5)))
    assert isinstance(lazy, LazyExplanation)
    assert lazy.values.chunks == (chunks, (5,), (2,))
    assert lazy.base_values.chunks == (chunks, (2,))
    assert lazy.data.chunks == (chunks, (5,))
    assert_same_explanation(lazy.compute(scheduler="sync"), local)


def test_the_threaded_scheduler_gives_each_thread_its_own_explainer(exact, table):
    X, _ = table
    lazy = explain_lazily(exact, da.from_array(X, chunks=10))
    assert_same_explanation(lazy.compute(scheduler="threads", num_workers=2), exact(X))


def test_features_split_over_chunks_are_joined_per_row(exact, table):
    X, _ = table
    lazy = explain_lazily(exact, da.from_array(X, chunks=(40, 2)))
    assert lazy.values.chunks == ((40, 40, 40), (5,), (2,))
    assert_same(lazy.compute(scheduler="sync").values, exact(X).values)


def test_permutation_over_partitions_with_no_rows(table, forest):
    """A filter leaves some partitions empty; a budget of all 2^5 coalitions is exact."""
    X, _ = table
    frame = pd.DataFrame(X, columns=COLUMNS)
    explainer = shapwise.explainers.Permutation(forest.predict, frame.iloc[:20], seed=1)
    frame["order"] = np.arange(len(frame))
    lazy_frame = dd.from_pandas(frame, npartitions=6)
    picked = lazy_frame[(lazy_frame.order < 20) | (lazy_frame.order >= 80)][COLUMNS]
    lazy = explain_lazily(explainer, picked, max_evals=32)
    assert 0 in lazy.values.chunks[0]
    assert lazy.values.chunks[0] == tuple(picked.map_partitions(len).compute())
    rows = frame[(frame.order < 20) | (frame.order >= 80)][COLUMNS]
    assert_same_explanation(lazy.compute(scheduler="sync"), explainer(rows, max_evals=32))


def test_linear_on_a_dask_dataframe_matches_the_closed_form(table, linear_model):
    X, _ = table
    frame = pd.DataFrame(X, columns=COLUMNS)
    explainer = shapwise.LinearExplainer(linear_model, frame.iloc[:20])
    lazy = explain_lazily(explainer, dd.from_pandas(frame, npartitions=4))
    got = lazy.compute(scheduler="sync")
    closed = linear_model.coef_.T[None] * (X - X[:20].mean(axis=0))[:, :, None]
    assert_same(got.values, closed)
    assert got.feature_names == COLUMNS
    assert_same_explanation(got, explainer(frame))


def test_torch_deep_on_a_dask_array(torch_net, table):
    torch = pytest.importorskip("torch")
    X = table[0].astype(np.float32)
    explainer = shapwise.DeepExplainer(torch_net, torch.tensor(X[:20]))
    lazy = explain_lazily(explainer, da.from_array(X, chunks=(25, 5)))
    assert lazy.values.dtype == np.float32 and lazy.values.chunks[1:] == ((5,), (2,))
    got = lazy.compute(scheduler="sync")
    local = explainer(X)
    assert_same_explanation(got, local)
    # DeepLIFT adds up: values + base value = the network's output
    with torch.no_grad():
        outputs = torch_net(torch.tensor(X)).numpy()
    np.testing.assert_allclose(got.values.sum(axis=1) + got.base_values, outputs, atol=1e-5)


def test_a_single_output_model_has_no_output_axis(table, forest):
    X, _ = table
    explainer = shapwise.explainers.Exact(lambda rows: forest.predict(rows)[:, 1], X[:20])
    lazy = explain_lazily(explainer, da.from_array(X, chunks=50))
    assert lazy.values.chunks == ((50, 50, 20), (5,)) and lazy.base_values.chunks == ((50, 50, 20),)
    assert_same_explanation(lazy.compute(scheduler="sync"), explainer(X))


def test_chosen_outputs_are_kept(exact, table):
    X, _ = table
    lazy = explain_lazily(exact, da.from_array(X, chunks=60), outputs=[1])
    assert lazy.values.chunks[1:] == ((5,), (1,))
    assert_same(lazy.compute(scheduler="sync").values, exact(X, outputs=[1]).values)


def test_operations_stay_lazy_and_equal_the_local_ones(exact, table):
    X, _ = table
    frame = pd.DataFrame(X, columns=COLUMNS)
    explainer = shapwise.explainers.Exact(exact.model, frame.iloc[:20])
    local = explainer(frame)
    lazy = explain_lazily(explainer, dd.from_pandas(frame, npartitions=3))
    cases = {
        "mean": (lazy.mean(0), local.mean(0)),
        "abs.mean": (lazy.abs.mean(0), local.abs.mean(0)),
        "sum over features": (lazy.sum(1), local.sum(1)),
        "max": (lazy.max(0), local.max(0)),
        "rows": (lazy[10:70], local[10:70]),
        "one row": (lazy[5], local[5]),
        "picked rows": (lazy[[3, 90, 4]], local[[3, 90, 4]]),
        "feature by name": (lazy[:, "x2"], local[:, "x2"]),
        "features and output": (lazy[2:9, ["x4", "x0"], 1], local[2:9, ["x4", "x0"], 1]),
        "ellipsis": (lazy[..., 0], local[..., 0]),
    }
    for name, (lazy_result, want) in cases.items():
        assert isinstance(lazy_result.values, da.Array), name
        got = lazy_result.compute(scheduler="sync")
        assert got.shape == want.shape, name
        assert got.axis_kinds == want.axis_kinds, name
        for field in ("values", "base_values", "data"):
            if getattr(want, field) is None:
                assert getattr(got, field) is None, (name, field)
            else:
                assert_same(getattr(got, field), getattr(want, field))
        assert got.feature_names == want.feature_names, name


def test_persist_keeps_the_results(exact, table):
    X, _ = table
    lazy = explain_lazily(exact, da.from_array(X, chunks=40)).persist(scheduler="sync")
    assert isinstance(lazy.values, da.Array)
    assert_same(lazy.compute().values, exact(X).values)


def test_bad_input_is_refused_before_computing(exact, table):
    X, _ = table
    with pytest.raises(ValueError, match="rows, features"):
        explain_lazily(exact, da.from_array(X[:, 0], chunks=10))
    frame = pd.DataFrame(X, columns=COLUMNS).assign(city="Oslo")
    with pytest.raises(TypeError, match="non-numeric columns: 'city'"):
        explain_lazily(exact, dd.from_pandas(frame, npartitions=2))
    with pytest.raises(TypeError, match="dask DataFrame or Array"):
        explain_lazily(exact, dd.from_pandas(pd.Series(X[:, 0]), npartitions=2))
    with pytest.raises(ValueError, match="no rows"):
        explain_lazily(exact, da.from_array(X[:0], chunks=10))
    with pytest.raises(TypeError, match="same outputs for every partition"):
        explain_lazily(exact, da.from_array(X, chunks=10), outputs=shapwise.Explanation.argsort)


def test_an_explainer_that_cannot_be_pickled_is_refused(table):
    import threading

    X, _ = table

    class LockedModel:
        def __init__(self) -> None:
            self.lock = threading.Lock()

        def __call__(self, rows):
            return rows.sum(axis=1)

    explainer = shapwise.explainers.Exact(LockedModel(), X[:20])
    with pytest.raises(TypeError, match="cannot be pickled"):
        explain_lazily(explainer, da.from_array(X, chunks=10))


@pytest.mark.parametrize("background", [False, True], ids=["path-dependent", "interventional"])
def test_tree_called_on_a_dask_array_is_lazy_and_equals_local(background, table, forest):
    """``explainer(dask_array)`` goes through the driver to a lazy explanation."""
    X, _ = table
    explainer = shapwise.TreeExplainer(forest, X[:20] if background else None)
    lazy = explainer(da.from_array(X, chunks=((0, 45, 75), 5)))
    assert isinstance(lazy, LazyExplanation)
    assert lazy.values.chunks == ((0, 45, 75), (5,), (2,))
    got = lazy.compute(scheduler="sync")
    assert_same_explanation(got, explainer(X))
    # Tree SHAP is exact: values + base value = the forest's prediction
    np.testing.assert_allclose(got.values.sum(axis=1) + got.base_values, forest.predict(X))


def test_explainers_called_on_dask_collections_go_lazily(exact, table, linear_model):
    """``explainer(dask_collection)`` goes through the driver to explain_lazily; a DataFrame's
    columns are matched by name in every partition."""
    X, _ = table
    lazy = exact(da.from_array(X, chunks=30))
    assert isinstance(lazy, LazyExplanation)
    assert_same_explanation(lazy.compute(scheduler="sync"), exact(X))
    frame = pd.DataFrame(X, columns=COLUMNS)
    linear = shapwise.LinearExplainer(linear_model, frame.iloc[:20])
    lazy = linear(dd.from_pandas(frame[COLUMNS[::-1]], npartitions=3))
    assert isinstance(lazy, LazyExplanation)
    got = lazy.compute(scheduler="sync")
    assert got.feature_names == COLUMNS
    assert_same_explanation(got, linear(frame))


def test_the_notes_of_what_was_not_attributed_exactly_survive_computing(table, forest):
    """An explainer's notes (here: main effects only) are on the computed Explanation."""
    from shapwise.explainers.additive import ADDITIVE_NOTE

    X, _ = table
    additive = shapwise.explainers.Additive(forest.predict, X[:20])
    lazy = additive(da.from_array(X[:30], chunks=10), check_additivity=False)
    assert lazy.compute(scheduler="sync").notes == (ADDITIVE_NOTE,)
