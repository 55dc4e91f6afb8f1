"""Scale-out: 1,000,000 rows x 20 features explained on a local Dask cluster against one process.

For a TreeExplainer (xgboost, 20 trees of depth 6, path-dependent) and a LinearExplainer:

- "local": the explainer called once in this process on all rows (Tree: with 2 threads and 1);
- "dask": ``explainer(dask_array).abs.mean(0).compute()`` on a ``LocalCluster`` of 1 or 2
  single-threaded worker processes (Tree with ``n_jobs=1`` per worker). The rows are made on the
  workers, block by block, so no data travels from this process; they are the same rows as the
  local run's (each block seeded by its index).

Columns: seconds (the lazy call and the compute together), rows per second, the largest
difference of the global importance from the local run's (relative), and the largest growth of
a worker's resident memory during the run (sampled every 10 ms, beyond the worker idle with
shapwise and the model imported), next to the size of one partition's input, values and data,
and of the whole input. Each cluster is fresh.

Run: OMP_NUM_THREADS=2 python benchmarks/bench_scale.py [rows]
"""

from __future__ import annotations

import os
import sys
import threading
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "2")

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._table import print_table

N_FEATURES = 20
BASE_ROWS = 50_000  # rows are made in pieces of this many; partitions hold whole pieces
MIB = 2**20


def rows_block(n_rows: int, block_id: tuple[int, int] = (0, 0)) -> np.ndarray:
    """The rows of partition ``block_id`` of ``n_rows`` rows: the same numbers wherever it is
    made, and whatever the partition size (each piece is seeded by its position)."""
    first = block_id[0] * n_rows // BASE_ROWS
    pieces = [
        np.random.default_rng([11, piece]).normal(size=(BASE_ROWS, N_FEATURES))
        for piece in range(first, first + max(n_rows // BASE_ROWS, 1))
    ]
    return np.concatenate(pieces)[:n_rows]


def _models():
    import xgboost
    from sklearn.linear_model import LinearRegression

    X = rows_block(BASE_ROWS, (10**4, 0))[:20_000]
    y = X[:, 0] + 2 * X[:, 1] * (X[:, 2] > 0) + np.sin(3 * X[:, 3]) + X[:, 4:].sum(axis=1) / 4
    booster = xgboost.XGBRegressor(n_estimators=20, max_depth=6, n_jobs=2).fit(X, y)
    return booster, LinearRegression().fit(X, y), X[:200]


def _explainers(booster, linear, background, n_jobs: int) -> dict:
    import shapwise

    return {
        "tree": shapwise.TreeExplainer(booster, n_jobs=n_jobs),
        "linear": shapwise.LinearExplainer(linear, background),
    }


def _start_memory_sampler(dask_worker) -> None:
    """Sample this worker's resident memory every 10 ms from now on."""
    import psutil

    process = psutil.Process()
    state = {"start": process.memory_info().rss, "stop": threading.Event()}
    state["peak"] = state["start"]

    def sample() -> None:
        while not state["stop"].wait(0.01):
            state["peak"] = max(state["peak"], process.memory_info().rss)

    threading.Thread(target=sample, daemon=True).start()
    dask_worker.shapwise_memory = state


def _memory_growth(dask_worker) -> int:
    """The peak resident memory since the sampler started, beyond what it was then."""
    state = dask_worker.shapwise_memory
    state["stop"].set()
    return state["peak"] - state["start"]


def _warm() -> None:
    import sklearn.linear_model  # noqa: F401
    import xgboost  # noqa: F401

    import shapwise  # noqa: F401


def _lazy(explainer, X):
    from shapwise._dask import explain_lazily

    return explain_lazily(explainer, X)  # what explainer(X) does for a dask array


def _on_cluster(name, explainer, n_rows, chunk, n_workers, reference) -> dict:
    import dask.array as da
    from distributed import Client, LocalCluster

    cluster = LocalCluster(
        n_workers=n_workers,
        threads_per_worker=1,
        processes=True,
        dashboard_address=None,
        host="127.0.0.1",
        memory_limit="3GiB",
    )
    with Client(cluster) as client:
        client.wait_for_workers(n_workers)
        client.run(_warm)
        client.run(_start_memory_sampler)
        X = da.map_blocks(
            rows_block,
            chunk,
            chunks=((chunk,) * (n_rows // chunk), (N_FEATURES,)),
            dtype=np.float64,
            meta=np.empty((0, N_FEATURES)),
        )
        start = time.perf_counter()
        importance = np.asarray(_lazy(explainer, X).abs.mean(0).compute().values)
        seconds = time.perf_counter() - start
        grown = list(client.run(_memory_growth).values())
    cluster.close()
    partition = chunk * N_FEATURES * 8 * 3  # input, values and data of one partition
    return {
        "explainer": name,
        "run": f"dask, {n_workers} worker(s)",
        "partition rows": chunk,
        "seconds": seconds,
        "rows/s": n_rows / seconds,
        "max rel diff": float(np.abs(importance - reference).max() / np.abs(reference).max()),
        "peak MiB/worker": f"{max(grown) / MIB:.0f}",
        "partition MiB": f"{partition / MIB:.0f}",
        "input MiB": f"{n_rows * N_FEATURES * 8 / MIB:.0f}",
    }


def main(n_rows: int = 1_000_000) -> list[dict]:
    booster, linear, background = _models()
    chunk = BASE_ROWS
    X = np.concatenate([rows_block(chunk, (i, 0)) for i in range(n_rows // chunk)])
    results = []
    references = {}
    for n_jobs in (2, 1):
        for name, explainer in _explainers(booster, linear, background, n_jobs).items():
            if name == "linear" and n_jobs == 1:
                continue
            start = time.perf_counter()
            values = explainer(X).values
            seconds = time.perf_counter() - start
            references.setdefault(name, np.abs(values).mean(axis=0))
            results.append(
                {
                    "explainer": name,
                    "run": f"local, {n_jobs} thread(s)" if name == "tree" else "local",
                    "partition rows": n_rows,
                    "seconds": seconds,
                    "rows/s": n_rows / seconds,
                }
            )
            del values
    del X
    for name, explainer in _explainers(booster, linear, background, 1).items():
        for n_workers, rows in ((1, chunk), (2, chunk), (2, 4 * chunk)):
            results.append(_on_cluster(name, explainer, n_rows, rows, n_workers, references[name]))
    for name in references:
        one, two = (
            next(r["rows/s"] for r in results if r["explainer"] == name and r["run"] == run)
            for run in ("dask, 1 worker(s)", "dask, 2 worker(s)")
        )
        print(f"{name}: 1 -> 2 workers scales throughput {two / one:.2f}x")
    return results


if __name__ == "__main__":
    print_table(main(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000), "scale")
