from __future__ import annotations

import copy

import pytest
import spandrel
import torch
from spandrel.architectures.SPAN import SPAN as SpandrelSPAN  # noqa: N811

from esrgan.archs.span import SPAN
from esrgan.archs.span.net import Conv3XC

VARIANTS = [
    {},
    {"norm": False},
    {"upscale": 2, "feature_channels": 16},
    {"upscale": 1, "feature_channels": 8},
    {"upscale": 3, "feature_channels": 8, "num_in_ch": 1, "num_out_ch": 1, "norm": False},
    {"upscale": 2, "feature_channels": 8, "num_in_ch": 4, "num_out_ch": 4, "norm": False},
]


def spandrel_span(**kwargs: object) -> SpandrelSPAN:
    """spandrel's SPAN with every branch weight moved off its initial value (so a stale eval_conv would show)."""
    args = {"num_in_ch": 3, "num_out_ch": 3, **kwargs}
    net = SpandrelSPAN(**args)  # type: ignore[arg-type]
    with torch.no_grad():
        for name, p in net.named_parameters():
            if "eval_conv" not in name:
                p.mul_(1.0 + 0.2 * torch.randn_like(p))
    return net


@pytest.mark.parametrize("kwargs", VARIANTS)
def test_output_equals_spandrel_span(kwargs: dict[str, object]) -> None:
    theirs = spandrel_span(**kwargs)
    state = theirs.state_dict()
    descriptor = spandrel.ModelLoader().load_from_state_dict(dict(state))
    mine = SPAN(**kwargs)  # type: ignore[arg-type]
    mine.load_state_dict(state, strict=True)
    mine.eval()
    x = torch.rand(2, mine.num_in_ch, 11, 14)
    with torch.inference_mode():
        expected = descriptor.model.eval()(x)
        got = mine(x)
    assert got.shape == (2, mine.num_out_ch, 11 * mine.scale, 14 * mine.scale)
    assert torch.allclose(got, expected, rtol=0, atol=1e-5 * max(1.0, float(expected.abs().max())))
    assert set(mine.state_dict()) == set(state)


def test_training_branches_equal_the_fold() -> None:
    net = SPAN(feature_channels=8, upscale=2)
    x = torch.rand(1, 3, 9, 10)
    with torch.no_grad():
        trained = net.train()(x)
        folded = net.eval()(x)
    assert torch.allclose(trained, folded, rtol=1e-4, atol=1e-4 * float(trained.abs().max()))


def test_fold_follows_every_weight_change() -> None:
    conv = Conv3XC(4, 6).eval()
    x = torch.rand(1, 4, 7, 7)
    before = conv(x)
    with torch.no_grad():
        conv.conv[1].weight.add_(0.5)  # in place, as an optimiser step or an EMA update does
    after = conv(x)
    assert not torch.allclose(before, after)
    assert torch.allclose(after, conv.train()(x).detach(), atol=1e-5)
    conv.eval()
    conv.sk.weight = torch.nn.Parameter(torch.zeros_like(conv.sk.weight))  # replaced, as load(assign=True) does
    assert torch.allclose(conv(x), conv.train()(x).detach(), atol=1e-5)
    conv.eval().double()  # Module.to swaps .data under the same Parameter objects
    assert conv.folded()[0].dtype == torch.float64 and conv(x.double()).dtype == torch.float64


def test_fold_is_cached_between_calls() -> None:
    conv = Conv3XC(3, 3).eval()
    first = conv.folded()
    assert conv.folded() is first


def test_state_dict_holds_the_current_fold() -> None:
    net = SPAN(feature_channels=8, upscale=2)
    with torch.no_grad():
        net.conv_1.conv[0].weight.mul_(3.0)
    state = net.state_dict()
    weight, bias = net.conv_1.folded()
    assert torch.equal(state["conv_1.eval_conv.weight"], weight)
    assert torch.equal(state["conv_1.eval_conv.bias"], bias)
    assert "mean" not in state and "no_norm" not in state  # normalisation is not stored unless switched off
    assert "no_norm" in SPAN(norm=False, feature_channels=8).state_dict()


def test_trains_through_the_branches_only() -> None:
    net = SPAN(feature_channels=8, upscale=2).train()
    x, target = torch.rand(2, 3, 8, 8), torch.rand(2, 3, 16, 16)
    trainable = [p for p in net.parameters() if p.requires_grad]
    optimizer = torch.optim.Adam(trainable, lr=1e-3)
    losses = []
    for _ in range(5):
        loss = torch.nn.functional.l1_loss(net(x), target)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0]
    assert net.conv_1.eval_conv.weight.grad is None and net.conv_1.sk.weight.grad is not None


def test_deep_copy_in_eval_mode_runs_its_own_weights() -> None:
    # The EMA keeps a deep copy in eval mode and averages weights into it in place.
    net = SPAN(feature_channels=8, upscale=2).eval()
    x = torch.rand(1, 3, 8, 8)
    net(x)  # fold cached
    ema = copy.deepcopy(net)
    with torch.no_grad():
        torch._foreach_lerp_(list(ema.parameters()), [torch.zeros_like(p) for p in ema.parameters()], 0.5)
        expected = ema.train()(x)
    assert torch.allclose(ema.eval()(x), expected, atol=1e-4 * float(expected.abs().max()))


def test_bf16_autocast_folds_in_fp32() -> None:
    net = SPAN(feature_channels=8, upscale=2).eval()
    x = torch.rand(1, 3, 12, 12)
    with torch.inference_mode():
        reference = net(x)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            low = net(x)
        weight, _ = net.conv_1.folded()
    assert weight.dtype == torch.float32
    assert float((low.float() - reference).abs().max()) < 0.05 * float(reference.abs().max())


def test_hparams_rebuild_the_same_network() -> None:
    for kwargs in VARIANTS:
        net = SPAN(**kwargs)  # type: ignore[arg-type]
        again = SPAN(**net.hparams())  # type: ignore[arg-type]
        assert {k: v.shape for k, v in again.state_dict().items()} == {k: v.shape for k, v in net.state_dict().items()}
    custom = SPAN(img_range=1.0, rgb_mean=(0.5, 0.5, 0.5))
    assert custom.hparams()["img_range"] == 1.0 and custom.hparams()["rgb_mean"] == [0.5, 0.5, 0.5]
    assert "img_range" not in SPAN().hparams()


def test_normalisation_needs_rgb_input() -> None:
    with pytest.raises(ValueError, match="num_in_ch=3"):
        SPAN(num_in_ch=1, num_out_ch=1)
    with pytest.raises(ValueError, match="positive"):
        SPAN(feature_channels=0)


def test_plain_training_starts_as_the_reference_and_saves_a_reference_file() -> None:
    torch.manual_seed(0)
    plain = SPAN(feature_channels=8, upscale=2, reparam=False)
    torch.manual_seed(0)
    reference = SPAN(feature_channels=8, upscale=2)
    x = torch.rand(1, 3, 10, 12)
    with torch.no_grad():
        assert torch.equal(plain.eval()(x), reference.eval()(x))  # the same function at the start
    trainable = {n for n, p in plain.named_parameters() if p.requires_grad}
    assert "conv_1.eval_conv.weight" in trainable and not any(".sk." in n or ".conv." in n for n in trainable)
    plain.train()
    optimizer = torch.optim.Adam([p for p in plain.parameters() if p.requires_grad], lr=1e-2)
    for _ in range(3):
        loss = plain(x).abs().mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    state = plain.eval().state_dict()
    assert plain.hparams()["reparam"] is False
    # Branches that fold exactly to the trained convolution: spandrel and the reference class compute the same.
    descriptor = spandrel.ModelLoader().load_from_state_dict(dict(state))
    again = SPAN(feature_channels=8, upscale=2)
    again.load_state_dict(state)
    with torch.inference_mode():
        expected = plain(x)
        assert torch.equal(descriptor.model.eval()(x), expected)
        assert torch.equal(again.eval()(x), expected)


def test_plain_training_refolds_what_it_loads() -> None:
    reference = spandrel_span(feature_channels=8, upscale=2)
    state = {k: v.clone() for k, v in reference.state_dict().items()}
    for key in state:
        if "eval_conv" in key:
            state[key].zero_()  # a stale fold, as in a file saved mid-training
    plain = SPAN(feature_channels=8, upscale=2, reparam=False)
    plain.load_state_dict(state)
    x = torch.rand(1, 3, 9, 9)
    with torch.inference_mode():
        expected = spandrel.ModelLoader().load_from_state_dict(dict(state)).model.eval()(x)
        torch.testing.assert_close(plain.eval()(x), expected, rtol=0, atol=1e-5 * float(expected.abs().max()))


def test_bf16_only_without_the_255_input_scaling(photo_small: torch.Tensor) -> None:
    """The reference's (x - mean) * 255 puts features in the hundreds: bf16 is not precise enough for it."""
    assert not SPAN().supports_bf16 and SPAN(norm=False).supports_bf16 and SPAN().supports_fp16

    def psnr_bf16(net: SPAN) -> float:
        with torch.inference_mode():
            exact = net.eval()(photo_small).clamp(0, 1)
            with torch.autocast("cpu", dtype=torch.bfloat16):
                low = net(photo_small).float().clamp(0, 1)
        return float(-10 * torch.log10(((exact - low) ** 2).mean()))

    torch.manual_seed(0)
    assert psnr_bf16(SPAN(feature_channels=16, norm=False)) > 60
    torch.manual_seed(0)
    assert psnr_bf16(SPAN(feature_channels=16)) < 50
