"""Real explanations of small sklearn models on bundled data, built once and shared by the tests
of plots, the report and the notebook view."""

from __future__ import annotations

from functools import cache

import numpy as np

import shapwise


@cache
def diabetes() -> shapwise.Explanation:
    """A gradient-boosted regressor on sklearn's diabetes data: 40 rows x 10 features, exact."""
    from sklearn.datasets import load_diabetes
    from sklearn.ensemble import GradientBoostingRegressor

    data = load_diabetes()
    X, y = data.data, data.target
    model = GradientBoostingRegressor(n_estimators=40, max_depth=3, random_state=0).fit(X, y)
    explainer = shapwise.Explainer(model, X[:30], feature_names=list(data.feature_names))
    return explainer(X[:40], silent=True)


@cache
def iris() -> shapwise.Explanation:
    """A random forest on iris: 3 outputs (class probabilities), 30 rows x 4 features."""
    from sklearn.datasets import load_iris
    from sklearn.ensemble import RandomForestClassifier

    data = load_iris()
    model = RandomForestClassifier(n_estimators=20, max_depth=3, random_state=0)
    model.fit(data.data, data.target)
    explainer = shapwise.Explainer(
        model,
        data.data[::10],
        feature_names=list(data.feature_names),
        output_names=list(data.target_names),
    )
    return explainer(data.data[::5], silent=True)


@cache
def half_precision() -> shapwise.Explanation:
    """A linear model on diabetes that computes in float16 (its output is float16)."""
    from sklearn.datasets import load_diabetes
    from sklearn.linear_model import Ridge

    data = load_diabetes()
    ridge = Ridge(alpha=0.1).fit(data.data, data.target)
    weights = ridge.coef_.astype(np.float16)
    bias = np.float16(ridge.intercept_)

    def half_model(X: np.ndarray) -> np.ndarray:
        return X.astype(np.float16) @ weights + bias

    explainer = shapwise.Explainer(
        half_model, data.data[:20], algorithm="exact", feature_names=list(data.feature_names)
    )
    return explainer(data.data[:10], silent=True)


@cache
def digits() -> shapwise.Explanation:
    """Logistic regression on sklearn's 8x8 digits, 3 images x 3 outputs, as (N, 8, 8, 1, 3)."""
    from sklearn.datasets import load_digits
    from sklearn.linear_model import LogisticRegression

    digits = load_digits()
    X = digits.data / 16.0
    model = LogisticRegression(max_iter=300).fit(X, digits.target)
    explainer = shapwise.Explainer(
        model.predict_proba, np.zeros((1, 64)), algorithm="permutation", seed=0
    )
    flat = explainer(X[:3], max_evals=400, outputs=[0, 1, 2], silent=True)
    return shapwise.Explanation(
        flat.values.reshape(3, 8, 8, 1, 3),
        base_values=flat.base_values,
        data=X[:3].reshape(3, 8, 8, 1),
        output_names=["zero", "one", "two"],
        output_values=flat.output_values,
        model_dtype=flat.model_dtype,
        algorithm=flat.algorithm,
    )
