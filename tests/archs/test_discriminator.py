from __future__ import annotations

import pytest
import torch

from esrgan.archs.discriminator import VGGStyleDiscriminator


@pytest.mark.parametrize("size", [32, 64, 96, 128, 160])
def test_any_patch_size_divisible_by_32(size: int) -> None:
    d = VGGStyleDiscriminator(3, 8, input_size=size)
    out = d(torch.rand(2, 3, size, size))
    assert out.shape == (2, 1)
    assert d.linear1.in_features == 8 * 8 * (size // 32) ** 2


def test_basicsr_layout_at_128() -> None:
    # BasicSR's VGGStyleDiscriminator(num_in_ch=3, num_feat=64), input 128: same keys and shapes.
    sd = VGGStyleDiscriminator(3, 64, 128).state_dict()
    expected = {
        "conv0_0.weight": (64, 3, 3, 3),
        "conv0_0.bias": (64,),
        "conv0_1.weight": (64, 64, 4, 4),
        "conv1_0.weight": (128, 64, 3, 3),
        "conv1_1.weight": (128, 128, 4, 4),
        "conv2_0.weight": (256, 128, 3, 3),
        "conv2_1.weight": (256, 256, 4, 4),
        "conv3_0.weight": (512, 256, 3, 3),
        "conv3_1.weight": (512, 512, 4, 4),
        "conv4_0.weight": (512, 512, 3, 3),
        "conv4_1.weight": (512, 512, 4, 4),
        "bn4_1.running_var": (512,),
        "linear1.weight": (100, 512 * 4 * 4),
        "linear2.weight": (1, 100),
        "linear2.bias": (1,),
    }
    for key, shape in expected.items():
        assert tuple(sd[key].shape) == shape, key
    # Convolutions followed by BatchNorm have no bias; conv0_0 (no BatchNorm after it) has one.
    assert not any(k.startswith("conv") and k.endswith(".bias") and k != "conv0_0.bias" for k in sd)
    bns = {k.split(".")[0] for k in sd if k.startswith("bn")}
    assert bns == {"bn0_1", "bn1_0", "bn1_1", "bn2_0", "bn2_1", "bn3_0", "bn3_1", "bn4_0", "bn4_1"}


def test_rejects_bad_sizes() -> None:
    with pytest.raises(ValueError, match="multiple of 32"):
        VGGStyleDiscriminator(3, 8, input_size=100)
    d = VGGStyleDiscriminator(3, 8, input_size=64)
    with pytest.raises(ValueError, match="expects 64x64 patches"):
        d(torch.rand(1, 3, 96, 96))


def test_channels_last_gives_the_same_logits() -> None:
    d = VGGStyleDiscriminator(3, 8, input_size=64).eval()
    x = torch.rand(2, 3, 64, 64)
    ref = d(x)
    d.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
    out = d(x.contiguous(memory_format=torch.channels_last))
    torch.testing.assert_close(out, ref, rtol=1e-4, atol=1e-5)
