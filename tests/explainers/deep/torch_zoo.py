"""Small real PyTorch models for the Deep explainer tests and benchmark (defined once, here)."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

# name -> (module factory, functional form): every elementwise activation of the issue.
ACTIVATIONS: dict[str, tuple[Callable[[], nn.Module], Callable[[torch.Tensor], torch.Tensor]]] = {
    "relu": (nn.ReLU, F.relu),
    "relu6": (nn.ReLU6, F.relu6),
    "leaky_relu": (lambda: nn.LeakyReLU(0.1), lambda x: F.leaky_relu(x, 0.1)),
    "prelu": (nn.PReLU, lambda x: F.prelu(x, torch.tensor([0.2], dtype=x.dtype))),
    "elu": (nn.ELU, F.elu),
    "selu": (nn.SELU, F.selu),
    "celu": (nn.CELU, F.celu),
    "gelu": (nn.GELU, F.gelu),
    "gelu_tanh": (lambda: nn.GELU(approximate="tanh"), lambda x: F.gelu(x, approximate="tanh")),
    "silu": (nn.SiLU, F.silu),
    "silu_by_hand": (nn.SiLU, lambda x: x * torch.sigmoid(x)),
    "mish": (nn.Mish, F.mish),
    "hardswish": (nn.Hardswish, F.hardswish),
    "hardsigmoid": (nn.Hardsigmoid, F.hardsigmoid),
    "hardtanh": (nn.Hardtanh, F.hardtanh),
    "softplus": (nn.Softplus, F.softplus),
    "softsign": (nn.Softsign, F.softsign),
    "sigmoid": (nn.Sigmoid, torch.sigmoid),
    "tanh": (nn.Tanh, torch.tanh),
    "logsigmoid": (nn.LogSigmoid, F.logsigmoid),
    "exp": (None, lambda x: torch.exp(x / 4)),
    "log": (None, lambda x: torch.log(x.abs() + 1)),
    "sqrt": (None, lambda x: torch.sqrt(x * x + 1)),
    "rsqrt": (None, lambda x: torch.rsqrt(x * x + 1)),
    "reciprocal": (None, lambda x: torch.reciprocal(x * x + 1)),
    "pow": (None, lambda x: x.pow(3) / 10),
    "abs": (None, torch.abs),
    "erf": (None, torch.erf),
    "clamp": (None, lambda x: x.clamp(-0.5, 0.5)),
    "sin": (None, torch.sin),
    "cos": (None, torch.cos),
}


class FunctionModule(nn.Module):
    """Wraps a plain function as a module (for the functional forms)."""

    def __init__(self, fn: Callable[[torch.Tensor], torch.Tensor]) -> None:
        super().__init__()
        self.fn = fn

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fn(x)


def mlp(activation: Callable[[], nn.Module], features: int = 6, outputs: int = 3) -> nn.Module:
    return nn.Sequential(
        nn.Linear(features, 12), activation(), nn.Linear(12, 8), activation(), nn.Linear(8, outputs)
    )


def gelu_cnn(outputs: int = 10) -> nn.Module:
    """The issue's starting report: Conv2d, MaxPool2d, nn.GELU, Dropout, Linear on 1x28x28."""
    return nn.Sequential(
        nn.Conv2d(1, 8, 3),
        nn.GELU(),
        nn.MaxPool2d(2),
        nn.Dropout(0.25),
        nn.Conv2d(8, 16, 3),
        nn.GELU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(16 * 5 * 5, 32),
        nn.GELU(),
        nn.Dropout(0.5),
        nn.Linear(32, outputs),
    )


def single_channel_convs() -> nn.Module:
    """Convolutions with one input channel per group: strided, padded and dilated, then depthwise."""
    return nn.Sequential(
        nn.Conv2d(1, 4, 3, stride=2, padding=1, dilation=2),
        nn.GELU(),
        nn.Conv2d(4, 4, 3, padding=1, groups=4),
        nn.Tanh(),
        nn.Flatten(),
        nn.Linear(64, 3),
    )


class ReusedActivation(nn.Module):
    """One activation module instance called three times."""

    def __init__(self) -> None:
        super().__init__()
        self.a, self.b, self.c = nn.Linear(6, 10), nn.Linear(10, 10), nn.Linear(10, 2)
        self.act = nn.GELU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.c(self.act(self.b(self.act(self.a(x))))) + self.act(x).sum(1, keepdim=True)


class InplaceReLU(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a, self.b = nn.Linear(6, 10), nn.Linear(10, 2)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.relu(self.a(x))
        h += 0.5  # in-place affine after an in-place nonlinearity
        return self.b(F.relu(h - 1, inplace=True))


def layernorm_mlp() -> nn.Module:
    return nn.Sequential(
        nn.Linear(6, 16),
        nn.LayerNorm(16),
        nn.SiLU(),
        nn.Linear(16, 16),
        nn.RMSNorm(16),
        nn.Tanh(),
        nn.Linear(16, 3),
    )


class Composites(nn.Module):
    """log_softmax, logsumexp, GroupNorm, InstanceNorm and a causally masked softmax, one each."""

    def __init__(self) -> None:
        super().__init__()
        self.a, self.b = nn.Linear(6, 16), nn.Linear(68, 3)
        self.group = nn.GroupNorm(2, 4)
        self.instance = nn.InstanceNorm1d(4, affine=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.a(x)
        square = h.reshape(-1, 4, 4)
        causal = torch.ones(4, 4, dtype=torch.bool).triu(1)
        parts = [
            F.log_softmax(h, dim=-1),
            torch.logsumexp(square, dim=-1),
            torch.softmax(square.masked_fill(causal, float("-inf")), dim=-1).flatten(1),
            self.group(square).flatten(1),
            self.instance(square).flatten(1),
        ]
        return self.b(torch.cat(parts, dim=1))


class TransformerBlock(nn.Module):
    """Pre-norm encoder block: LayerNorm, attention, residual, LayerNorm, GELU MLP, residual, head.

    ``attention`` picks how attention is written: 'mha' (nn.MultiheadAttention), 'sdpa'
    (F.scaled_dot_product_attention) or 'manual' (matmul, softmax, matmul by hand).
    """

    def __init__(
        self, dim: int = 16, heads: int = 2, outputs: int = 3, attention: str = "mha"
    ) -> None:
        super().__init__()
        self.heads, self.attention = heads, attention
        self.norm1, self.norm2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.mha = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.qkv, self.proj = nn.Linear(dim, 3 * dim), nn.Linear(dim, dim)
        self.mlp = nn.Sequential(nn.Linear(dim, 2 * dim), nn.GELU(), nn.Linear(2 * dim, dim))
        self.head = nn.Linear(dim, outputs)

    def _attend(self, x: torch.Tensor) -> torch.Tensor:
        if self.attention == "mha":
            return self.mha(x, x, x)[0]
        batch, length, dim = x.shape
        q, k, v = (
            t.reshape(batch, length, self.heads, dim // self.heads).transpose(1, 2)
            for t in self.qkv(x).chunk(3, dim=-1)
        )
        if self.attention == "sdpa":
            out = F.scaled_dot_product_attention(q, k, v)
        else:
            weights = torch.softmax(q @ k.transpose(-2, -1) / (dim // self.heads) ** 0.5, dim=-1)
            out = weights @ v
        return self.proj(out.transpose(1, 2).reshape(batch, length, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self._attend(self.norm1(x))
        x = x + self.mlp(self.norm2(x))
        return self.head(x.mean(1))


class ResidualBlock(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        out += x
        return self.relu(out)


class SmallResNet(nn.Module):
    """Stem conv + BatchNorm + ReLU + max pooling (padded), two residual blocks, global average."""

    def __init__(self, outputs: int = 4) -> None:
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(3, 8, 3, padding=1, bias=False),
            nn.BatchNorm2d(8),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(3, stride=2, padding=1),
        )
        self.blocks = nn.Sequential(ResidualBlock(8), ResidualBlock(8))
        self.head = nn.Linear(8, outputs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.blocks(self.stem(x))
        return self.head(F.adaptive_avg_pool2d(x, 1).flatten(1))


def with_batchnorm_statistics(model: nn.Module, batches: int = 3) -> nn.Module:
    """Give BatchNorm layers non-trivial running statistics (a few training-mode passes)."""
    model.train()
    with torch.no_grad():
        for _ in range(batches):
            model(torch.randn(8, 3, 8, 8) * 2 + 0.5)
    return model.eval()
