"""Dask on a real two-process LocalCluster bound to 127.0.0.1: the explainer reaches each worker
once, the values equal the local ones for any partitioning, and local schedulers still work while
the client is active."""

from __future__ import annotations

import os
import sys
import uuid
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import shapwise
from shapwise._dask import explain_lazily
from tests.scale.checks import assert_same, assert_same_explanation

da = pytest.importorskip("dask.array")
dd = pytest.importorskip("dask.dataframe")
COLUMNS = [f"x{i}" for i in range(5)]


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
    # 12 tasks, but each worker (one thread each) unpickled the explainer once at most
    assert 1 <= len(processes) <= 2 and len(set(processes)) == len(processes)


def test_local_schedulers_work_while_a_client_is_active(client, table):
    """With a client active, compute(scheduler="sync") and the threaded scheduler run the graph
    in this process; the client's own compute runs it on the cluster: all equal local."""
    X, _ = table
    explainer = shapwise.explainers.Exact(lambda Z: Z @ np.arange(5.0) + Z[:, 0] * Z[:, 1], X[:20])
    local = explainer(X)
    lazy = explain_lazily(explainer, da.from_array(X, chunks=25))
    assert_same_explanation(lazy.compute(scheduler="sync"), local)
    assert_same_explanation(lazy.compute(scheduler="threads"), local)
    assert_same_explanation(lazy.compute(), local)
    assert_same_explanation(lazy.persist(scheduler="sync").compute(scheduler="sync"), local)


def test_a_sampling_explainer_on_a_cluster_equals_local(client, forest, table):
    """Permutation below its exact budget (20 of 32 coalitions): each row's orders come from its
    own generator, so the cluster's partitions give the local values."""
    X, _ = table
    explainer = shapwise.explainers.Permutation(forest.predict, X[:20], seed=3)
    local = explainer(X, max_evals=20)
    for chunks in (120, 17):
        lazy = explain_lazily(explainer, da.from_array(X, chunks=(chunks, 5)), max_evals=20)
        assert_same_explanation(lazy.compute(), local)


@pytest.mark.parametrize("chunks", [17, 60])
def test_a_cluster_equals_local_for_any_partitioning(client, forest, table, chunks):
    X, _ = table
    exact = shapwise.explainers.Exact(forest.predict, X[:20])
    frame = dd.from_pandas(pd.DataFrame(X, columns=COLUMNS), chunksize=chunks)
    explainer = shapwise.explainers.Exact(exact.model, pd.DataFrame(X[:20], columns=COLUMNS))
    got = explain_lazily(explainer, frame).compute()
    assert_same_explanation(got, explainer(pd.DataFrame(X, columns=COLUMNS)))
    assert_same(got.abs.mean(0).values, np.abs(exact(X).values).mean(0))
