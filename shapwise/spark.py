"""Explaining a Spark DataFrame with ``mapInPandas``, one Arrow batch at a time.

The explainer travels inside the function's closure (pickled once, on the driver), not through
``sparkContext``, so the same call works on a classic cluster and under Spark Connect::

    import shapwise.spark

    explained = shapwise.spark.explain(df, explainer, feature_cols=["age", "income"],
                                       keep_cols=["customer_id"])
    explained.write.parquet("shap_values.parquet")

Spark's own UI and ``spark.sql.execution.arrow.maxRecordsPerBatch`` (rows per model batch) apply.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from shapwise._optional import require
from shapwise.scale.partition import Layout, explain_block, explain_partition, with_job_seed
from shapwise.scale.portable import PortableExplainer

LAYOUTS = ("wide", "long")


def explain(
    df: Any,
    explainer: Any,
    feature_cols: Sequence[str],
    keep_cols: Sequence[str] = (),
    output: str = "wide",
    **call_options: Any,
) -> Any:
    """A Spark DataFrame of the Shapley values of the rows of ``df``; lazy, like any Spark plan.

    Args:
        df: a Spark DataFrame (classic or Spark Connect).
        explainer: any shapwise explainer of a single-input model; every output is explained.
        feature_cols: the model's features (taken in the order of the explainer's feature
            names when it has the same names; else in the explainer's order as given).
        keep_cols: columns copied from ``df`` to the result (ids, labels, the features).
        output: ``"wide"``: one row per input row, a double column ``shap_<feature>`` per
            feature (``shap_<feature>_<output>`` per feature and output for a multi-output
            model) and ``base_value`` (``base_value_<output>``); ``"long"``: one row per input
            row, feature and output, with columns ``feature``, ``output`` (its position),
            ``value``, ``base_value`` and ``feature_value``.
        **call_options: passed to each call of the explainer (``max_evals``, ...).

    Raises:
        ValueError: a column is missing, repeated, or would clash with a result column; an
            unknown ``output`` layout.
        TypeError: a feature column is not numeric; the explainer cannot be pickled; a
            per-row choice of ``outputs``.

    Every check runs on the driver before any Spark job starts.
    """
    types = require("pyspark.sql.types", "spark")
    if output not in LAYOUTS:
        raise ValueError(f"output must be one of {LAYOUTS}; got {output!r}")
    if "outputs" in call_options:
        raise TypeError(
            "shapwise.spark.explain explains every output of the model; select output "
            "columns from its result instead of passing outputs="
        )
    feature_cols, keep_cols = _in_explainer_order(list(feature_cols), explainer), list(keep_cols)
    call_options = with_job_seed(explainer, call_options)  # every batch, one root seed
    _check_columns(df, feature_cols, keep_cols, types)
    portable = PortableExplainer(explainer, require("pyspark.cloudpickle", "spark").dumps)
    layout = _layout(df, explainer, feature_cols, call_options)
    labels = _output_labels(explainer, layout)
    if output == "wide":
        names = _wide_names(feature_cols, labels)
        result_fields = [types.StructField(name, types.DoubleType()) for name in names]
    else:
        result_fields = [
            types.StructField("feature", types.StringType()),
            types.StructField("output", types.IntegerType()),
            types.StructField("value", types.DoubleType()),
            types.StructField("base_value", types.DoubleType()),
            types.StructField("feature_value", types.DoubleType()),
        ]
    clash = sorted({f.name for f in result_fields} & set(keep_cols))
    if clash:
        raise ValueError(
            f"keep_cols {clash} clash with result columns of the same name; rename them first "
            "(df.withColumnRenamed)"
        )
    kept_fields = [df.schema[name] for name in keep_cols]
    schema = types.StructType([*kept_fields, *result_fields])

    def explain_batches(batches: Iterator[Any]) -> Iterator[Any]:
        # runs on the executors: this closure carries the pickled explainer
        for batch in batches:
            yield _explained_batch(
                portable.get(), batch, feature_cols, keep_cols, labels, output, call_options
            )

    columns = list(dict.fromkeys([*keep_cols, *feature_cols]))
    return df.select(*columns).mapInPandas(explain_batches, schema)


def _in_explainer_order(feature_cols: list[str], explainer: Any) -> list[str]:
    """The feature columns in the order of the explainer's feature names, when it has the same
    names (its values come in that order); else as given."""
    names = getattr(explainer, "feature_names", None)
    if names is None or isinstance(names, str):
        return feature_cols
    names = [str(name) for name in names]
    return names if sorted(names) == sorted(feature_cols) else feature_cols


def _check_columns(df: Any, feature_cols: list[str], keep_cols: list[str], types: Any) -> None:
    """Every column present once, features numeric: errors that name the columns."""
    if not feature_cols:
        raise ValueError("feature_cols is empty; name the columns the model takes")
    fields = {field.name: field for field in df.schema.fields}
    for what, names in (("feature_cols", feature_cols), ("keep_cols", keep_cols)):
        repeated = sorted({name for name in names if names.count(name) > 1})
        if repeated:
            raise ValueError(f"{what} names {repeated} more than once")
        missing = [name for name in names if name not in fields]
        if missing:
            raise ValueError(
                f"{what} {missing} are not columns of the DataFrame; it has {sorted(fields)}"
            )
    numeric = (types.NumericType, types.BooleanType)
    wrong = [
        f"{name!r} ({fields[name].dataType.simpleString()})"
        for name in feature_cols
        if not isinstance(fields[name].dataType, numeric)
    ]
    if wrong:
        raise TypeError(
            f"feature columns must be numeric; {', '.join(wrong)} are not. Encode them as "
            "numbers first (e.g. pyspark.ml.feature.StringIndexer) or leave them out"
        )


def _layout(df: Any, explainer: Any, feature_cols: list[str], options: dict) -> Layout:
    """The results' layout, from the explainer's base value; else from one explained row
    (a small job reading one row)."""
    try:
        expected = np.asarray(explainer.expected_value)
    except AttributeError:  # known only after a first explanation
        row = df.select(*feature_cols).limit(1).toPandas()
        if len(row) == 0:
            expected = None
        else:
            return Layout.of(explain_block(explainer, row, **options))
    if expected is None:
        raise ValueError(
            "the DataFrame has no rows and the explainer has not computed its base value yet; "
            "explain a few rows locally first"
        )
    outputs = expected.size
    return Layout((len(feature_cols),), () if outputs == 1 else (outputs,))


def _output_labels(explainer: Any, layout: Layout) -> list[str]:
    """One label per output, used in the wide column names."""
    if not layout.output_shape:
        return [""]
    n_outputs = layout.output_shape[0]
    names = getattr(explainer, "output_names", None)
    if names is not None and len(names) == n_outputs:
        return [str(name) for name in names]
    return [str(k) for k in range(n_outputs)]


def _wide_names(feature_cols: list[str], labels: list[str]) -> list[str]:
    if labels == [""]:
        return [*(f"shap_{name}" for name in feature_cols), "base_value"]
    values = [f"shap_{name}_{label}" for name in feature_cols for label in labels]
    return [*values, *(f"base_value_{label}" for label in labels)]


def _explained_batch(
    explainer: Any,
    batch: Any,
    feature_cols: list[str],
    keep_cols: list[str],
    labels: list[str],
    output: str,
    call_options: dict[str, Any],
) -> Any:
    """One Arrow batch (a pandas DataFrame) explained, in the result's columns."""
    import pandas as pd

    n_rows, n_features, n_outputs = len(batch), len(feature_cols), len(labels)
    if n_rows == 0:
        values, base = np.empty((0, n_features, n_outputs)), np.empty((0, n_outputs))
        data = np.empty((0, n_features))
    else:
        values, base, data = explain_partition(explainer, batch[feature_cols], **call_options)
    if values.size != n_rows * n_features * n_outputs:
        raise ValueError(
            f"the explainer returned values of shape {values.shape} for {n_rows} rows of "
            f"{n_features} features and {n_outputs} output(s)"
        )
    values = values.reshape(n_rows, n_features, n_outputs).astype(np.float64)
    base = np.asarray(base, np.float64).reshape(n_rows, n_outputs)
    kept = batch[keep_cols].reset_index(drop=True)
    if output == "wide":
        table = np.concatenate([values.reshape(n_rows, -1), base], axis=1)
        result = pd.DataFrame(table, columns=_wide_names(feature_cols, labels))
        return pd.concat([kept, result], axis=1)
    repeat = n_features * n_outputs
    long = pd.DataFrame(
        {
            "feature": [name for name in feature_cols for _ in range(n_outputs)] * n_rows,
            "output": np.tile(np.arange(n_outputs, dtype=np.int32), n_rows * n_features),
            "value": values.reshape(-1),
            "base_value": np.repeat(base, n_features, axis=0).reshape(-1),
            "feature_value": np.repeat(np.asarray(data, np.float64).reshape(-1), n_outputs),
        }
    )
    kept = kept.loc[kept.index.repeat(repeat)].reset_index(drop=True)
    return pd.concat([kept, long], axis=1)
