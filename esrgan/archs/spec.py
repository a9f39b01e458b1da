"""What an architecture is, in one object, and what every network carries.

:class:`ArchSpec` answers everything the rest of the package asks of an architecture (how to recognise its files,
rename them, read its sizes off tensor shapes, check those sizes, describe them, where distillation taps it, which
CPU backend runs it best, its ncnn graphs, how it keeps its picture in int8), so no module outside ``esrgan/archs``
compares architecture names. Each architecture room (``esrgan/archs/<name>/__init__.py``) builds one ``SPEC``;
``esrgan/archs/__init__.py`` lists them in ``REGISTRY``.

:class:`SRNetwork` is the contract of a built network (ours, or a foreign one wrapped to carry the same
attributes): read as plain attributes, never through ``getattr`` with defaults. :func:`as_sr_network` checks it once
where a bare ``nn.Module`` enters and gives it its type.
"""

from __future__ import annotations

import inspect
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import torch
from torch import nn

from esrgan.errors import OptionsError, quote

if TYPE_CHECKING:
    from esrgan.formats.ncnn import GraphWriter, Layer
    from esrgan.formats.ncnn_graph import Graph

StateDict = dict[str, torch.Tensor]
HParams = dict[str, Any]

CONTRACT = (
    "arch_name",
    "scale",
    "size_multiple",
    "min_size",
    "num_in_ch",
    "num_out_ch",
    "supports_fp16",
    "supports_bf16",
    "hparams",
)


@runtime_checkable
class Described(Protocol):
    """What every network of ``esrgan.archs`` carries, training helpers (discriminators) included: its name and
    constructor arguments, so that checkpoints describe themselves."""

    @property
    def arch_name(self) -> str: ...

    def hparams(self) -> HParams:
        """Constructor arguments: ``type(net)(**net.hparams())`` builds the same network (other weights)."""
        ...


@runtime_checkable
class SRNetwork(Described, Protocol):
    """What every super-resolution network carries (read-only attributes; class attributes or properties).

    Attributes:
        arch_name: the name of its :class:`ArchSpec` (e.g. "RRDBNet").
        scale: output size / input size (a positive integer).
        size_multiple: input height and width must be multiples of this (callers pad to it).
        min_size: the smallest input height and width it accepts (a multiple of ``size_multiple``).
        num_in_ch, num_out_ch: image channels in and out (3 for RGB).
        supports_fp16, supports_bf16: whether it computes correctly in that dtype (weights and activations).

    Calling it maps (B, num_in_ch, H, W) float RGB in nominally [0, 1] to (B, num_out_ch, H * scale, W * scale),
    not clamped.
    """

    @property
    def scale(self) -> int: ...
    @property
    def size_multiple(self) -> int: ...
    @property
    def min_size(self) -> int: ...
    @property
    def num_in_ch(self) -> int: ...
    @property
    def num_out_ch(self) -> int: ...
    @property
    def supports_fp16(self) -> bool: ...
    @property
    def supports_bf16(self) -> bool: ...

    def __call__(self, x: torch.Tensor) -> torch.Tensor: ...


def as_sr_network(net: object) -> SRNetwork:
    """``net`` typed as :class:`SRNetwork`; ValueError naming what it lacks if it does not carry the contract."""
    if isinstance(net, SRNetwork):
        return net
    missing = [name for name in CONTRACT if not hasattr(net, name)]
    raise ValueError(
        f"{type(net).__name__} is not a super-resolution network of esrgan.archs: it lacks {', '.join(missing)} "
        f"(see esrgan.archs.spec.SRNetwork)"
    )


class Describe(Protocol):
    """``describe(hparams)``: the sizes in words; ``short=True`` abbreviates for tables ("64 feat")."""

    def __call__(self, hparams: Mapping[str, Any], *, short: bool = False) -> str: ...


@dataclass(frozen=True)
class NcnnSupport:
    """How an architecture appears as an ncnn graph (see :mod:`esrgan.models.ncnn`).

    Attributes:
        signature: what its graphs look like, for "not recognised" messages ("conv stack + PixelShuffle").
        matches: (layer type -> count) -> whether a graph is this architecture's to recognise (cheap, no walk).
        recognise: graph -> (hyper-parameters, [(weighted layer, our parameter prefix)]); ModelFileError
            (``graph.fail(...)``) when the graph is wired otherwise. Convolution layers give ``<prefix>.weight``
            and ``.bias``, PReLU layers ``<prefix>.weight``.
        write: (writer, network, input blob) -> output blob: adds the network's layers.
    """

    signature: str
    matches: Callable[[Counter[str]], bool]
    recognise: Callable[[Graph], tuple[HParams, list[tuple[Layer, str]]]]
    write: Callable[[GraphWriter, nn.Module, str], str]


@dataclass(frozen=True)
class Int8Recipe:
    """How an architecture runs in int8 (OpenVINO + NNCF post-training quantization, :mod:`esrgan.backends.int8`)
    and still keeps at least 40 dB PSNR against its fp32 output: measured per architecture (README, "int8").

    Attributes:
        quantize_conv: (hyper-parameters, index, count, input channels) -> whether the convolution at ``index`` of
            the network's ``count`` convolutions (in graph order) computes in int8; the others stay fp32.
        equalize: (network, calibration batches) -> an equivalent copy (the same function, exactly) whose
            per-channel activation ranges were moved into the weights, so that one int8 scale per tensor suits
            every channel; None: no such step. Batches: (1, C, h, w) float32 RGB in [0, 1].
        smooth_quant: NNCF SmoothQuant strength on convolutions (the same idea done by NNCF, as a per-channel
            Multiply that OpenVINO folds into the preceding activation), or None.
        crop: side of the calibration crops in input pixels.
        version: raised whenever the recipe changes (the compiled-model cache keys on it).
    """

    quantize_conv: Callable[[Mapping[str, Any], int, int, int], bool]
    equalize: Callable[[nn.Module, list[torch.Tensor]], nn.Module] | None = None
    smooth_quant: float | None = None
    crop: int = 96
    version: int = 1


@dataclass(frozen=True)
class ArchSpec:
    """One architecture: its network class and everything callers ask of it.

    Attributes:
        name: the network's ``arch_name`` (what files and options call it).
        net: the network class; ``net(**hparams)`` builds it.
        scale_arg: the constructor argument that holds the scale ("scale", "upscale").
        supported_text: how the loader's "supported: ..." message names it and its layouts.
        detect: frozenset of state-dict keys (prefixes stripped) -> layout name ("basicsr", "esrgan-old", ...)
            or None when the keys are not this architecture. ModelFileError (one line, no file name) for a known
            variant that cannot be loaded.
        to_canonical: (state dict, layout, where) -> the same tensors under the network's own parameter names.
        hparams_from: (canonical state dict, where) -> constructor arguments, read from tensor shapes only.
        validate_hparams: (hyper-parameters, where) -> None; OptionsError "<where>: <key> must be ..." for any size
            out of its sane bounds or a value of the wrong type (the one declaration of the architecture's bounds,
            used for training options and model files alike; the loader reports it as a ModelFileError). Called
            before anything is built from them.
        tiny_hparams: every constructor argument of a small network of this architecture that builds and runs
            in milliseconds, with values its shapes tell apart (``hparams_from`` gives them back): what the
            registry's conformance test (tests/archs/test_registry.py) and smoke runs build.
        describe: hyper-parameters -> the sizes in words ("23 blocks, 64 features, growth 32").
        feature_layer: network -> name of its default feature-matching tap for distillation (a module of
            ``net.named_modules()``: the last feature map before the upsampler).
        shape_notes: shape-derived hyper-parameters -> assumptions the shapes could not settle (one sentence
            each); reported unless the file's own metadata confirms the hyper-parameters. Default: none.
        cpu_backend: the backend ``backend="auto"`` prefers for it on the CPU when installed and nothing is measured
            (``ESRGAN_CALIBRATE=0``, or a failed calibration: :mod:`esrgan.backends.calibrate`); None: torch.
        ncnn: its ncnn graph recogniser and writer, None if it has no ncnn form.
        int8: how it keeps its picture in int8 (:class:`Int8Recipe`), None if it has no measured recipe.
    """

    name: str
    net: type[nn.Module]
    scale_arg: str
    supported_text: str
    detect: Callable[[frozenset[str]], str | None]
    to_canonical: Callable[[StateDict, str, str], StateDict]
    hparams_from: Callable[[StateDict, str], HParams]
    validate_hparams: Callable[[Mapping[str, Any], str], None]
    tiny_hparams: Mapping[str, Any]
    describe: Describe
    feature_layer: Callable[[nn.Module], str]
    shape_notes: Callable[[Mapping[str, Any]], list[str]] = lambda hparams: []
    cpu_backend: str | None = None
    ncnn: NcnnSupport | None = None
    int8: Int8Recipe | None = None

    def scale_of(self, hparams: Mapping[str, Any]) -> int:
        """The scale these constructor arguments build (the constructor's default when they leave it out)."""
        if self.scale_arg in hparams:
            return int(hparams[self.scale_arg])
        return int(inspect.signature(self.net).parameters[self.scale_arg].default)

    def build(self, hparams: Mapping[str, Any], where: str) -> nn.Module:
        """A freshly initialised network, after :attr:`validate_hparams`; OptionsError for unknown arguments."""
        self.validate_hparams(hparams, where)
        try:
            return self.net(**hparams)
        except TypeError as exc:
            raise OptionsError(f"{where}: {exc}") from None


def check_hparams(
    hparams: Mapping[str, Any],
    where: str,
    *,
    sizes: Mapping[str, tuple[int, int]],
    choices: Mapping[str, tuple[Any, ...]] | None = None,
) -> None:
    """OptionsError unless every size in ``hparams`` is an int within its (low, high) bounds and every choice one
    of its values (of the same type: ``True`` is not the scale 1). Keys absent from ``hparams`` keep the
    constructor's defaults and are not checked; keys named in neither are left to the constructor."""
    for key, (low, high) in sizes.items():
        if key not in hparams:
            continue
        value = hparams[key]
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise OptionsError(f"{where}: {key} must be an integer from {low} to {high}, got {quote(value)}")
    for key, allowed in (choices or {}).items():
        if key not in hparams:
            continue
        value = hparams[key]
        if not any(type(value) is type(a) and value == a for a in allowed):
            raise OptionsError(f"{where}: {key} must be one of {', '.join(map(repr, allowed))}, got {quote(value)}")
