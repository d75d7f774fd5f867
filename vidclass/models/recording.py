"""Recording mode: the modules that keep what they compute during a forward, for explanations.

Outside a ``recording`` block nothing changes: attention runs through the fused
``F.scaled_dot_product_attention`` and nothing is kept. Inside one, every ``Recorder`` appends
to its own list: ``Attention`` computes softmax(q k^T / sqrt(head_dim)) explicitly and keeps
those probabilities (one tensor per call of its kernel), TokenLearner keeps its weights over
space and TokenFuser its weights over the learned tokens. ``vidclass.explanation`` reads them.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn


class Recorder(nn.Module):
    """A module that can keep tensors it computes; ``records`` is None unless recording."""

    def __init__(self) -> None:
        super().__init__()
        self.records: list[torch.Tensor] | None = None

    def keep(self, tensor: torch.Tensor) -> None:
        if self.records is not None:
            self.records.append(tensor.detach())


class Recording:
    """What each ``Recorder`` of a model kept during the forward passes of one ``recording``."""

    def __init__(self, recorders: list[Recorder]):
        self._records: dict[int, list[torch.Tensor]] = {id(m): [] for m in recorders}

    def of(self, module: nn.Module) -> list[torch.Tensor]:
        """The tensors ``module`` kept, in the order it computed them."""
        return self._records[id(module)]


@contextmanager
def recording(model: nn.Module) -> Iterator[Recording]:
    """Switch every ``Recorder`` in ``model`` into recording mode for the block's duration."""
    recorders = [m for m in model.modules() if isinstance(m, Recorder)]
    found = Recording(recorders)
    for module in recorders:
        module.records = found.of(module)
    try:
        yield found
    finally:
        for module in recorders:
            module.records = None
