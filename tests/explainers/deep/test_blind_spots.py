"""Torch Deep: computation that escapes the op table is either attributed exactly or named.

Truth used here: DeepLIFT's rescale rule written out in numpy for a one-hidden-layer network
``y = W2 g(W1 x + b1) + b2`` (``_rescale_values``), which is exact (values + base value == output), and
additivity itself. What cannot be attributed exactly (a custom ``torch.autograd.Function`` without a
rule, an index that depends on the input) must be named in a ShapwiseWarning and in the
AdditivityError.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402
from torch.utils.checkpoint import checkpoint  # noqa: E402

from shapwise.errors import AdditivityError, ShapwiseWarning  # noqa: E402
from shapwise.explainers.deep import DeepExplainer, register_function_rule  # noqa: E402

torch.set_num_threads(1)

FEATURES, HIDDEN, OUTPUTS = 5, 4, 2


def _data(background: int = 6, rows: int = 4) -> tuple[np.ndarray, np.ndarray]:
    generator = np.random.default_rng(3)
    bg = generator.normal(size=(background, FEATURES))
    x = generator.normal(size=(rows, FEATURES)) * 1.5
    return bg, x


class _Network(nn.Module):
    """y = second(g(first(x))), with ``hidden`` computing g however a test needs."""

    def __init__(self, hidden) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.first = nn.Linear(FEATURES, HIDDEN)
        self.second = nn.Linear(HIDDEN, OUTPUTS)
        self.hidden = hidden

    def forward(self, x):
        return self.second(self.hidden(self.first(x)))


def _rescale_values(model: _Network, g, x: np.ndarray, bg: np.ndarray) -> np.ndarray:
    """DeepSHAP by the rescale rule, from its definition: (rows, features, outputs)."""
    w1 = model.first.weight.detach().double().numpy()
    b1 = model.first.bias.detach().double().numpy()
    w2 = model.second.weight.detach().double().numpy()
    values = np.zeros((len(x), FEATURES, OUTPUTS))
    for r, row in enumerate(x):
        for ref in bg:
            h, h_ref = w1 @ row + b1, w1 @ ref + b1
            slope = (g(h) - g(h_ref)) / (h - h_ref)  # no |Δh| this small in these draws
            # φ_i,o = Σ_j w2[o, j] · slope_j · w1[j, i] · (x_i - x'_i)
            values[r] += np.einsum("oj,j,ji,i->io", w2, slope, w1, row - ref)
    return values / len(bg)


def _outputs(model: nn.Module, x: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return model(torch.from_numpy(x)).numpy()


def _check_exact(model: _Network, g, bg: np.ndarray, x: np.ndarray) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error", ShapwiseWarning)  # nothing to name: all exact
        explainer = DeepExplainer(model, bg)
        values = explainer.shap_values(x)
    np.testing.assert_allclose(values, _rescale_values(model, g, x, bg), rtol=1e-9, atol=1e-12)
    total = values.sum(1) + explainer.expected_value
    np.testing.assert_allclose(total, _outputs(model, x), rtol=1e-10, atol=1e-12)


# ----------------------------------------------------------------- detach and torch.no_grad
class _StraightThrough(nn.Module):
    """round(h) in the forward pass, the identity's gradient in training (a detach on the path)."""

    def forward(self, h):
        return h + (torch.round(h) - h).detach()


class _FrozenActivation(nn.Module):
    """tanh computed under torch.no_grad, as a frozen feature extractor would be."""

    def forward(self, h):
        with torch.no_grad():
            return torch.tanh(h)


class _NoGradDecorated(nn.Module):
    @torch.no_grad()
    def forward(self, h):
        return torch.sigmoid(h) * 2.0


class _DetachedScale(nn.Module):
    """h * sigmoid(h).detach(): the detached factor still varies with the input."""

    def forward(self, h):
        return h * torch.sigmoid(h).detach()


def _sigmoid(h):
    return 1 / (1 + np.exp(-h))


@pytest.mark.parametrize(
    ("hidden", "g"),
    [
        (_StraightThrough(), np.round),
        (_FrozenActivation(), np.tanh),
        (_NoGradDecorated(), lambda h: 2 * _sigmoid(h)),
        (_DetachedScale(), lambda h: h * _sigmoid(h)),
    ],
    ids=["detach_straight_through", "no_grad_block", "no_grad_decorator", "detached_factor"],
)
def test_detach_and_no_grad_are_attributed_through(hidden, g):
    # They change what training sees, not the function explained: the values are exact.
    model = _Network(hidden).double()
    bg, x = _data()
    _check_exact(model, g, bg, x)


def test_no_grad_update_of_a_buffer_leaves_it_out_of_the_graph():
    class Counting(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.register_buffer("last_mean", torch.zeros((), dtype=torch.float64))

        def forward(self, h):
            with torch.no_grad():
                self.last_mean.copy_(h.mean())
            return torch.tanh(h)

    hidden = Counting()
    model = _Network(hidden).double()
    bg, x = _data()
    _check_exact(model, np.tanh, bg, x)
    assert not hidden.last_mean.requires_grad
    assert hidden.last_mean.grad_fn is None


# ----------------------------------------------------------------- custom autograd Functions
class _Softsign(torch.autograd.Function):
    """x / (1 + |x|) with a hand-written backward (the gradient at x, not a DeepLIFT multiplier)."""

    @staticmethod
    def forward(ctx, h):
        ctx.save_for_backward(h)
        return h / (1 + torch.abs(h))

    @staticmethod
    def backward(ctx, grad):
        (h,) = ctx.saved_tensors
        return grad / (1 + torch.abs(h)) ** 2


class _RegisteredSoftsign(_Softsign):
    pass


register_function_rule(_RegisteredSoftsign)


class _Apply(nn.Module):
    def __init__(self, function) -> None:
        super().__init__()
        self.function = function

    def forward(self, h):
        return self.function.apply(h)


def _softsign(h):
    return h / (1 + np.abs(h))


def test_a_custom_function_without_a_rule_is_named():
    model = _Network(_Apply(_Softsign)).double()
    bg, x = _data()
    explainer = DeepExplainer(model, bg)
    with (
        pytest.warns(ShapwiseWarning, match="_Softsign"),
        pytest.raises(AdditivityError, match="_Softsign"),
    ):
        explainer.shap_values(x)
    with pytest.warns(ShapwiseWarning, match="register_function_rule"):
        values = explainer.shap_values(x, check_additivity=False)
    # the warning is not idle: its own backward gives values that do not add up
    gap = np.abs(values.sum(1) + explainer.expected_value - _outputs(model, x)).max()
    assert gap > 1e-3


def test_a_custom_function_as_the_model_output_is_named():
    class Last(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            torch.manual_seed(0)
            self.first = nn.Linear(FEATURES, OUTPUTS)

        def forward(self, x):
            return _Softsign.apply(self.first(x))

    bg, x = _data()
    explainer = DeepExplainer(Last().double(), bg)
    with pytest.warns(ShapwiseWarning, match="_Softsign"):
        explainer.shap_values(x, check_additivity=False)


def test_a_registered_custom_function_is_attributed_through_its_forward():
    model = _Network(_Apply(_RegisteredSoftsign)).double()
    bg, x = _data()
    _check_exact(model, _softsign, bg, x)


def test_a_registered_function_chained_inside_a_model_stays_exact():
    class Twice(nn.Module):
        def forward(self, h):
            return _RegisteredSoftsign.apply(_RegisteredSoftsign.apply(h) * 3.0)

    model = _Network(Twice()).double()
    bg, x = _data()
    _check_exact(model, lambda h: _softsign(3 * _softsign(h)), bg, x)


def test_register_function_rule_refuses_what_is_not_a_function_class():
    with pytest.raises(TypeError, match=r"torch\.autograd\.Function"):
        register_function_rule(nn.ReLU)
    with pytest.raises(TypeError, match=r"torch\.autograd\.Function"):
        register_function_rule(_Softsign.apply)


class _Checkpointed(nn.Module):
    def __init__(self, reentrant: bool) -> None:
        super().__init__()
        self.reentrant = reentrant

    def forward(self, h):
        return checkpoint(torch.tanh, h, use_reentrant=self.reentrant)


def test_reentrant_checkpointing_is_attributed_through():
    model = _Network(_Checkpointed(reentrant=True)).double()
    bg, x = _data()
    _check_exact(model, np.tanh, bg, x)


def test_checkpointing_that_recomputes_in_the_backward_pass_is_refused_by_name():
    model = _Network(_Checkpointed(reentrant=False)).double()
    bg, x = _data()
    explainer = DeepExplainer(model, bg)
    with pytest.raises(RuntimeError, match=r"use_reentrant=True, or skip checkpointing"):
        explainer.shap_values(x)


# ----------------------------------------------------------------- indices that depend on the input
class _GatherArgmax(nn.Module):
    """The largest hidden unit by gather at its argmax: the index differs between the passes."""

    def forward(self, h):
        return h.gather(1, h.argmax(1, keepdim=True)).expand(-1, HIDDEN)


class _IndexAtArgmax(nn.Module):
    """The same by advanced indexing, x[rows, argmax]."""

    def forward(self, h):
        rows = torch.arange(h.shape[0])
        return h[rows, h.argmax(1)].unsqueeze(1).expand(-1, HIDDEN)


class _ScatterAtArgmax(nn.Module):
    """tanh of the first hidden unit written by scatter at an index taken from the input."""

    def forward(self, h):
        index = h.argmin(1, keepdim=True)
        return torch.zeros_like(h).scatter(1, index, torch.tanh(h[:, :1]))


class _ConstantIndex(nn.Module):
    """A gather with the same index in both passes stays affine (and exact)."""

    def forward(self, h):
        index = torch.tensor([[3, 2, 1, 0]]).expand(h.shape[0], -1)
        return torch.tanh(h.gather(1, index))


@pytest.mark.parametrize(
    ("hidden", "name"),
    [
        (_GatherArgmax(), "gather"),
        (_IndexAtArgmax(), "__getitem__"),
        (_ScatterAtArgmax(), "scatter"),
    ],
    ids=["gather_at_argmax", "indexing_at_argmax", "scatter_at_argmin"],
)
def test_an_index_that_depends_on_the_input_is_named(hidden, name):
    model = _Network(hidden).double()
    bg, x = _data()
    explainer = DeepExplainer(model, bg)
    with (
        pytest.warns(ShapwiseWarning, match=name),
        pytest.raises(AdditivityError, match=name),
    ):
        explainer.shap_values(x)


def test_an_index_that_is_the_same_in_both_passes_is_exact():
    model = _Network(_ConstantIndex()).double()
    bg, x = _data()
    # The same network with tanh in place and the second layer's columns reversed instead.
    reordered = _Network(nn.Tanh()).double()
    reordered.load_state_dict(model.state_dict())
    with torch.no_grad():
        reordered.second.weight.copy_(model.second.weight.flip(1))
    with warnings.catch_warnings():
        warnings.simplefilter("error", ShapwiseWarning)
        values = DeepExplainer(model, bg).shap_values(x)
    np.testing.assert_allclose(values, _rescale_values(reordered, np.tanh, x, bg), rtol=1e-9)


# ----------------------------------------------------------------- a model that changes its input
class _HalvesItsInput(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.first = nn.Linear(FEATURES, HIDDEN)
        self.second = nn.Linear(HIDDEN, OUTPUTS)

    def forward(self, x):
        x.mul_(0.5)
        return self.second(torch.tanh(self.first(x)))


def test_a_model_that_changes_its_input_in_place_is_explained_exactly():
    model = _HalvesItsInput().double()
    bg, x = _data()
    bg_before, x_before = bg.copy(), x.copy()
    explainer = DeepExplainer(model, bg)
    values = explainer.shap_values(x)
    np.testing.assert_array_equal(bg, bg_before)  # the caller's arrays are never changed
    np.testing.assert_array_equal(x, x_before)
    # The model sees x / 2: values are those of tanh's rescale rule at x / 2, per unit of x.
    halved = _Network(nn.Tanh()).double()
    halved.load_state_dict(model.state_dict())
    expected = _rescale_values(halved, np.tanh, x / 2, bg / 2)
    np.testing.assert_allclose(values, expected, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(
        values.sum(1) + explainer.expected_value, _outputs(model, x.copy()), rtol=1e-10
    )
