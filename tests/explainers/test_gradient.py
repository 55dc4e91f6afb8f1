"""GradientExplainer: exact on linear models, agrees with integrated gradients, shap's return shapes."""

from __future__ import annotations

import numpy as np
import pytest

from shapwise.explainers.gradient import GradientExplainer

torch = pytest.importorskip("torch")

N_FEATURES = 5


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    return rng.normal(size=(8, N_FEATURES)).astype(np.float32), rng.normal(
        size=(3, N_FEATURES)
    ).astype(np.float32)


def torch_net(seed: int = 0, outputs: int = 3) -> torch.nn.Module:
    torch.manual_seed(seed)
    return torch.nn.Sequential(
        torch.nn.Linear(N_FEATURES, 8), torch.nn.GELU(), torch.nn.Linear(8, 8), torch.nn.Tanh(),
        torch.nn.Linear(8, outputs),
    )  # fmt: skip


def integrated_gradients(f, x: np.ndarray, baseline: np.ndarray, steps: int = 4000) -> np.ndarray:
    """Midpoint-rule integrated gradients of every output of a torch function: (features, outputs)."""
    t = (np.arange(steps) + 0.5) / steps
    points = torch.tensor(baseline + t[:, None] * (x - baseline), dtype=torch.float64)
    points.requires_grad_()
    out = f(points)
    grads = [
        torch.autograd.grad(out[:, k].sum(), points, retain_graph=True)[0]
        for k in range(out.shape[1])
    ]
    mean = torch.stack(grads, -1).mean(0).numpy()
    return mean * (x - baseline)[:, None]


# ---------------------------------------------------------------- torch
def test_torch_linear_model_gets_exact_values(data):
    background, X = data
    torch.manual_seed(0)
    linear = torch.nn.Linear(N_FEATURES, 3)
    # nsamples a multiple of the background size: every background row is used equally often.
    values = GradientExplainer(linear, background).shap_values(X, nsamples=16, rseed=1)
    w = linear.weight.detach().numpy().T
    exact = (X - background.mean(0))[:, :, None] * w[None]
    np.testing.assert_allclose(values, exact, atol=1e-6)


def test_torch_matches_integrated_gradients_from_one_baseline(data):
    background, X = data
    net = torch_net()
    explainer = GradientExplainer(net, background[:1])
    values = explainer.shap_values(X[:2], nsamples=2000, rseed=0)
    net64 = torch_net().double()
    for row in range(2):
        reference = integrated_gradients(
            net64, X[row].astype(np.float64), background[0].astype(np.float64)
        )
        np.testing.assert_allclose(values[row], reference, atol=2e-3)


def test_torch_values_add_up_and_expected_value(data):
    background, X = data
    net = torch_net()
    explainer = GradientExplainer(net, background)
    with torch.no_grad():
        expected = net(torch.tensor(background)).mean(0).numpy()
        outputs = net(torch.tensor(X)).numpy()
    np.testing.assert_allclose(explainer.expected_value, expected, atol=1e-6)
    values = explainer.shap_values(X, nsamples=800, rseed=0)
    assert values.shape == (3, N_FEATURES, 3)
    np.testing.assert_allclose(values.sum(1) + expected, outputs, atol=0.02)


def test_torch_single_output_and_ranked_outputs(data):
    background, X = data
    single = GradientExplainer(torch_net(outputs=1), background)
    assert single.shap_values(X, nsamples=8).shape == (3, N_FEATURES, 1)  # shap keeps the axis
    assert isinstance(single.expected_value, float)
    net = torch_net()
    explainer = GradientExplainer(net, background)
    values, ranks = explainer.shap_values(X, nsamples=16, ranked_outputs=2, rseed=3)
    with torch.no_grad():
        outputs = net(torch.tensor(X)).numpy()
    np.testing.assert_array_equal(ranks, np.argsort(-outputs, axis=1)[:, :2])
    full = explainer.shap_values(X, nsamples=16, rseed=3)
    np.testing.assert_allclose(
        values, np.take_along_axis(full, ranks[:, None, :], axis=2), atol=1e-6
    )
    _, low = explainer.shap_values(X, nsamples=4, ranked_outputs=1, output_rank_order="min")
    np.testing.assert_array_equal(low[:, 0], outputs.argmin(1))


def test_torch_multiple_inputs(data):
    background, X = data

    class TwoInputs(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.a = torch.nn.Linear(3, 2)
            self.b = torch.nn.Linear(2, 2)

        def forward(self, a, b):
            return self.a(a) + self.b(b)

    model = TwoInputs()
    explainer = GradientExplainer(model, [background[:, :3], background[:, 3:]])
    values = explainer.shap_values([X[:, :3], X[:, 3:]], nsamples=8, rseed=0)
    assert [v.shape for v in values] == [(3, 3, 2), (3, 2, 2)]
    exact_a = (X[:, :3] - background[:, :3].mean(0))[:, :, None] * model.a.weight.detach().numpy().T
    np.testing.assert_allclose(values[0], exact_a, atol=1e-6)
    explanations = explainer([X[:, :3], X[:, 3:]], nsamples=8)
    assert [e.values.shape for e in explanations] == [(3, 3, 2), (3, 2, 2)]
    assert [e.error_std.shape for e in explanations] == [(3, 3, 2), (3, 2, 2)]


@pytest.mark.parametrize("n_background", [6, 1])
def test_torch_standard_errors_are_calibrated(n_background):
    """Against expected gradients from quadrature (the mean over the background of integrated
    gradients with 4,000 midpoint steps): at 40 draws, at least 95% of the errors are within 3
    reported standard errors, and the errors are upper estimates but not vastly overstated (root
    mean square error at least a fifth of the reported one; with a single background row, the
    errors taken as independent draws were 50x too large)."""
    rng = np.random.default_rng(4)
    background = rng.normal(size=(6, N_FEATURES)).astype(np.float32)[:n_background]
    X = rng.normal(size=(30, N_FEATURES)).astype(np.float32)
    explanation = GradientExplainer(torch_net(seed=2), background)(X, nsamples=40, rseed=0)
    net64 = torch_net(seed=2).double()
    truth = np.stack(
        [
            np.mean([integrated_gradients(net64, x, b) for b in background.astype(np.float64)], 0)
            for x in X.astype(np.float64)
        ]
    )
    error = np.abs(explanation.values - truth)
    reported = explanation.error_std
    assert reported.shape == explanation.values.shape and (reported > 0).all()
    assert (error <= 3 * reported).mean() >= 0.95, (error <= 3 * reported).mean()
    assert np.sqrt((error**2).mean()) >= np.sqrt((reported**2).mean()) / 5
    single = GradientExplainer(torch_net(seed=2), background)(X[:2], nsamples=1, rseed=0)
    assert np.isnan(single.error_std).all()  # one draw: nothing to estimate a spread from


def test_torch_inner_layer_attributes_to_its_input(data):
    background, X = data
    net = torch_net()
    explainer = GradientExplainer((net, net[2]), background)
    values = explainer.shap_values(X, nsamples=400, rseed=0)
    assert values.shape == (3, 8, 3)
    with torch.no_grad():
        outputs = net(torch.tensor(X)).numpy()
    np.testing.assert_allclose(values.sum(1) + explainer.expected_value, outputs, atol=0.02)
    assert not net[2]._forward_pre_hooks


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_torch_reduced_precision_uses_float32_copy(data, dtype):
    background, X = data
    reference = GradientExplainer(torch_net(), background).shap_values(X, nsamples=32, rseed=0)
    net = torch_net().to(dtype).train()
    explanation = GradientExplainer(net, background)(X, nsamples=32, rseed=0)
    assert explanation.model_dtype == str(dtype).replace("torch.", "")
    assert next(net.parameters()).dtype == dtype and net.training  # the model is left as it was
    with torch.no_grad():
        native = net(torch.tensor(X, dtype=dtype)).float().numpy()
    np.testing.assert_allclose(explanation.native_output_values, native)
    np.testing.assert_allclose(explanation.output_values, native, atol=0.05)
    # The float32 copy carries the rounded weights: close to the float32 model's values.
    np.testing.assert_allclose(explanation.values, reference, atol=0.05)


def test_error_messages(data):
    background, X = data
    net = torch_net()
    with pytest.raises(TypeError, match="torch.nn.Module and Keras"):
        GradientExplainer(lambda x: x, background)
    with pytest.raises(ValueError, match="submodule of the model"):
        GradientExplainer((net, torch.nn.Linear(2, 2)), background)
    explainer = GradientExplainer(net, background)
    with pytest.raises(ValueError, match="nsamples must be a positive"):
        explainer.shap_values(X, nsamples=0)
    with pytest.raises(ValueError, match="output_rank_order must be one of"):
        explainer.shap_values(X, ranked_outputs=1, output_rank_order="median")
    with pytest.raises(ValueError, match="rows of shape"):
        explainer.shap_values(X[:, :3])
    with pytest.raises(TypeError, match="X must be a single array"):
        explainer.shap_values([X, X])
    with pytest.raises(ValueError, match="NaN"):
        explainer.shap_values(np.full_like(X, np.nan))
    with pytest.raises(ValueError, match="batch_size"):
        GradientExplainer(net, background, batch_size=0)


# ---------------------------------------------------------------- keras
@pytest.fixture(scope="module")
def keras_models():
    keras = pytest.importorskip("keras")
    keras.utils.set_random_seed(0)
    inputs = keras.Input((N_FEATURES,))
    linear = keras.Model(inputs, keras.layers.Dense(3)(inputs))
    hidden = keras.layers.Dense(8, activation="gelu", name="hidden")(inputs)
    net = keras.Model(
        inputs, keras.layers.Dense(2, name="head")(keras.layers.Dense(8, activation="tanh")(hidden))
    )
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        inputs16 = keras.Input((N_FEATURES,))
        half = keras.Model(
            inputs16, keras.layers.Dense(2)(keras.layers.Dense(8, activation="gelu")(inputs16))
        )
    finally:
        keras.mixed_precision.set_global_policy("float32")
    return linear, net, half


def test_keras_linear_model_gets_exact_values(data, keras_models):
    background, X = data
    linear, _, _ = keras_models
    values = GradientExplainer(linear, background).shap_values(X, nsamples=16, rseed=0)
    exact = (X - background.mean(0))[:, :, None] * linear.layers[1].kernel.numpy()[None]
    np.testing.assert_allclose(values, exact, atol=1e-6)


def test_keras_matches_integrated_gradients(data, keras_models):
    import tensorflow as tf

    background, X = data
    _, net, _ = keras_models
    values = GradientExplainer(net, background[:1]).shap_values(X[:1], nsamples=2000, rseed=0)

    t = (np.arange(4000) + 0.5) / 4000
    points = background[0] + t[:, None] * (X[0] - background[0])
    grads = []
    for k in range(2):
        with tf.GradientTape() as tape:
            p = tf.constant(points, tf.float32)
            tape.watch(p)
            out = net(p)[:, k]
        grads.append(tape.gradient(out, p).numpy().mean(0))
    reference = np.stack(grads, -1) * (X[0] - background[0])[:, None]
    np.testing.assert_allclose(values[0], reference, atol=2e-3)


def test_keras_inner_layer_and_mixed_precision(data, keras_models):
    background, X = data
    _, net, half = keras_models
    explainer = GradientExplainer((net, "head"), background)
    layer_values = explainer.shap_values(X, nsamples=8, rseed=0)
    hidden = explainer.model.attributed_values([X])[0]
    hidden_background = explainer.model.attributed_values([background])[0]
    kernel = net.get_layer("head").kernel.numpy()
    exact = (hidden - hidden_background.mean(0))[:, :, None] * kernel[None]  # the head is linear
    np.testing.assert_allclose(layer_values, exact, atol=1e-5)
    explanation = GradientExplainer(half, background)(X, nsamples=300, rseed=0)
    assert explanation.model_dtype == "float16"
    native = np.asarray(half(X), dtype=np.float32)
    np.testing.assert_allclose(explanation.native_output_values, native)
    np.testing.assert_allclose(explanation.output_values, native, atol=1e-2)
    total = explanation.values.sum(1) + explanation.base_values
    np.testing.assert_allclose(total, explanation.output_values, atol=0.05)
    # a standard error per value, from 300 draws of the float32 copy
    assert explanation.error_std.shape == explanation.values.shape
    assert np.isfinite(explanation.error_std).all() and (explanation.error_std > 0).all()
