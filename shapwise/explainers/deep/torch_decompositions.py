"""Composite PyTorch operations rewritten as plain torch code (norms, attention, max and max pooling).

The engine runs these instead of the original call, under its interception, in both passes, so each
inner operation gets its own exact rule (``Decompose`` in ``torch_rules``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F


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


def amax(input: torch.Tensor, dim: Any = (), keepdim: bool = False) -> torch.Tensor:
    dims = _dims(dim, input.dim())
    result = input
    for d in dims:
        result = _max_along(result, d, keepdim=True)
    if not keepdim:
        for d in reversed(dims):
            result = result.squeeze(d)
    return result


def amin(input: torch.Tensor, dim: Any = (), keepdim: bool = False) -> torch.Tensor:
    return -amax(-input, dim, keepdim)


def reduce_max(
    input: torch.Tensor, dim: Any = None, keepdim: bool = False, *, out: Any = None
) -> Any:
    if isinstance(dim, torch.Tensor):  # torch.max(a, b): elementwise
        return _pairwise_max(input, dim)
    if dim is None:
        return amax(input.reshape(-1), 0)
    values = _max_along(input, dim, keepdim)
    with torch._C.DisableTorchFunction():
        indices = input.detach().argmax(dim, keepdim=keepdim)
    return torch.return_types.max((values, indices))


def reduce_min(
    input: torch.Tensor, dim: Any = None, keepdim: bool = False, *, out: Any = None
) -> Any:
    if isinstance(dim, torch.Tensor):
        return -_pairwise_max(-input, -dim)
    if dim is None:
        return amin(input.reshape(-1), 0)
    values = -_max_along(-input, dim, keepdim)
    with torch._C.DisableTorchFunction():
        indices = input.detach().argmin(dim, keepdim=keepdim)
    return torch.return_types.min((values, indices))


def maximum(input: torch.Tensor, other: torch.Tensor, *, out: Any = None) -> torch.Tensor:
    return _pairwise_max(input, other)


def minimum(input: torch.Tensor, other: torch.Tensor, *, out: Any = None) -> torch.Tensor:
    return -_pairwise_max(-input, -other)


def as_tuple(value: Any, n: int) -> tuple[int, ...]:
    return tuple(value) if isinstance(value, (list, tuple)) else (value,) * n


def max_pool(n: int) -> Callable[..., Any]:
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
        kernel = as_tuple(kernel_size, n)
        strides = kernel if stride is None or stride == [] else as_tuple(stride, n)
        pads, dilations = as_tuple(padding, n), as_tuple(dilation, n)
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


def adaptive_max_pool(n: int) -> Callable[..., Any]:
    def pool(input: torch.Tensor, output_size: Any, return_indices: bool = False) -> Any:
        sizes = as_tuple(output_size, n)
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


def group_norm(
    input: torch.Tensor,
    num_groups: int,
    weight: torch.Tensor | None = None,
    bias: torch.Tensor | None = None,
    eps: float = 1e-5,
) -> torch.Tensor:
    grouped = input.reshape(input.shape[0], num_groups, -1)
    result = F.layer_norm(grouped, grouped.shape[-1:], eps=eps).reshape(input.shape)
    return _channel_affine(result, weight, bias)


def instance_norm(
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


def attention(
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


def multi_head_attention(
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


def glu(input: torch.Tensor, dim: int = -1) -> torch.Tensor:
    first, second = input.chunk(2, dim)
    return first * torch.sigmoid(second)


def softmin(input: torch.Tensor, dim: int | None = None, _stacklevel: int = 3, dtype: Any = None):
    return torch.softmax(
        -input, dim if dim is not None else (0 if input.dim() in (0, 1, 3) else 1), dtype=dtype
    )
