"""X3D prepared for inference on the CPU: the same function as ``x3d.X3D``, in fewer, faster steps.

``inference_network(model, device)`` is what a ``Predictor`` runs for an X3D (the family
table's ``Family.inference``). On the CPU it is a copy of the model with

- every BatchNorm folded into the conv before it: ``BN(conv(x)) = conv'(x)`` with
  ``w' = w * s`` and ``b' = (b - mean) * s + beta``, ``s = gamma / sqrt(var + eps)`` (eval mode:
  the running statistics), so 80-odd BatchNorm passes over the activations are gone (the stem,
  three in each bottleneck, the width-changing shortcuts, the head's projection);
- its parameters, and so every activation, in ``torch.channels_last_3d`` (N, T, H, W, C in
  memory), which oneDNN's convolutions run natively: in the default (N, C, T, H, W) layout each
  depthwise 3x3x3 conv reorders its input and output, and the 1x1x1 convs are slower.

The result equals the model's up to float rounding (the folded weights round differently):
``tests/test_x3d_fast.py`` holds the bounds, fp32 and bf16. BENCHMARKS.md has the measurement
(X3D-M, 2 AVX-512 cores). The model itself is left as it is, so its state dict, layout and
training behaviour stay pytorchvideo's. On other devices (CUDA) nothing is measured, and the
model runs as it is.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from .x3d import X3D, Bottleneck, ProjectedPool, ResBlock, Stem

MEMORY_FORMAT = torch.channels_last_3d


def fold(conv: nn.Conv3d, norm: nn.BatchNorm3d) -> None:
    """Fold the eval-mode ``norm`` that follows ``conv`` into ``conv``'s weight and bias."""
    mean, var = norm.running_mean, norm.running_var
    if mean is None or var is None:
        raise ValueError("a BatchNorm without running statistics cannot be folded")
    with torch.no_grad():
        gamma = norm.weight if norm.weight is not None else torch.ones_like(var)
        beta = norm.bias if norm.bias is not None else torch.zeros_like(mean)
        scale = gamma / torch.sqrt(var + norm.eps)
        bias = beta - mean * scale if conv.bias is None else beta + (conv.bias - mean) * scale
        conv.weight.mul_(scale.reshape(-1, *[1] * (conv.weight.dim() - 1)))
        conv.bias = nn.Parameter(bias, requires_grad=False)


def fold_batch_norms(model: X3D) -> X3D:
    """A copy of ``model`` in eval mode with every BatchNorm folded into the conv before it
    (each BatchNorm replaced by an identity; the TokenLearner block has none)."""
    model = copy.deepcopy(model).eval()
    for module in model.modules():
        if isinstance(module, Stem):
            fold(module.conv.conv_xy, module.norm)
            module.register_module("norm", nn.Identity())
        elif isinstance(module, Bottleneck):
            norm_b = module.norm_b[0]  # norm_b is (BN, SE gate)
            assert isinstance(norm_b, nn.BatchNorm3d)
            fold(module.conv_a, module.norm_a)
            fold(module.conv_b, norm_b)
            fold(module.conv_c, module.norm_c)
            module.register_module("norm_a", nn.Identity())
            module.norm_b[0] = nn.Identity()
            module.register_module("norm_c", nn.Identity())
        elif isinstance(module, ResBlock) and module.branch1_norm is not None:
            assert module.branch1_conv is not None  # a BN on the shortcut follows its conv
            fold(module.branch1_conv, module.branch1_norm)
            module.branch1_norm = None
        elif isinstance(module, ProjectedPool):
            fold(module.pre_conv, module.pre_norm)
            module.register_module("pre_norm", nn.Identity())
    return model


class ChannelsLast(nn.Module):
    """Runs ``network`` (its parameters channels-last already) on a channels-last input."""

    def __init__(self, network: nn.Module) -> None:
        super().__init__()
        self.network = network

    def forward(self, video: torch.Tensor) -> torch.Tensor:
        logits: torch.Tensor = self.network(video.contiguous(memory_format=MEMORY_FORMAT))
        return logits


def lean_activations(model: X3D) -> None:
    """In place: Swish as one SiLU kernel (``x * sigmoid(x)`` computed in one pass, not two with
    a temporary between them), and the ReLUs of the stem, stages and head in place, which is
    safe in ``model.blocks`` once its BatchNorms are folded: each ReLU there reads a tensor that
    nothing reads after it (a conv's output or the residual sum). The TokenLearner block, outside
    ``blocks``, is left as it is."""
    for module in model.blocks.modules():
        if isinstance(module, Bottleneck):
            module.register_module("act_b", nn.SiLU())
        elif isinstance(module, nn.ReLU):
            module.inplace = True


def inference_network(model: nn.Module, device: torch.device) -> nn.Module:
    """What to run for the X3D ``model`` (eval mode) on ``device``: on the CPU a folded,
    channels-last copy (see the module's docstring); elsewhere the model itself."""
    if device.type != "cpu" or not isinstance(model, X3D):
        return model
    fast = fold_batch_norms(model)
    lean_activations(fast)
    for module in fast.modules():
        if isinstance(module, nn.Conv3d):  # not the TokenLearner block's 2-D convs
            module.to(memory_format=MEMORY_FORMAT)
    return ChannelsLast(fast)


__all__ = ["MEMORY_FORMAT", "ChannelsLast", "fold", "fold_batch_norms", "inference_network", "lean_activations"]
