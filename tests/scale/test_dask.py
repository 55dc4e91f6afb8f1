"""Dask: lazy explanations with known chunks that equal the local ones, whatever the partitioning.

Most tests run dask's synchronous scheduler; two run a real two-process LocalCluster.
"""

from __future__ import annotations

import os
import sys
import uuid
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import shapwise
from shapwise._dask import LazyExplanation, explain_lazily

da = pytest.importorskip("dask.array")
dd = pytest.importorskip("dask.dataframe")
COLUMNS = [f"x{i}" for i in range(5)]


def assert_same(got, want) -> None:
    """Equal to 1e-12 relative to the largest magnitude (float64 sums in another order)."""
    got, want = np.asarray(got), np.asarray(want)
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12 * max(np.abs(want).max(), 1e-300))


def assert_same_explanation(got, want) -> None:
    assert isinstance(got, shapwise.Explanation)
    for field in ("values", "base_values", "data"):
        assert_same(getattr(got, field), getattr(want, field))
    assert got.feature_names == want.feature_names
    assert got.output_names == want.output_names


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


# ------------------------------------------------------------------------- a real cluster
class UnpicklingRecorder:
    """f(X) = X @ w + sin(x0 x1); leaves a file named after the process each time it is unpickled."""

    def __init__(self, weights: np.ndarray, log: Path) -> None:
        self.weights, self.log = weights, log

    def __call__(self, rows: np.ndarray) -> np.ndarray:
        rows = np.asarray(rows)
        return rows @ self.weights + np.sin(rows[:, 0] * rows[:, 1])

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        (self.log / f"{os.getpid()}-{uuid.uuid4().hex}").touch()


@pytest.fixture(scope="module")
def client():
    distributed = pytest.importorskip("distributed")
    cloudpickle = pytest.importorskip("cloudpickle")
    module = sys.modules[__name__]
    cloudpickle.register_pickle_by_value(module)  # the workers need not import the tests
    cluster = distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        dashboard_address=None,
        host="127.0.0.1",
    )
    with distributed.Client(cluster) as active:
        active.wait_for_workers(2)  # scatter broadcasts to the workers present at the time
        yield active
    cluster.close()
    cloudpickle.unregister_pickle_by_value(module)


def test_a_cluster_gets_the_explainer_once_per_worker(client, table, tmp_path):
    X, _ = table
    model = UnpicklingRecorder(np.linspace(-1, 1, 5), tmp_path)
    explainer = shapwise.explainers.Exact(model, X[:20])
    local = explainer(X)
    lazy = explain_lazily(explainer, da.from_array(X, chunks=10))  # 12 tasks
    assert_same_explanation(lazy.compute(), local)
    processes = [path.name.split("-")[0] for path in tmp_path.iterdir()]
    assert os.getpid() not in map(int, processes)
    assert 1 <= len(processes) <= 2 and len(set(processes)) == len(processes)
    # every worker holds the scattered explainer
    assert sum(map(len, client.has_what().values())) >= 2


@pytest.mark.parametrize("chunks", [17, 60])
def test_a_cluster_equals_local_for_any_partitioning(client, exact, table, chunks):
    X, _ = table
    frame = dd.from_pandas(pd.DataFrame(X, columns=COLUMNS), chunksize=chunks)
    explainer = shapwise.explainers.Exact(exact.model, pd.DataFrame(X[:20], columns=COLUMNS))
    got = explain_lazily(explainer, frame).compute()
    assert_same_explanation(got, explainer(pd.DataFrame(X, columns=COLUMNS)))
    assert_same(got.abs.mean(0).values, np.abs(exact(X).values).mean(0))


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
