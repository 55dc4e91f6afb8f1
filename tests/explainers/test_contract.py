"""What every explainer shares through the driver: per-call options, budgets, names, empty input,
safety from several threads, and a tree in which no explainer imports a sibling."""

from __future__ import annotations

import ast
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import shapwise
from shapwise.explainers import Exact, Kernel, Partition, Permutation
from tests.explainers.models import interaction_model

EXPLAINERS = Path(shapwise.__file__).parent / "explainers"


def _data(n_features: int, rows: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(rows, n_features))


def _counting(model):
    calls = []

    def counted(X):
        calls.append(len(X))
        return model(X)

    return counted, calls


@pytest.mark.parametrize(
    ("build", "options"),
    [
        (lambda f, bg: Exact(f, bg), {}),
        (lambda f, bg: Permutation(f, bg, seed=1), {"max_evals": 60}),
        (lambda f, bg: Partition(f, shapwise.maskers.Partition(bg)), {"max_evals": 40}),
        (lambda f, bg: Kernel(f, bg), {"max_evals": 40, "l1_reg": "num_features(3)"}),
    ],
)
def test_one_explainer_called_from_several_threads_gives_the_serial_values(build, options):
    background, X = _data(5, 12), _data(5, 24, seed=1)
    explainer = build(interaction_model(5), background)
    chunks = [X[i : i + 3] for i in range(0, len(X), 3)]
    # each chunk with its own per-call batch size, so options of one call cannot leak into another
    sizes = [1 + 7 * i for i in range(len(chunks))]
    serial = [
        explainer(chunk, batch_size=size, silent=True, **options).values
        for chunk, size in zip(chunks, sizes, strict=True)
    ]
    with ThreadPoolExecutor(max_workers=4) as pool:
        futures = [
            pool.submit(explainer, chunk, batch_size=size, silent=True, **options)
            for chunk, size in zip(chunks, sizes, strict=True)
        ]
        threaded = [future.result().values for future in futures]
    for one, other in zip(serial, threaded, strict=True):
        np.testing.assert_allclose(other, one, rtol=0, atol=1e-12)
    assert explainer.model.batch_size is None  # no call's batch size stuck to the explainer


def test_kernels_l1_reg_of_one_thread_never_reaches_another():
    background, X = _data(8, 10), _data(8, 16, seed=2)
    explainer = Kernel(interaction_model(8), background)
    chunks = [X[i : i + 2] for i in range(0, len(X), 2)]
    choices = ["num_features(2)" if i % 2 else None for i in range(len(chunks))]

    def explain(chunk, l1_reg):
        return explainer(chunk, max_evals=40, l1_reg=l1_reg, silent=True).values

    serial = [explain(chunk, l1) for chunk, l1 in zip(chunks, choices, strict=True)]
    with ThreadPoolExecutor(max_workers=4) as pool:
        threaded = list(pool.map(explain, chunks, choices))
    for one, other in zip(serial, threaded, strict=True):
        np.testing.assert_allclose(other, one, rtol=0, atol=1e-12)


def test_kernels_per_call_l1_reg_is_an_argument_not_state():
    background, X = _data(8, 10), _data(8, 2, seed=2)
    explainer = Kernel(interaction_model(8), background)
    selected = explainer(X, max_evals=40, l1_reg="num_features(2)", silent=True).values
    assert ((np.abs(selected) > 0).sum(axis=1) <= 2).all()
    after = explainer(X, max_evals=40, silent=True).values  # the explainer's own l1_reg (off)
    assert ((np.abs(after) > 0).sum(axis=1) > 2).all()
    assert not hasattr(explainer, "_call_l1_reg")


@pytest.mark.parametrize("max_evals", [24, 60, 200])
def test_permutation_never_spends_more_than_max_evals(max_evals):
    n_features, n_background = 12, 5
    background, X = _data(n_features, n_background), _data(n_features, 3, seed=3)
    model, calls = _counting(interaction_model(n_features))
    Permutation(model, background, seed=0)(X, max_evals=max_evals, silent=True)
    coalitions = sum(calls) / n_background  # each coalition is one masked row per background row
    assert coalitions <= max_evals * len(X)


def test_a_budget_below_one_pair_of_orders_says_the_minimum():
    background, X = _data(12, 5), _data(12, 2, seed=3)
    with pytest.raises(ValueError, match="max_evals of at least 24 for 12 features"):
        Permutation(interaction_model(12), background)(X, max_evals=23)


@pytest.mark.parametrize("algorithm", ["exact", "permutation", "partition", "kernel", "linear"])
def test_every_explainer_refuses_empty_rows(algorithm):
    background = _data(4, 10)
    if algorithm == "linear":
        from sklearn.linear_model import LinearRegression

        model = LinearRegression().fit(background, background.sum(1))
        explainer = shapwise.explainers.Linear(model, background)
    elif algorithm == "kernel":
        explainer = Kernel(interaction_model(4), background)
    elif algorithm == "partition":
        explainer = Partition(interaction_model(4), shapwise.maskers.Partition(background))
    else:
        explainer = shapwise.Explainer(interaction_model(4), background, algorithm=algorithm)
    with pytest.raises(ValueError, match="at least one row"):
        explainer(np.zeros((0, 4)))


@pytest.mark.parametrize("bad", [0, -3])
def test_a_batch_size_that_is_not_positive_is_an_error(bad):
    background = _data(3, 5)
    with pytest.raises(ValueError, match="batch_size must be a positive integer"):
        Exact(interaction_model(3), background)(background[:1], batch_size=bad)
    with pytest.raises(ValueError, match="batch_size must be a positive integer"):
        Exact(interaction_model(3), background, batch_size=bad)


def test_a_reused_explainer_names_features_from_each_calls_own_frame():
    background = _data(3, 8)
    explainer = Exact(interaction_model(3), background)  # an array: no names of its own
    first = explainer(pd.DataFrame(background[:2], columns=["a", "b", "c"]))
    second = explainer(pd.DataFrame(background[:2], columns=["x", "y", "z"]))
    assert list(first.feature_names) == ["a", "b", "c"]
    assert list(second.feature_names) == ["x", "y", "z"]


def test_rows_whose_columns_are_reordered_get_the_values_of_their_own_columns():
    columns = ["a", "b", "c"]
    background = pd.DataFrame(_data(3, 8), columns=columns)
    X = pd.DataFrame(_data(3, 2, seed=5), columns=columns)
    model = interaction_model(3)
    explainer = Exact(model, background)
    straight = explainer(X)
    shuffled = explainer(X[["c", "a", "b"]])
    np.testing.assert_allclose(shuffled.values, straight.values, atol=1e-12)
    assert list(shuffled.feature_names) == columns
    with pytest.raises(ValueError, match="missing 'c'"):
        explainer(X[["a", "b"]])


def test_names_of_the_wrong_length_or_duplicated_are_errors():
    background = _data(3, 8)
    with pytest.raises(ValueError, match="feature_names has 2 names but there are 3 features"):
        Exact(interaction_model(3), background, feature_names=["a", "b"])
    with pytest.raises(ValueError, match="duplicated"):
        Exact(interaction_model(3), background, feature_names=["a", "b", "a"])
    two_outputs = interaction_model(3, n_outputs=2)
    explainer = Exact(two_outputs, background, output_names=["yes", "no", "maybe"])
    with pytest.raises(ValueError, match="output_names has 3 names but there are 2 outputs"):
        explainer(background[:1])


def test_a_function_maskers_output_width_is_checked():
    background = _data(3, 4)

    def wider(mask, x):  # one column too many
        return np.hstack([np.where(mask, x, background), np.zeros((len(background), 1))])

    with pytest.raises(ValueError, match=r"masker function returned an array of shape \(4, 4\)"):
        Exact(lambda X: X.sum(1), wider)(background[:1])


def _imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


def test_no_explainer_imports_a_sibling_explainer():
    explainers = {
        "shapwise.explainers." + path.stem
        for path in EXPLAINERS.glob("*.py")
        if not path.stem.startswith("_")
    }
    for path in [*EXPLAINERS.glob("*.py"), *EXPLAINERS.glob("deep/*_deep.py")]:
        if path.stem.startswith("_"):
            continue
        own = "shapwise.explainers." + path.stem
        siblings = (_imported_modules(path) & explainers) - {own}
        assert not siblings, f"{path.name} imports {sorted(siblings)}"


def test_the_explanation_does_not_import_its_html_view_which_is_registered_from_above():
    explanation_module = Path(shapwise.__file__).parent / "explanation.py"
    imported = _imported_modules(explanation_module)
    assert not {name for name in imported if name.startswith(("shapwise.report", "shapwise.plots"))}
    explanation = Exact(interaction_model(3), _data(3, 5))(_data(3, 2, seed=1))
    page = explanation._repr_html_()
    assert "shapwise.Explanation" in page and "additivity" in page


def test_texts_explained_from_several_threads_keep_their_own_hierarchies():
    from tests.explainers.models import sentiment_pipeline

    pipeline = sentiment_pipeline()
    explainer = Partition(pipeline.predict_proba, shapwise.maskers.Text())
    texts = [
        "A moving film.",
        "Boring music, and a plot that goes nowhere at all.",
        "Great acting; weak ending.",
        "I loved it. The score is wonderful, the cast superb.",
    ] * 2
    serial = [explainer([text], max_evals=60, silent=True)[0].values for text in texts]
    with ThreadPoolExecutor(max_workers=4) as pool:
        futures = [pool.submit(explainer, [t], max_evals=60, silent=True) for t in texts]
        threaded = [future.result()[0].values for future in futures]
    for one, other in zip(serial, threaded, strict=True):
        np.testing.assert_allclose(other, one, rtol=0, atol=1e-12)


def test_expected_value_is_the_mean_output_over_the_background_computed_once():
    background = _data(4, 9)
    model, calls = _counting(interaction_model(4))
    explainer = Exact(model, background)
    assert explainer.expected_value == pytest.approx(interaction_model(4)(background).mean())
    evaluated = sum(calls)
    assert explainer.expected_value == explainer.expected_value and sum(calls) == evaluated
