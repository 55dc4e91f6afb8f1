"""DeepLIFT rules for TensorFlow graph ops: the table op type -> rule.

Every rule returns the op's true output whose *gradient* is an exact DeepLIFT multiplier m, one
that satisfies summation-to-delta: Δy = Σ m ⊙ Δx between a row and its reference. The trick used
throughout:

    y = stop_gradient(y_true) + surrogate - stop_gradient(surrogate)

has the forward value of ``y_true`` exactly and the gradient of ``surrogate``, a function that is
linear in the varying inputs with the multipliers as (stopped) coefficients.

Kinds of ops:
- ``LINEAR``: affine in their varying inputs; the tape gradient is exact.
- ``PASS_THROUGH``: identity-like ops, which stay inside an elementwise region. ``StopGradient`` is
  one: it changes what training sees, not the forward function explained (and ``tf.custom_gradient``
  is replayed as its forward ops, each with its own rule).
- ``ELEMENTWISE``: elementwise ops; the engine fuses chains of them on one source tensor into a region
  (all of gelu, silu, mish ...) and applies ``rescale`` once where the value leaves the region.
- ``BILINEAR``: linear in each input; with two varying inputs the Shapley product split applies.
- ``RULES``: op type -> rule function, for products and composites (softmax, max, max pooling).
Adding an op is one entry here and one test.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from shapwise._optional import require

# Linear in their first operand while the second (a kernel) is constant; with both varying they are
# bilinear and have no rule here.
LINEAR_IN_FIRST_OPERAND = frozenset(
    {"DepthwiseConv2dNative", "Conv2DBackpropInput", "Conv3D", "Conv3DBackpropInputV2"}
)

LINEAR = frozenset({
    "AddV2", "Add", "AddN", "Sub", "BiasAdd", "Neg", "Sum", "Mean", "Reshape", "Transpose",
    "ConcatV2", "Concat", "Pack", "Unpack", "StridedSlice", "Slice", "GatherV2", "Gather",
    "ResourceGather", "Pad", "PadV2", "MirrorPad", "Squeeze", "ExpandDims", "Tile", "BroadcastTo",
    "Split", "SplitV", "AvgPool", "AvgPool3D", "DepthwiseConv2dNative", "Conv2DBackpropInput",
    "Conv3D", "Conv3DBackpropInputV2", "Cumsum", "ZerosLike", "OnesLike", "Fill", "Shape",
    "ExtractImagePatches", "SpaceToDepth", "DepthToSpace", "ReverseV2", "Roll", "DiagPart",
    "MatrixDiagPartV3", "ResizeBilinear", "ResizeNearestNeighbor", "EnsureShape", "Real",
})  # fmt: skip

# Ops whose output depends on the shape of their input, not on its values.
SHAPE_ONLY = frozenset({"Shape", "ShapeN", "Size", "Rank"})

# Ops that select by an integer index: exact (linear) only while the index is the same in both
# passes, so an index computed from the input is named.
INDEXING = frozenset({"GatherV2", "Gather", "ResourceGather", "GatherNd", "ScatterNd",
                      "TensorScatterUpdate", "TensorScatterAdd", "OneHot", "UnsortedSegmentSum"})  # fmt: skip

PASS_THROUGH = frozenset({"Identity", "IdentityN", "StopGradient", "PreventGradient", "Snapshot",
                          "Cast", "CheckNumerics"})  # fmt: skip

# Elementwise ops that fuse into regions. Unary ones are nonlinear unless listed in _LINEAR_UNARY.
ELEMENTWISE = frozenset({
    "Relu", "Relu6", "Elu", "Selu", "Softplus", "Softsign", "Tanh", "Sigmoid", "Exp", "Expm1",
    "Log", "Log1p", "Sqrt", "Rsqrt", "Reciprocal", "Inv", "Erf", "Erfc", "Square", "Abs", "Sin",
    "Cos", "Tan", "Atan", "Asinh", "Sinh", "Cosh", "Sign", "Floor", "Ceil", "Round", "LeakyRelu",
    "ClipByValue", "Xlogy", "Neg", "AddV2", "Add", "Sub", "BiasAdd", "Mul", "RealDiv", "Div",
    "DivNoNan", "Maximum", "Minimum", "Pow", "SquaredDifference",
})  # fmt: skip
_LINEAR_UNARY = frozenset({"Neg"})
_ALWAYS_LINEAR_BINARY = frozenset({"AddV2", "Add", "Sub", "BiasAdd"})

BILINEAR = frozenset({"Mul", "MatMul", "BatchMatMul", "BatchMatMulV2", "BatchMatMulV3", "Einsum",
                      "Conv2D"})  # fmt: skip


def _tf() -> Any:
    return require("tensorflow", "tf")


def elementwise_is_linear(op_type: str, varying: list[int]) -> bool:
    """Whether an elementwise op is affine in the inputs at positions ``varying``."""
    if op_type in _ALWAYS_LINEAR_BINARY or op_type in _LINEAR_UNARY:
        return True
    if op_type == "Mul":
        return len(varying) == 1
    if op_type in ("RealDiv", "Div", "DivNoNan"):
        return varying == [0]
    return False


def rescale_epsilon(dtype_name: str) -> float:
    """|Δx| below epsilon * (1 + |x| + |x'|) uses the derivative instead of the secant.

    Follows the arithmetic's dtype: a fixed 1e-10 would underflow in half precision.
    """
    return float(np.finfo(np.dtype(dtype_name)).eps) ** 0.75


@dataclass
class RuleContext:
    """What a rule may use: literal replay of the op (or of it on other inputs) and the epsilon."""

    run: Callable[[Any, list[Any]], list[Any]]
    op: Any
    epsilon: float
    varying: list[int]

    def literal(self, inputs: list[Any]) -> list[Any]:
        return self.run(self.op, inputs)


def with_gradient_of(value: Any, surrogate: Any) -> Any:
    """``value`` forward, gradient of ``surrogate``."""
    tf = _tf()
    return tf.stop_gradient(value) + (surrogate - tf.stop_gradient(surrogate))


# ------------------------------------------------------------------ building blocks on pairs
def rescale(
    x: Any,
    x_ref: Any,
    y: Any,
    y_ref: Any,
    function: Callable[[Any], Any],
    epsilon: float,
) -> Any:
    """y = g(x) elementwise with the multiplier (y - y') / (x - x'), or g'(x) when they are close."""
    tf = _tf()
    delta = x - x_ref
    close = tf.abs(delta) <= epsilon * (1.0 + tf.abs(x) + tf.abs(x_ref))
    x0 = tf.stop_gradient(x)
    with tf.GradientTape() as tape:
        tape.watch(x0)
        y0 = function(x0)
    derivative = tape.gradient(y0, x0)
    derivative = tf.zeros_like(x) if derivative is None else derivative
    secant = (y - y_ref) / tf.where(close, tf.ones_like(delta), delta)
    multiplier = tf.stop_gradient(tf.where(close, derivative, secant))
    return with_gradient_of(y, x * multiplier)


def rescale_pair(
    x: Any, x_ref: Any, function: Callable[[Any], Any], epsilon: float
) -> tuple[Any, Any]:
    """``rescale`` for a plain function: (g(x) with the rescale gradient, g(x'))."""
    y_ref = function(x_ref)
    return rescale(x, x_ref, function(x), y_ref, function, epsilon), y_ref


def product(
    a: Any, a_ref: Any, b: Any, b_ref: Any, bilinear: Callable[[Any, Any], Any], y: Any
) -> Any:
    """Shapley split of a bilinear op: Δy = B(Δa, (b + b')/2) + B((a + a')/2, Δb)."""
    tf = _tf()
    a_mean = tf.stop_gradient((a + a_ref) / 2)
    b_mean = tf.stop_gradient((b + b_ref) / 2)
    surrogate = bilinear(a, b_mean) + bilinear(a_mean, b)
    return with_gradient_of(y, surrogate)


# ------------------------------------------------------------------ rules (ctx, inputs, refs) -> outputs
def bilinear_rule(ctx: RuleContext, inputs: list[Any], refs: list[Any]) -> list[Any]:
    """Mul / MatMul / Einsum / BatchMatMul / Conv with both operands varying."""
    (y,) = ctx.literal(inputs)
    rest = inputs[2:]

    def bilinear(a: Any, b: Any) -> Any:
        return ctx.literal([a, b, *rest])[0]

    return [product(inputs[0], refs[0], inputs[1], refs[1], bilinear, y)]


def divide_rule(ctx: RuleContext, inputs: list[Any], refs: list[Any]) -> list[Any]:
    """a / b = a · (1/b): reciprocal by rescale, then the product split."""
    tf = _tf()
    a, b = inputs
    a_ref, b_ref = refs
    (y,) = ctx.literal(inputs)
    inverse, inverse_ref = rescale_pair(b, b_ref, tf.math.reciprocal, ctx.epsilon)
    return [product(a, a_ref, inverse, inverse_ref, tf.multiply, y)]


def _maximum_pair(
    a: Any, a_ref: Any, b: Any, b_ref: Any, epsilon: float, sign: float
) -> tuple[Any, Any]:
    """max(a, b) = (a + b)/2 + |a - b|/2 (min with sign = -1); |·| by rescale. Returns (y, y')."""
    tf = _tf()
    gap, gap_ref = rescale_pair(a - b, a_ref - b_ref, tf.abs, epsilon)
    value = (a + b) / 2 + sign * gap / 2
    reference = (a_ref + b_ref) / 2 + sign * gap_ref / 2
    return value, reference


def maximum_rule(ctx: RuleContext, inputs: list[Any], refs: list[Any]) -> list[Any]:
    (y,) = ctx.literal(inputs)
    sign = 1.0 if ctx.op.type == "Maximum" else -1.0
    value, _ = _maximum_pair(inputs[0], refs[0], inputs[1], refs[1], ctx.epsilon, sign)
    return [with_gradient_of(y, value)]


def squared_difference_rule(ctx: RuleContext, inputs: list[Any], refs: list[Any]) -> list[Any]:
    """(a - b)²: a linear difference, then the square by its exact secant d + d'."""
    (y,) = ctx.literal(inputs)
    difference = inputs[0] - inputs[1]
    difference_ref = refs[0] - refs[1]
    multiplier = _tf().stop_gradient(difference + difference_ref)
    return [with_gradient_of(y, difference * multiplier)]


def _tree_reduce_max(x: Any, x_ref: Any, epsilon: float, sign: float) -> tuple[Any, Any]:
    """Max (sign 1) or min (-1) over the last axis as a tree of pairwise maxima (static size)."""
    tf = _tf()
    while x.shape[-1] > 1:
        size = x.shape[-1]
        half = size // 2
        a, b = x[..., :half], x[..., half : 2 * half]
        a_ref, b_ref = x_ref[..., :half], x_ref[..., half : 2 * half]
        m, m_ref = _maximum_pair(a, a_ref, b, b_ref, epsilon, sign)
        if size % 2:
            m = tf.concat([m, x[..., -1:]], axis=-1)
            m_ref = tf.concat([m_ref, x_ref[..., -1:]], axis=-1)
        x, x_ref = m, m_ref
    return x[..., 0], x_ref[..., 0]


def reduce_max_rule(ctx: RuleContext, inputs: list[Any], refs: list[Any]) -> list[Any]:
    """Max / Min over static axes: move them last, flatten, pairwise tree."""
    tf = _tf()
    (y,) = ctx.literal(inputs)
    x, x_ref = inputs[0], refs[0]
    rank = x.shape.rank
    reduced = _reduced_axes(ctx.op)
    kept = [a for a in range(rank) if a not in reduced]
    sizes = [x.shape[a] for a in reduced]
    order = kept + reduced
    flat_size = int(np.prod(sizes))

    def flatten(t: Any) -> Any:
        t = tf.transpose(t, order)
        shape = tf.concat([tf.shape(t)[: len(kept)], [flat_size]], axis=0)
        return tf.reshape(t, shape)

    sign = 1.0 if ctx.op.type == "Max" else -1.0
    value, _ = _tree_reduce_max(flatten(x), flatten(x_ref), ctx.epsilon, sign)
    value = tf.reshape(value, tf.shape(y))
    return [with_gradient_of(y, value)]


def max_pool_rule(ctx: RuleContext, inputs: list[Any], refs: list[Any]) -> list[Any]:
    """MaxPool (NHWC): windows as patches (linear), then the pairwise max tree per window."""
    tf = _tf()
    (y,) = ctx.literal(inputs)
    op = ctx.op
    ksize = list(op.get_attr("ksize"))
    strides = list(op.get_attr("strides"))
    padding = op.get_attr("padding")
    padding = padding.decode() if isinstance(padding, bytes) else padding
    x, x_ref = inputs[0], refs[0]
    if padding == "SAME":
        # Pad with one constant shared by both passes, below every value: it never wins a window.
        low = tf.stop_gradient(tf.minimum(tf.reduce_min(x), tf.reduce_min(x_ref)) - 1.0)
        pads = []
        for axis in (1, 2):
            size, k, s = x.shape[axis], ksize[axis], strides[axis]
            out = -(-size // s)
            total = max((out - 1) * s + k - size, 0)
            pads.append([total // 2, total - total // 2])
        paddings = [[0, 0], pads[0], pads[1], [0, 0]]
        x = tf.pad(x - low, paddings) + low
        x_ref = tf.pad(x_ref - low, paddings) + low

    channels = x.shape[-1]

    def windows(t: Any) -> Any:
        patches = tf.image.extract_patches(
            t, sizes=ksize, strides=strides, rates=[1, 1, 1, 1], padding="VALID"
        )
        shape = tf.concat([tf.shape(patches)[:3], [ksize[1] * ksize[2], channels]], axis=0)
        return tf.linalg.matrix_transpose(tf.reshape(patches, shape))

    value, _ = _tree_reduce_max(windows(x), windows(x_ref), ctx.epsilon, 1.0)
    return [with_gradient_of(y, value)]


def _softmax_parts(x: Any, x_ref: Any, axis: int, epsilon: float) -> tuple[Any, Any, Any, Any, Any]:
    """exp(x - c) and its sum for both passes, with one shift c shared by the passes."""
    tf = _tf()
    shift = tf.stop_gradient(
        tf.maximum(tf.reduce_max(x, axis, keepdims=True), tf.reduce_max(x_ref, axis, keepdims=True))
    )
    e, e_ref = rescale_pair(x - shift, x_ref - shift, tf.exp, epsilon)
    return (
        shift,
        e,
        e_ref,
        tf.reduce_sum(e, axis, keepdims=True),
        tf.reduce_sum(e_ref, axis, keepdims=True),
    )


def softmax_rule(ctx: RuleContext, inputs: list[Any], refs: list[Any]) -> list[Any]:
    """softmax = exp(x - c) · 1/Σexp(x - c): exp and reciprocal by rescale, then the product."""
    tf = _tf()
    (y,) = ctx.literal(inputs)
    _, e, e_ref, total, total_ref = _softmax_parts(inputs[0], refs[0], -1, ctx.epsilon)
    inverse, inverse_ref = rescale_pair(total, total_ref, tf.math.reciprocal, ctx.epsilon)
    return [product(e, e_ref, inverse, inverse_ref, tf.multiply, y)]


def log_softmax_rule(ctx: RuleContext, inputs: list[Any], refs: list[Any]) -> list[Any]:
    """log_softmax = x - c - log Σexp(x - c): exp and log by rescale."""
    tf = _tf()
    (y,) = ctx.literal(inputs)
    shift, _, _, total, total_ref = _softmax_parts(inputs[0], refs[0], -1, ctx.epsilon)
    log_total, _ = rescale_pair(total, total_ref, tf.math.log, ctx.epsilon)
    return [with_gradient_of(y, inputs[0] - shift - log_total)]


def elementwise_rule(ctx: RuleContext, inputs: list[Any], refs: list[Any]) -> list[Any]:
    """A nonlinear elementwise op whose single varying input is broadcast: rescale on the broadcast."""
    tf = _tf()
    (y,) = ctx.literal(inputs)
    (ref_y,) = ctx.literal(refs)
    (position,) = ctx.varying
    x = tf.broadcast_to(inputs[position], tf.shape(y))
    x_ref = tf.broadcast_to(refs[position], tf.shape(y))

    def function(x0: Any) -> Any:
        args = list(inputs)
        args[position] = x0
        return ctx.literal(args)[0]

    return [rescale(x, x_ref, y, ref_y, function, ctx.epsilon)]


def _reduced_axes(op: Any) -> list[int] | None:
    """The axes a Max/Min op reduces, when they and the input's rank are known statically."""
    rank = op.inputs[0].shape.rank
    axis_values = _constant_value(op.inputs[1])
    if rank is None or axis_values is None:
        return None
    return sorted({int(a) % rank for a in np.atleast_1d(axis_values)})


def rule_applies(op: Any) -> bool:
    """Whether the op's rule covers this use of it; if not, the op counts as one without a rule."""
    if op.type in ("Max", "Min"):
        axes = _reduced_axes(op)
        return axes is not None and all(op.inputs[0].shape[a] is not None for a in axes)
    if op.type == "MaxPool":
        padding = op.get_attr("padding")
        same = (padding.decode() if isinstance(padding, bytes) else padding) == "SAME"
        nhwc = op.get_attr("data_format") in (b"NHWC", "NHWC")
        return nhwc and not (same and None in op.inputs[0].shape[1:3])
    return True


def _constant_value(tensor: Any) -> Any:
    from tensorflow.python.framework import tensor_util

    return tensor_util.constant_value(tensor)


RULES: dict[str, Callable[[RuleContext, list[Any], list[Any]], list[Any]]] = {
    "Mul": bilinear_rule,
    "MatMul": bilinear_rule,
    "BatchMatMul": bilinear_rule,
    "BatchMatMulV2": bilinear_rule,
    "BatchMatMulV3": bilinear_rule,
    "Einsum": bilinear_rule,
    "Conv2D": bilinear_rule,
    "RealDiv": divide_rule,
    "Div": divide_rule,
    "Maximum": maximum_rule,
    "Minimum": maximum_rule,
    "SquaredDifference": squared_difference_rule,
    "Softmax": softmax_rule,
    "LogSoftmax": log_softmax_rule,
    "Max": reduce_max_rule,
    "Min": reduce_max_rule,
    "MaxPool": max_pool_rule,
}


def rule_for(op_type: str) -> Callable[[RuleContext, list[Any], list[Any]], list[Any]]:
    """The rule of ``op_type``; elementwise ops without an entry use the broadcast rescale rule."""
    return RULES.get(op_type, elementwise_rule)
