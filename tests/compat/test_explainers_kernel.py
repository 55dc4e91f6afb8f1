"""shap-style programs for ``KernelExplainer``, run with ``import shapwise as shap``, each checking
its values: brute-force Shapley values of the background-averaged game (exact once the budget
covers every coalition), closed forms for linear models, additivity in the link's space."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse
import sklearn
import sklearn.ensemble
import sklearn.linear_model
import sklearn.model_selection
import sklearn.pipeline
import sklearn.preprocessing
import sklearn.svm
from scipy.special import expit, logit

import shapwise as shap
from tests.reference import masked_game, shapley_values


@pytest.fixture(scope="module")
def iris_split():
    X, y = shap.datasets.iris()
    return sklearn.model_selection.train_test_split(X, y, test_size=0.1, random_state=0)


def brute_force(model, X, background, link=None) -> np.ndarray:
    """(rows, M, outputs) Shapley values of v(S) = link(mean model output with S from x)."""
    X, background = np.asarray(X, float), np.asarray(background, float)
    rows = []
    for x in X:
        game = masked_game(model, x, background, link)
        rows.append(shapley_values(game, X.shape[1]))
    return np.array(rows)


def test_front_page_svm_with_the_logit_link_and_constructor_keywords(iris_split):
    X_train, X_test, y_train, _ = iris_split
    svm = sklearn.svm.SVC(kernel="rbf", probability=True, random_state=0).fit(X_train, y_train)
    explainer = shap.KernelExplainer(
        svm.predict_proba, X_train, nsamples=100, link="logit", l1_reg="rank(3)"
    )
    values = explainer.shap_values(X_test)
    assert values.shape == (len(X_test), 4, 3)
    # rank(3): at most three features per output carry a value, and the values still add up
    assert ((values != 0).sum(axis=1) <= 3).all()
    np.testing.assert_allclose(
        expit(values.sum(axis=1) + explainer.expected_value),
        svm.predict_proba(X_test),
        atol=1e-10,
    )
    # without feature selection, 100 samples cover all 16 coalitions of 4 features: exact
    exact = shap.KernelExplainer(svm.predict_proba, X_train, nsamples=100, link="logit")
    np.testing.assert_allclose(
        exact.shap_values(X_test[:3]),
        brute_force(svm.predict_proba, X_test[:3], X_train, logit),
        atol=1e-9,
    )
    shap.force_plot(explainer.expected_value[0], values[0, :, 0], X_test.iloc[0, :], link="logit")


def test_probabilities_of_exactly_zero_and_one_are_clipped_for_the_logit_link():
    iris = sklearn.datasets.load_iris(as_frame=True)
    X_train, X_test, y_train, _ = sklearn.model_selection.train_test_split(
        iris.data, iris.target, test_size=0.1, random_state=42
    )
    background = X_train.sample(10, random_state=42)
    forest = sklearn.ensemble.RandomForestClassifier(n_estimators=20, random_state=42)
    forest.fit(X_train, y_train)
    predictions = forest.predict_proba(X_test[:5])
    assert ((predictions == 0) | (predictions == 1)).any()
    explainer = shap.KernelExplainer(
        model=forest.predict_proba, data=background, keep_index=True, link="logit"
    )
    explanation = explainer(X_test[:5])
    assert np.isfinite(explanation.values).all()
    total = explanation.values.sum(axis=1) + explainer.expected_value
    np.testing.assert_allclose(expit(total), predictions, atol=1e-12)
    # a probability of exactly 1 is read as 1 - 1e-15, as shap's Kernel link does
    clipped = np.clip(predictions, 1e-15, 1 - 1e-15)
    np.testing.assert_allclose(total, np.log(clipped / (1 - clipped)), atol=1e-6)


def test_keep_index_gives_the_model_dataframes_with_the_backgrounds_columns():
    frame = pd.DataFrame(
        {"a": [3.0, 1.0, 2.0, 0.5], "b": [6.0, 4.0, 5.0, 1.0]}, index=[30, 10, 20, 40]
    )

    def model(rows: pd.DataFrame) -> np.ndarray:
        return rows["a"].to_numpy() * 2 + rows["b"].to_numpy() ** 2

    explainer = shap.KernelExplainer(model, frame, keep_index=True, keep_index_ordered=True)
    values = explainer.shap_values(frame, silent=True)
    assert values.shape == (4, 2)
    as_array = lambda X: model(pd.DataFrame(X, columns=["a", "b"]))  # noqa: E731
    np.testing.assert_allclose(values, brute_force(as_array, frame, frame), atol=1e-10)


def test_explain_one_row_and_a_series_row():
    rng = np.random.default_rng(0)
    background = rng.normal(size=(8, 4))

    def two(X):
        return np.stack([X[:, 0] * X[:, 1], X[:, 2] - X[:, 3] ** 2], axis=1)

    explainer = shap.KernelExplainer(two, background, nsamples=100)
    x = rng.normal(size=(1, 4))
    expected = brute_force(two, x, background)[0]
    np.testing.assert_allclose(explainer.explain(x), expected, atol=1e-10)  # (M, K)
    np.testing.assert_allclose(explainer.explain(x[0]), expected, atol=1e-10)
    row = pd.Series(x[0], index=[f"f{i}" for i in range(4)])
    assert explainer.shap_values(row).shape == (4, 2)
    explanation = explainer(row)
    assert explanation.values.shape == (4, 2)
    np.testing.assert_allclose(explanation.values, expected, atol=1e-10)
    single = shap.KernelExplainer(lambda X: two(X)[:, 0], background)
    assert single.explain(x).shape == (4,)
    np.testing.assert_allclose(single.explain(x), expected[:, 0], atol=1e-10)


def test_null_models_and_constant_features_get_zero():
    explainer = shap.KernelExplainer(lambda x: np.zeros(x.shape[0]), np.ones((2, 10)), nsamples=100)
    assert np.sum(np.abs(explainer.explain(np.ones((1, 10))))) < 1e-12
    X = np.ones((5, 4))
    one = shap.KernelExplainer(lambda x: x[:, 0].astype(float), X)
    x_test = np.ones((1, 4))
    x_test[0, 0] = 10.0
    phi = one.explain(x_test)
    assert phi[0] == pytest.approx(9.0) and np.all(phi[1:] == 0)


def test_random_state_repeats_a_sampled_estimate():
    rng = np.random.default_rng(1)
    background = rng.normal(size=(10, 14))
    X = rng.normal(size=(2, 14))

    def model(X):
        return np.tanh(X[:, :7] @ np.arange(7.0)) * X[:, 7:].sum(axis=1)

    first = shap.KernelExplainer(model, background, random_state=7).shap_values(X, nsamples=200)
    again = shap.KernelExplainer(model, background, random_state=7).shap_values(X, nsamples=200)
    np.testing.assert_array_equal(first, again)
    np.testing.assert_allclose(first.sum(axis=1) + np.mean(model(background)), model(X), atol=1e-10)


@pytest.mark.parametrize("l1_reg", ["aic", "bic", 0.05, False, 0, "num_features(2)", "rank(2)"])
def test_every_l1_reg_form_of_shap(l1_reg):
    rng = np.random.RandomState(0)
    X = rng.randn(30, 4)
    model = sklearn.linear_model.LinearRegression().fit(X, X[:, 0] + 2.0 * X[:, 1])
    explainer = shap.KernelExplainer(model.predict, X)
    values = explainer.shap_values(X[:2], l1_reg=l1_reg, silent=True)
    # a linear model: every form recovers coef * (x - mean), the two active features
    np.testing.assert_allclose(values, model.coef_ * (X[:2] - X.mean(0)), atol=1e-6)


def test_sparse_backgrounds_and_rows_give_the_dense_values(iris_split):
    X_train, X_test, y_train, _ = iris_split
    lr = sklearn.linear_model.LogisticRegression(max_iter=500).fit(X_train, y_train)
    dense = shap.KernelExplainer(lr.predict_proba, X_train.to_numpy(), link="logit")
    expected = dense.shap_values(X_test.to_numpy())
    for kind in (scipy.sparse.csr_matrix, scipy.sparse.csc_matrix):
        sparse = shap.KernelExplainer(lr.predict_proba, kind(X_train.to_numpy()), link="logit")
        np.testing.assert_allclose(sparse.shap_values(kind(X_test.to_numpy())), expected)
        np.testing.assert_allclose(dense.shap_values(kind(X_test.to_numpy())), expected)
    # a zero sparse background, as for the a1a data set: values of a linear model are coef * x
    rng = np.random.RandomState(0)
    X = rng.randn(20, 8)
    linear = sklearn.linear_model.LinearRegression().fit(X, X[:, 0] - X[:, 3])
    zero = shap.KernelExplainer(linear.predict, scipy.sparse.csr_matrix((1, 8)))
    values = zero.shap_values(scipy.sparse.csr_matrix(X[:2]), silent=True)
    np.testing.assert_allclose(values, linear.coef_ * X[:2], atol=1e-8)


def test_string_backgrounds_for_a_pipeline_that_encodes_them():
    X = np.array(
        [["A", "0", "0"], ["A", "1", "0"], ["B", "0", "0"], ["B", "1", "0"], ["A", "1", "0"]]
    )
    y = np.array([0, 1, 2, 3, 4])
    pipeline = sklearn.pipeline.Pipeline(
        [
            ("oneHotEncoder", sklearn.preprocessing.OneHotEncoder()),
            ("linear", sklearn.linear_model.LinearRegression()),
        ]
    )
    pipeline.fit(X, y)
    explainer = shap.KernelExplainer(pipeline.predict, X, nsamples=100)
    values = explainer.explain(X[0, :].reshape(1, -1))
    prediction = pipeline.predict(X[:1])[0]
    assert abs(explainer.expected_value + values.sum(0) - prediction) < 1e-10
    assert values[2] == 0

    def game(coalition):
        rows = X.copy()
        rows[:, list(coalition)] = X[0, list(coalition)]
        return pipeline.predict(rows).mean()

    np.testing.assert_allclose(values, shapley_values(game, 3), atol=1e-10)


def test_not_equal_as_shap_defines_it():
    assert shap.KernelExplainer.not_equal(0, 0) == shap.KernelExplainer.not_equal("0", "0")
    assert shap.KernelExplainer.not_equal(0, 1) == shap.KernelExplainer.not_equal("0", "1")
    assert shap.KernelExplainer.not_equal(np.float64(np.nan), np.float64(np.nan)) == 0
    assert shap.KernelExplainer.not_equal(None, None) == 0
    assert shap.KernelExplainer.not_equal(None, 1) == 1
    assert shap.KernelExplainer.not_equal("ab", "bc")
    assert not shap.KernelExplainer.not_equal("ab", "ab")
    assert shap.KernelExplainer.not_equal(1, 1.0) == 0
    t = pd.Timestamp
    assert shap.KernelExplainer.not_equal(t("2017-01-01T12"), t("2017-01-01T13"))
    assert not shap.KernelExplainer.not_equal(t("2017-01-01T12"), t("2017-01-01T12"))


def test_shaps_attributes_and_messages():
    from shapwise.utils._exceptions import DimensionError

    X = np.random.default_rng(0).normal(size=(12, 3))
    explainer = shap.KernelExplainer(lambda x: x[:, 0], X, feature_names=["a", "b", "c"])
    assert explainer.data_feature_names == ["a", "b", "c"]
    assert (explainer.N, explainer.P) == (12, 3)
    assert explainer.vector_out is False and explainer.D == 1
    assert isinstance(explainer.expected_value, float)
    with pytest.raises(DimensionError, match="1 or 2 dimensions"):
        explainer.shap_values(np.ones((2, 3, 4)))
    with pytest.raises(TypeError):
        shap.KernelExplainer(lambda x: x[:, 0], "not_a_valid_data_source")


def test_a_keras_model_returning_tf_tensors():
    tf = pytest.importorskip("tensorflow")
    keras = tf.keras
    rng = np.random.default_rng(0)
    X = rng.normal(size=(20, 4)).astype("float32")
    model = keras.Sequential(
        [keras.Input((4,)), keras.layers.Dense(5, activation="relu"), keras.layers.Dense(1)]
    )

    def as_tensors(rows):  # a model function that returns a tf tensor
        return model(tf.constant(rows, dtype=tf.float32))

    explainer = shap.KernelExplainer(as_tensors, X[:6])
    values = explainer.shap_values(X[:2])
    assert values.shape == (2, 4, 1)  # shap's layout for outputs of shape (rows, 1)
    reference = brute_force(lambda r: model(r.astype("float32")).numpy(), X[:2], X[:6])
    np.testing.assert_allclose(values, reference, atol=1e-5)


def test_a_dask_array_is_explained_lazily_to_the_local_values():
    da = pytest.importorskip("dask.array")
    rng = np.random.default_rng(2)
    background, X = rng.normal(size=(10, 4)), rng.normal(size=(6, 4))

    def model(rows):
        return rows[:, 0] * rows[:, 1] + rows[:, 2]

    explainer = shap.KernelExplainer(model, background)
    lazy = explainer(da.from_array(X, chunks=3)).compute()
    np.testing.assert_allclose(lazy.values, explainer(X).values)
    np.testing.assert_allclose(lazy.values, brute_force(model, X, background), atol=1e-10)
