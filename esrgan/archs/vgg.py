"""VGG19 feature extractor with torchvision's layer indices and parameter names (without torchvision).

``features`` is the same ``nn.Sequential`` torchvision builds for VGG19 (configuration "E" of Simonyan &
Zisserman), so torchvision's ImageNet weights ``vgg19-dcbb9e9d.pth`` load strictly after dropping their
``classifier.*`` keys: ``features.0.weight`` is conv1_1, ``features.34.weight`` is conv5_4. The extractor
normalises its input with ImageNet's mean and std, returns the requested layers by name, and is frozen.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Mapping
from pathlib import Path

import torch
from torch import nn

from esrgan.errors import ModelFileError, NotFoundError, OptionsError

log = logging.getLogger(__name__)

# torchvision's configuration "E": channels of each 3x3 convolution, "M" for a 2x2 max-pool.
VGG19_CONFIG: tuple[int | str, ...] = (
    64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512, "M",
)  # fmt: skip
VGG19_WEIGHTS_FILE = "vgg19-dcbb9e9d.pth"
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def _layer_names(config: Iterable[int | str]) -> list[str]:
    """Names of the entries of ``features`` in order: conv1_1, relu1_1, conv1_2, relu1_2, pool1, conv2_1, ..."""
    names: list[str] = []
    block, conv = 1, 1
    for v in config:
        if v == "M":
            names.append(f"pool{block}")
            block, conv = block + 1, 1
        else:
            names += [f"conv{block}_{conv}", f"relu{block}_{conv}"]
            conv += 1
    return names


VGG19_LAYERS: tuple[str, ...] = tuple(_layer_names(VGG19_CONFIG))


def default_weights_path() -> Path:
    """Where torch.hub keeps torchvision's VGG19 weights: ``<torch.hub.get_dir()>/checkpoints/vgg19-dcbb9e9d.pth``."""
    return Path(torch.hub.get_dir()) / "checkpoints" / VGG19_WEIGHTS_FILE


class VGG19FeatureExtractor(nn.Module):
    """Frozen VGG19 that returns the activations of named layers.

    Args:
        layers: names from :data:`VGG19_LAYERS` (``conv5_4`` is the last convolution *before* its ReLU, as ESRGAN
            uses; ``relu5_4`` is after it).
        weights: a torchvision VGG19 state dict file, or None to look in :func:`default_weights_path`.
        allow_random_weights: keep random weights when no file is found (for smoke tests only: the features of a
            random VGG are not perceptual; a warning says so).
        use_input_norm: subtract ImageNet's mean and divide by its std first (torchvision's weights expect it).

    Shapes:
        input (B, 3, H, W) RGB in [0, 1]; output {name: (B, C_layer, H / 2^k, W / 2^k)} for each requested layer.
    """

    mean: torch.Tensor
    std: torch.Tensor

    def __init__(
        self,
        layers: Iterable[str] = ("conv5_4",),
        weights: str | os.PathLike[str] | None = None,
        *,
        allow_random_weights: bool = False,
        use_input_norm: bool = True,
    ) -> None:
        super().__init__()
        self.layers = tuple(layers)
        if not self.layers:
            raise OptionsError("VGG19FeatureExtractor needs at least one layer name")
        for name in self.layers:
            if name not in VGG19_LAYERS:
                import difflib

                close = difflib.get_close_matches(name, VGG19_LAYERS, n=1)
                hint = f"; did you mean '{close[0]}'?" if close else f" (valid: {', '.join(VGG19_LAYERS)})"
                raise OptionsError(f"unknown VGG19 layer '{name}'{hint}")
        self.use_input_norm = use_input_norm
        # Built on the meta device (no memory, no random init): the weights come from the file, or, for random
        # weights, only the layers that are used get initialised.
        features: list[nn.Module] = []
        in_ch = 3
        for v in VGG19_CONFIG:
            if v == "M":
                features.append(nn.MaxPool2d(kernel_size=2, stride=2))
            else:
                assert isinstance(v, int)
                features += [nn.Conv2d(in_ch, v, kernel_size=3, padding=1, device="meta"), nn.ReLU(inplace=False)]
                in_ch = v
        self.features = nn.Sequential(*features)
        self._last = max(VGG19_LAYERS.index(n) for n in self.layers)
        self._index = {VGG19_LAYERS.index(n): n for n in self.layers}
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
        self.weights_path: Path | None = None
        self.random_weights = False
        self._load(weights, allow_random_weights)
        self.requires_grad_(False)
        self.eval()

    def _load(self, weights: str | os.PathLike[str] | None, allow_random: bool) -> None:
        path = Path(weights) if weights is not None else default_weights_path()
        if not path.is_file():
            where = f"{path}" if weights is not None else f"the torch hub cache: {path}"
            if not allow_random:
                raise NotFoundError(
                    f"VGG19 weights not found at {where}; download torchvision's {VGG19_WEIGHTS_FILE} "
                    f"(https://download.pytorch.org/models/{VGG19_WEIGHTS_FILE}) to {default_weights_path()} "
                    "or set perceptual.weights to its path"
                )
            log.warning(
                "VGG19 weights not found at %s: the perceptual loss uses RANDOM weights "
                "(perceptual.allow_random_weights is for smoke tests only; the results are not perceptual)",
                where,
            )
            self._truncate()
            self.features.to_empty(device="cpu")
            # torchvision's VGG initialisation (Kaiming normal, fan-out, ReLU gain): activations keep their scale
            # through 16 layers. PyTorch's default conv init shrinks the variance ~3x per layer, leaving conv5_4
            # features (and the perceptual loss) around 1e-8: a smoke test would then exercise nothing.
            for layer in self.features:
                if isinstance(layer, nn.Conv2d):
                    nn.init.kaiming_normal_(layer.weight, mode="fan_out", nonlinearity="relu")
                    assert layer.bias is not None
                    nn.init.zeros_(layer.bias)
            self.random_weights = True
            return
        state = torch.load(path, map_location="cpu", weights_only=True)
        if not isinstance(state, Mapping):
            raise ModelFileError(f"{path}: expected a VGG19 state dict, got {type(state).__name__}")
        # The whole torchvision stack loads strictly (every key checked); layers after the last one used go after.
        self.features.to_empty(device="cpu")
        load_torchvision_state(self, state, source=str(path))
        self._truncate()
        self.weights_path = path

    def _truncate(self) -> None:
        """Drop the layers after the deepest requested one (slicing keeps torchvision's indices as names)."""
        kept = self.features[: self._last + 1]
        assert isinstance(kept, nn.Sequential)
        self.features = kept

    def train(self, mode: bool = True) -> VGG19FeatureExtractor:
        # Frozen: always in eval mode, whatever the parent module does.
        return super().train(False)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        if self.use_input_norm:
            x = (x - self.mean.to(x.dtype)) / self.std.to(x.dtype)
        out: dict[str, torch.Tensor] = {}
        for i, layer in enumerate(self.features):
            x = layer(x)
            if i in self._index:
                out[self._index[i]] = x
        return out


def load_torchvision_state(
    net: VGG19FeatureExtractor, state: Mapping[str, torch.Tensor], *, source: str = "<state dict>"
) -> None:
    """Load torchvision's VGG19 state dict into ``net`` strictly (``classifier.*`` is ignored).

    Raises:
        ValueError: keys missing, unexpected or of the wrong shape; the message names them and ``source``.
    """
    feats = {k: v for k, v in state.items() if not k.startswith("classifier.")}
    own = net.state_dict()
    missing = sorted(set(own) - set(feats))
    unexpected = sorted(set(feats) - set(own))
    shapes = [
        f"{k} {tuple(feats[k].shape)} != {tuple(own[k].shape)}"
        for k in own
        if k in feats and feats[k].shape != own[k].shape
    ]
    if missing or unexpected or shapes:
        raise ModelFileError(
            f"{source}: not torchvision's VGG19 weights (missing {missing[:3]}, unexpected {unexpected[:3]}, "
            f"wrong shapes {shapes[:3]})"
        )
    net.load_state_dict(feats, strict=True)
