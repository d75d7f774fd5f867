"""An X3D runs faster on the CPU as the same function: BatchNorms folded, channels-last
(vidclass.models.x3d_fast, applied by the Predictor through the family table)."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

import vidclass
from vidclass import Predictor
from vidclass.checkpoints import VideoClassifier
from vidclass.models import X3D
from vidclass.models.x3d import Swish
from vidclass.precision import autocast

CPU = torch.device("cpu")
MEMORY_FORMAT = torch.channels_last_3d
# max |fast - plain| / max |plain| over the logits: fp32 rounding, and bf16's (the folded
# weights round to bf16 differently from the unfolded ones)
TOLERANCE = {"fp32": 1e-5, "bf16": 2e-2}  # measured: 6e-7 and 6e-3


def _x3d(name: str) -> VideoClassifier:
    """A random X3D whose BatchNorms hold statistics (a fresh one's are the identity)."""
    clf = vidclass.create_model(name, labels=[f"c{i}" for i in range(7)], seed=0)
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for m in clf.model.modules():
            if isinstance(m, nn.BatchNorm3d):
                n = m.num_features
                m.running_mean.copy_(torch.randn(n, generator=g) * 0.2)
                m.running_var.copy_(torch.rand(n, generator=g) + 0.5)
                m.weight.copy_(torch.rand(n, generator=g) + 0.5)
                m.bias.copy_(torch.randn(n, generator=g) * 0.2)
        clf.model.head.proj.weight.mul_(50)  # logits of order 1, not 1e-2
    clf.model.eval()
    return clf


def _views(frames: int) -> torch.Tensor:
    return torch.randn(2, 3, frames, 64, 64, generator=torch.Generator().manual_seed(2))


class _Seen:
    """Every module call in the process while open: its type and its first input's layout."""

    def __init__(self) -> None:
        self.calls: list[tuple[type, bool]] = []

    def __enter__(self) -> _Seen:
        def hook(module: nn.Module, args: tuple) -> None:
            if args and isinstance(args[0], torch.Tensor) and args[0].dim() == 5:
                self.calls.append((type(module), args[0].is_contiguous(memory_format=MEMORY_FORMAT)))

        self.handle = torch.nn.modules.module.register_module_forward_pre_hook(hook)
        return self

    def __exit__(self, *exc: object) -> None:
        self.handle.remove()


@pytest.mark.parametrize("name", ["x3d-xs", "x3d-s-tl8"])
@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_predictor_logits_equal_the_plain_x3d(name, precision):
    clf = _x3d(name)
    plain = copy.deepcopy(clf.model)
    views = _views(clf.preprocessing.num_frames)
    with torch.inference_mode():
        with autocast(precision, CPU):
            want = plain(views).float()
        got = Predictor(clf, device="cpu", precision=precision).logits(views)
    scale = float(want.abs().max())
    assert scale > 0.5
    assert float((got - want).abs().max()) <= TOLERANCE[precision] * scale


def test_the_predictor_runs_an_x3d_folded_and_channels_last_on_the_cpu():
    clf = _x3d("x3d-xs")
    before = {k: v.clone() for k, v in clf.model.state_dict().items()}
    predictor = Predictor(clf, device="cpu", precision="fp32")
    with _Seen() as seen:
        predictor.logits(_views(clf.preprocessing.num_frames))
    convs = [layout for kind, layout in seen.calls if kind is nn.Conv3d]
    assert len(convs) > 50 and all(convs)  # every conv reads a channels-last input
    kinds = {kind for kind, _ in seen.calls}
    assert not {k for k in kinds if issubclass(k, nn.modules.batchnorm._BatchNorm)}  # folded
    assert nn.SiLU in kinds and Swish not in kinds  # Swish as one kernel
    # the classifier's own model is left as it was: BatchNorms, contiguous, the same state
    model = clf.model
    assert isinstance(model, X3D) and any(isinstance(m, nn.BatchNorm3d) for m in model.modules())
    assert all(p.is_contiguous() for p in model.parameters())
    state = model.state_dict()
    assert state.keys() == before.keys() and all(torch.equal(state[k], before[k]) for k in before)


def test_inference_network_is_a_folded_channels_last_copy_on_the_cpu_only():
    from vidclass.models.x3d_fast import inference_network

    model = _x3d("x3d-xs").model
    fast = inference_network(model, CPU)
    assert not any(isinstance(m, nn.BatchNorm3d) for m in fast.modules())
    five_d = [p for p in fast.parameters() if p.dim() == 5]
    assert five_d and all(p.is_contiguous(memory_format=MEMORY_FORMAT) for p in five_d)
    assert inference_network(model, torch.device("meta")) is model  # unmeasured devices: as it is


def test_a_vivit_runs_as_it_is():
    clf = vidclass.create_model("vivit-micro", labels=["a", "b"], seed=0)
    predictor = Predictor(clf, device="cpu", precision="fp32")
    ran = []
    clf.model.register_forward_hook(lambda *_: ran.append(True))
    prep = clf.preprocessing
    predictor.logits(torch.zeros(1, 3, prep.num_frames, prep.crop_size, prep.crop_size))
    assert ran == [True]
