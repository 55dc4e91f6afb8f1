"""DeepLIFT / DeepSHAP rules for PyTorch, one table: operation name -> rule.

The math is in ``docs/deep-attribution.md``. In short, every rule gives an operation y = f(a, b, ...)
multipliers such that  y - y' = sum_i m_i * (a_i - a_i')  (summation-to-delta), where ' marks the
reference (background) pass. The engine applies a rule by returning the exact forward value whose
*gradient* is the rule's multiplier, so that one ordinary backward pass chains the multipliers.

Kinds of rules:
- ``AFFINE_OPS``: the gradient is already an exact multiplier (linear ops, shape ops, metadata).
- ``Rescale``: elementwise nonlinearities, secant slope (y - y') / (x - x').
- ``Product``: products of two input-dependent tensors, the Shapley split (gradient at the midpoint).
- ``Quotient``: a / b with b input-dependent, = a * (1 / b) with the reciprocal by rescale.
- ``PairRule``: a composite written once with both passes in hand (softmax family: the stabilising
  max shift must be the same constant in both passes).
- ``Decompose``: a composite replaced by plain torch code that the engine runs under its interception,
  so each inner operation gets its own rule in both passes (norms, attention, max pooling, max/min).

Adding an op is one entry in ``RULES`` (or ``AFFINE_OPS``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F

# Below this |x - x'| the secant slope is replaced by the derivative (its limit). It follows the dtype
# of the arithmetic: 1e-6 is shap's choice for float32, so both agree on the same multipliers.
_RESCALE_EPSILON = {torch.float64: 1e-12, torch.float32: 1e-6}


def rescale_epsilon(dtype: torch.dtype) -> float:
    """The smallest |x - x'| for which the secant slope is trusted, for arithmetic in ``dtype``."""
    return _RESCALE_EPSILON.get(dtype, 1e-3)


# ----------------------------------------------------------------------------- gradient carriers
class _Multipliers(torch.autograd.Function):
    """Returns ``value``; the gradient reaching ``x`` is the incoming gradient times ``multipliers``."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, value: torch.Tensor, multipliers: torch.Tensor) -> Any:
        ctx.save_for_backward(multipliers)
        return value.view_as(value)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> Any:
        (multipliers,) = ctx.saved_tensors
        return grad * multipliers, None, None


class _GradientOf(torch.autograd.Function):
    """Returns ``value``; the gradient flows into ``carrier`` (whose own gradient holds the rule)."""

    @staticmethod
    def forward(ctx: Any, carrier: torch.Tensor, value: torch.Tensor) -> Any:
        return value.view_as(value)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> Any:
        return grad, None


def _varies(value: Any) -> bool:
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
    return _Multipliers.apply(x, y, slope)


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
        if _varies(operand):
            middle = ((operand.detach() + ref) / 2).detach()
            carriers.append(middle + (operand - operand.detach()))
        else:
            carriers.append(operand)
    if value is None:
        with torch.no_grad():
            value = fn(*[o.detach() if isinstance(o, torch.Tensor) else o for o in operands])
    return _GradientOf.apply(fn(*carriers), value)


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


# ----------------------------------------------------------------------------- rules
@dataclass
class Call:
    """One intercepted call of the explained pass with its partner from the reference pass."""

    name: str
    func: Callable[..., Any]
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    ref_args: tuple[Any, ...]
    ref_kwargs: dict[str, Any]
    ref_output: Any
    inexact: Callable[[str], None] = field(repr=False)

    def argument(self, position: int, name: str, default: Any = None) -> tuple[Any, Any]:
        """The argument at ``position`` or keyword ``name``, and its reference partner."""
        if position < len(self.args):
            return self.args[position], self.ref_args[position]
        if name in self.kwargs:
            return self.kwargs[name], self.ref_kwargs[name]
        return default, default

    def plain(self) -> Any:
        return self.func(*self.args, **self.kwargs)


def _out_of_place(call: Call) -> tuple[Callable[..., Any], dict[str, Any], bool]:
    """The out-of-place form of an in-place call: (function, keyword arguments, was in place)."""
    kwargs = dict(call.kwargs)
    inplace = bool(kwargs.pop("inplace", False))
    name = call.func.__name__
    if name.startswith("__i") and name.endswith("__"):
        return getattr(torch.Tensor, "__" + name[3:]), kwargs, True
    if name.endswith("_") and not name.endswith("__") and not name.startswith("_"):
        return getattr(torch.Tensor, name[:-1]), kwargs, True
    return call.func, kwargs, inplace


def _write_back(call: Call, result: torch.Tensor, inplace: bool) -> torch.Tensor:
    if not inplace:
        return result
    target = call.args[0]
    target.copy_(result)
    return target


class Rule:
    """Base: how one operation is explained. ``records_reference``: the engine keeps its reference
    inputs/outputs; ``decomposition``: plain torch code the engine runs under interception instead."""

    records_reference = True
    decomposition: Callable[..., Any] | None = None

    def explain(self, call: Call) -> Any:
        raise NotImplementedError


class Rescale(Rule):
    """Elementwise nonlinearity in its one input-dependent operand (the others are constants)."""

    def explain(self, call: Call) -> Any:
        varying = [i for i, a in enumerate(call.args) if _varies(a)]
        if not varying:
            return call.plain()
        if len(varying) > 1 or any(_varies(v) for v in call.kwargs.values()):
            call.inexact(f"{call.name} with two input-dependent operands")
            return call.plain()
        func, kwargs, inplace = _out_of_place(call)
        position = varying[0]
        args = list(call.args)

        def fn(t: torch.Tensor) -> torch.Tensor:
            args[position] = t
            return func(*args, **kwargs)

        x, x_ref = call.args[position], call.ref_args[position]
        result = rescale(
            fn,
            x,
            x_ref,
            y_ref=call.ref_output,
            on_undefined=lambda: call.inexact(
                f"{call.name} whose output change is infinite or undefined (e.g. log(0) in one "
                "pass only; its multiplier was set to 0)"
            ),
        )
        return _write_back(call, result, inplace)


class SameMask(Rule):
    """A selection (where, masked_fill): affine while its mask is the same in both passes."""

    def __init__(self, position: int, name: str) -> None:
        self.position, self.name = position, name

    def explain(self, call: Call) -> Any:
        mask, mask_ref = call.argument(self.position, self.name)
        if isinstance(mask, torch.Tensor) and not torch.equal(mask, mask_ref):
            call.inexact(f"{call.name} with a mask that depends on the input")
        return call.plain()


class _BilinearMultipliers(torch.autograd.Function):
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


class Product(Rule):
    """An op bilinear in the operands at ``factors`` (positions), affine in the rest.

    ``kind`` ('mul' or 'matmul'): the op is that product of its first two arguments, and when both
    vary one autograd Function carries the split (matmul: when both have at least two dims).
    """

    def __init__(self, factors: Sequence[int] | None = None, kind: str | None = None) -> None:
        self.factors = factors  # None: every tensor argument is a factor (einsum)
        self.kind = kind

    def explain(self, call: Call) -> Any:
        func, kwargs, inplace = _out_of_place(call)
        positions = self.factors
        if positions is None:
            positions = [i for i, a in enumerate(call.args) if isinstance(a, torch.Tensor)]
        args, refs = list(call.args), list(call.ref_args)
        if call.name == "einsum" and len(args) == 2 and isinstance(args[1], (list, tuple)):
            # einsum(equation, [a, b]) -> einsum(equation, a, b)
            args, refs = [args[0], *args[1]], [refs[0], *refs[1]]
            positions = list(range(1, len(args)))
        varying = [i for i in positions if i < len(args) and _varies(args[i])]
        if len(varying) <= 1:
            return call.plain()
        if len(varying) > 2:
            call.inexact(f"{call.name} with more than two input-dependent factors")
            return call.plain()

        if self._fuses(args, varying, kwargs):
            a, b = args
            with torch.no_grad():
                value = func(a.detach(), b.detach())
                # contiguous once here, or every backward pass copies them for its batched matmul
                middles = (
                    ((a.detach() + refs[0]) / 2).contiguous(),
                    ((b.detach() + refs[1]) / 2).contiguous(),
                )
            result = _BilinearMultipliers.apply(a, b, value, *middles, self.kind)
            return _write_back(call, result, inplace)

        def fn(*operands: Any) -> torch.Tensor:
            return func(*operands, **kwargs)

        mixed_refs = [refs[i] if i in varying else args[i] for i in range(len(args))]
        result = shapley_product(fn, args, mixed_refs)
        return _write_back(call, result, inplace)

    def _fuses(self, args: list[Any], varying: list[int], kwargs: dict[str, Any]) -> bool:
        if self.kind is None or varying != [0, 1] or kwargs or len(args) != 2:
            return False
        return self.kind == "mul" or min(args[0].dim(), args[1].dim()) >= 2


class _ConvolutionInput(torch.autograd.Function):
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


class Convolution(Product):
    """conv1d/2d/3d: bilinear in input and weight; a faster backward when only the input varies."""

    def explain(self, call: Call) -> Any:
        x, weight = call.args[0], call.args[1] if len(call.args) > 1 else None
        if not (_varies(x) and isinstance(weight, torch.Tensor) and not _varies(weight)):
            return super().explain(call)
        n = weight.dim() - 2
        options = [call.argument(i, name, 1 if i != 4 else 0)[0] for i, name in _CONV_OPTIONS]
        if weight.shape[1] != 1 or x.device.type != "cpu" or isinstance(options[1], str):
            return call.plain()
        stride, padding, dilation = (_tuple(option, n) for option in options[:3])
        return _ConvolutionInput.apply(
            x, _exact_value(call), weight.detach(), (stride, padding, dilation, options[3])
        )


_CONV_OPTIONS = ((3, "stride"), (4, "padding"), (5, "dilation"), (6, "groups"))


class Quotient(Rule):
    """a / b = a * (1 / b): the reciprocal by rescale, then the Shapley product."""

    def explain(self, call: Call) -> Any:
        (a, a_ref), (b, b_ref) = call.argument(0, "input"), call.argument(1, "other")
        if not _varies(b):
            return call.plain()
        func, kwargs, inplace = _out_of_place(call)
        if kwargs.get("rounding_mode") is not None:
            call.inexact(f"{call.name} with rounding_mode")
            return call.plain()
        inverse = Pair(b, b_ref).rescale(torch.reciprocal)
        if not isinstance(a, torch.Tensor):
            a, a_ref = torch.as_tensor(a, dtype=b.dtype, device=b.device), a
        numerator = Pair(a, a_ref if isinstance(a_ref, torch.Tensor) else a)
        with torch.no_grad():
            value = func(a.detach(), b.detach(), **kwargs)
        carrier = shapley_product(torch.mul, (numerator.x, inverse.x), (numerator.ref, inverse.ref))
        return _write_back(call, _GradientOf.apply(carrier, value), inplace)


class BatchStatistics(Rule):
    """batch_norm: affine with running statistics; with batch statistics rows are mixed."""

    records_reference = False

    def explain(self, call: Call) -> Any:
        training, _ = call.argument(5, "training", False)
        if training and _varies(call.args[0]):
            call.inexact(f"{call.name} with batch statistics (training=True, no running stats)")
        return call.plain()


class PairRule(Rule):
    """A composite written with both passes in hand: ``fn(call) -> output``."""

    def __init__(self, fn: Callable[[Call], Any]) -> None:
        self.fn = fn

    def explain(self, call: Call) -> Any:
        x = call.args[0]
        if not _varies(x):
            return call.plain()
        return self.fn(call)


class Decompose(Rule):
    """A composite replaced by torch code that the engine intercepts op by op in both passes."""

    records_reference = False

    def __init__(self, decomposition: Callable[..., Any]) -> None:
        self.decomposition = decomposition

    def explain(self, call: Call) -> Any:  # the engine runs ``decomposition`` instead
        raise AssertionError("Decompose rules are run by the engine")


# ----------------------------------------------------------------------------- softmax family
def _softmax_dim(call: Call) -> int:
    dim, _ = call.argument(1, "dim")
    if dim is None:  # torch's legacy implicit choice
        dim = 0 if call.args[0].dim() in (0, 1, 3) else 1
    return dim


def _shifted(call: Call, dims: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """(x - c, x' - c), detached, with c the same constant in both passes (the larger maximum)."""
    x, x_ref = call.args[0].detach(), call.ref_args[0]
    dtype = call.kwargs.get("dtype")
    dtype = dtype or next((a for a in call.args[2:] if isinstance(a, torch.dtype)), None)
    if dtype is not None:
        x, x_ref = x.to(dtype), x_ref.to(dtype)
    shift = torch.maximum(x.amax(dims, keepdim=True), x_ref.amax(dims, keepdim=True))
    shift = torch.where(torch.isfinite(shift), shift, torch.zeros_like(shift))
    return x - shift, x_ref - shift


def _log_total(z: torch.Tensor, z_ref: torch.Tensor, dims: Any) -> tuple[Any, ...]:
    """log(sum(exp(z))) in both passes and the multipliers of z on it: m_log * m_exp."""
    e, e_ref = torch.exp(z), torch.exp(z_ref)
    m_exp = secant(z, z_ref, e, e_ref, lambda: e)
    total, total_ref = e.sum(dims, keepdim=True), e_ref.sum(dims, keepdim=True)
    log_total, log_total_ref = torch.log(total), torch.log(total_ref)
    m_log = secant(total, total_ref, log_total, log_total_ref, lambda: 1 / total)
    return log_total, log_total_ref, m_log * m_exp


class _SoftmaxMultipliers(torch.autograd.Function):
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


def _exact_value(call: Call) -> torch.Tensor:
    with torch.no_grad():
        args = [a.detach() if isinstance(a, torch.Tensor) else a for a in call.args]
        return call.func(*args, **call.kwargs)


def _softmax_family(call: Call, probabilities: bool) -> Any:
    dim = _softmax_dim(call)
    with torch.no_grad():
        z, z_ref = _shifted(call, dim)
        log_total, log_total_ref, inner = _log_total(z, z_ref, dim)
        outer = None
        if probabilities:
            log_p, log_p_ref = z - log_total, z_ref - log_total_ref
            p, p_ref = torch.exp(log_p), torch.exp(log_p_ref)
            outer = secant(log_p, log_p_ref, p, p_ref, lambda: p)
    return _SoftmaxMultipliers.apply(call.args[0], _exact_value(call), inner, outer, dim)


def _softmax(call: Call) -> Any:
    return _softmax_family(call, probabilities=True)


def _log_softmax(call: Call) -> Any:
    return _softmax_family(call, probabilities=False)


def _logsumexp(call: Call) -> Any:
    dims, _ = call.argument(1, "dim")
    keepdim, _ = call.argument(2, "keepdim", False)
    dims = tuple(dims) if isinstance(dims, (list, tuple)) else (dims,)
    with torch.no_grad():
        z, z_ref = _shifted(call, dims)
        _, _, multipliers = _log_total(z, z_ref, dims)
        value = torch.logsumexp(call.args[0].detach(), dims, keepdim=True)
    result = _Multipliers.apply(call.args[0], value, multipliers)
    return result if keepdim else result.squeeze(dims)


# ----------------------------------------------------------------------------- normalisation
class _NormMultipliers(torch.autograd.Function):
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


class Normalization(Rule):
    """layer_norm (``centered``) and rms_norm: the exact decomposition's multipliers in one step."""

    def __init__(self, centered: bool) -> None:
        self.centered = centered

    def explain(self, call: Call) -> Any:
        x, x_ref = call.argument(0, "input")
        shape, _ = call.argument(1, "normalized_shape")
        weight, _ = call.argument(2, "weight")
        if self.centered:
            bias, _ = call.argument(3, "bias")
            eps, _ = call.argument(4, "eps", 1e-5)
        else:
            bias, (eps, _) = None, call.argument(3, "eps")
            eps = torch.finfo(x.dtype).eps if eps is None else eps
        if not _varies(x):
            return call.plain()
        if _varies(weight) or _varies(bias):
            call.inexact(f"{call.name} with an input-dependent weight or bias")
            return call.plain()
        dims = tuple(range(x.dim() - len(_tuple(shape, 1)), x.dim()))
        with torch.no_grad():
            c, c_ref = x.detach(), x_ref
            if self.centered:
                c, c_ref = c - c.mean(dims, keepdim=True), c_ref - c_ref.mean(dims, keepdim=True)
            v, v_ref = ((t * t).mean(dims, keepdim=True) + eps for t in (c, c_ref))
            r, r_ref = torch.rsqrt(v), torch.rsqrt(v_ref)
            slope = secant(v, v_ref, r, r_ref, lambda: -0.5 * r**3)
            radius, middle = (r + r_ref) / 2, (c + c_ref) / 2
            gamma = None if weight is None else weight.detach()
            spread = middle * (2 * slope / math.prod(x.shape[d] for d in dims))
            if self.centered:
                spread -= spread.mean(dims, keepdim=True)
            parts = {
                "dims": dims,
                "centered": self.centered,
                "radius": radius,
                "scale": radius if gamma is None else radius * gamma,
                "mixed": middle if gamma is None else middle * gamma,
                "spread": spread,
                "weight": gamma,
            }
        return _NormMultipliers.apply(x, _exact_value(call), parts)


# ----------------------------------------------------------------------------- decompositions
def _pairwise_max(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """max(a, b) = (a + b)/2 + |a - b|/2: affine plus one rescaled |.|, exact by composition."""
    return (a + b) / 2 + torch.abs(a - b) / 2


def _max_along(x: torch.Tensor, dim: int, keepdim: bool = True) -> torch.Tensor:
    """The maximum along ``dim`` as a tree of pairwise maxima."""
    while x.shape[dim] > 1:
        half = x.shape[dim] // 2
        # split, not narrow: its backward is one cat, where each narrow's fills a zero tensor
        parts = x.split([half, half, x.shape[dim] - 2 * half], dim)
        paired = _pairwise_max(parts[0], parts[1])
        x = torch.cat([paired, parts[2]], dim) if parts[2].shape[dim] else paired
    return x if keepdim else x.squeeze(dim)


def _dims(dim: Any, ndim: int) -> list[int]:
    if dim is None or (isinstance(dim, (list, tuple)) and len(dim) == 0):
        return list(range(ndim))
    dims = list(dim) if isinstance(dim, (list, tuple)) else [dim]
    return sorted(d % ndim for d in dims)


def _amax(input: torch.Tensor, dim: Any = (), keepdim: bool = False) -> torch.Tensor:
    dims = _dims(dim, input.dim())
    result = input
    for d in dims:
        result = _max_along(result, d, keepdim=True)
    if not keepdim:
        for d in reversed(dims):
            result = result.squeeze(d)
    return result


def _amin(input: torch.Tensor, dim: Any = (), keepdim: bool = False) -> torch.Tensor:
    return -_amax(-input, dim, keepdim)


def _max(input: torch.Tensor, dim: Any = None, keepdim: bool = False, *, out: Any = None) -> Any:
    if isinstance(dim, torch.Tensor):  # torch.max(a, b): elementwise
        return _pairwise_max(input, dim)
    if dim is None:
        return _amax(input.reshape(-1), 0)
    values = _max_along(input, dim, keepdim)
    with torch._C.DisableTorchFunction():
        indices = input.detach().argmax(dim, keepdim=keepdim)
    return torch.return_types.max((values, indices))


def _min(input: torch.Tensor, dim: Any = None, keepdim: bool = False, *, out: Any = None) -> Any:
    if isinstance(dim, torch.Tensor):
        return -_pairwise_max(-input, -dim)
    if dim is None:
        return _amin(input.reshape(-1), 0)
    values = -_max_along(-input, dim, keepdim)
    with torch._C.DisableTorchFunction():
        indices = input.detach().argmin(dim, keepdim=keepdim)
    return torch.return_types.min((values, indices))


def _maximum(input: torch.Tensor, other: torch.Tensor, *, out: Any = None) -> torch.Tensor:
    return _pairwise_max(input, other)


def _minimum(input: torch.Tensor, other: torch.Tensor, *, out: Any = None) -> torch.Tensor:
    return -_pairwise_max(-input, -other)


def _tuple(value: Any, n: int) -> tuple[int, ...]:
    return tuple(value) if isinstance(value, (list, tuple)) else (value,) * n


def _max_pool(n: int) -> Callable[..., Any]:
    """Max pooling over ``n`` spatial dims, separable: 1-d windows along each dim in turn."""

    def pool(
        input: torch.Tensor,
        kernel_size: Any,
        stride: Any = None,
        padding: Any = 0,
        dilation: Any = 1,
        ceil_mode: bool = False,
        return_indices: bool = False,
    ) -> Any:
        kernel = _tuple(kernel_size, n)
        strides = kernel if stride is None or stride == [] else _tuple(stride, n)
        pads, dilations = _tuple(padding, n), _tuple(dilation, n)
        if any(d != 1 for d in dilations) and any(p != 0 for p in pads):
            raise NotImplementedError("max pooling with both dilation and padding")
        result = input
        for i in range(n):
            dim = input.dim() - n + i
            size, k, s, p, d = input.shape[dim], kernel[i], strides[i], pads[i], dilations[i]
            span = d * (k - 1) + 1
            rounding = math.ceil if ceil_mode else math.floor
            out = rounding((size + 2 * p - span) / s) + 1
            if ceil_mode and (out - 1) * s >= size + p:
                out -= 1
            right = max(0, (out - 1) * s + span - size - p)
            if p or right:
                # Replicated border values never exceed the window's own maximum.
                result = _pad_replicate(result, dim, p, right)
            if s == span and d == 1:  # disjoint windows: a reshape, cheaper than unfold
                cropped = result.narrow(dim, 0, out * s) if out * s < result.shape[dim] else result
                windows = cropped.unflatten(dim, (out, s)).movedim(dim + 1, -1)
            else:
                windows = result.unfold(dim, span, s).narrow(dim, 0, out)
            if d > 1:
                windows = windows[..., ::d]
            result = _max_along(windows, windows.dim() - 1, keepdim=False)
        if return_indices:
            with torch._C.DisableTorchFunction():
                _, indices = getattr(F, f"max_pool{n}d")(
                    input.detach(), kernel_size, stride, padding, dilation, ceil_mode, True
                )
            return result, indices
        return result

    return pool


def _pad_replicate(x: torch.Tensor, dim: int, left: int, right: int) -> torch.Tensor:
    parts = []
    if left:
        parts.append(x.narrow(dim, 0, 1).expand(*x.shape[:dim], left, *x.shape[dim + 1 :]))
    parts.append(x)
    if right:
        last = x.narrow(dim, x.shape[dim] - 1, 1)
        parts.append(last.expand(*x.shape[:dim], right, *x.shape[dim + 1 :]))
    return torch.cat(parts, dim)


def _adaptive_max_pool(n: int) -> Callable[..., Any]:
    def pool(input: torch.Tensor, output_size: Any, return_indices: bool = False) -> Any:
        sizes = _tuple(output_size, n)
        result = input
        for i in range(n):
            dim = input.dim() - n + i
            length, out = input.shape[dim], sizes[i] if sizes[i] is not None else input.shape[dim]
            pieces = []
            for j in range(out):
                start, end = (j * length) // out, -((-(j + 1) * length) // out)
                pieces.append(_max_along(result.narrow(dim, start, end - start), dim))
            result = torch.cat(pieces, dim) if len(pieces) > 1 else pieces[0]
        if return_indices:
            with torch._C.DisableTorchFunction():
                _, indices = getattr(F, f"adaptive_max_pool{n}d")(input.detach(), output_size, True)
            return result, indices
        return result

    return pool


def _channel_affine(x: torch.Tensor, weight: Any, bias: Any) -> torch.Tensor:
    shape = (1, -1) + (1,) * (x.dim() - 2)
    if weight is not None:
        x = x * weight.reshape(shape)
    if bias is not None:
        x = x + bias.reshape(shape)
    return x


def _group_norm(
    input: torch.Tensor,
    num_groups: int,
    weight: torch.Tensor | None = None,
    bias: torch.Tensor | None = None,
    eps: float = 1e-5,
) -> torch.Tensor:
    grouped = input.reshape(input.shape[0], num_groups, -1)
    result = F.layer_norm(grouped, grouped.shape[-1:], eps=eps).reshape(input.shape)
    return _channel_affine(result, weight, bias)


def _instance_norm(
    input: torch.Tensor,
    running_mean: torch.Tensor | None = None,
    running_var: torch.Tensor | None = None,
    weight: torch.Tensor | None = None,
    bias: torch.Tensor | None = None,
    use_input_stats: bool = True,
    momentum: float = 0.1,
    eps: float = 1e-5,
) -> torch.Tensor:
    if not use_input_stats:
        shape = (1, -1) + (1,) * (input.dim() - 2)
        scaled = (input - running_mean.reshape(shape)) / torch.sqrt(
            running_var.reshape(shape) + eps
        )
        return _channel_affine(scaled, weight, bias)
    flat = input.reshape(*input.shape[:2], -1)
    result = F.layer_norm(flat, flat.shape[-1:], eps=eps).reshape(input.shape)
    return _channel_affine(result, weight, bias)


def _attention(
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attn_mask: torch.Tensor | None = None,
    dropout_p: float = 0.0,
    is_causal: bool = False,
    scale: float | None = None,
    enable_gqa: bool = False,
) -> torch.Tensor:
    """scaled_dot_product_attention as matmul -> softmax -> matmul (dropout is off while explaining)."""
    scale = 1.0 / math.sqrt(query.shape[-1]) if scale is None else scale
    if enable_gqa and key.shape[-3] != query.shape[-3]:
        repeat = query.shape[-3] // key.shape[-3]
        key = key.repeat_interleave(repeat, dim=-3)
        value = value.repeat_interleave(repeat, dim=-3)
    scores = torch.matmul(query, key.transpose(-2, -1)) * scale
    length, source = query.shape[-2], key.shape[-2]
    if is_causal:
        with torch._C.DisableTorchFunction():
            keep = torch.ones(length, source, dtype=torch.bool, device=query.device).tril()
        scores = scores.masked_fill(~keep, float("-inf"))
    if attn_mask is not None:
        if attn_mask.dtype == torch.bool:
            scores = scores.masked_fill(~attn_mask, float("-inf"))
        else:
            scores = scores + attn_mask
    return torch.matmul(torch.softmax(scores, dim=-1), value)


def _multi_head_attention(
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    embed_dim_to_check: int,
    num_heads: int,
    in_proj_weight: torch.Tensor | None,
    in_proj_bias: torch.Tensor | None,
    bias_k: torch.Tensor | None,
    bias_v: torch.Tensor | None,
    add_zero_attn: bool,
    dropout_p: float,
    out_proj_weight: torch.Tensor,
    out_proj_bias: torch.Tensor | None,
    training: bool = True,
    key_padding_mask: torch.Tensor | None = None,
    need_weights: bool = True,
    attn_mask: torch.Tensor | None = None,
    use_separate_proj_weight: bool = False,
    q_proj_weight: torch.Tensor | None = None,
    k_proj_weight: torch.Tensor | None = None,
    v_proj_weight: torch.Tensor | None = None,
    static_k: torch.Tensor | None = None,
    static_v: torch.Tensor | None = None,
    average_attn_weights: bool = True,
    is_causal: bool = False,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """F.multi_head_attention_forward for (length, batch, embed) inputs, as plain torch ops."""
    if bias_k is not None or bias_v is not None or add_zero_attn or static_k is not None:
        raise NotImplementedError("multi-head attention with bias_k/bias_v/add_zero_attn/static_k")
    unbatched = query.dim() == 2
    if unbatched:
        query, key, value = query.unsqueeze(1), key.unsqueeze(1), value.unsqueeze(1)
        if key_padding_mask is not None:
            key_padding_mask = key_padding_mask.unsqueeze(0)
    length, batch, embed = query.shape
    source = key.shape[0]
    head_dim = embed // num_heads
    if use_separate_proj_weight:
        weights = (q_proj_weight, k_proj_weight, v_proj_weight)
    else:
        weights = in_proj_weight.chunk(3)
    biases = (None, None, None) if in_proj_bias is None else in_proj_bias.chunk(3)
    q = F.linear(query, weights[0], biases[0])
    k = F.linear(key, weights[1], biases[1])
    v = F.linear(value, weights[2], biases[2])
    # (length, batch, embed) -> (batch, heads, length, head_dim)
    q = q.reshape(length, batch, num_heads, head_dim).permute(1, 2, 0, 3)
    k = k.reshape(source, batch, num_heads, head_dim).permute(1, 2, 0, 3)
    v = v.reshape(source, batch, num_heads, head_dim).permute(1, 2, 0, 3)
    scores = torch.matmul(q, k.transpose(-2, -1)) * (1.0 / math.sqrt(head_dim))
    if attn_mask is not None:
        mask = (
            attn_mask.reshape(-1, num_heads, length, source) if attn_mask.dim() == 3 else attn_mask
        )
        if mask.dtype == torch.bool:
            scores = scores.masked_fill(mask, float("-inf"))
        else:
            scores = scores + mask
    elif is_causal:
        with torch._C.DisableTorchFunction():
            future = torch.ones(length, source, dtype=torch.bool, device=query.device).triu(1)
        scores = scores.masked_fill(future, float("-inf"))
    if key_padding_mask is not None:
        padding = key_padding_mask.reshape(batch, 1, 1, source)
        if padding.dtype == torch.bool:
            scores = scores.masked_fill(padding, float("-inf"))
        else:
            scores = scores + padding
    weights_ = torch.softmax(scores, dim=-1)
    context = torch.matmul(weights_, v)  # (batch, heads, length, head_dim)
    context = context.permute(2, 0, 1, 3).reshape(length, batch, embed)
    output = F.linear(context, out_proj_weight, out_proj_bias)
    attention = None
    if need_weights:
        attention = weights_.mean(1) if average_attn_weights else weights_
        if unbatched:
            attention = attention.squeeze(0)
    if unbatched:
        output = output.squeeze(1)
    return output, attention


def _glu(input: torch.Tensor, dim: int = -1) -> torch.Tensor:
    first, second = input.chunk(2, dim)
    return first * torch.sigmoid(second)


def _softmin(input: torch.Tensor, dim: int | None = None, _stacklevel: int = 3, dtype: Any = None):
    return torch.softmax(
        -input, dim if dim is not None else (0 if input.dim() in (0, 1, 3) else 1), dtype=dtype
    )


# ----------------------------------------------------------------------------- the table
def _with_inplace(names: Sequence[str]) -> list[str]:
    return [variant for name in names for variant in (name, name + "_")]


_ELEMENTWISE = [
    *_with_inplace(
        [
            "relu",
            "relu6",
            "leaky_relu",
            "prelu",
            "rrelu",
            "elu",
            "selu",
            "celu",
            "gelu",
            "silu",
            "mish",
            "hardswish",
            "hardsigmoid",
            "hardtanh",
            "softplus",
            "softsign",
            "sigmoid",
            "tanh",
            "log_sigmoid",
            "logsigmoid",
            "exp",
            "exp2",
            "expm1",
            "log",
            "log2",
            "log10",
            "log1p",
            "sqrt",
            "rsqrt",
            "reciprocal",
            "pow",
            "square",
            "abs",
            "absolute",
            "erf",
            "erfc",
            "erfinv",
            "clamp",
            "clip",
            "clamp_min",
            "clamp_max",
            "sin",
            "cos",
            "tan",
            "asin",
            "acos",
            "atan",
            "arcsin",
            "arccos",
            "arctan",
            "sinh",
            "cosh",
            "asinh",
            "atanh",
            "arcsinh",
            "arctanh",
            "sign",
            "sgn",
            "floor",
            "ceil",
            "round",
            "trunc",
            "frac",
            "threshold",
            "_threshold",
            "tanhshrink",
            "softshrink",
            "hardshrink",
            "logit",
            "sinc",
            "lgamma",
            "digamma",
            "special_expit",
            "special_erf",
            "special_erfc",
            "special_expm1",
            "special_exp2",
            "special_log1p",
            "nan_to_num",
            "xlogy",
        ]
    ),
    "__pow__",
    "__ipow__",
    "__rpow__",
    "__rdiv__",
    "__rtruediv__",
    "__abs__",
    "float_power",
]

_MULTIPLICATIONS = ["mul", "mul_", "multiply", "__mul__", "__rmul__", "__imul__"]
_PRODUCTS: dict[str, Sequence[int] | None] = {
    **dict.fromkeys(
        [
            "__rmatmul__",
            "mv",
            "dot",
            "inner",
            "outer",
            "ger",
            "vdot",
            "kron",
            "tensordot",
            "linear",
            "conv_transpose1d",
            "conv_transpose2d",
            "conv_transpose3d",
        ],
        (0, 1),
    ),
    **dict.fromkeys(["baddbmm", "addmm", "addbmm", "addmv", "addr", "baddbmm_", "addmm_"], (1, 2)),
    "einsum": None,
    "bilinear": (0, 1),
}

_DECOMPOSITIONS: dict[str, Callable[..., Any]] = {
    "group_norm": _group_norm,
    "instance_norm": _instance_norm,
    "scaled_dot_product_attention": _attention,
    "multi_head_attention_forward": _multi_head_attention,
    "glu": _glu,
    "softmin": _softmin,
    "max": _max,
    "min": _min,
    "amax": _amax,
    "amin": _amin,
    "maximum": _maximum,
    "minimum": _minimum,
    "fmax": _maximum,
    "fmin": _minimum,
    **{f"max_pool{n}d": _max_pool(n) for n in (1, 2, 3)},
    **{f"max_pool{n}d_with_indices": _max_pool(n) for n in (1, 2, 3)},
    **{f"adaptive_max_pool{n}d": _adaptive_max_pool(n) for n in (1, 2, 3)},
    **{f"adaptive_max_pool{n}d_with_indices": _adaptive_max_pool(n) for n in (1, 2, 3)},
}

RULES: dict[str, Rule] = {
    **{name: Rescale() for name in _ELEMENTWISE},
    **{name: Product(factors) for name, factors in _PRODUCTS.items()},
    **{name: Product((0, 1), "mul") for name in _MULTIPLICATIONS},
    **{name: Convolution((0, 1)) for name in ["conv1d", "conv2d", "conv3d"]},
    **{name: Product((0, 1), "matmul") for name in ["matmul", "__matmul__", "mm", "bmm"]},
    **{
        name: Quotient()
        for name in [
            "div",
            "div_",
            "divide",
            "true_divide",
            "__truediv__",
            "__itruediv__",
            "__div__",
            "__idiv__",
        ]
    },
    **{name: PairRule(_softmax) for name in ["softmax", "_softmax", "special_softmax"]},
    **{name: PairRule(_log_softmax) for name in ["log_softmax", "special_log_softmax"]},
    "logsumexp": PairRule(_logsumexp),
    "layer_norm": Normalization(centered=True),
    "rms_norm": Normalization(centered=False),
    "batch_norm": BatchStatistics(),
    **{name: SameMask(0, "condition") for name in ["where"]},
    **{name: SameMask(1, "mask") for name in ["masked_fill", "masked_fill_"]},
    **{name: Decompose(fn) for name, fn in _DECOMPOSITIONS.items()},
}

# Ops whose gradient is already an exact DeepLIFT multiplier (affine in their tensor inputs, or
# selections/shapes). ``batch_norm`` is affine in eval mode only; the engine checks ``training``.
AFFINE_OPS = frozenset(
    _with_inplace(
        [
            "add",
            "sub",
            "subtract",
            "neg",
            "negative",
            "sum",
            "mean",
            "nansum",
            "cumsum",
            "diff",
            "trace",
            "view",
            "view_as",
            "reshape",
            "reshape_as",
            "permute",
            "transpose",
            "swapaxes",
            "swapdims",
            "movedim",
            "moveaxis",
            "t",
            "contiguous",
            "flatten",
            "unflatten",
            "squeeze",
            "unsqueeze",
            "expand",
            "expand_as",
            "repeat",
            "repeat_interleave",
            "tile",
            "cat",
            "concat",
            "concatenate",
            "stack",
            "hstack",
            "vstack",
            "dstack",
            "split",
            "split_with_sizes",
            "chunk",
            "tensor_split",
            "unbind",
            "narrow",
            "select",
            "index_select",
            "gather",
            "take_along_dim",
            "masked_select",
            "roll",
            "flip",
            "fliplr",
            "flipud",
            "rot90",
            "pad",
            "constant_pad_nd",
            "diagonal",
            "diag",
            "diag_embed",
            "tril",
            "triu",
            "clone",
            "to",
            "type",
            "type_as",
            "float",
            "double",
            "half",
            "bfloat16",
            "cpu",
            "cuda",
            "detach",
            "dropout",
            "dropout1d",
            "dropout2d",
            "dropout3d",
            "alpha_dropout",
            "feature_alpha_dropout",
            "avg_pool1d",
            "avg_pool2d",
            "avg_pool3d",
            "adaptive_avg_pool1d",
            "adaptive_avg_pool2d",
            "adaptive_avg_pool3d",
            "interpolate",
            "upsample",
            "pixel_shuffle",
            "pixel_unshuffle",
            "channel_shuffle",
            "unfold",
            "fold",
            "embedding",
            "index_fill",
            "zeros_like",
            "ones_like",
            "full_like",
            "empty_like",
            "rand_like",
            "randn_like",
            "new_zeros",
            "new_ones",
            "new_full",
            "new_empty",
            "new_tensor",
            "copy_",
            "fill_",
            "zero_",
            "scatter",
            "scatter_add",
            "index_add",
            "index_copy",
            "index_put",
            "as_strided",
            "unsqueeze_copy",
            "view_copy",
            "__getitem__",
            "__setitem__",
            "__add__",
            "__radd__",
            "__iadd__",
            "__sub__",
            "__rsub__",
            "__isub__",
            "__neg__",
            "__pos__",
            "T",
            "mT",
            "H",
            "mH",
            "real",
            "resolve_conj",
            "resolve_neg",
            "requires_grad_",
            "contiguous",
            "align_to",
            "broadcast_to",
            "atleast_1d",
            "atleast_2d",
            "atleast_3d",
            "squeeze_copy",
            "identity",
            "trapezoid",
            "_assert_async",
            "flatten_parameters",
        ]
    )
)
