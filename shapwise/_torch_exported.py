"""A torch.export program as a module the explainers can run, differentiate and set to eval."""

from __future__ import annotations

from typing import Any

import torch


class ExportedModule(torch.nn.Module):
    """The module of an exported program, which was traced in eval mode.

    The program's own module refuses ``train()`` and ``eval()``; here they only set the flags,
    since the traced operations are fixed.
    """

    def __init__(self, program: Any) -> None:
        super().__init__()
        self.program = program.module()

    def forward(self, *inputs: Any) -> Any:
        return self.program(*inputs)

    def train(self, mode: bool = True) -> ExportedModule:
        for module in self.modules():
            module.training = mode
        return self
