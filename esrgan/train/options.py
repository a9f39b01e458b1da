"""Training options: the typed schema of ``options/train_*.yml``.

Every key of a training YAML file is a field below; :func:`esrgan.options.load_options` validates a file against
:class:`TrainOptions` (unknown key → error with the closest valid key; wrong type → error naming the key). Checks
that involve several keys live in ``__post_init__`` and raise ``OptionsError`` (reported with the file's name);
the range of every number is declared on its field (``Annotated[int, Range(1, 4096)]``) and checked when the file
is read; the generator's sizes are checked by its architecture's ``validate_hparams`` (one declaration, in the
architecture's room, shared with model files). Nothing here builds objects: ``esrgan/train/build.py`` does that.
"""

from __future__ import annotations

import difflib
import inspect
import re
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Annotated, ClassVar, Literal

from esrgan.archs import DISCRIMINATORS, find
from esrgan.archs.vgg import VGG19_LAYERS
from esrgan.defaults import PrecisionName
from esrgan.degradations.options import DegradationOptions
from esrgan.errors import OptionsError
from esrgan.inference.options import EngineOptions
from esrgan.options import Range, flat

# The engine defaults of the validation and teacher sections (see ValDataOptions and TeacherOptions).
VAL_ENGINE = EngineOptions(tile=0, precision="fp32", backend="torch")
TEACHER_ENGINE = EngineOptions(tile=256, backend="torch")
ITERATIONS = Range(1, 1_000_000_000)  # a billion iterations: decades at the fastest measured step rate
EVERY = Range(0, 1_000_000_000)  # "every N iterations", 0: never / only at the end
WEIGHT = Range(0, 1000)  # loss weights


@dataclass(frozen=True)
class TrainDataOptions:
    """Training images: paired HR/LR folders, or HR only with LR made on the fly (MATLAB bicubic, or Real-ESRGAN's
    degradation model when ``degradation`` is set)."""

    # Folder of HR images (the targets). Stage distill: any images; the student's LR inputs are made from them.
    hr: Path
    lr: Path | None = None  # folder of LR images with the same file stems; null: made from HR on the fly
    meta_info: Path | None = None  # optional BasicSR meta-info file listing the HR images to use
    cache: bool = False  # decode all images into memory once (small sets such as T91; workers share it)
    patch_size: Annotated[int, Range(1, 4096)] = 128  # HR patch side; the LR patch is patch_size / scale
    hflip: bool = True  # random horizontal flips
    rot90: bool = True  # random vertical flips and 90° rotations (with hflip: all 8 dihedral transforms)
    batch_size: Annotated[int, Range(1, 4096)] = 16  # per process (torchrun: per GPU)
    num_workers: Annotated[int, Range(0, 256)] = 4  # DataLoader worker processes; 0 loads in the training process
    prefetch_factor: Annotated[int, Range(1, 64)] = 2  # batches each worker prepares ahead
    # HR only: degrade with Real-ESRGAN's high-order model (its option names) instead of MATLAB bicubic.
    degradation: DegradationOptions | None = None
    # Training pair pool (Real-ESRGAN's queue_size): batches are drawn from a shuffled pool of this many recent
    # samples, a multiple of batch_size; 0: no pool.
    queue_size: Annotated[int, Range(0, 1_000_000)] = 0

    def __post_init__(self) -> None:
        if self.queue_size % self.batch_size:
            raise OptionsError(f"queue_size ({self.queue_size}) must be a multiple of batch_size ({self.batch_size})")
        if self.degradation is not None:
            if self.lr is not None:
                raise OptionsError("degradation makes the LR images from HR: set data.train.lr to null")
            if self.degradation.crop_pad_size < self.patch_size:
                raise OptionsError(
                    f"degradation.crop_pad_size ({self.degradation.crop_pad_size}) must be >= patch_size "
                    f"({self.patch_size}): the patch is cut from the degraded region"
                )


@dataclass(frozen=True)
class ValDataOptions:
    """Validation images, scored with PSNR/SSIM on the Y channel (crop border = scale)."""

    # Folder of HR images. Stage distill: null scores the student against the teacher's outputs on ``lr``.
    hr: Path | None = None
    lr: Path | None = None  # folder of LR images with the same stems; null: MATLAB bicubic of the mod-cropped HR
    every: Annotated[int, EVERY] = 5000  # validate every N iterations (and at the end); 0: only at the end
    # How many images to save as LR-bicubic | SR | HR strips each time (0: none).
    save_samples: Annotated[int, Range(0, 1000)] = 5
    # The inference engine's keys (tile, tile_pad, ensemble, precision, device, backend, compile, tile_batch) in
    # this section. Defaults: whole images in fp32 (scores comparable across runs), on the training device (device
    # auto), backend torch (the only one allowed: the weights change between validations, and a compiled backend
    # would export and compile them again each time).
    engine: EngineOptions = flat(VAL_ENGINE)

    def __post_init__(self) -> None:
        if self.hr is None and self.lr is None:
            raise OptionsError("data.val needs hr (reference images), lr (inputs), or both")
        if self.engine.backend != "torch":
            raise OptionsError(
                f"val.backend must be torch, not {self.engine.backend}: the weights change between validations"
            )


@dataclass(frozen=True)
class DataOptions:
    train: TrainDataOptions
    val: ValDataOptions | None = None


@dataclass(frozen=True)
class GeneratorOptions:
    """The generator: an architecture of ``esrgan.archs`` and its constructor arguments."""

    arch: str = "RRDBNet"  # a name of esrgan.archs.REGISTRY
    # Constructor kwargs; unset ones keep defaults (SPAN takes a bool, a float and a list of floats too).
    hparams: dict[str, bool | int | float | str | list[float]] = field(default_factory=dict)
    # Start from these weights: a built-in model name (e.g. realesrgan-x4plus) or a weights file (load_model).
    pretrained: str | None = None

    def __post_init__(self) -> None:
        try:
            spec = find(self.arch)
        except ValueError as exc:  # the known names, with the closest one
            raise OptionsError(f"arch: {exc}") from None
        params = [p for p in inspect.signature(spec.net).parameters if p != "self"]
        for key in self.hparams:
            if key not in params:
                close = difflib.get_close_matches(key, params, n=1)
                hint = f"; did you mean '{close[0]}'?" if close else f" (valid: {', '.join(params)})"
                raise OptionsError(f"unknown {self.arch} hparam 'hparams.{key}'{hint}")
        spec.validate_hparams(self.hparams, "hparams")  # ranges, before anything is built


@dataclass(frozen=True)
class TeacherOptions:
    """Knowledge distillation (stage distill): the network whose outputs the student learns.

    LR inputs are made from the training images by MATLAB-compatible bicubic downscaling, once per factor in
    ``lr_downscales`` (1: an image is used as an LR input as it is), so any folder of photos works: no HR/LR pairs.
    ``targets: precomputed`` runs the teacher once over every whole LR image (tiled, cached under
    ``<experiments_root>/teacher_targets/`` and shared by later runs and --resume) and trains on aligned crops of
    (LR, teacher output):
    the cheap way when the teacher is slow. ``targets: online`` runs the teacher on every LR batch instead (LR
    crops made from ``scale``-downscaled crops); needed for ``losses.feature``, which matches inner features.
    """

    model: str  # a built-in name (e.g. realesrgan-x4plus) or any weights file esrgan.models.load_model reads
    targets: Literal["precomputed", "online"] = "precomputed"
    lr_downscales: list[Annotated[int, Range(1, 16)]] = field(default_factory=lambda: [4])
    # The teacher's inference engine: its keys (tile, tile_pad, ensemble, precision, device, backend, compile,
    # tile_batch) in this section. Precomputed targets (and the validation reference) use all of them, online
    # targets only the precision. tile 256 when precomputing (0: whole images); precision auto: fp16 on CUDA, bf16
    # on CPUs with native bf16, fp32 elsewhere; device auto: the training device; backend torch, which made the
    # targets of runs from before the backend could be chosen (another one is part of the targets' key).
    engine: EngineOptions = flat(TEACHER_ENGINE)

    def __post_init__(self) -> None:
        if not self.lr_downscales:
            raise OptionsError("teacher.lr_downscales must be a non-empty list of factors, e.g. [4]")
        moved = self.engine.device.strip().lower() != "auto" or self.engine.backend != "torch"
        if self.targets == "online" and moved:
            raise OptionsError(
                "teacher.targets online runs the teacher on the training device with torch: remove teacher.device "
                "and teacher.backend, or use targets: precomputed"
            )


@dataclass(frozen=True)
class DiscriminatorOptions:
    """The discriminator: ESRGAN's VGG-style one (one logit per patch; its input size is data.train.patch_size, a
    multiple of 32), or Real-ESRGAN's U-Net with spectral normalisation (one logit per pixel, any patch >= 8)."""

    arch: Literal["VGGStyleDiscriminator", "UNetDiscriminatorSN"] = "VGGStyleDiscriminator"
    num_feat: Annotated[int, Range(1, 1024)] = 64
    skip_connection: bool = True  # UNetDiscriminatorSN: skip connections between encoder and decoder
    # Weights to start from (Real-ESRGAN's pretrain_network_d, e.g. RealESRGAN_x4plus_netD.pth; or a training state
    # of ours): .pth (read without unpickling code) or .safetensors, under "params", "net_d" or at the top level.
    # They must fit arch / num_feat / skip_connection exactly; a resume restores its own D instead.
    pretrained: str | None = None


@dataclass(frozen=True)
class OptimizerOptions:
    """Adam."""

    lr: Annotated[float, Range(0, 1, lo_open=True)] = 2e-4
    betas: tuple[Annotated[float, Range(0, 1, hi_open=True)], Annotated[float, Range(0, 1, hi_open=True)]] = (0.9, 0.99)
    weight_decay: Annotated[float, Range(0, 1)] = 0.0


@dataclass(frozen=True)
class SchedulerOptions:
    """Learning-rate schedule, a pure function of the iteration (so resuming needs no scheduler state).

    - constant: the optimiser's lr throughout.
    - multistep: lr * gamma^k after k milestones have passed (MultiStepLR).
    - cosine_restart: cosine from lr * restart_weights[i] down to eta_min over each period (BasicSR's
      CosineAnnealingRestartLR); after the last period the lr stays at eta_min.
    warmup_iter > 0 ramps the lr linearly from lr / warmup_iter to the scheduled value over the first iterations.
    """

    kind: Literal["constant", "multistep", "cosine_restart"] = "constant"
    milestones: list[Annotated[int, ITERATIONS]] = field(default_factory=list)
    gamma: Annotated[float, Range(0, 1, lo_open=True)] = 0.5
    periods: list[Annotated[int, ITERATIONS]] = field(default_factory=list)
    restart_weights: list[Annotated[float, Range(0, 1)]] = field(default_factory=list)  # one per period; empty: 1
    eta_min: Annotated[float, Range(0, 1)] = 1e-7
    warmup_iter: Annotated[int, EVERY] = 0

    def __post_init__(self) -> None:
        if self.kind == "multistep" and (not self.milestones or sorted(self.milestones) != self.milestones):
            raise OptionsError("scheduler.milestones must be a non-empty increasing list for kind: multistep")
        if self.kind == "cosine_restart":
            if not self.periods:
                raise OptionsError("scheduler.periods must be a non-empty list of lengths for cosine_restart")
            if self.restart_weights and len(self.restart_weights) != len(self.periods):
                raise OptionsError("scheduler.restart_weights must have one weight per period (or be empty)")


@dataclass(frozen=True)
class PixelLossOptions:
    kind: Literal["l1", "mse", "charbonnier"] = "l1"
    weight: Annotated[float, WEIGHT] = 1.0
    gt_usm: bool = False  # compare with the USM-sharpened HR patch (Real-ESRGAN's l1_gt_usm)


@dataclass(frozen=True)
class PerceptualLossOptions:
    """VGG19 feature loss. Names: conv1_1..conv5_4 (before ReLU), relu1_1..relu5_4, pool1..pool5."""

    weight: Annotated[float, WEIGHT] = 1.0
    layers: dict[str, Annotated[float, WEIGHT]] = field(default_factory=lambda: {"conv5_4": 1.0})
    criterion: Literal["l1", "mse"] = "l1"
    # torchvision's vgg19-dcbb9e9d.pth; null: <torch.hub.get_dir()>/checkpoints/vgg19-dcbb9e9d.pth
    weights: Path | None = None
    allow_random_weights: bool = False  # smoke tests only: random VGG features are not perceptual
    gt_usm: bool = False  # compare with the USM-sharpened HR patch (Real-ESRGAN's percep_gt_usm)

    def __post_init__(self) -> None:
        if not self.layers:
            raise OptionsError("perceptual.layers must name at least one VGG19 layer")
        for name in self.layers:
            if name not in VGG19_LAYERS:
                close = difflib.get_close_matches(name, VGG19_LAYERS, n=1)
                hint = f"; did you mean '{close[0]}'?" if close else ""
                raise OptionsError(f"unknown VGG19 layer 'perceptual.layers.{name}'{hint}")


@dataclass(frozen=True)
class FeatureLossOptions:
    """Feature matching (stage distill, online targets): a learned 1x1 convolution maps the output of the
    student's module ``student`` onto the teacher's module ``teacher`` (same spatial size), compared with
    ``criterion``. Module names are as in ``net.named_modules()``; null picks the last feature map before the
    upsampler (RRDBNet: ``conv_body``; SRVGGNetCompact: the last activation)."""

    weight: Annotated[float, WEIGHT] = 0.1
    student: str | None = None
    teacher: str | None = None
    criterion: Literal["l1", "mse"] = "l1"


@dataclass(frozen=True)
class GanLossOptions:
    """The adversarial loss; ``weight`` applies to the generator's term.

    kind: ragan (relativistic average GAN, ESRGAN) or vanilla (the standard GAN, Real-ESRGAN with its U-Net
    discriminator); null: the discriminator's own (VGGStyleDiscriminator: ragan, UNetDiscriminatorSN: vanilla).
    """

    weight: Annotated[float, WEIGHT] = 5e-3
    kind: Literal["ragan", "vanilla"] | None = None
    gt_usm: bool = False  # D's real examples are the USM-sharpened HR patches (Real-ESRGAN's gan_gt_usm)


@dataclass(frozen=True)
class LossOptions:
    pixel: PixelLossOptions = field(default_factory=PixelLossOptions)
    perceptual: PerceptualLossOptions | None = None  # GAN and distill stages
    gan: GanLossOptions | None = None  # GAN stage only
    feature: FeatureLossOptions | None = None  # distill stage with teacher.targets: online


@dataclass(frozen=True)
class OptimOptions:
    """Optimisation: iterations, optimisers, schedule, EMA, clipping."""

    total_iter: Annotated[int, ITERATIONS]
    optim_g: OptimizerOptions = field(default_factory=OptimizerOptions)
    optim_d: OptimizerOptions = field(default_factory=lambda: OptimizerOptions(lr=1e-4))
    scheduler: SchedulerOptions = field(default_factory=SchedulerOptions)
    # EMA of the generator's weights (saved as params_ema); 0: EMA = current weights.
    ema_decay: Annotated[float, Range(0, 1, hi_open=True)] = 0.999
    grad_clip: Annotated[float, Range(0, 1e6)] = 0.0  # clip the gradient norm of each network to this (0: no clipping)
    # Stop this invocation after this many minutes (0: no limit), with a final validation and checkpoint; the
    # schedule is not shortened, so --resume auto continues exactly where it stopped.
    max_minutes: Annotated[float, Range(0, 10_000_000)] = 0.0


@dataclass(frozen=True)
class LoggingOptions:
    every: Annotated[int, ITERATIONS] = 100  # log losses, learning rates, timings every N iterations
    tensorboard: bool = True  # also write TensorBoard events when the tensorboard package is installed
    plot: bool = True  # redraw <experiment>/curves.png at each log and validation


@dataclass(frozen=True)
class CheckpointOptions:
    # Write the training state and the exported generator every N iterations (and at the end).
    every: Annotated[int, ITERATIONS] = 5000
    # Training states to keep (older ones are deleted; exported generators are all kept); 0: all.
    keep: Annotated[int, Range(0, 100_000)] = 3


@dataclass(frozen=True)
class TrainOptions:
    """A training run. ``stage: psnr`` trains G with the pixel loss; ``stage: gan`` adds perceptual and RaGAN
    losses and a discriminator (ESRGAN's second stage); ``stage: distill`` trains G (the student) on a teacher's
    outputs with pixel, optional perceptual and optional feature-matching losses."""

    # A degradation block given as a training file: its keys say where they belong (esrgan.options.from_dict).
    MOVED_KEYS: ClassVar[dict[str, str]] = {
        f.name: "a degradation key: this looks like a degradation block, which goes under data.train.degradation of "
        "a training options file (esrgan test takes one on its own)"
        for f in fields(DegradationOptions)
    }

    name: str  # experiment name: outputs go to <experiments_root>/<name>/
    stage: Literal["psnr", "gan", "distill"]
    scale: int
    data: DataOptions
    train: OptimOptions
    network_g: GeneratorOptions = field(default_factory=GeneratorOptions)
    network_d: DiscriminatorOptions | None = None  # GAN stage only
    teacher: TeacherOptions | None = None  # distill stage only
    losses: LossOptions = field(default_factory=LossOptions)
    logging: LoggingOptions = field(default_factory=LoggingOptions)
    checkpoint: CheckpointOptions = field(default_factory=CheckpointOptions)
    seed: Annotated[int, Range(0, 2**32 - 1)] = 0
    device: str = "auto"  # auto, cpu, cuda, cuda:N (torchrun: each process uses cuda:LOCAL_RANK)
    # Autocast dtype: bf16 (CPU or CUDA) or fp16 (CUDA, with a grad scaler); auto: fp16 on CUDA, bf16 on CPUs with
    # native bf16 instructions, fp32 elsewhere (esrgan.device.resolve_precision).
    precision: PrecisionName = "fp32"
    channels_last: bool = False  # NHWC memory format (faster convolutions on CPU with bf16 and on tensor cores)
    threads: Annotated[int, Range(0, 1024)] = 0  # torch intra-op threads on the CPU (0: torch's default)
    experiments_root: Path = Path("experiments")

    def __post_init__(self) -> None:
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._+-]*", self.name):
            raise OptionsError(f"name must be letters, digits, '.', '_', '+', '-' (a folder name), got {self.name!r}")
        if self.scale not in (1, 2, 3, 4, 8):
            raise OptionsError(f"scale must be 1, 2, 3, 4 or 8, got {self.scale}")
        if self.data.train.patch_size % self.scale:
            raise OptionsError(
                f"data.train.patch_size ({self.data.train.patch_size}) must be a multiple of scale ({self.scale})"
            )
        if self.data.train.degradation is not None and self.data.train.degradation.crop_pad_size % self.scale:
            raise OptionsError(
                f"data.train.degradation.crop_pad_size ({self.data.train.degradation.crop_pad_size}) must be a "
                f"multiple of scale ({self.scale})"
            )
        if self.stage == "gan":
            if self.losses.gan is None or self.network_d is None:
                raise OptionsError("stage gan needs losses.gan and network_d (set them, or use stage: psnr)")
            d, patch = DISCRIMINATORS[self.network_d.arch], self.data.train.patch_size
            if patch % d.patch_multiple:
                raise OptionsError(
                    f"stage gan: data.train.patch_size ({patch}) must be a multiple of {d.patch_multiple} "
                    "(the VGG-style discriminator halves it five times; UNetDiscriminatorSN takes any size)"
                )
            if patch < d.min_patch:
                raise OptionsError(f"{d.arch_name} needs data.train.patch_size >= {d.min_patch}, got {patch}")
        elif self.losses.gan is not None or self.network_d is not None:
            raise OptionsError(f"stage {self.stage} has no discriminator: remove losses.gan and network_d")
        if self.stage == "psnr" and self.losses.perceptual is not None:
            raise OptionsError("stage psnr uses the pixel loss only: remove losses.perceptual (or use stage gan)")
        if self.stage == "distill":
            if self.teacher is None:
                raise OptionsError("stage distill needs a teacher section (teacher.model: a built-in name or a file)")
            if self.teacher.targets == "online" and self.teacher.lr_downscales != [self.scale]:
                raise OptionsError(
                    f"teacher.targets online makes LR crops at the training scale: set teacher.lr_downscales to "
                    f"[{self.scale}] or use targets: precomputed"
                )
            if self.losses.feature is not None and self.teacher.targets != "online":
                raise OptionsError("losses.feature needs the teacher's inner features: set teacher.targets to online")
            if self.data.train.degradation is not None or self._sharpened_targets():
                raise OptionsError(
                    "stage distill trains on its teacher's outputs: remove data.train.degradation and the losses' "
                    "gt_usm (they make LR inputs from, and sharpen, HR targets)"
                )
        elif self.teacher is not None or self.losses.feature is not None:
            raise OptionsError("teacher and losses.feature belong to stage distill: remove them or set stage: distill")
        if self.data.val is not None and self.data.val.hr is None and self.stage != "distill":
            raise OptionsError("data.val.hr is required (only stage distill can score against its teacher instead)")

    def _sharpened_targets(self) -> bool:
        lo = self.losses
        return any(x is not None and x.gt_usm for x in (lo.pixel, lo.perceptual, lo.gan))
