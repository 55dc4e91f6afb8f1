"""Autograd carriers of DeepLIFT multipliers for the PyTorch engine.

A rule returns the exact forward value of an operation through one of these ``torch.autograd.Function``s,
whose backward applies the rule's multipliers, so that one ordinary backward pass chains them. Also
here: the secant slope (rescale rule) and the Shapley split of products, which every rule builds on.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.nn.functional as F

# Below this |x - x'| the secant slope is replaced by the derivative (its limit). It follows the dtype
# of the arithmetic: 1e-6 is shap's choice for float32, so both agree on the same multipliers.
_RESCALE_EPSILON = {torch.float64: 1e-12, torch.float32: 1e-6}


def rescale_epsilon(dtype: torch.dtype) -> float:
    """The smallest |x - x'| for which the secant slope is trusted, for arithmetic in ``dtype``."""
    return _RESCALE_EPSILON.get(dtype, 1e-3)


class Multipliers(torch.autograd.Function):
    """Returns ``value``; the gradient reaching ``x`` is the incoming gradient times ``multipliers``."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, value: torch.Tensor, multipliers: torch.Tensor) -> Any:
        ctx.save_for_backward(multipliers)
        return value.view_as(value)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> Any:
        (multipliers,) = ctx.saved_tensors
        return grad * multipliers, None, None


class GradientOf(torch.autograd.Function):
    """Returns ``value``; the gradient flows into ``carrier`` (whose own gradient holds the rule)."""

    @staticmethod
    def forward(ctx: Any, carrier: torch.Tensor, value: torch.Tensor) -> Any:
        return value.view_as(value)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> Any:
        return grad, None


def varies(value: Any) -> bool:
    """Whether ``value`` depends on the explained input (parameters are frozen while explaining)."""
    return isinstance(value, torch.Tensor) and value.requires_grad


def _derivative(fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """The elementwise derivative of ``fn`` at ``x``."""
    with torch.enable_grad():
        point = x.detach().requires_grad_(True)
        (slope,) = torch.autograd.grad(fn(point).sum(), point)  # elementwise: the sum's gradient
    return slope


def secant(
    x: torch.Tensor,
    x_ref: torch.Tensor,
    y: torch.Tensor,
    y_ref: torch.Tensor,
    derivative: Callable[[], torch.Tensor],
    on_undefined: Callable[[], None] | None = None,
) -> torch.Tensor:
    """The slope (y - y') / (x - x'), or ``derivative()`` (its limit) where |x - x'| is tiny.

    Where the slope is not finite it becomes 0: right where the output is the same infinity in
    both passes (a masked score), wrong where it changes (log(0) in one pass only), which calls
    ``on_undefined`` so the op can be named.
    """
    delta = x - x_ref
    small = ~(delta.abs() > rescale_epsilon(x.dtype))  # also catches NaN (e.g. -inf - -inf)
    slope = (y - y_ref) / torch.where(small, torch.ones_like(delta), delta)
    if bool(small.any()):
        slope = torch.where(small, derivative(), slope)
    if on_undefined is not None and bool((~torch.isfinite(slope) & (y != y_ref)).any()):
        on_undefined()
    return slope.nan_to_num(0.0, 0.0, 0.0)


def rescale(
    fn: Callable[[torch.Tensor], torch.Tensor],
    x: torch.Tensor,
    x_ref: torch.Tensor,
    y: torch.Tensor | None = None,
    y_ref: torch.Tensor | None = None,
    on_undefined: Callable[[], None] | None = None,
) -> torch.Tensor:
    """``fn(x)`` carrying the rescale multiplier (y - y') / (x - x') to ``x``."""
    with torch.no_grad():
        y = fn(x.detach()) if y is None else y.detach()
        y_ref = fn(x_ref) if y_ref is None else y_ref
        slope = secant(x.detach(), x_ref, y, y_ref, lambda: _derivative(fn, x), on_undefined)
    return Multipliers.apply(x, y, slope)


def shapley_product(
    fn: Callable[..., torch.Tensor],
    operands: Sequence[Any],
    operand_refs: Sequence[Any],
    value: torch.Tensor | None = None,
) -> torch.Tensor:
    """``fn(*operands)`` for ``fn`` bilinear in its varying operands, carrying the Shapley split.

    For y = f(a, b) bilinear, the two-player Shapley multipliers are f's gradient at the midpoint
    ((a + a')/2, (b + b')/2): Δy = f(Δa, b̄) + f(ā, Δb). The carrier evaluates f there.
    """
    carriers = []
    for operand, ref in zip(operands, operand_refs, strict=False):
        if varies(operand):
            middle = ((operand.detach() + ref) / 2).detach()
            carriers.append(middle + (operand - operand.detach()))
        else:
            carriers.append(operand)
    if value is None:
        with torch.no_grad():
            value = fn(*[o.detach() if isinstance(o, torch.Tensor) else o for o in operands])
    return GradientOf.apply(fn(*carriers), value)


class Pair:
    """A tensor of the explained pass (carrying rule gradients) with its reference partner."""

    def __init__(self, x: torch.Tensor, ref: torch.Tensor) -> None:
        self.x = x
        self.ref = ref

    def affine(self, fn: Callable[[torch.Tensor], torch.Tensor]) -> Pair:
        with torch.no_grad():
            ref = fn(self.ref)
        return Pair(fn(self.x), ref)

    def rescale(self, fn: Callable[[torch.Tensor], torch.Tensor]) -> Pair:
        with torch.no_grad():
            ref = fn(self.ref)
        return Pair(rescale(fn, self.x, self.ref, y_ref=ref), ref)

    def times(self, other: Pair) -> Pair:
        with torch.no_grad():
            ref = self.ref * other.ref
        return Pair(shapley_product(torch.mul, (self.x, other.x), (self.ref, other.ref)), ref)


class BilinearMultipliers(torch.autograd.Function):
    """Returns ``value`` = a·b (``kind`` 'mul') or a @ b ('matmul'); the gradient reaches each
    factor through the other factor's midpoint: the Shapley split, with no second forward."""

    @staticmethod
    def forward(
        ctx: Any,
        a: torch.Tensor,
        b: torch.Tensor,
        value: torch.Tensor,
        a_middle: torch.Tensor,
        b_middle: torch.Tensor,
        kind: str,
    ) -> Any:
        ctx.save_for_backward(a_middle, b_middle)
        ctx.kind, ctx.shapes = kind, ((a.shape, a.dtype), (b.shape, b.dtype))
        return value.view_as(value)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> Any:
        a_middle, b_middle = ctx.saved_tensors
        (a_shape, a_dtype), (b_shape, b_dtype) = ctx.shapes
        a_grad = b_grad = None
        if ctx.needs_input_grad[0]:
            a_grad = grad * b_middle if ctx.kind == "mul" else grad @ b_middle.mT
            a_grad = a_grad.sum_to_size(a_shape).to(a_dtype)
        if ctx.needs_input_grad[1]:
            b_grad = grad * a_middle if ctx.kind == "mul" else a_middle.mT @ grad
            b_grad = b_grad.sum_to_size(b_shape).to(b_dtype)
        return a_grad, b_grad, None, None, None, None


class ConvolutionInput(torch.autograd.Function):
    """Returns ``value`` = conv(x, weight); the gradient reaches ``x`` by a transposed convolution on
    a channels-last gradient, which torch runs several times faster on CPU than the convolution's
    own backward when each group has a single input channel."""

    @staticmethod
    def forward(
        ctx: Any, x: torch.Tensor, value: torch.Tensor, weight: torch.Tensor, options: tuple
    ) -> Any:
        ctx.weight, ctx.options, ctx.shape = weight, options, x.shape
        return value.view_as(value)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> Any:
        stride, padding, dilation, groups = ctx.options
        n = ctx.weight.dim() - 2
        kernel, sizes = ctx.weight.shape[2:], ctx.shape[2:]
        extra = [
            sizes[i]
            - ((grad.shape[2 + i] - 1) * stride[i] - 2 * padding[i])
            - dilation[i] * (kernel[i] - 1)
            - 1
            for i in range(n)
        ]
        layout = {4: torch.channels_last, 5: torch.channels_last_3d}.get(grad.dim())
        grad = grad.contiguous(memory_format=layout) if layout else grad
        transposed = getattr(F, f"conv_transpose{n}d")
        result = transposed(grad, ctx.weight, None, stride, padding, extra, groups, dilation)
        return result.contiguous(), None, None, None


class SoftmaxMultipliers(torch.autograd.Function):
    """Returns ``value``; the gradient g reaching ``x`` is a - sum(a) * ``inner``, a = g * ``outer``.

    The chain of the log-domain decomposition folded into one step: log_softmax(x) = z - log(sum(
    exp(z))) with z = x - c, the exp and the log by rescale (their product is ``inner``); for softmax
    the final exp by rescale (``outer``).
    """

    @staticmethod
    def forward(
        ctx: Any,
        x: torch.Tensor,
        value: torch.Tensor,
        inner: torch.Tensor,
        outer: torch.Tensor | None,
        dims: Any,
    ) -> Any:
        ctx.save_for_backward(inner, outer)
        ctx.dims, ctx.dtype = dims, x.dtype
        return value.view_as(value)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> Any:
        inner, outer = ctx.saved_tensors
        a = grad if outer is None else grad * outer
        result = torch.addcmul(a, a.sum(ctx.dims, keepdim=True), inner, value=-1)
        return result.to(ctx.dtype), None, None, None, None


class NormMultipliers(torch.autograd.Function):
    """Returns ``value``; applies the multipliers of a (centred) normalisation in one step.

    With c the (centred) input, r = rsqrt(mean(c²) + eps), y = c·r·γ + β, the exact rules give
    Δc·r̄ (product), Δr = s·Δv (rescale, slope s), Δv = mean(2·c̄·Δc) (product), with γ and β
    constants, so the gradient g of y reaches c as γ·r̄·g + (Σ g·γ·c̄)·(2s/D)·c̄; centring subtracts
    the mean over the normalised dims. ``scale`` = γ·r̄, ``mixed`` = γ·c̄, ``spread`` = (2s/D)·c̄
    (centred when the input is), ``weight`` = γ (None: ones) for the centring term.
    """

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, value: torch.Tensor, parts: dict[str, Any]) -> Any:
        ctx.parts, ctx.dtype = parts, x.dtype
        return value.view_as(value)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> Any:
        parts, dims = ctx.parts, ctx.parts["dims"]
        dot = (grad * parts["mixed"]).sum(dims, keepdim=True)
        result = grad * parts["scale"]
        if parts["centered"]:
            weighted = grad if parts["weight"] is None else grad * parts["weight"]
            result -= parts["radius"] * weighted.mean(dims, keepdim=True)
        result.addcmul_(dot, parts["spread"])
        return result.to(ctx.dtype), None, None
