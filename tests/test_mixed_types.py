"""Tables of mixed types (strings, categories, numbers) explained through a pipeline that encodes
them itself, checked against Shapley and Owen values computed from their definitions."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import GradientBoostingRegressor
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder

import shapwise
from shapwise import explainers, maskers
from tests.reference import linkage_to_tree, owen_values, shapley_values

CATEGORICAL = ["city", "size"]


def _table(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "city": rng.choice(["paris", "rome", "oslo"], n),
            "size": pd.Categorical(rng.choice(["S", "M", "L"], n), categories=["S", "M", "L"]),
            "age": rng.normal(40.0, 10.0, n),
            "rooms": rng.integers(1, 6, n),
        }
    )


def _encoder() -> ColumnTransformer:
    return ColumnTransformer(
        [("categories", OneHotEncoder(handle_unknown="ignore"), CATEGORICAL)],
        remainder="passthrough",
    )


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    return _table(160, seed=0)


@pytest.fixture(scope="module")
def regressor(table) -> Pipeline:
    target = (
        3.0 * (table["city"] == "rome")
        + 1.5 * table["size"].cat.codes * (table["age"] > 40)
        + 0.1 * table["age"]
        + table["rooms"]
    )
    model = Pipeline([("pre", _encoder()), ("model", GradientBoostingRegressor(n_estimators=30))])
    return model.fit(table, target)


@pytest.fixture(scope="module")
def classifier(table) -> Pipeline:
    label = (table["city"] == "oslo") | (table["rooms"] > 3)
    model = Pipeline([("pre", _encoder()), ("model", LogisticRegression(max_iter=500))])
    return model.fit(table, label)


def frame_game(predict, row: pd.DataFrame, background: pd.DataFrame):
    """v(S) from the definition: the mean model output over the background rows, with the
    columns in S set to the explained row's values (in place, so every column keeps its dtype)."""

    def game(coalition: frozenset) -> np.ndarray:
        rows = background.copy()
        for position in coalition:
            rows.iloc[:, position] = row.iloc[0, position]
        return np.asarray(predict(rows), dtype=np.float64).mean(axis=0)

    return game


def brute_force(predict, X: pd.DataFrame, background: pd.DataFrame) -> np.ndarray:
    """Shapley values of every row of ``X``: (rows, features, outputs...)."""
    return np.stack(
        [
            shapley_values(frame_game(predict, X.iloc[[i]], background), X.shape[1])
            for i in range(len(X))
        ]
    )


@pytest.mark.parametrize("algorithm", ["exact", "permutation"])
@pytest.mark.parametrize("given", ["predict function", "pipeline"])
def test_values_equal_shapley_values_from_the_definition(regressor, table, algorithm, given):
    background, X = table.iloc[:12], table.iloc[100:104]
    model = regressor.predict if given == "predict function" else regressor
    explainer = shapwise.Explainer(model, background, algorithm=algorithm)
    explanation = explainer(X, max_evals=400) if algorithm == "permutation" else explainer(X)
    expected = brute_force(regressor.predict, X, background)
    np.testing.assert_allclose(explanation.values, expected, rtol=0, atol=1e-10)
    base = np.asarray(regressor.predict(background)).mean()
    np.testing.assert_allclose(explanation.base_values, base, rtol=0, atol=1e-10)
    np.testing.assert_allclose(
        explanation.values.sum(axis=1) + explanation.base_values, regressor.predict(X), atol=1e-10
    )
    assert explanation.feature_names == ["city", "size", "age", "rooms"]


def test_a_classifier_pipeline_explains_its_probabilities(classifier, table):
    background, X = table.iloc[:10], table.iloc[120:123]
    explanation = shapwise.Explainer(classifier, background)(X)
    expected = brute_force(classifier.predict_proba, X, background)
    assert explanation.values.shape == (3, 4, 2)
    np.testing.assert_allclose(explanation.values, expected, rtol=0, atol=1e-10)


def test_partition_with_a_given_clustering_equals_owen_values(regressor, table):
    background, X = table.iloc[:8], table.iloc[130:132]
    linkage = np.array([[0.0, 1.0, 0.2, 2.0], [2.0, 3.0, 0.3, 2.0], [4.0, 5.0, 0.9, 4.0]])
    masker = maskers.Partition(background, clustering=linkage)
    explanation = explainers.Partition(regressor.predict, masker)(X, max_evals=500)
    tree = linkage_to_tree(linkage)
    expected = [
        owen_values(frame_game(regressor.predict, X.iloc[[i]], background), tree)
        for i in range(len(X))
    ]
    np.testing.assert_allclose(explanation.values, expected, rtol=0, atol=1e-10)


def test_the_model_gets_a_frame_with_the_original_columns_and_dtypes(regressor, table):
    background, X = table.iloc[:6], table.iloc[100:102]
    received = []

    def predict(frame):
        received.append(frame)
        return regressor.predict(frame)

    explanation = shapwise.Explainer(predict, background)(X)
    assert received
    for frame in received:
        assert isinstance(frame, pd.DataFrame)
        assert list(frame.columns) == list(table.columns)
        assert frame.dtypes.tolist() == table.dtypes.tolist()
        assert list(frame["size"].cat.categories) == ["S", "M", "L"]
    # the data of the explanation are the raw values, strings and categories included
    assert explanation.data.dtype == object
    assert explanation.data[:, 0].tolist() == X["city"].tolist()
    assert explanation.data[:, 1].tolist() == X["size"].tolist()
    np.testing.assert_array_equal(explanation.data[:, 2].astype(float), X["age"].to_numpy())


def test_a_category_the_background_never_had_stays_a_category(regressor, table):
    background = table.iloc[:6].copy()
    background["size"] = pd.Categorical(["S"] * 6, categories=["S", "M"])
    X = table.iloc[[100]].copy()
    X["size"] = pd.Categorical(["L"], categories=["S", "M", "L"])
    explanation = shapwise.Explainer(regressor.predict, background)(X)
    expected = brute_force(regressor.predict, X, background.astype({"size": X["size"].dtype}))
    np.testing.assert_allclose(explanation.values, expected, rtol=0, atol=1e-10)


def test_columns_in_another_order_are_matched_by_name(regressor, table):
    background, X = table.iloc[:8], table.iloc[100:103]
    reference = shapwise.Explainer(regressor.predict, background)(X)
    order = ["rooms", "city", "age", "size"]
    # rows in another order than the background: reordered to the background's
    shuffled_rows = shapwise.Explainer(regressor.predict, background)(X[order])
    np.testing.assert_allclose(shuffled_rows.values, reference.values, rtol=0, atol=1e-12)
    assert shuffled_rows.feature_names == reference.feature_names
    # a background in another order than the model was fitted on: the model still gets its own
    shuffled = shapwise.Explainer(regressor.predict, background[order])(X[order])
    assert shuffled.feature_names == order
    positions = [list(table.columns).index(name) for name in order]
    np.testing.assert_allclose(shuffled.values, reference.values[:, positions], atol=1e-12)


def test_missing_or_extra_columns_are_named(regressor, table):
    explainer = shapwise.Explainer(regressor.predict, table.iloc[:8])
    with pytest.raises(ValueError, match=r"missing 'rooms'.*extra 'floor'"):
        explainer(table.iloc[100:102].rename(columns={"rooms": "floor"}))
    with pytest.raises(ValueError, match=r"missing 'rooms'.*extra 'floor'"):
        shapwise.Explainer(regressor.predict, table.iloc[:8].rename(columns={"rooms": "floor"}))


def test_numbers_against_a_mixed_background_are_refused(regressor, table):
    explainer = shapwise.Explainer(regressor.predict, table.iloc[:8])
    with pytest.raises(TypeError, match="non-numeric columns"):
        explainer(np.zeros((2, 4)))


def test_correlation_clustering_of_strings_is_refused_with_what_to_do(table):
    with pytest.raises(TypeError, match="pass a linkage matrix"):
        maskers.Partition(table.iloc[:8])


def test_nan_in_a_numeric_column_of_a_mixed_table_is_named(regressor, table):
    background = table.iloc[:8].copy()
    background.loc[background.index[2], "age"] = np.nan
    with pytest.raises(ValueError, match=r"NaN in numeric column\(s\) 'age'"):
        shapwise.Explainer(regressor.predict, background)


def test_kmeans_of_strings_points_to_sample(table):
    with pytest.raises(TypeError, match=r"shapwise\.sample"):
        shapwise.kmeans(table, 3)
    sampled = shapwise.sample(table, 10)
    assert sampled.dtypes.tolist() == table.dtypes.tolist()


def test_plots_draw_string_data(regressor, table, tmp_path):
    pytest.importorskip("matplotlib")
    import matplotlib

    matplotlib.use("Agg")
    from shapwise import plots
    from tests.plots.drawing import render, tick_labels

    explanation = shapwise.Explainer(regressor.predict, table.iloc[:8])(table.iloc[100:130])
    waterfall = plots.waterfall(explanation[0], show=False)
    assert any(
        "rome" in label or "paris" in label or "oslo" in label for label in tick_labels(waterfall)
    )
    render(waterfall.figure, tmp_path / "waterfall.png")
    bar = plots.bar(explanation[0], show=False)
    render(bar.figure, tmp_path / "bar.png")
    beeswarm = plots.beeswarm(explanation, show=False)
    render(beeswarm.figure, tmp_path / "beeswarm.png")
    # numeric features keep their colour scale, string ones are grey
    colours = {
        label: collection.get_facecolors()
        for label, collection in zip(
            reversed(tick_labels(beeswarm)), beeswarm.collections, strict=False
        )
    }
    assert len({tuple(c) for c in colours["city"]}) == 1
    assert len({tuple(c) for c in colours["age"]}) > 1
    scatter = plots.scatter(explanation[:, "city"], color=explanation, show=False)
    assert [t.get_text() for t in scatter.get_xticklabels()] == ["oslo", "paris", "rome"]
    render(scatter.figure, tmp_path / "scatter.png")
    coloured = plots.scatter(explanation[:, "age"], color=explanation[:, "size"], show=False)
    render(coloured.figure, tmp_path / "scatter_coloured.png")


def test_each_kind_of_unusable_input_gets_its_own_message():
    sparse = pytest.importorskip("scipy.sparse")
    torch = pytest.importorskip("torch")
    numbers = np.random.default_rng(2).normal(size=(5, 3))

    def total(X):
        return np.asarray(X, dtype=np.float64).sum(axis=1)

    cases = [
        (sparse.csr_matrix(numbers), r"sparse matrix.*toarray\(\)"),
        (pd.DataFrame({"when": pd.date_range("2024-01-01", periods=5), "x": 1.0}), "datetimes"),
        (pd.DataFrame({"n": pd.array([1, None, 3, 4, 5], dtype="Int64")}), r"pd\.NA.*impute"),
    ]
    for background, message in cases:
        with pytest.raises(TypeError, match=message):
            shapwise.Explainer(total, background)

    class Outputs(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.linear = torch.nn.Linear(3, 2)

        def forward(self, x):
            return {"logits": self.linear(x), "hidden": x}

    with pytest.raises(
        TypeError, match=r"dict \(keys 'logits', 'hidden'\).*model\(X\)\['logits'\]"
    ):
        shapwise.Explainer(Outputs(), numbers)(numbers[:2])
