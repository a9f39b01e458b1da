"""SPAN: Swift Parameter-free Attention Network (Wan et al., CVPR 2024 NTIRE workshop; NTIRE 2024 efficient SR
winner), with the reference implementation's module and parameter names.

Parameter names match the reference repository (hongyuanyu/SPAN, ``basicsr/archs/span_arch.py``) and spandrel:
``conv_1``, ``block_1`` .. ``block_6`` (each ``c1_r``, ``c2_r``, ``c3_r``), ``conv_cat``, ``conv_2``,
``upsampler.0``; every 3x3 convolution is a :class:`Conv3XC` with ``sk`` (1x1 skip), ``conv.0/1/2`` (1x1 -> 3x3 ->
1x1 expansion) and ``eval_conv`` (the three folded into one 3x3 convolution). Files without normalisation carry a
``no_norm`` buffer (the variant of traiNNer-redux and spandrel). Files from any of them load without renaming, and
our files load in spandrel and in the reference code.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import nullcontext

import torch
import torch.nn.functional as F
from torch import nn

from esrgan.errors import OptionsError

NUM_BLOCKS = 6  # fixed in the reference architecture
GAIN = 2  # expansion of Conv3XC's hidden 3x3 convolution, fixed in SPAN
DEFAULT_IMG_RANGE = 255.0
DEFAULT_RGB_MEAN = (0.4488, 0.4371, 0.4040)  # DIV2K's mean colour, as in EDSR/BasicSR


class Conv3XC(nn.Module):
    """A 3x3 convolution trained over-parameterised and run as one convolution.

    Training computes ``conv.2(conv.1(conv.0(zero_pad(x)))) + sk(x)``: a 1x1 expansion to ``gain`` times the
    channels, a 3x3 convolution, a 1x1 projection back, and a 1x1 skip. All of it is linear, so in eval mode it is
    folded into one 3x3 convolution (weights and bias), which is what runs. The folded weights are recomputed when
    any branch weight has changed since the last fold (an optimiser step, an EMA update, a load), so eval mode is
    always exact and costs one fold per weight change rather than one per call. ``eval_conv`` holds the folded
    weights for the state dict (the reference names), refreshed whenever a state dict is taken.

    With ``reparam=False`` the single 3x3 convolution (``eval_conv``) is what trains and runs: a training step
    costs 9 instead of 41 multiply-adds per channel pair and pixel (1x1 to 2x, 3x3 at 2x, 1x1 back, 1x1 skip).
    It starts as the fold of the initial branches (the same function as with ``reparam=True``), and the state dict
    gets branches that fold back to it exactly (an identity expansion around it, a zero skip), so the file is an
    ordinary SPAN file for the reference code, spandrel and this class. Loading weights refolds the loaded
    branches into it, so a reference file (whose ``eval_conv`` may be stale) starts from what it computes.

    Args:
        c_in, c_out: channels in and out.
        gain: expansion of the hidden convolution.
        reparam: train the over-parameterised branches (the reference) or the single convolution.

    Shapes:
        (B, c_in, H, W) -> (B, c_out, H, W).
    """

    def __init__(self, c_in: int, c_out: int, gain: int = GAIN, reparam: bool = True) -> None:
        super().__init__()
        self.reparam = reparam
        self.sk = nn.Conv2d(c_in, c_out, 1)
        self.conv = nn.Sequential(
            nn.Conv2d(c_in, c_in * gain, 1),
            nn.Conv2d(c_in * gain, c_out * gain, 3),
            nn.Conv2d(c_out * gain, c_out, 1),
        )
        self.eval_conv = nn.Conv2d(c_in, c_out, 3, padding=1)
        self.eval_conv.requires_grad_(False)
        # (id of the module, branch tensors, their versions/storage/dtype/device) the cached fold was made from.
        self._fold_source: tuple[int, tuple[torch.Tensor, ...], list[tuple[int, int, torch.dtype, torch.device]]]
        self._fold_source = (0, (), [])
        self._folded: tuple[torch.Tensor, torch.Tensor] | None = None
        self.register_state_dict_pre_hook(_refresh_eval_conv)
        if not reparam:
            for t in self.branch_tensors():
                t.requires_grad_(False)
            self.eval_conv.requires_grad_(True)
            self.register_load_state_dict_post_hook(_refold_after_load)
            self.refold()

    def refold(self) -> None:
        """``eval_conv`` <- the fold of the branches (``reparam=False``: where the trained convolution starts)."""
        weight, bias = self.folded()
        with torch.no_grad():
            self.eval_conv.weight.copy_(weight)
            assert self.eval_conv.bias is not None
            self.eval_conv.bias.copy_(bias)

    def branch_tensors(self) -> tuple[torch.Tensor, ...]:
        """The trained weights the folded convolution is made of: sk, conv.0, conv.1, conv.2 (weight, bias)."""
        tensors: list[torch.Tensor] = []
        for conv in (self.sk, *self.conv):
            assert isinstance(conv, nn.Conv2d) and conv.bias is not None
            tensors += [conv.weight, conv.bias]
        return tuple(tensors)

    def folded(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(weight (c_out, c_in, 3, 3), bias (c_out,)) of the single 3x3 convolution equal to the branches.

        Cached, and refolded when a branch tensor was replaced, modified in place (its ``_version``), moved or
        cast (``Module.to``/``half`` swap ``.data`` under the same object), or when the module is a copy (a
        deep copy shares nothing with the cache it copied); weights made under ``inference_mode`` have no version
        counter and are folded on every call. Computed without autograd and outside autocast
        (float32 weights fold in float32 whatever the caller's compute dtype), with the reference's arithmetic.
        """
        tensors = self.branch_tensors()
        if any(t.is_inference() for t in tensors):  # made under inference_mode: no version counter to trust
            return _fold(tensors)
        key = [(t._version, t.data_ptr(), t.dtype, t.device) for t in tensors]
        cached = self._fold_source
        if (
            self._folded is not None
            and cached[0] == id(self)
            and all(a is b for a, b in zip(cached[1], tensors, strict=True))
            and cached[2] == key
        ):
            return self._folded
        self._folded = _fold(tensors)
        self._fold_source = (id(self), tensors, key)
        return self._folded

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.reparam:
            return self.eval_conv(x)
        if self.training:
            return self.conv(F.pad(x, (1, 1, 1, 1))) + self.sk(x)
        weight, bias = self.folded()
        return F.conv2d(x, weight, bias, padding=1)


def _fold(tensors: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`fold_conv3xc` of (sk, conv.0, conv.1, conv.2 weights and biases), without autograd and outside
    autocast; ordinary tensors out (not inference tensors) unless the weights themselves are inference tensors."""
    device = tensors[0].device.type
    no_autocast = torch.autocast(device, enabled=False) if torch.amp.is_autocast_available(device) else nullcontext()
    with torch.no_grad(), no_autocast:
        if tensors[0].is_inference():
            return fold_conv3xc(*tensors)
        with torch.inference_mode(False):
            return fold_conv3xc(*(t.detach() for t in tensors))


def fold_conv3xc(
    sk_w: torch.Tensor,
    sk_b: torch.Tensor,
    w1: torch.Tensor,
    b1: torch.Tensor,
    w2: torch.Tensor,
    b2: torch.Tensor,
    w3: torch.Tensor,
    b3: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Fold 1x1 (w1) -> 3x3 (w2) -> 1x1 (w3) plus a 1x1 skip into one 3x3 convolution.

    The composition of convolutions is a convolution of their kernels; the biases pass through the later layers
    summed over their kernels (the zero padding sits in front of the 1x1 expansion, so b1 is present at every
    tap of w2). Same formula, and order of operations, as the reference implementation.
    """
    w = F.conv2d(w1.flip(2, 3).permute(1, 0, 2, 3), w2, padding=2).flip(2, 3).permute(1, 0, 2, 3)
    b = (w2 * b1.reshape(1, -1, 1, 1)).sum((1, 2, 3)) + b2
    weight = F.conv2d(w.flip(2, 3).permute(1, 0, 2, 3), w3).flip(2, 3).permute(1, 0, 2, 3)
    bias = (w3 * b.reshape(1, -1, 1, 1)).sum((1, 2, 3)) + b3
    return (weight + F.pad(sk_w, [1, 1, 1, 1])).contiguous(), (bias + sk_b).contiguous()


def _refresh_eval_conv(module: nn.Module, _prefix: str, _keep_vars: bool) -> None:
    """state_dict pre-hook: make ``eval_conv`` and the branches agree, so saved files are self-consistent (the
    reference code and spandrel fold the branches; a plain reader of the file may use ``eval_conv`` directly).
    ``reparam``: the fold goes into ``eval_conv``; otherwise branches that fold exactly to ``eval_conv``."""
    assert isinstance(module, Conv3XC)
    if module.reparam:
        module.refold()
        return
    weight, bias = module.eval_conv.weight, module.eval_conv.bias
    assert bias is not None
    c_out, c_in = weight.shape[:2]
    tensors = module.branch_tensors()
    _, _, w1, _, w2, b2, w3, _ = tensors
    with torch.no_grad():
        for t in tensors:
            t.zero_()
        w1[:c_in, :, 0, 0].copy_(torch.eye(c_in))  # 1x1 expansion: the input in the first c_in channels
        w2[:c_out, :c_in].copy_(weight)  # the 3x3 convolution reads them into the first c_out channels
        b2[:c_out].copy_(bias)
        w3[:, :c_out, 0, 0].copy_(torch.eye(c_out))  # 1x1 projection: those channels out


def _refold_after_load(module: nn.Module, _incompatible: object) -> None:
    """load_state_dict post-hook (``reparam=False``): start from what the loaded branches compute."""
    assert isinstance(module, Conv3XC)
    module.refold()


class SPAB(nn.Module):
    """Swift parameter-free attention block: three Conv3XC with SiLU between them; the third one's output,
    through ``sigmoid - 0.5``, weights the block's residual sum (the attention has no parameters of its own).

    Returns:
        (block output, first convolution's activated output, attention map), each (B, C, H, W). The second is
        SiLU(c1_r(x)): the reference returns ``out1`` after its in-place SiLU has overwritten it.
    """

    def __init__(self, channels: int, reparam: bool = True) -> None:
        super().__init__()
        self.c1_r = Conv3XC(channels, channels, reparam=reparam)
        self.c2_r = Conv3XC(channels, channels, reparam=reparam)
        self.c3_r = Conv3XC(channels, channels, reparam=reparam)
        self.act1 = nn.SiLU(inplace=True)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        out1 = self.act1(self.c1_r(x))
        out2 = self.act1(self.c2_r(out1))
        out3 = self.c3_r(out2)
        sim_att = torch.sigmoid(out3) - 0.5
        return (out3 + x) * sim_att, out1, sim_att


class SPAN(nn.Module):
    """Swift Parameter-free Attention Network.

    Args:
        num_in_ch, num_out_ch: image channels in and out (normalisation needs 3 input channels: its mean is RGB).
        feature_channels: channels of every block (48 in the published x2/x4 models, 52 in some community ones).
        upscale: output scale (any positive integer; 1 for restoration models).
        norm: subtract ``rgb_mean`` and multiply by ``img_range`` before the first convolution (the reference);
            False: use the input as it is (files with a ``no_norm`` entry).
        img_range, rgb_mean: the normalisation; not stored in the weights (the defaults are the reference's).
        reparam: train each 3x3 convolution as the reference does (1x1 -> 3x3 -> 1x1 plus skip, folded for
            inference); False trains the folded convolution directly, 4.6x less arithmetic per training step
            (see :class:`Conv3XC`). Inference and files are the same either way.

    Shapes:
        input (B, num_in_ch, H, W) RGB in [0, 1], any H and W; output (B, num_out_ch, H * upscale, W * upscale),
        not clamped.
    """

    arch_name = "SPAN"
    size_multiple = 1
    min_size = 1
    supports_fp16 = True
    supports_bf16 = True  # not with norm (see __init__)

    def __init__(
        self,
        num_in_ch: int = 3,
        num_out_ch: int = 3,
        feature_channels: int = 48,
        upscale: int = 4,
        norm: bool = True,
        img_range: float = DEFAULT_IMG_RANGE,
        rgb_mean: Sequence[float] = DEFAULT_RGB_MEAN,
        reparam: bool = True,
    ) -> None:
        super().__init__()
        if min(num_in_ch, num_out_ch, feature_channels, upscale) < 1:
            raise OptionsError(
                f"SPAN sizes must be positive: num_in_ch={num_in_ch}, num_out_ch={num_out_ch}, "
                f"feature_channels={feature_channels}, upscale={upscale}"
            )
        if norm and (num_in_ch != 3 or len(rgb_mean) != 3):
            raise OptionsError(f"SPAN norm=True subtracts an RGB mean: needs num_in_ch=3, got {num_in_ch}")
        self.num_in_ch = num_in_ch
        self.num_out_ch = num_out_ch
        self.feature_channels = feature_channels
        self.upscale = upscale
        self.norm = norm
        # bf16 keeps 8 significant bits: with the input scaled to +-128 the features are in the hundreds, and the
        # last convolutions sum them back to [0, 1], so bf16 lost 40 dB PSNR / 44-55 of 255 at worst against fp32
        # (measured, 48 and 32 features, random and trained weights, a 64x64 photo crop); fp16 (11 bits) 55-57 dB /
        # 8-10 of 255, like RRDBNet in bf16. Without norm, bf16 gave 70 dB / 0.6 of 255. "auto" keeps fp32 then.
        self.supports_bf16 = not norm
        self.img_range = float(img_range)
        self.rgb_mean = tuple(float(v) for v in rgb_mean)  # not in the weights: made on the input's device
        self.reparam = reparam
        if not norm:
            self.register_buffer("no_norm", torch.zeros(1))  # the marker the norm-free files carry
        self.conv_1 = Conv3XC(num_in_ch, feature_channels, reparam=reparam)
        for i in range(1, NUM_BLOCKS + 1):
            self.add_module(f"block_{i}", SPAB(feature_channels, reparam=reparam))
        self.conv_cat = nn.Conv2d(feature_channels * 4, feature_channels, 1)
        self.conv_2 = Conv3XC(feature_channels, feature_channels, reparam=reparam)
        self.upsampler = nn.Sequential(
            nn.Conv2d(feature_channels, num_out_ch * upscale * upscale, 3, padding=1), nn.PixelShuffle(upscale)
        )

    @property
    def scale(self) -> int:
        return self.upscale

    def hparams(self) -> dict[str, object]:
        """Constructor arguments, for self-describing checkpoints; the normalisation only where it is not the
        reference's (so the same network read back from its shapes compares equal)."""
        out: dict[str, object] = {
            "num_in_ch": self.num_in_ch,
            "num_out_ch": self.num_out_ch,
            "feature_channels": self.feature_channels,
            "upscale": self.upscale,
            "norm": self.norm,
        }
        if self.norm and self.img_range != DEFAULT_IMG_RANGE:
            out["img_range"] = self.img_range
        if self.norm and self.rgb_mean != DEFAULT_RGB_MEAN:
            out["rgb_mean"] = list(self.rgb_mean)
        if not self.reparam:
            out["reparam"] = False
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.norm:
            x = (x - x.new_tensor(self.rgb_mean).view(1, -1, 1, 1)) * self.img_range
        feature = self.conv_1(x)
        out = feature
        skips: list[torch.Tensor] = []
        for i in range(1, NUM_BLOCKS + 1):
            out, first, _ = getattr(self, f"block_{i}")(out)
            if i == 1:
                skips.append(out)  # block 1's output
            if i == NUM_BLOCKS:
                skips.append(first)  # block 6's first convolution, activated
        out = self.conv_cat(torch.cat([feature, self.conv_2(out), *skips], 1))
        return self.upsampler(out)
