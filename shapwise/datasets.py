"""shap's example data sets that can be served offline: those bundled with scikit-learn and
the synthetic ones; the others need a download and say so.

Each returns ``(X, y)`` as shap does: a DataFrame of features and the targets; ``n_points=``
keeps that many random rows (the same rows of X and y).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from shapwise.background import sample

# data sets shap downloads from the web, and where from
_DOWNLOADED = {
    "adult": "the UCI adult census data",
    "nhanesi": "the NHANES I epidemiologic follow-up data",
    "imdb": "the IMDB movie review texts",
    "communitiesandcrime": "the UCI communities and crime data",
    "a1a": "the LIBSVM a1a data",
    "rank": "the LightGBM ranking example data",
    "imagenet50": "50 ImageNet images",
}


class DatasetUnavailableError(OSError):
    """The data set needs a download, and shapwise serves only data sets it has offline."""


def _pandas() -> Any:
    import pandas  # a dependency, imported when a data set is loaded

    return pandas


def _subsample(X: Any, y: Any, n_points: int | None) -> tuple[Any, Any]:
    if n_points is None:
        return X, y
    return sample(X, n_points, random_state=0), sample(y, n_points, random_state=0)


def diabetes(n_points: int | None = None) -> tuple[Any, np.ndarray]:
    """The diabetes regression data (442 rows, 10 standardised features; scikit-learn's)."""
    from sklearn.datasets import load_diabetes

    bunch = load_diabetes()
    X = _pandas().DataFrame(bunch.data, columns=bunch.feature_names)
    return _subsample(X, bunch.target, n_points)


def iris(display: bool = False, n_points: int | None = None) -> tuple[Any, Any]:
    """The iris flowers (150 rows, 4 features); the class labels as integers, or as their names
    (a list of strings) with ``display=True``."""
    from sklearn.datasets import load_iris

    bunch = load_iris()
    X = _pandas().DataFrame(bunch.data, columns=bunch.feature_names)
    X, y = _subsample(X, bunch.target, n_points)
    if display:
        return X, [str(bunch.target_names[label]) for label in y]
    return X, y


def linnerud(n_points: int | None = None) -> tuple[Any, Any]:
    """The Linnerud exercise data: 20 rows, 3 exercise features, 3 physiological targets (both
    DataFrames)."""
    from sklearn.datasets import load_linnerud

    bunch = load_linnerud()
    pd = _pandas()
    X = pd.DataFrame(bunch.data, columns=bunch.feature_names)
    y = pd.DataFrame(bunch.target, columns=bunch.target_names)
    return _subsample(X, y, n_points)


def california(n_points: int | None = None) -> tuple[Any, np.ndarray]:
    """The California housing data (scikit-learn's), when it is in scikit-learn's data folder;
    it is not bundled, so without a copy there this raises :class:`DatasetUnavailableError`."""
    from sklearn.datasets import fetch_california_housing, get_data_home

    try:
        bunch = fetch_california_housing(download_if_missing=False)
    except OSError as error:
        raise DatasetUnavailableError(
            "the California housing data is not bundled with scikit-learn and no copy is in its "
            f"data folder ({get_data_home()}); download it once on a machine with a network "
            "(sklearn.datasets.fetch_california_housing()) or use shapwise.datasets.diabetes()"
        ) from error
    X = _pandas().DataFrame(bunch.data, columns=bunch.feature_names)
    return _subsample(X, bunch.target, n_points)


def _gaussian_rows(n_points: int, correlation: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Centred rows whose sample covariance (divided by n) is exactly ``correlation``."""
    rows = rng.standard_normal((n_points, len(correlation)))
    rows -= rows.mean(axis=0)
    covariance = rows.T @ rows / n_points
    whiten = np.linalg.cholesky(np.linalg.inv(covariance))
    return rows @ whiten @ np.linalg.cholesky(correlation).T


def _linear_target(X: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """y = the sum of features 0, 3, ..., 27 (one of each group of three) plus noise of 0.01."""
    beta = np.zeros(X.shape[1])
    beta[0:30:3] = 1.0
    return X @ beta + 0.01 * rng.standard_normal(len(X))


def corrgroups60(n_points: int = 1_000) -> tuple[Any, np.ndarray]:
    """Synthetic: 60 unit-variance features, the first 30 in groups of three correlated 0.99
    (sample correlation exact), y linear in one feature of each group. Seeded (the same data each
    call), drawn with numpy's default generator (shap's rows differ; the structure is the same)."""
    rng = np.random.default_rng(0)
    correlation = np.eye(60)
    for start in range(0, 30, 3):
        group = slice(start, start + 3)
        correlation[group, group] = 0.99
        np.fill_diagonal(correlation[group, group], 1.0)
    X = _gaussian_rows(n_points, correlation, rng)
    return _pandas().DataFrame(X), _linear_target(X, rng)


def independentlinear60(n_points: int = 1_000) -> tuple[Any, np.ndarray]:
    """Synthetic: 60 independent centred Gaussian features, y linear in features 0, 3, ..., 27."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((n_points, 60))
    X -= X.mean(axis=0)
    return _pandas().DataFrame(X), _linear_target(X, rng)


def _needs_download(name: str) -> Any:
    def unavailable(*args: Any, **kwargs: Any) -> Any:
        raise DatasetUnavailableError(
            f"shap.datasets.{name}() downloads {_DOWNLOADED[name]} from the web; shapwise serves "
            "only data sets it has offline (diabetes, iris, linnerud, california when scikit-learn "
            "has a copy, corrgroups60, independentlinear60). Load the file yourself and pass the "
            "rows to the explainer"
        )

    unavailable.__name__ = name
    unavailable.__doc__ = f"Not served offline: {_DOWNLOADED[name]} needs a download."
    return unavailable


adult = _needs_download("adult")
nhanesi = _needs_download("nhanesi")
imdb = _needs_download("imdb")
communitiesandcrime = _needs_download("communitiesandcrime")
a1a = _needs_download("a1a")
rank = _needs_download("rank")
imagenet50 = _needs_download("imagenet50")


def cache(url: str, file_name: str | None = None) -> str:
    """shap's downloader; shapwise does not download data sets."""
    raise DatasetUnavailableError(
        f"shapwise does not download data sets ({url}); download the file yourself"
    )
