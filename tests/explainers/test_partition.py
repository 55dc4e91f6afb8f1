"""Partition explainer: Owen values checked against the brute-force definition in tests/reference.py."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.cluster.hierarchy import linkage

import shapwise
from shapwise.explainers._owen import output_resolution
from shapwise.explainers.partition import PartitionExplainer
from shapwise.links import logit
from shapwise.maskers import Image, Partition
from shapwise.numeric import additivity_tolerance
from tests.reference import linkage_to_tree, masked_game, owen_values


def _reference(model, x, background, clustering, n_outputs, link=None):
    game = masked_game(model, x, background, link)
    tree = linkage_to_tree(clustering)
    return np.stack(
        [owen_values(lambda s, o=o: np.atleast_1d(game(s))[o], tree) for o in range(n_outputs)], -1
    )


def _model(n_features: int, n_outputs: int, seed: int = 0):
    weights = np.random.default_rng(seed).normal(size=(n_features, n_outputs))

    def model(X):
        # nonlinear with interactions, so Owen values differ from Shapley values
        return np.tanh(X @ weights) + X[:, [0]] * X[:, [n_features - 1]] ** 2

    return model


@pytest.mark.parametrize("n_features", [4, 5, 8])
@pytest.mark.parametrize("n_outputs", [1, 3])
def test_full_budget_is_exact_owen(n_features: int, n_outputs: int) -> None:
    rng = np.random.default_rng(n_features)
    X = rng.normal(size=(12, n_features))
    clustering = linkage(rng.normal(size=(n_features, 3)), "average")
    model = _model(n_features, n_outputs)
    masker = Partition(X[:4], clustering=clustering)
    explainer = PartitionExplainer(model, masker)
    assert explainer.hierarchy().owen_evaluations() <= 10_000
    explanation = explainer(X[4:6], max_evals=10_000)
    for row in range(2):
        truth = _reference(model, X[4 + row], masker.data, clustering, n_outputs)
        got = explanation.values[row].reshape(n_features, n_outputs)
        np.testing.assert_allclose(got, truth, atol=1e-10)


def test_unbalanced_chain_hierarchy_is_exact() -> None:
    """A chain (each row adds one leaf) reaches depth n-1: every context count differs."""
    n = 6
    chain = [[0, 1, 1.0, 2]] + [[k + 1, n + k - 1, k + 1.0, k + 2] for k in range(1, n - 1)]
    clustering = np.array(chain, dtype=np.float64)
    rng = np.random.default_rng(1)
    X = rng.normal(size=(5, n))
    model = _model(n, 2, seed=3)
    masker = Partition(X[:3], clustering=clustering)
    explanation = PartitionExplainer(model, masker)(X[3:4], max_evals=100_000)
    truth = _reference(model, X[3], masker.data, clustering, 2)
    np.testing.assert_allclose(explanation.values[0], truth, atol=1e-10)


def test_factory_picks_exact_owen_values_and_float16_clustering_works() -> None:
    """A table's hierarchy of few features: exact Owen values (shap's Explainer picks its
    ExactExplainer there, which follows the clustering)."""
    from shapwise.explainers import ExactExplainer

    rng = np.random.default_rng(2)
    X = rng.normal(size=(20, 5))
    clustering = linkage(rng.normal(size=(5, 3)), "complete").astype(np.float16)
    model = _model(5, 1)
    masker = Partition(X[:6], clustering=clustering)
    explainer = shapwise.Explainer(model, masker)
    assert isinstance(explainer, ExactExplainer)
    explanation = explainer(X[6:8])
    assert explanation.values.shape == (2, 5, 1) or explanation.values.shape == (2, 5)
    truth = _reference(model, X[6], masker.data, clustering.astype(np.float64), 1)
    np.testing.assert_allclose(explanation.values[0].reshape(5, 1), truth, atol=1e-10)


def test_correlation_clustering_default() -> None:
    rng = np.random.default_rng(3)
    X = rng.normal(size=(40, 6))
    X[:, 1] = X[:, 0] + 0.1 * rng.normal(size=40)
    masker = Partition(X, max_samples=5)
    model = _model(6, 2)
    explanation = PartitionExplainer(model, masker)(X[:2], max_evals=5000)
    truth = _reference(model, X[0], masker.data, masker.clustering, 2)
    np.testing.assert_allclose(explanation.values[0], truth, atol=1e-10)


@pytest.mark.parametrize("max_evals", [2, 4, 10, 30, 60])
def test_additive_at_any_budget(max_evals: int) -> None:
    rng = np.random.default_rng(4)
    X = rng.normal(size=(20, 8))
    model = _model(8, 3)
    masker = Partition(X[:5], clustering=linkage(rng.normal(size=(8, 2)), "average"))
    explanation = PartitionExplainer(model, masker)(X[5:10], max_evals=max_evals)
    totals = explanation.values.sum(axis=1) + explanation.base_values
    np.testing.assert_allclose(totals, explanation.output_values, atol=1e-12)
    np.testing.assert_allclose(explanation.output_values, model(X[5:10]), atol=1e-12)


def test_budget_counts_model_evaluations_and_error_shrinks() -> None:
    rng = np.random.default_rng(5)
    X = rng.normal(size=(10, 8))
    clustering = linkage(rng.normal(size=(8, 2)), "average")
    model = _model(8, 1)
    masker = Partition(X[:1], clustering=clustering)  # one background row: evaluations = rows
    truth = _reference(model, X[5], masker.data, clustering, 1)
    errors = []
    for budget in (10, 40, 120):
        explainer = PartitionExplainer(model, masker)
        values = explainer(X[5:6], max_evals=budget).values[0].reshape(8, 1)
        assert explainer.model.n_evaluations <= budget
        errors.append(np.abs(values - truth).max())
    assert errors[2] <= errors[0]
    assert errors[2] < 1e-10  # 120 covers this tree's terms


@pytest.mark.parametrize("max_evals", [12, 60, 10_000])
def test_rows_refined_together_give_each_row_its_own_values(max_evals: int) -> None:
    """Rows are refined in lockstep, their coalitions evaluated in shared model calls; each
    row's values are bit for bit those it gets alone (a row-wise model: sums in a fixed order),
    per-row outputs included, and the shared calls are as few as one row's."""
    rng = np.random.default_rng(7)
    X = rng.normal(size=(12, 7)).round(1)
    X[:, :3] = rng.integers(0, 2, size=(12, 3))  # repeated values: some masked rows repeat
    weights = rng.normal(size=(7, 3))

    def model(Z):
        return np.tanh((Z[:, :, None] * weights).sum(axis=1)) + Z[:, [0]] * Z[:, [6]] ** 2

    masker = Partition(X[:4], clustering=linkage(rng.normal(size=(7, 2)), "average"))
    outputs = np.array([[2, 0], [1, 2], [0, 1], [2, 1], [1, 0]])
    together_explainer = PartitionExplainer(model, masker)
    together = together_explainer(X[4:9], max_evals=max_evals, outputs=outputs)
    calls_per_row = []
    for row in range(5):
        alone_explainer = PartitionExplainer(model, masker)
        alone = alone_explainer(
            X[4 + row : 5 + row], max_evals=max_evals, outputs=outputs[row : row + 1]
        )
        assert np.array_equal(alone.values[0], together.values[row])
        assert np.array_equal(alone.base_values[0], together.base_values[row])
        calls_per_row.append(alone_explainer.model.n_calls)
    assert together_explainer.model.n_calls <= max(calls_per_row) < sum(calls_per_row)


def test_rows_of_many_outputs_are_refined_fewer_at_a_time(monkeypatch) -> None:
    """Node values of many outputs bound the rows refined together (down to one at a time):
    the same values, in more model calls."""
    from shapwise.explainers import _owen

    rng = np.random.default_rng(8)
    X = rng.normal(size=(10, 6))
    model = _model(6, 3)
    masker = Partition(X[:3], clustering=linkage(rng.normal(size=(6, 2)), "average"))
    together = PartitionExplainer(model, masker)
    expected = together(X[3:9], max_evals=40).values
    monkeypatch.setattr(_owen, "NODE_VALUE_BYTES", 8 * 11 * 3 * 2)  # two rows' node values
    paired = PartitionExplainer(model, masker)
    np.testing.assert_array_equal(paired(X[3:9], max_evals=40).values, expected)
    assert paired.model.n_calls > together.model.n_calls


def test_a_half_precision_function_is_read_as_such_from_its_first_call() -> None:
    """A plain function's output dtype is known only once it has been called: every row of
    the first explanation gets the float16 reading too (the same values as a second call)."""
    rng = np.random.default_rng(3)
    X = rng.normal(size=(14, 10))
    weights = rng.normal(size=(10, 1)).astype(np.float32)

    def model(Z):
        return (np.tanh(np.asarray(Z, np.float32) @ weights) * 50 + 100).astype(np.float16)

    masker = Partition(X[:10], clustering=linkage(rng.normal(size=(10, 2)), "average"))
    explainer = PartitionExplainer(model, masker)
    first = explainer(X[10:], max_evals=200)
    second = explainer(X[10:], max_evals=200)
    np.testing.assert_array_equal(first.values, second.values)
    exact = shapwise.explainers.Exact(model, masker)  # exact Owen values, the same reading
    np.testing.assert_array_equal(exact(X[10:]).values, exact(X[10:]).values)


def test_outputs_selects_per_row_and_focuses_budget() -> None:
    rng = np.random.default_rng(6)
    X = rng.normal(size=(10, 6))
    model = _model(6, 4)
    masker = Partition(X[:3], clustering=linkage(rng.normal(size=(6, 2)), "average"))
    explainer = PartitionExplainer(model, masker, output_names=["a", "b", "c", "d"])
    full = explainer(X[3:5], max_evals=10_000)
    top = np.argsort(-model(X[3:5]), axis=1)[:, :2]
    picked = explainer(X[3:5], max_evals=10_000, outputs=top)
    assert picked.values.shape == (2, 6, 2)
    for row in range(2):
        np.testing.assert_allclose(picked.values[row], full.values[row][:, top[row]], atol=1e-12)
        np.testing.assert_allclose(picked.base_values[row], full.base_values[row, top[row]])
    same = explainer(X[3:5], max_evals=10_000, outputs=np.array([3, 1]))
    assert same.output_names == ["d", "b"]
    with pytest.raises(ValueError, match="outputs must be between 0 and 3"):
        explainer(X[3:5], outputs=np.array([7]))


def test_logit_link_linearized_closed_form() -> None:
    """A logistic model is linear in log-odds; with the linearised link the game stays additive,
    so each value is a_i * (x_i - weighted background mean), the weights making v(empty) exact."""
    rng = np.random.default_rng(7)
    n = 5
    a = rng.normal(size=n)
    X = rng.normal(size=(12, n))

    def model(Z):
        return 1 / (1 + np.exp(-(Z @ a + 0.3)))

    background = X[:6]
    masker = Partition(background, clustering=linkage(rng.normal(size=(n, 2)), "average"))
    explanation = PartitionExplainer(model, masker, link="logit")(X[6:8], max_evals=1000)
    p = model(background)
    m = p.mean()
    slope = 1 / (m * (1 - m))
    w = slope * (p - m) / (logit(p) - logit(m))
    w *= len(w) / w.sum()
    weighted_background = (w[:, None] * background).mean(axis=0)
    for row in range(2):
        np.testing.assert_allclose(
            explanation.values[row], a * (X[6 + row] - weighted_background), atol=1e-6
        )
    np.testing.assert_allclose(explanation.base_values, logit(m), atol=1e-12)
    np.testing.assert_allclose(explanation.output_values, logit(model(X[6:8])), atol=1e-12)


def test_logit_link_without_linearization_matches_reference() -> None:
    rng = np.random.default_rng(8)
    n = 5
    X = rng.normal(size=(10, n))
    clustering = linkage(rng.normal(size=(n, 2)), "average")
    weights = rng.normal(size=n)

    def model(Z):
        return 1 / (1 + np.exp(-(np.tanh(Z) @ weights)))

    masker = Partition(X[:4], clustering=clustering)
    explainer = PartitionExplainer(model, masker, link="logit", linearize_link=False)
    explanation = explainer(X[4:5], max_evals=10_000)
    truth = _reference(model, X[4], masker.data, clustering, 1, link=logit)
    np.testing.assert_allclose(explanation.values[0], truth[:, 0], atol=1e-10)


def test_needs_a_hierarchy() -> None:
    with pytest.raises(ValueError, match="needs a masker with a feature hierarchy"):
        PartitionExplainer(lambda X: X.sum(1), shapwise.maskers.Independent(np.zeros((2, 3))))


def test_bad_clustering_is_rejected() -> None:
    bad = np.array([[0, 1, 1.0, 2], [0, 2, 2.0, 2]])  # leaf 0 joined twice
    masker = Partition(np.zeros((2, 3)), clustering=bad)
    with pytest.raises(ValueError, match="not a tree"):
        PartitionExplainer(lambda X: X.sum(1), masker)(np.ones((1, 3)))


def test_output_resolution_is_zero_for_full_precision() -> None:
    ends = np.array([[0.5, -2.0], [3.0, 1.0]])
    assert not output_resolution(ends, shapwise.links.identity, "float32").any()
    half = output_resolution(ends, shapwise.links.identity, "float16")
    np.testing.assert_allclose(half, [3.0 * 2**-10, 2.0 * 2**-10])


# ------------------------------------------------------------------ real models in reduced precision
IMAGE_SHAPE = (16, 16, 3)


def _images(shape, n=2, seed=0):
    images = np.random.default_rng(seed).random((n, *shape)).astype(np.float32)
    images[:, : shape[0] // 2] *= 0.2  # a dark top half, so regions differ
    return images


def _quadrants(values, height, width, channel_axis):
    """Values summed over the four quadrants of each image: (rows, 2, 2, outputs)."""
    if channel_axis == 0:
        values = np.moveaxis(values, 1, 3)
    rows, outputs = values.shape[0], values.shape[-1]
    blocks = values.reshape(rows, 2, height // 2, 2, width // 2, -1, outputs)
    return blocks.sum(axis=(2, 4, 5))


def _check_half_against_twin(half, twin, dtype, quadrant_of):
    assert half.values.dtype == np.float64
    assert half.model_dtype == dtype
    scale = np.abs(half.output_values).max()
    tolerance = additivity_tolerance(dtype, scale)
    n = len(half.values)
    totals = half.values.reshape(n, -1, half.values.shape[-1]).sum(axis=1) + half.base_values
    np.testing.assert_allclose(totals, half.output_values, atol=tolerance)
    np.testing.assert_allclose(half.output_values, twin.output_values, atol=tolerance)
    # Region totals agree within the half type's tolerance of the output scale.
    np.testing.assert_allclose(quadrant_of(half.values), quadrant_of(twin.values), atol=tolerance)


@pytest.fixture(scope="module")
def keras_mixed_float16():
    """Keras with the mixed_float16 policy; always back to float32 afterwards."""
    keras = pytest.importorskip("keras")
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        yield keras
    finally:
        keras.mixed_precision.set_global_policy("float32")


def _keras_twins(keras, build):
    """The same weights under mixed_float16 and float32."""
    keras.mixed_precision.set_global_policy("mixed_float16")
    keras.utils.set_random_seed(0)
    half = build(keras)
    keras.mixed_precision.set_global_policy("float32")
    try:
        full = build(keras)
        full.set_weights(half.get_weights())
    finally:
        keras.mixed_precision.set_global_policy("mixed_float16")
    return half, full


def _keras_cnn(keras):
    layers = keras.layers
    return keras.Sequential(
        [
            keras.Input(IMAGE_SHAPE),
            layers.Conv2D(8, 3, activation="relu"),
            layers.MaxPooling2D(),
            layers.Conv2D(8, 3, activation="relu"),
            layers.GlobalAveragePooling2D(),
            layers.Dense(3, activation="softmax"),
        ]
    )


@pytest.mark.parametrize("mask_value", ["blur(4,4)", "inpaint_telea"])
def test_keras_mixed_float16_cnn(keras_mixed_float16, mask_value) -> None:
    half, full = _keras_twins(keras_mixed_float16, _keras_cnn)
    assert half.dtype_policy.compute_dtype == "float16"
    images = _images(IMAGE_SHAPE)
    masker = Image(mask_value, IMAGE_SHAPE)
    results = [
        PartitionExplainer(m, masker)(images, max_evals=200, silent=True) for m in (half, full)
    ]
    assert results[1].model_dtype == "float32"
    _check_half_against_twin(results[0], results[1], "float16", lambda v: _quadrants(v, 16, 16, 2))


@pytest.mark.slow
def test_keras_mixed_float16_resnet50(keras_mixed_float16) -> None:
    """The original report: a mixed_float16 ResNet50 explained with the Image masker."""
    keras = keras_mixed_float16

    def resnet(k):
        return k.applications.ResNet50(
            weights=None, input_shape=(64, 64, 3), classes=4, classifier_activation=None
        )

    half, full = _keras_twins(keras, resnet)
    images = _images((64, 64, 3), n=1)
    for mask_value in ("blur(8,8)", "inpaint_telea"):
        masker = Image(mask_value, (64, 64, 3))
        half_explanation = PartitionExplainer(half, masker)(images, max_evals=100, silent=True)
        full_explanation = PartitionExplainer(full, masker)(images, max_evals=100, silent=True)
        assert half_explanation.values.shape == (1, 64, 64, 3, 4)
        _check_half_against_twin(
            half_explanation, full_explanation, "float16", lambda v: _quadrants(v, 64, 64, 2)
        )


def _torch_cnn(torch, ignore_bottom: bool = False):
    torch.manual_seed(0)
    body = torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 3),
        torch.nn.ReLU(),
        torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(8, 8, 3),
        torch.nn.ReLU(),
        torch.nn.AdaptiveAvgPool2d(1),
        torch.nn.Flatten(),
        torch.nn.Linear(8, 2),
    )

    class TopHalfNet(torch.nn.Module):
        """Looks at the top half; the bottom half moves the output far below half precision."""

        def __init__(self) -> None:
            super().__init__()
            self.body = body

        def forward(self, images):
            top, bottom = images[:, :, :8], images[:, :, 8:]
            faint = 1e-5 * bottom.mean(dim=(1, 2, 3))[:, None]
            return self.body(top) + faint

    return TopHalfNet() if ignore_bottom else body


@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
def test_torch_cnn_in_half_precision(dtype) -> None:
    torch = pytest.importorskip("torch")
    shape = (3, 16, 16)  # CHW
    images = _images(shape)
    masker = Image("blur(3,3)", shape)
    full = _torch_cnn(torch)
    half = _torch_cnn(torch).to(getattr(torch, dtype))
    results = [
        PartitionExplainer(m, masker)(images, max_evals=200, silent=True) for m in (half, full)
    ]
    _check_half_against_twin(results[0], results[1], dtype, lambda v: _quadrants(v, 16, 16, 0))


@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
def test_effects_below_half_resolution_are_reported_as_zero(dtype) -> None:
    """The bottom half changes the output by ~1e-5, far below what float16/bfloat16 can resolve:
    its values are exactly zero (not rounding noise), and the values still add up."""
    torch = pytest.importorskip("torch")
    shape = (3, 16, 16)
    images = _images(shape, seed=3)
    masker = Image(0.0, shape)
    half = _torch_cnn(torch, ignore_bottom=True).to(getattr(torch, dtype))
    explanation = PartitionExplainer(half, masker)(images, max_evals=300, silent=True)
    bottom = explanation.values[:, :, 8:]
    assert np.all(bottom == 0)
    assert np.abs(explanation.values[:, :, :8]).max() > 0
    full = _torch_cnn(torch, ignore_bottom=True)
    reference = PartitionExplainer(full, masker)(images, max_evals=300, silent=True)
    assert np.abs(reference.values[:, :, 8:]).max() > 0  # float32 sees the faint effect


def test_exact_explainer_gives_exact_owen_values_over_a_partition_masker() -> None:
    """shap's ExactExplainer follows a Partition masker's clustering (Owen values); so does
    shapwise's, for tables (independent maskers keep Shapley values)."""
    from shapwise.explainers import ExactExplainer

    rng = np.random.default_rng(11)
    X = rng.normal(size=(30, 7))
    clustering = linkage(rng.normal(size=(7, 3)), "single")  # an unbalanced tree
    model = _model(7, 2)
    masker = Partition(X[:8], clustering=clustering)
    explanation = ExactExplainer(model, masker)(X[10:12])
    for row in range(2):
        truth = _reference(model, X[10 + row], masker.data, clustering, 2)
        np.testing.assert_allclose(explanation.values[row], truth, atol=1e-10)
