"""TubeletEmbedding under bf16 autocast on the CPU: the Conv3d computed as one matrix product.

oneDNN's bf16 Conv3d with kernel = stride ran about 10x slower than the same product, so under
CPU bf16 autocast the embedding cuts out the tubelets and multiplies them by the kernel. It must
be the same function as the Conv3d, remainder frames and pixels dropped as the Conv3d drops them."""

from __future__ import annotations

import pytest
import torch

from vidclass.models.layers import TubeletEmbedding


@pytest.mark.parametrize(
    ("tubelet", "shape"),
    [
        ((2, 16, 16), (2, 3, 8, 64, 48)),  # ViViT-B's tubelet, non-square frames
        ((4, 8, 8), (1, 3, 16, 64, 64)),  # the bundled model's
        ((2, 4, 4), (1, 3, 7, 18, 21)),  # remainders in every axis: dropped, as by the Conv3d
    ],
)
def test_the_product_is_the_conv3d(tubelet: tuple[int, int, int], shape: tuple[int, ...]) -> None:
    torch.manual_seed(0)
    embed = TubeletEmbedding(3, 24, tubelet).double()
    x = torch.randn(*shape, dtype=torch.float64)
    conv = embed.proj(x).flatten(3).permute(0, 2, 3, 1)  # what forward returns without autocast
    assert torch.allclose(embed._as_matmul(x), conv, rtol=0, atol=1e-12)
    assert torch.equal(embed(x), conv)  # no autocast: the Conv3d itself


def test_bf16_autocast_on_the_cpu_takes_the_product(monkeypatch: pytest.MonkeyPatch) -> None:
    torch.manual_seed(0)
    embed = TubeletEmbedding(3, 32, (2, 8, 8)).eval()
    x = torch.randn(1, 3, 8, 32, 32)
    calls: list[int] = []
    real = TubeletEmbedding._as_matmul

    def spy(self: TubeletEmbedding, tensor: torch.Tensor) -> torch.Tensor:
        calls.append(1)
        return real(self, tensor)

    monkeypatch.setattr(TubeletEmbedding, "_as_matmul", spy)
    with torch.inference_mode():
        fp32 = embed(x)
        assert calls == []
        with torch.autocast("cpu", dtype=torch.bfloat16):
            low = embed(x)
    assert calls == [1]
    assert low.dtype == torch.bfloat16 and low.shape == fp32.shape
    assert (low.float() - fp32).abs().max() < 0.05
