"""Sampling explainers on dask: each row draws from (root seed, its content), so the values
equal the local ones whatever the partitioning, and a missing seed is drawn once per job."""

from __future__ import annotations

import numpy as np
import pytest

import shapwise
from shapwise._dask import explain_lazily
from tests.scale.checks import assert_same, assert_same_explanation

da = pytest.importorskip("dask.array")
N_ROWS = 24


def _chunks(n_partitions: int) -> tuple[int, ...]:
    """Row chunks of ``N_ROWS`` rows in ``n_partitions`` uneven partitions."""
    return tuple(len(part) for part in np.array_split(np.arange(N_ROWS), n_partitions))


def _sampling(kind: str, forest, torch_net, X: np.ndarray):
    """(explainer, call options) of a sampling explainer below its exact budget (2^5 = 32)."""
    if kind == "permutation":
        return shapwise.explainers.Permutation(forest.predict, X[:20], seed=4), {"max_evals": 20}
    if kind == "kernel":
        return shapwise.KernelExplainer(forest.predict, X[:20]), {"nsamples": 18}
    torch = pytest.importorskip("torch")
    background = torch.tensor(X[:20].astype(np.float32))
    # 30 draws: estimates that do not add up yet, so the warning is off
    options = {"nsamples": 30, "rseed": 2, "check_additivity": False}
    return shapwise.GradientExplainer(torch_net, background), options


@pytest.mark.parametrize("kind", ["permutation", "kernel", "gradient"])
def test_sampling_explainers_equal_local_for_1_3_and_7_partitions(kind, forest, torch_net, table):
    X = table[0][:N_ROWS]
    X = X.astype(np.float32) if kind == "gradient" else X
    explainer, options = _sampling(kind, forest, torch_net, X)
    local = explainer(X, **options)
    for n_partitions in (1, 3, 7):
        blocks = da.from_array(X, chunks=(_chunks(n_partitions), 5))
        lazy = explain_lazily(explainer, blocks, **options)
        assert lazy.values.chunks[0] == _chunks(n_partitions)
        assert_same_explanation(lazy.compute(scheduler="sync"), local)
    # the values are sampled estimates (another seed, other values), not exact ones
    other = "rseed" if kind == "gradient" else "seed"
    assert np.abs(explainer(X, **{**options, other: 9}).values - local.values).max() > 1e-6


@pytest.mark.parametrize("kind", ["permutation", "gradient"])
def test_without_a_seed_every_partition_shares_the_job_root(kind, forest, torch_net, table):
    """seed=None (rseed=None): one root is drawn per lazy explanation, so the same rows in two
    partitionings of one computation get the same values; another job draws another root."""
    X = table[0][:N_ROWS]
    X = X.astype(np.float32) if kind == "gradient" else X
    explainer, options = _sampling(kind, forest, torch_net, X)
    if kind == "permutation":
        explainer = shapwise.explainers.Permutation(forest.predict, X[:20])  # seed None
    else:
        options.pop("rseed")
    twice = da.concatenate(
        [da.from_array(X, chunks=(_chunks(7), 5)), da.from_array(X, chunks=(_chunks(3), 5))]
    )
    lazy = explain_lazily(explainer, twice, **options)
    first = lazy.compute(scheduler="sync")
    assert_same(first.values[N_ROWS:], first.values[:N_ROWS])
    assert_same(lazy.compute(scheduler="threads").values, first.values)  # the root is the job's
    again = explain_lazily(explainer, twice, **options).compute(scheduler="sync")
    assert np.abs(again.values - first.values).max() > 1e-6  # a new job, a new root
    if kind == "permutation":
        assert explainer.seed is None  # the job's root did not change the explainer
