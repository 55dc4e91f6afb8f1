"""Spark: mapInPandas over Arrow batches gives the local values, in wide and long layouts."""

from __future__ import annotations

import threading

import numpy as np
import pandas as pd
import pytest

import shapwise

pytest.importorskip("pyspark")
import shapwise.spark

pytestmark = [
    pytest.mark.spark,
    pytest.mark.filterwarnings("ignore:PySpark does not yet fully support pandas:FutureWarning"),
    pytest.mark.filterwarnings("ignore:The copy keyword is deprecated"),  # pyspark on pandas 3
]
COLUMNS = [f"x{i}" for i in range(5)]


@pytest.fixture(scope="module")
def frame(table) -> pd.DataFrame:
    X, _ = table
    return pd.DataFrame(X, columns=COLUMNS).assign(row_id=np.arange(len(X)), city="Oslo")


@pytest.fixture(scope="module")
def spark_frame(spark, frame):
    return spark.createDataFrame(frame).repartition(3)


@pytest.fixture(scope="module")
def exact(forest, frame):
    explainer = shapwise.explainers.Exact(forest.predict, frame[COLUMNS].iloc[:20])
    explainer.output_names = ["left", "right"]
    return explainer


def _by_row(result) -> pd.DataFrame:
    return result.toPandas().sort_values("row_id").reset_index(drop=True)


def test_wide_equals_local_with_every_output(spark_frame, frame, exact):
    result = shapwise.spark.explain(spark_frame, exact, COLUMNS, keep_cols=["row_id", "city"])
    value_columns = [f"shap_{c}_{o}" for c in COLUMNS for o in ("left", "right")]
    assert result.columns == [
        "row_id",
        "city",
        *value_columns,
        "base_value_left",
        "base_value_right",
    ]
    assert all(t == "double" for name, t in result.dtypes if name.startswith(("shap_", "base_")))
    got = _by_row(result)
    local = exact(frame[COLUMNS])
    np.testing.assert_allclose(
        got[value_columns].to_numpy().reshape(-1, 5, 2), local.values, rtol=1e-12, atol=1e-12
    )
    base = got[["base_value_left", "base_value_right"]].to_numpy()
    np.testing.assert_allclose(base, local.base_values, rtol=1e-12)
    np.testing.assert_array_equal(got["row_id"], np.arange(len(frame)))
    assert (got["city"] == "Oslo").all()


def test_features_named_in_another_order_keep_their_labels(spark_frame, frame, exact):
    result = shapwise.spark.explain(spark_frame, exact, COLUMNS[::-1], keep_cols=["row_id"])
    got = _by_row(result)
    local = exact(frame[COLUMNS])
    for position, name in enumerate(COLUMNS):
        np.testing.assert_allclose(got[f"shap_{name}_right"], local.values[:, position, 1])


def test_wide_of_a_single_output_model(spark_frame, frame, linear_model):
    explainer = shapwise.LinearExplainer(
        (linear_model.coef_[0], linear_model.intercept_[0]), frame[COLUMNS].iloc[:20]
    )
    result = shapwise.spark.explain(spark_frame, explainer, COLUMNS, keep_cols=["row_id"])
    assert result.columns == ["row_id", *(f"shap_{c}" for c in COLUMNS), "base_value"]
    got = _by_row(result)
    X = frame[COLUMNS].to_numpy()
    closed = linear_model.coef_[0] * (X - X[:20].mean(axis=0))  # independent linear SHAP
    np.testing.assert_allclose(got[[f"shap_{c}" for c in COLUMNS]], closed, atol=1e-12)


def test_long_has_a_row_per_feature_and_output(spark_frame, frame, exact):
    result = shapwise.spark.explain(
        spark_frame, exact, COLUMNS, keep_cols=["row_id"], output="long"
    )
    assert result.columns == ["row_id", "feature", "output", "value", "base_value", "feature_value"]
    got = result.toPandas().sort_values(["row_id", "feature", "output"])
    assert len(got) == len(frame) * 5 * 2
    local = exact(frame[COLUMNS])
    positions = got["feature"].map(COLUMNS.index).to_numpy()
    rows, outputs = got["row_id"].to_numpy(), got["output"].to_numpy()
    np.testing.assert_allclose(got["value"], local.values[rows, positions, outputs], atol=1e-12)
    np.testing.assert_allclose(got["base_value"], local.base_values[rows, outputs], atol=1e-12)
    np.testing.assert_array_equal(got["feature_value"], local.data[rows, positions])


def test_bad_input_is_refused_before_any_job(spark_jobs, spark_frame, frame, exact):
    class LockedModel:
        def __init__(self) -> None:
            self.lock = threading.Lock()

        def __call__(self, rows):
            return np.asarray(rows).sum(axis=1)

    locked = shapwise.explainers.Exact(LockedModel(), frame[COLUMNS].iloc[:20])
    jobs = spark_jobs()
    cases = [
        (ValueError, "\\['x9'\\] are not columns", dict(feature_cols=[*COLUMNS[:4], "x9"])),
        (TypeError, "'city' \\(string\\) are not", dict(feature_cols=[*COLUMNS[:4], "city"])),
        (ValueError, "keep_cols \\['gone'\\]", dict(keep_cols=["gone"])),
        (ValueError, "output must be one of", dict(output="tall")),
        (TypeError, "explains every output", dict(outputs=[0])),
    ]
    for error, message, changes in cases:
        options = {"feature_cols": COLUMNS, **changes}
        with pytest.raises(error, match=message):
            shapwise.spark.explain(spark_frame, exact, **options)
    clashing = spark_frame.withColumnRenamed("row_id", "base_value_left")
    with pytest.raises(ValueError, match="clash with result columns"):
        shapwise.spark.explain(clashing, exact, COLUMNS, keep_cols=["base_value_left"])
    with pytest.raises(TypeError, match="cannot be pickled to send it to the workers"):
        shapwise.spark.explain(spark_frame, locked, COLUMNS)
    assert spark_jobs() == jobs
    spark_frame.select("row_id").collect()  # the count does see a job
    assert spark_jobs() > jobs


def test_a_sampling_explainer_equals_local_whatever_the_batches(spark_frame, frame, forest):
    """Permutation below its exact budget (20 of 32 coalitions): each row's orders come from
    (seed, the row's content), so Spark's partitions and Arrow batches give the local values."""
    explainer = shapwise.explainers.Permutation(forest.predict, frame[COLUMNS].iloc[:20], seed=6)
    result = shapwise.spark.explain(spark_frame, explainer, COLUMNS, ["row_id"], max_evals=20)
    value_columns = [f"shap_{c}_{o}" for c in COLUMNS for o in range(2)]
    got = _by_row(result)[value_columns].to_numpy().reshape(-1, 5, 2)
    local = explainer(frame[COLUMNS], max_evals=20)
    np.testing.assert_allclose(got, local.values, rtol=1e-12, atol=1e-12)
    other = explainer(frame[COLUMNS], max_evals=20, seed=7)
    assert np.abs(other.values - local.values).max() > 1e-6  # sampled, not exact


def test_without_a_seed_every_batch_shares_the_job_root(spark, frame, forest):
    """seed=None: one root per job, drawn on the driver, so a row gets the same values in
    whichever partition and batch it lands (here every row twice, in different partitions)."""
    explainer = shapwise.explainers.Permutation(forest.predict, frame[COLUMNS].iloc[:20])
    twice = spark.createDataFrame(pd.concat([frame, frame])).repartition(4)
    result = shapwise.spark.explain(twice, explainer, COLUMNS, ["row_id"], max_evals=20)
    got = result.toPandas().sort_values("row_id", kind="stable")
    values = got[[f"shap_{c}_{o}" for c in COLUMNS for o in range(2)]].to_numpy()
    np.testing.assert_allclose(values[0::2], values[1::2], rtol=1e-12, atol=1e-12)
    assert (
        np.abs(values[0::2] - explainer(frame[COLUMNS], max_evals=20).values.reshape(-1, 10)).max()
        > 1e-6
    )
