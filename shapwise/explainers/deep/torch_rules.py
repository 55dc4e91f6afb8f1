"""DeepLIFT / DeepSHAP rule classes for PyTorch operations.

The math is in ``docs/deep-attribution.md``. In short, every rule gives an operation y = f(a, b, ...)
multipliers such that  y - y' = sum_i m_i * (a_i - a_i')  (summation-to-delta), where ' marks the
reference (background) pass. The engine applies a rule by returning the exact forward value whose
*gradient* is the rule's multiplier (``torch_carriers``), so that one ordinary backward pass chains
the multipliers. Which operation gets which rule is the table in ``torch_op_table``.

Kinds of rules:
- ``Rescale``: elementwise nonlinearities, secant slope (y - y') / (x - x').
- ``Product``: products of two input-dependent tensors, the Shapley split (gradient at the midpoint).
- ``Quotient``: a / b with b input-dependent, = a * (1 / b) with the reciprocal by rescale.
- ``PairRule``: a composite written once with both passes in hand (softmax family: the stabilising
  max shift must be the same constant in both passes).
- ``Decompose``: a composite replaced by plain torch code that the engine runs under its interception,
  so each inner operation gets its own rule in both passes (``torch_decompositions``).
- ``SameMask`` / ``SameIndex``: selections, affine while their mask or index is the same in both
  passes (named otherwise); ``PassThrough``: detach, the identity of the forward function.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from shapwise.explainers.deep.torch_carriers import (
    BilinearMultipliers,
    ConvolutionInput,
    GradientOf,
    Multipliers,
    NormMultipliers,
    Pair,
    SoftmaxMultipliers,
    rescale,
    secant,
    shapley_product,
    varies,
)
from shapwise.explainers.deep.torch_decompositions import as_tuple


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

    def keep_reference(self, tensor: torch.Tensor) -> torch.Tensor | None:
        """What the reference pass keeps of one tensor argument or output: a copy, as the model
        may later change the tensor in place (x += residual, relu_)."""
        return tensor.detach().clone()

    def explain(self, call: Call) -> Any:
        raise NotImplementedError


class Rescale(Rule):
    """Elementwise nonlinearity in its one input-dependent operand (the others are constants)."""

    def explain(self, call: Call) -> Any:
        varying = [i for i, a in enumerate(call.args) if varies(a)]
        if not varying:
            return call.plain()
        if len(varying) > 1 or any(varies(v) for v in call.kwargs.values()):
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


def _index_tensors(value: Any) -> list[torch.Tensor]:
    """The integer and boolean tensors among an argument list (indices and masks), in order."""
    if isinstance(value, torch.Tensor):
        return [] if value.is_floating_point() else [value]
    if isinstance(value, (list, tuple)):
        return [t for item in value for t in _index_tensors(item)]
    if isinstance(value, dict):
        return [t for item in value.values() for t in _index_tensors(item)]
    return []


class SameIndex(Rule):
    """Indexing (gather, index_select, x[i], scatter, ...): affine while its integer or boolean
    index is the same in both passes; an index computed from the input (e.g. its argmax) is not."""

    def keep_reference(self, tensor: torch.Tensor) -> torch.Tensor | None:
        return None if tensor.is_floating_point() else tensor.clone()

    def explain(self, call: Call) -> Any:
        indices = _index_tensors((call.args, call.kwargs))
        if indices:
            references = _index_tensors((call.ref_args, call.ref_kwargs))
            if len(references) != len(indices) or not all(
                torch.equal(index, reference)
                for index, reference in zip(indices, references, strict=True)
            ):
                call.inexact(f"{call.name} with an index that depends on the input")
        return call.plain()


class PassThrough(Rule):
    """detach and ``.data``: they change what training sees, not the forward value, so the function
    explained is the identity there and its multiplier is 1 (a path cut only for training)."""

    records_reference = False

    def explain(self, call: Call) -> Any:
        x = call.args[0]
        if not varies(x):
            return call.plain()
        if call.name.endswith("_"):  # detach_ cuts the path in place, under the caller's feet
            call.inexact(f"{call.name} on a tensor computed from the input")
            return call.plain()
        return x.view_as(x)


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
        varying = [i for i in positions if i < len(args) and varies(args[i])]
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
            result = BilinearMultipliers.apply(a, b, value, *middles, self.kind)
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


class Convolution(Product):
    """conv1d/2d/3d: bilinear in input and weight; a faster backward when only the input varies."""

    def explain(self, call: Call) -> Any:
        x, weight = call.args[0], call.args[1] if len(call.args) > 1 else None
        if not (varies(x) and isinstance(weight, torch.Tensor) and not varies(weight)):
            return super().explain(call)
        n = weight.dim() - 2
        options = [call.argument(i, name, 1 if i != 4 else 0)[0] for i, name in _CONV_OPTIONS]
        if weight.shape[1] != 1 or x.device.type != "cpu" or isinstance(options[1], str):
            return call.plain()
        stride, padding, dilation = (as_tuple(option, n) for option in options[:3])
        return ConvolutionInput.apply(
            x, _exact_value(call), weight.detach(), (stride, padding, dilation, options[3])
        )


_CONV_OPTIONS = ((3, "stride"), (4, "padding"), (5, "dilation"), (6, "groups"))


class Quotient(Rule):
    """a / b = a * (1 / b): the reciprocal by rescale, then the Shapley product."""

    def explain(self, call: Call) -> Any:
        (a, a_ref), (b, b_ref) = call.argument(0, "input"), call.argument(1, "other")
        if not varies(b):
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
        return _write_back(call, GradientOf.apply(carrier, value), inplace)


class BatchStatistics(Rule):
    """batch_norm: affine with running statistics; with batch statistics rows are mixed."""

    records_reference = False

    def explain(self, call: Call) -> Any:
        training, _ = call.argument(5, "training", False)
        if training and varies(call.args[0]):
            call.inexact(f"{call.name} with batch statistics (training=True, no running stats)")
        return call.plain()


class PairRule(Rule):
    """A composite written with both passes in hand: ``fn(call) -> output``."""

    def __init__(self, fn: Callable[[Call], Any]) -> None:
        self.fn = fn

    def explain(self, call: Call) -> Any:
        x = call.args[0]
        if not varies(x):
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
    return SoftmaxMultipliers.apply(call.args[0], _exact_value(call), inner, outer, dim)


def softmax_rule(call: Call) -> Any:
    return _softmax_family(call, probabilities=True)


def log_softmax_rule(call: Call) -> Any:
    return _softmax_family(call, probabilities=False)


def logsumexp_rule(call: Call) -> Any:
    dims, _ = call.argument(1, "dim")
    keepdim, _ = call.argument(2, "keepdim", False)
    dims = tuple(dims) if isinstance(dims, (list, tuple)) else (dims,)
    with torch.no_grad():
        z, z_ref = _shifted(call, dims)
        _, _, multipliers = _log_total(z, z_ref, dims)
        value = torch.logsumexp(call.args[0].detach(), dims, keepdim=True)
    result = Multipliers.apply(call.args[0], value, multipliers)
    return result if keepdim else result.squeeze(dims)


# ----------------------------------------------------------------------------- normalisation
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
        if not varies(x):
            return call.plain()
        if varies(weight) or varies(bias):
            call.inexact(f"{call.name} with an input-dependent weight or bias")
            return call.plain()
        dims = tuple(range(x.dim() - len(as_tuple(shape, 1)), x.dim()))
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
        return NormMultipliers.apply(x, _exact_value(call), parts)
