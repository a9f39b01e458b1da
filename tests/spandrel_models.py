"""Tiny random-weight networks of spandrel's architectures, built with spandrel's own classes, for the tests of the
spandrel bridge (tests/models/test_spandrel_bridge.py) and of the commands that use such files.

Each is a few thousand to a few hundred thousand parameters, so building, saving, loading and running one takes
milliseconds. The dict value is (factory, spandrel's architecture id); SPAN is here too, and loads natively.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch
from safetensors.torch import save_file
from torch import nn

from tests.torchvision_standin import install_if_missing

install_if_missing()  # spandrel imports torchvision: the stand-in (where needed) goes in first

from spandrel.architectures.CRAFT import CRAFT  # noqa: E402
from spandrel.architectures.DAT import DAT  # noqa: E402
from spandrel.architectures.DITN import DITN  # noqa: E402
from spandrel.architectures.DRCT import DRCT  # noqa: E402
from spandrel.architectures.HAT import HAT  # noqa: E402
from spandrel.architectures.MoSR import MoSR  # noqa: E402
from spandrel.architectures.OmniSR import OmniSR  # noqa: E402
from spandrel.architectures.PLKSR import PLKSR, RealPLKSR  # noqa: E402
from spandrel.architectures.RealCUGAN import UpCunet2x  # noqa: E402
from spandrel.architectures.RGT import RGT  # noqa: E402
from spandrel.architectures.SAFMN import SAFMN  # noqa: E402
from spandrel.architectures.SeemoRe import SeemoRe  # noqa: E402
from spandrel.architectures.SPAN import SPAN  # noqa: E402
from spandrel.architectures.Swin2SR import Swin2SR  # noqa: E402
from spandrel.architectures.SwinIR import SwinIR  # noqa: E402

SWIN = {"img_size": 16, "embed_dim": 12, "depths": [1], "num_heads": [2], "window_size": 4, "upscale": 2}
# name -> (factory, spandrel's architecture id); comments name the size requirements spandrel declares
MODELS: dict[str, tuple[Callable[[], nn.Module], str]] = {
    "SPAN": (lambda: SPAN(num_in_ch=3, num_out_ch=3, feature_channels=8, upscale=2), "SPAN"),
    "RealPLKSR": (lambda: RealPLKSR(dim=16, n_blocks=2, upscaling_factor=2, kernel_size=7), "PLKSR"),
    "PLKSR": (lambda: PLKSR(dim=16, n_blocks=2, upscaling_factor=4, kernel_size=7), "PLKSR"),
    "SwinIR": (lambda: SwinIR(**SWIN, mlp_ratio=2, upsampler="pixelshuffle"), "SwinIR"),  # minimum 16
    "HAT": (lambda: HAT(**SWIN, mlp_ratio=2, num_feat=16, squeeze_factor=4), "HAT"),  # minimum 16
    "DAT": (
        lambda: DAT(img_size=16, embed_dim=16, split_size=[2, 4], depth=[1], num_heads=[2], expansion_factor=2),
        "DAT",
    ),  # minimum 16
    "OmniSR": (lambda: OmniSR(num_feat=16, block_num=1, window_size=8, res_num=1, up_scale=2), "OmniSR"),
    "SAFMN": (lambda: SAFMN(dim=8, n_blocks=1, upscaling_factor=2), "SAFMN"),  # multiple of 8
    "CRAFT": (
        lambda: CRAFT(embed_dim=12, depths=[1], num_heads=[2], split_size_0=4, split_size_1=16, upscale=2),
        "CRAFT",
    ),  # minimum 16, multiple of 16
    "DITN": (lambda: DITN(dim=12, ITL_blocks=1, SAL_blocks=1, UFONE_blocks=1, patch_size=8, upscale=2), "DITN"),
    "RGT": (lambda: RGT(img_size=16, embed_dim=12, depth=[1], num_heads=[2], split_size=[4, 4], upscale=3), "RGT"),
    "DRCT": (lambda: DRCT(**SWIN, upsampler="pixelshuffle", gc=8), "DRCT"),  # multiple of 16
    "MoSR": (lambda: MoSR(upscale=2, n_block=1, dim=16), "MoSR"),
    "SeemoRe": (lambda: SeemoRe(scale=2, num_experts=2, num_layers=1, embedding_dim=16), "SeemoRe"),
    "Swin2SR": (lambda: Swin2SR(**SWIN, upsampler="pixelshuffle", mlp_ratio=2), "Swin2SR"),
    "RealCUGAN": (lambda: UpCunet2x(), "RealCUGAN"),  # minimum 32; 1.3 M parameters
}


def state_dict_of(name: str, seed: int = 0) -> dict[str, torch.Tensor]:
    """The random-weight state dict of ``MODELS[name]`` (cloned: no shared storage, safetensors-ready)."""
    torch.manual_seed(seed)
    net = MODELS[name][0]()
    return {k: v.detach().clone().contiguous() for k, v in net.state_dict().items()}


def save(state: dict[str, torch.Tensor], path: Path) -> Path:
    """``.safetensors`` as is; ``.pth`` the way BasicSR-based trainers write it (under ``params_ema``)."""
    if path.suffix == ".safetensors":
        save_file(state, str(path))
    else:
        torch.save({"params_ema": state}, path)
    return path
