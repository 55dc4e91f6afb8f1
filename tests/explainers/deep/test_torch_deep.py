"""TorchDeepExplainer: additivity on a zoo of real models, closed forms, agreement with shap, and
every warning and error path.

Additivity (values + expected value == model output) holds exactly in real arithmetic when every op
has an exact rule, so the tolerances are float rounding: 1e-5 relative in float32, 1e-10 in float64.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")
import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402

from shapwise.errors import AdditivityError, ShapwiseWarning  # noqa: E402
from shapwise.explainers.deep import DeepExplainer  # noqa: E402
from shapwise.explainers.deep.torch_engine import PathMismatchError  # noqa: E402
from tests.explainers.deep import torch_zoo as zoo  # noqa: E402

torch.set_num_threads(1)


def _seeded(factory):
    torch.manual_seed(0)
    return factory().eval()


# name -> (model factory, input shape)
ZOO = {
    "gelu_cnn": (zoo.gelu_cnn, (1, 28, 28)),
    "single_channel_convs": (zoo.single_channel_convs, (1, 9, 9)),
    "reused_activation": (zoo.ReusedActivation, (6,)),
    "inplace_relu": (zoo.InplaceReLU, (6,)),
    "layernorm_mlp": (zoo.layernorm_mlp, (6,)),
    "composites": (zoo.Composites, (6,)),
    "transformer_mha": (lambda: zoo.TransformerBlock(attention="mha"), (5, 16)),
    "transformer_sdpa": (lambda: zoo.TransformerBlock(attention="sdpa"), (5, 16)),
    "transformer_manual": (lambda: zoo.TransformerBlock(attention="manual"), (5, 16)),
    "resnet": (lambda: zoo.with_batchnorm_statistics(zoo.SmallResNet()), (3, 8, 8)),
    **{
        f"mlp_{name}_module": (lambda module=module: zoo.mlp(module), (6,))
        for name, (module, _) in zoo.ACTIVATIONS.items()
        if module is not None
    },
    **{
        f"mlp_{name}_functional": (lambda fn=fn: zoo.mlp(lambda: zoo.FunctionModule(fn)), (6,))
        for name, (_, fn) in zoo.ACTIVATIONS.items()
    },
}


def _data(shape, dtype=torch.float32, background=4, rows=3):
    generator = torch.Generator().manual_seed(1)
    bg = torch.randn(background, *shape, generator=generator, dtype=dtype)
    x = torch.randn(rows, *shape, generator=generator, dtype=dtype) * 1.5
    return bg, x


def _additivity_error(values, expected, output):
    total = values.reshape(values.shape[0], -1, values.shape[-1]).sum(1) + expected
    return np.abs(total - output).max() / max(1.0, np.abs(output).max())


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("name", list(ZOO))
def test_additivity_on_the_zoo(name, dtype):
    factory, shape = ZOO[name]
    model = _seeded(factory).to(dtype)
    bg, x = _data(shape, dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ShapwiseWarning)  # every op has an exact rule
        explainer = DeepExplainer(model, bg, batch_size=5)  # several chunks
        values = explainer.shap_values(x)
    with torch.no_grad():
        output = model(x).numpy()
    tolerance = 1e-5 if dtype == torch.float32 else 1e-10
    assert _additivity_error(values, explainer.expected_value, output) <= tolerance


@pytest.mark.parametrize("half", [torch.float16, torch.bfloat16], ids=["float16", "bfloat16"])
@pytest.mark.parametrize("name", ["gelu_cnn", "transformer_mha", "resnet"])
def test_reduced_precision_is_explained_in_float32(name, half):
    factory, shape = ZOO[name]
    model = _seeded(factory).to(half)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    bg, x = _data(shape)
    explanation = DeepExplainer(model, bg.to(half))(x.to(half))
    assert explanation.model_dtype == str(half).replace("torch.", "")
    assert explanation.values.dtype == np.float32
    float_model = _seeded(factory).to(half).float()
    with torch.no_grad():
        float_output = float_model(x.to(half).float()).numpy()
        native_output = model(x.to(half)).float().numpy()
    np.testing.assert_allclose(explanation.output_values, float_output, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(explanation.native_output_values, native_output)
    values = explanation.values
    total = values.reshape(len(values), -1, values.shape[-1]).sum(1) + explanation.base_values
    assert np.abs(total - float_output).max() <= 1e-5 * max(1.0, np.abs(float_output).max())
    assert all(p.dtype == half for p in model.parameters())
    for key, value in model.state_dict().items():
        assert torch.equal(value, before[key])


def test_linear_model_is_x_minus_mean_background_times_weight():
    model = _seeded(lambda: nn.Linear(5, 2)).double()
    bg, x = _data((5,), torch.float64, background=7)
    values = DeepExplainer(model, bg).shap_values(x)
    weight = model.weight.detach().numpy()  # (outputs, features)
    expected = (x - bg.mean(0)).numpy()[:, :, None] * weight.T[None]
    np.testing.assert_allclose(values, expected, rtol=1e-12, atol=1e-12)


SHAP_MODELS = {
    f"{kind}_{act.__name__}": (kind, act)
    for kind in ["linear", "conv"]
    for act in [nn.ReLU, nn.GELU, nn.Tanh, nn.Sigmoid]
}


@pytest.mark.parametrize("name", list(SHAP_MODELS))
def test_matches_shap_deep_explainer(name):
    shap = pytest.importorskip("shap")
    kind, act = SHAP_MODELS[name]
    torch.manual_seed(0)
    if kind == "linear":
        model = nn.Sequential(nn.Linear(6, 10), act(), nn.Linear(10, 8), act(), nn.Linear(8, 3))
        shape = (6,)
    else:
        model = nn.Sequential(
            nn.Conv2d(1, 3, 3), act(), nn.Flatten(), nn.Linear(3 * 4 * 4, 8), act(), nn.Linear(8, 3)
        )
        shape = (1, 6, 6)
    model.eval()
    bg, x = _data(shape, background=6)
    theirs = shap.DeepExplainer(model, bg).shap_values(x)  # checks its own additivity
    ours = DeepExplainer(model, bg).shap_values(x)
    assert ours.shape == np.asarray(theirs).shape
    np.testing.assert_allclose(ours, theirs, atol=1e-5, rtol=1e-5)


def _snapshot(model):
    return (
        {k: v.clone() for k, v in model.state_dict().items()},
        [
            (
                m.training,
                dict(m._forward_hooks),
                dict(m._backward_hooks),
                dict(m._forward_pre_hooks),
                sorted(vars(m)),
            )
            for m in model.modules()
        ],
        [p.requires_grad for p in model.parameters()],
    )


def _same(model, snapshot):
    state, modules, flags = snapshot
    now_state, now_modules, now_flags = _snapshot(model)
    assert state.keys() == now_state.keys()
    assert all(torch.equal(state[k], now_state[k]) for k in state)
    assert modules == now_modules
    assert flags == now_flags


class _DataDependent(nn.Module):
    """Control flow that depends on the input: no pairing of the passes is possible."""

    def __init__(self) -> None:
        super().__init__()
        self.layer = nn.Linear(4, 2)
        self.dropout = nn.Dropout(0.5)

    def forward(self, x):
        h = self.dropout(self.layer(x))
        return torch.relu(h) if x.sum() > 0 else torch.tanh(h) * 2


def test_model_left_exactly_as_it_was_after_success_and_failure():
    model = zoo.with_batchnorm_statistics(_seeded(zoo.SmallResNet)).train()
    model.head.weight.requires_grad_(False)
    snapshot = _snapshot(model)
    bg, x = _data((3, 8, 8))
    explainer = DeepExplainer(model, bg)
    explainer.shap_values(x)
    _same(model, snapshot)

    failing = _seeded(_DataDependent).train()
    snapshot = _snapshot(failing)
    bg = torch.full((2, 4), -1.0)
    explainer = DeepExplainer(failing, bg)
    with pytest.raises(PathMismatchError, match="differs between the passes.*control flow"):
        explainer.shap_values(torch.ones(1, 4))
    _same(failing, snapshot)


def test_shap_return_conventions():
    model = _seeded(lambda: zoo.mlp(nn.ReLU))
    bg, x = _data((6,))
    explainer = DeepExplainer(model, bg)
    assert explainer.expected_value.shape == (3,)
    assert explainer.shap_values(x).shape == (3, 6, 3)
    values, indexes = explainer.shap_values(x, ranked_outputs=2, output_rank_order="max_abs")
    all_values = explainer.shap_values(x)
    with torch.no_grad():
        output = model(x).numpy()
    np.testing.assert_array_equal(indexes, np.argsort(-np.abs(output), axis=1)[:, :2])
    np.testing.assert_allclose(
        values, np.take_along_axis(all_values, indexes[:, None, :], axis=2), atol=1e-6
    )
    single = DeepExplainer(_seeded(lambda: nn.Sequential(nn.Linear(6, 1), nn.Tanh())), bg)
    assert single.shap_values(x).shape == (3, 6, 1)
    explanation = single(x)
    assert explanation.values.shape == (3, 6) and explanation.base_values.shape == (3,)


class _TwoInputs(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a, self.b = nn.Linear(4, 3), nn.Linear(2, 3)

    def forward(self, x, z):
        return torch.tanh(self.a(x)) * torch.sigmoid(self.b(z))


def test_multiple_inputs_give_one_array_per_input():
    model = _seeded(_TwoInputs)
    bg = [torch.randn(5, 4), torch.randn(5, 2)]
    x = [np.random.default_rng(0).normal(size=(2, 4)), torch.randn(2, 2)]  # numpy and torch
    explainer = DeepExplainer(model, bg)
    values = explainer.shap_values(x)
    assert [v.shape for v in values] == [(2, 4, 3), (2, 2, 3)]
    with torch.no_grad():
        output = model(torch.as_tensor(x[0], dtype=torch.float32), x[1]).numpy()
    total = values[0].sum(1) + values[1].sum(1) + explainer.expected_value
    np.testing.assert_allclose(total, output, atol=1e-6)
    assert len(explainer(x)) == 2


class _TokenModel(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.embedding = nn.Embedding(20, 8)
        self.block = zoo.TransformerBlock(dim=8, heads=2, outputs=2, attention="sdpa")

    def forward(self, ids):
        return self.block(self.embedding(ids))


def test_token_ids_are_attributed_at_the_embedding_or_a_named_layer():
    model = _seeded(_TokenModel)
    bg, x = torch.randint(0, 20, (4, 6)), torch.randint(0, 20, (3, 6))
    with torch.no_grad():
        output = model(x).numpy()
    explainer = DeepExplainer(model, bg)
    values = explainer.shap_values(x)
    assert values.shape == (3, 6, 2)  # one value per token
    assert _additivity_error(values, explainer.expected_value, output) <= 1e-5
    at_layer = DeepExplainer(model, bg, layer="embedding")  # a layer on every path
    layer_values = at_layer.shap_values(x)
    assert layer_values.shape == (3, 6, 8, 2)
    np.testing.assert_allclose(layer_values.sum(2), values, atol=1e-6)
    bypassed = DeepExplainer(model, bg, layer="block.norm2")  # the residual goes around it
    with pytest.raises(AdditivityError, match="not on every path"):
        bypassed.shap_values(x)
    assert _additivity_error(layer_values, at_layer.expected_value, output) <= 1e-5


class _IndexOnly(nn.Module):
    def forward(self, ids):
        return torch.ones(ids.shape[0], 2) * ids.float().sum(1, keepdim=True)


def test_unknown_op_warns_once_and_additivity_error_lists_it():
    class CumulativeProduct(nn.Module):
        def forward(self, x):
            return torch.cumprod(torch.sigmoid(x), dim=1)[:, -2:]

    bg, x = _data((4,))
    explainer = DeepExplainer(CumulativeProduct(), bg)
    with (
        pytest.warns(ShapwiseWarning, match="no exact rule for: cumprod") as caught,
        pytest.raises(AdditivityError, match="without an exact rule: cumprod"),
    ):
        explainer.shap_values(x)
    assert len(caught) == 1
    with pytest.warns(ShapwiseWarning, match="cumprod"):
        explainer.shap_values(x, check_additivity=False)


def test_layer_norm_with_an_input_dependent_weight_warns():
    class BatchWeighted(nn.Module):
        def forward(self, x):
            return F.layer_norm(x, (4,), torch.sigmoid(x.mean(0)))[:, :2]

    bg, x = _data((4,))
    with pytest.warns(ShapwiseWarning, match="layer_norm with an input-dependent weight or bias"):
        DeepExplainer(BatchWeighted(), bg).shap_values(x, check_additivity=False)


@pytest.mark.parametrize(
    ("build", "call", "error", "message"),
    [
        (
            lambda: (_IndexOnly(), torch.zeros(2, 3, dtype=torch.long)),
            None,
            TypeError,
            "holds integers.*feeds no embedding.*layer=",
        ),
        (
            lambda: (zoo.mlp(nn.ReLU), torch.zeros(2, 6)),
            {"layer": "nope"},
            ValueError,
            "not a submodule",
        ),
        (lambda: (zoo.mlp(nn.ReLU), torch.zeros(0, 6)), {}, ValueError, "no rows"),
        (
            lambda: (zoo.mlp(nn.ReLU), torch.zeros(2, 6)),
            {"batch_size": 0},
            ValueError,
            "batch_size",
        ),
        (lambda: ("not a model", torch.zeros(2, 6)), {}, TypeError, "torch.nn.Module"),
        (
            lambda: (torch.jit.script(zoo.mlp(nn.ReLU)), torch.zeros(2, 6)),
            {},
            TypeError,
            "cannot see the operations inside a TorchScript module",
        ),
    ],
    ids=[
        "integer_input",
        "unknown_layer",
        "empty_background",
        "batch_size",
        "not_a_module",
        "torchscript",
    ],
)
def test_error_messages(build, call, error, message):
    model, bg = build()
    with pytest.raises(error, match=message):
        from shapwise.explainers.deep.torch_deep import TorchDeepExplainer

        TorchDeepExplainer(model, bg, **(call or {})).shap_values(bg[:1] if len(bg) else bg)


def test_argument_error_messages():
    explainer = DeepExplainer(_seeded(lambda: zoo.mlp(nn.ReLU)), torch.zeros(2, 6))
    with pytest.raises(ValueError, match="output_rank_order must be one of"):
        explainer.shap_values(torch.zeros(1, 6), ranked_outputs=1, output_rank_order="top")
    with pytest.raises(TypeError, match="must be one tensor/array, not a list"):
        explainer.shap_values([torch.zeros(1, 6)])
    multi = DeepExplainer(_seeded(_TwoInputs), [torch.zeros(2, 4), torch.zeros(2, 2)])
    with pytest.raises(TypeError, match="pass X as a list"):
        multi.shap_values(torch.zeros(1, 4))


def test_nan_inputs_and_misshapen_rows_are_named():
    model = _seeded(lambda: zoo.mlp(nn.ReLU))
    background = torch.zeros(4, 6)
    with pytest.raises(ValueError, match=r"data\[0\] contains 1 NaN"):
        DeepExplainer(model, torch.tensor([[float("nan")] + [0.0] * 5]))
    explainer = DeepExplainer(model, background)
    bad = torch.zeros(2, 6)
    bad[1, 3] = float("inf")
    with pytest.raises(ValueError, match=r"X\[0\] contains 1 NaN or infinite"):
        explainer.shap_values(bad)
    with pytest.raises(
        ValueError, match=r"rows of shape \(7,\) but the background rows have shape \(6,\)"
    ):
        explainer.shap_values(torch.zeros(2, 7))


def test_call_takes_check_additivity():
    explainer = DeepExplainer(_seeded(lambda: zoo.mlp(nn.GELU)), torch.randn(4, 6))
    explanation = explainer(torch.randn(2, 6), check_additivity=False)
    assert explanation.values.shape == (2, 6, 3)


def test_an_infinite_output_change_in_one_pass_is_named():
    class LogOfRelu(nn.Module):
        def forward(self, x):
            return torch.exp(torch.log(torch.relu(x))).sum(1, keepdim=True)

    background = -torch.ones(3, 4)  # relu = 0, so log = -inf in the reference pass only
    x = torch.rand(2, 4) + 0.5
    explainer = DeepExplainer(LogOfRelu(), background)
    with (
        pytest.warns(ShapwiseWarning, match="log whose output change is infinite"),
        pytest.raises(AdditivityError, match="log whose output change is infinite"),
    ):
        explainer.shap_values(x)


def test_the_same_infinity_in_both_passes_is_exact():
    class MaskedSoftmaxScore(nn.Module):
        def forward(self, x):
            masked = x.masked_fill(torch.tensor([False, False, True, True]), float("-inf"))
            return torch.exp(masked).sum(1, keepdim=True)

    bg, x = _data((4,))
    with warnings.catch_warnings():
        warnings.simplefilter("error", ShapwiseWarning)  # nothing to name here
        values = DeepExplainer(MaskedSoftmaxScore(), bg).shap_values(x)
    with torch.no_grad():
        expected = MaskedSoftmaxScore()(x) - MaskedSoftmaxScore()(bg).mean(0)
    np.testing.assert_allclose(values.sum(1), expected.numpy(), rtol=1e-5, atol=1e-6)
