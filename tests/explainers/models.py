"""Small real models with interactions, shared by the explainer tests."""

from __future__ import annotations

import numpy as np


def interaction_model(n_features: int, n_outputs: int = 1, seed: int = 0):
    """A smooth model with pairwise and three-way interactions; outputs in (0, 1) for the logit link."""
    rng = np.random.default_rng(seed)
    linear = rng.normal(size=(n_features, n_outputs))
    pairs = rng.normal(size=(n_features, n_features, n_outputs)) / n_features

    def model(X: np.ndarray) -> np.ndarray:
        X = np.asarray(X, dtype=np.float64)
        score = X @ linear + np.einsum("ni,nj,ijo->no", X, X, pairs)
        score = score + 0.5 * np.prod(X[:, :3], axis=1, keepdims=True)
        out = 1.0 / (1.0 + np.exp(-score))
        return out[:, 0] if n_outputs == 1 else out

    return model


def additive_model(n_features: int, seed: int = 0):
    """f(x) = sum_i g_i(x_i): Shapley values are g_i(x_i) - mean_b g_i(b_i) exactly."""
    rng = np.random.default_rng(seed)
    scale = rng.normal(size=n_features)

    def model(X: np.ndarray) -> np.ndarray:
        return (np.sin(np.asarray(X) * scale) + scale * np.asarray(X) ** 2).sum(axis=1)

    def exact_values(x: np.ndarray, background: np.ndarray) -> np.ndarray:
        g = lambda v: np.sin(v * scale) + scale * v**2  # noqa: E731
        return g(x) - g(background).mean(axis=0)

    return model, exact_values


def sentiment_pipeline():
    """TF-IDF + logistic regression trained on the demo's made-up film reviews: a real text model
    whose positive/negative words carry the prediction."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    from shapwise.demo import review_corpus

    return make_pipeline(TfidfVectorizer(), LogisticRegression()).fit(*review_corpus())


def discrete_table(n_rows: int, seed: int = 0) -> np.ndarray:
    """A census-like table of 12 features: four binary flags, three small categorical codes,
    two zero-inflated counts and three continuous columns (many values shared between rows)."""
    rng = np.random.default_rng(seed)
    flags = rng.random((n_rows, 4)) < [0.5, 0.3, 0.15, 0.7]
    codes = rng.integers(0, [3, 5, 8], size=(n_rows, 3))
    counts = rng.poisson([2.0, 4.0], size=(n_rows, 2)) * (rng.random((n_rows, 2)) < [0.2, 0.1])
    continuous = rng.normal(size=(n_rows, 3))
    return np.column_stack([flags, codes, counts, continuous]).astype(np.float64)


def discrete_labels(X: np.ndarray, seed: int = 0) -> np.ndarray:
    """Binary labels of a :func:`discrete_table` with interactions between its columns."""
    rng = np.random.default_rng(seed)
    score = X[:, 0] * (X[:, 4] - 1) + 0.5 * X[:, 1] * X[:, 7] - 0.3 * X[:, 5] + X[:, 9] * X[:, 3]
    return (score + 0.4 * X[:, 10] + rng.normal(size=len(X)) > 0).astype(int)
