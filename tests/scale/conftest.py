"""Shared set-up of the scale-out tests: small real models and a local Spark session."""

from __future__ import annotations

import os
import sys
import warnings

import numpy as np
import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "spark: runs a local Spark session (select: -m spark)")


@pytest.fixture(scope="session")
def table() -> tuple[np.ndarray, np.ndarray]:
    """120 rows of 5 correlated features and two targets: (X, Y)."""
    rng = np.random.default_rng(7)
    X = rng.normal(size=(120, 5)) @ rng.normal(size=(5, 5)) / 2
    Y = np.c_[np.sin(X[:, 0]) * X[:, 1] + X[:, 2] ** 2, X[:, 3] * X[:, 4] - X[:, 0]]
    return X, Y


@pytest.fixture(scope="session")
def forest(table):
    """A fitted two-output random forest (a model whose Shapley values have interactions)."""
    from sklearn.ensemble import RandomForestRegressor

    X, Y = table
    return RandomForestRegressor(n_estimators=8, max_depth=4, random_state=0).fit(X, Y)


@pytest.fixture(scope="session")
def linear_model(table):
    """A fitted two-output linear regression."""
    from sklearn.linear_model import LinearRegression

    X, Y = table
    return LinearRegression().fit(X, Y)


@pytest.fixture(scope="session")
def torch_net():
    """A small GELU network of 5 inputs and 2 outputs."""
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Linear(5, 16), torch.nn.GELU(), torch.nn.Linear(16, 2)
    ).eval()


def _connect_available() -> bool:
    """Whether Spark Connect's client packages are installed (pyspark[connect])."""
    try:
        import pyspark.sql.connect.utils as connect

        connect.check_dependencies()
    except Exception:  # PySparkImportError, ImportError
        return False
    return True


@pytest.fixture(scope="session")
def spark():
    """A local Spark session of two cores, bound to 127.0.0.1, without its UI.

    A Spark Connect session (a local Connect server, the way shapwise.spark must work without
    ``sparkContext``) where pyspark[connect] is installed, else a classic one; either way the
    server's SparkContext runs in this process, so tests can read its job tracker. The
    server takes Spark's fixed port, so scripts/test.sh runs the Spark tests in one process.
    """
    pytest.importorskip("pyspark")
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    os.environ["PYSPARK_PYTHON"] = sys.executable
    os.environ["PYSPARK_DRIVER_PYTHON"] = sys.executable
    from pyspark.sql import SparkSession

    builder = (
        SparkSession.builder.master("local[2]")
        .appName("shapwise-tests")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.sql.execution.arrow.maxRecordsPerBatch", "40")
    )
    if _connect_available():
        builder = builder.config("spark.api.mode", "connect").config(
            "spark.connect.grpc.binding.address", "127.0.0.1"
        )
    with warnings.catch_warnings():  # Connect re-applies the server's static settings, and warns
        warnings.simplefilter("ignore", UserWarning)
        session = builder.getOrCreate()
    yield session
    session.stop()


@pytest.fixture(scope="session")
def spark_jobs(spark):
    """A function counting the Spark jobs run so far (the in-process SparkContext's tracker)."""
    from pyspark import SparkContext

    context = SparkContext._active_spark_context
    return lambda: len(context.statusTracker().getJobIdsForGroup(None))
