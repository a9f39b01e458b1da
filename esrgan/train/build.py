"""The one place where training options become objects: networks, losses, optimisers, schedule, precision, data.

Everything downstream (steps, loop) receives plain objects and never reads option classes again.
"""

from __future__ import annotations

import inspect
import logging
import math
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from esrgan.archs import DISCRIMINATORS, as_sr_network, find
from esrgan.archs.vgg import VGG19FeatureExtractor
from esrgan.data import DegradedDataset, HROnlyDataset, PairedImageDataset, ValidationDataset
from esrgan.degradations.usm import USMSharp
from esrgan.device import resolve_precision
from esrgan.errors import ModelFileError, NotFoundError, OptionsError
from esrgan.inference import Upscaler
from esrgan.losses import FeatureMatchingLoss, PerceptualLoss, PixelLoss
from esrgan.models import ModelInfo, build_network, load_model
from esrgan.train.distributed import DistInfo, ResumableBatchSampler, SeededDataset, wrap
from esrgan.train.options import TEACHER_ENGINE, GeneratorOptions, OptimizerOptions, SchedulerOptions, TrainOptions
from esrgan.train.pool import Key, PairPool
from esrgan.train.steps import Amp, Losses, OnlineTeacher
from esrgan.train.teacher import FeatureTap, default_feature_layer, targets_key

log = logging.getLogger(__name__)


def generator_hparams(opts: GeneratorOptions, scale: int) -> dict[str, Any]:
    """Constructor arguments of the generator: the architecture's defaults, the options' hparams, the scale.

    Raises:
        ValueError: ``hparams`` sets a scale different from the top-level ``scale``.
    """
    spec = find(opts.arch)
    defaults = {
        name: p.default
        for name, p in inspect.signature(spec.net).parameters.items()
        if p.default is not inspect.Parameter.empty
    }
    hparams = {**defaults, **opts.hparams}
    key = spec.scale_arg
    if key in opts.hparams and opts.hparams[key] != scale:
        raise OptionsError(f"network_g.hparams.{key} is {opts.hparams[key]} but scale is {scale}; make them agree")
    hparams[key] = scale
    return hparams


def build_generator(opts: TrainOptions, device: torch.device, *, load_pretrained: bool = True) -> nn.Module:
    """The generator on ``device`` in train mode, starting from ``network_g.pretrained`` if set and asked for.

    Raises:
        ValueError: the pretrained weights are a different architecture or shape than the options describe.
    """
    g_opts = opts.network_g
    hparams = generator_hparams(g_opts, opts.scale)
    net = build_network(g_opts.arch, hparams)
    # A pixel-unshuffle x1/x2 RRDBNet (or any network with a size rule) cannot run an LR patch off its grid: say
    # so now, in the options' words, not as a torch error at the first iteration.
    check_lr_patch(net, f"network_g ({g_opts.arch} x{opts.scale})", opts)
    if g_opts.pretrained and load_pretrained:
        try:
            pre, info = load_model(g_opts.pretrained, device="cpu")
        except FileNotFoundError as exc:
            raise NotFoundError(
                f"network_g.pretrained: {exc} (train the previous stage first, or point it at existing weights)"
            ) from exc
        # Compare canonical forms: each network's hparams() leaves out defaults that do not change it.
        theirs, mine = dict(info.hparams), as_sr_network(net).hparams()
        if info.arch != g_opts.arch or theirs != mine:
            raise OptionsError(
                f"network_g.pretrained {g_opts.pretrained} is {info.arch} {theirs}, but the options describe "
                f"{g_opts.arch} {mine}; set network_g.arch/hparams to match the weights"
            )
        net.load_state_dict(pre.state_dict(), strict=True)
        log.info("generator starts from %s (%s, %s parameters)", g_opts.pretrained, info.arch, f"{info.num_params:,}")
    net = net.to(device).train()
    if opts.channels_last:
        _channels_last(net)
    return net


def check_lr_patch(net: nn.Module, what: str, opts: TrainOptions) -> None:
    """OptionsError unless the LR patch (``data.train.patch_size / scale``) meets ``net``'s input rule: sides a
    multiple of its ``size_multiple`` and at least its ``min_size``."""
    contract = as_sr_network(net)
    multiple, minimum = int(contract.size_multiple), int(contract.min_size)
    lr_patch = opts.data.train.patch_size // opts.scale
    if lr_patch % multiple:
        raise OptionsError(
            f"{what} needs input sides that are multiples of {multiple}; the LR patch is {lr_patch} "
            f"(set data.train.patch_size to a multiple of {multiple * opts.scale})"
        )
    if lr_patch < minimum:
        raise OptionsError(
            f"{what} needs input sides of at least {minimum}; the LR patch is {lr_patch} "
            f"(set data.train.patch_size to at least {minimum * opts.scale})"
        )


D_ENTRIES = ("params", "net_d", "state_dict")  # Real-ESRGAN's net_d files, our training states, others


def discriminator_weights(path: str, net: nn.Module) -> dict[str, torch.Tensor]:
    """The tensors of a discriminator file (read as any model file is: :func:`esrgan.models.checkpoint.read_tensors`),
    checked against ``net``'s own names and shapes before loading.

    Raises:
        NotFoundError: no such file.
        ModelFileError: not a weights file (a pickle that would run code is refused unread), or non-finite values.
        OptionsError: its tensors do not fit ``net`` (another architecture, ``num_feat`` or ``skip_connection``).
    """
    from esrgan.models.checkpoint import fit_problems, read_tensors

    try:
        tensors = read_tensors(path, D_ENTRIES)
    except FileNotFoundError as exc:
        raise NotFoundError(f"network_d.pretrained: {exc}") from exc
    except ModelFileError as exc:
        raise ModelFileError(f"network_d.pretrained: {exc}") from exc
    problems = fit_problems(net, tensors)
    if problems:
        raise OptionsError(
            f"network_d.pretrained {path} does not fit the {type(net).__name__} the options describe ({problems}): "
            "set network_d's arch, num_feat and skip_connection to match the file"
        )
    return tensors


def _channels_last(net: nn.Module) -> None:
    """Switch the weights to NHWC in place (what Module.to(memory_format=...) does)."""
    net.to(memory_format=torch.channels_last)  # type: ignore[call-overload]  # the keyword is missing from the stubs


def build_discriminator(
    opts: TrainOptions, device: torch.device, in_channels: int, *, load_pretrained: bool = True
) -> nn.Module:
    """The GAN stage's discriminator: VGG-style for HR patches of ``data.train.patch_size``, or the U-Net; starting
    from ``network_d.pretrained`` if set and asked for (a resume restores its own weights instead)."""
    d = opts.network_d
    assert d is not None
    cls = DISCRIMINATORS[d.arch]
    patch = opts.data.train.patch_size
    net: nn.Module = cls.for_patches(in_channels, d.num_feat, patch, skip_connection=d.skip_connection)
    if d.pretrained and load_pretrained:
        net.load_state_dict(discriminator_weights(d.pretrained, net), strict=True)
        log.info("discriminator starts from %s", d.pretrained)
    net = net.to(device).train()
    if opts.channels_last:
        _channels_last(net)
    return net


def gan_kind(opts: TrainOptions) -> str:
    """``losses.gan.kind``, or the discriminator's own when null: RaGAN for the VGG-style discriminator (ESRGAN),
    the vanilla GAN for the U-Net (Real-ESRGAN)."""
    if opts.losses.gan is not None and opts.losses.gan.kind is not None:
        return opts.losses.gan.kind
    d = opts.network_d
    return DISCRIMINATORS[d.arch].gan_loss if d is not None else "ragan"


def build_losses(opts: TrainOptions, device: torch.device) -> Losses:
    """Pixel loss always; perceptual (VGG19), the GAN weight and kind in the GAN stage; USM for sharpened targets."""
    lo = opts.losses
    losses = Losses(pixel=PixelLoss(lo.pixel.kind), pixel_weight=lo.pixel.weight, gan_kind=gan_kind(opts))
    sharpened = {"pixel": lo.pixel, "perceptual": lo.perceptual, "gan": lo.gan}
    losses.usm_targets = frozenset(k for k, v in sharpened.items() if v is not None and v.gt_usm)
    if losses.usm_targets:
        losses.usm = USMSharp().to(device)
    if lo.perceptual is not None and lo.perceptual.weight > 0:
        p = lo.perceptual
        vgg = VGG19FeatureExtractor(p.layers, p.weights, allow_random_weights=p.allow_random_weights)
        vgg = vgg.to(device)
        if opts.channels_last:
            _channels_last(vgg)
        losses.perceptual = PerceptualLoss(vgg, p.layers, p.criterion)
        losses.perceptual_weight = p.weight
    if lo.gan is not None:
        losses.gan_weight = lo.gan.weight
    return losses


def build_teacher(opts: TrainOptions, device: torch.device) -> tuple[nn.Module, ModelInfo]:
    """The distillation teacher (``teacher.model``): frozen, eval mode, on ``device``.

    Raises:
        ValueError: its scale differs from the student's, or its input sides must be multiples of a number that
            the LR patch is not (pixel-unshuffle x1/x2 models with online targets), or at least a size the LR
            patch is below.
    """
    assert opts.teacher is not None
    t = opts.teacher
    try:
        net, info = load_model(t.model, device="cpu")
    except FileNotFoundError as exc:
        raise NotFoundError(f"teacher.model: {exc}") from exc
    if info.scale != opts.scale:
        raise OptionsError(f"teacher {t.model} upscales x{info.scale} but scale is {opts.scale}; they must agree")
    if t.targets == "online":  # window-attention teachers loaded through spandrel have a minimum too
        check_lr_patch(net, f"teacher {t.model}", opts)
    net = net.eval().requires_grad_(False).to(device)
    if opts.channels_last:
        _channels_last(net)
    log.info("teacher: %s", info.summary())
    return net, info


def teacher_engine(teacher: nn.Module, opts: TrainOptions, device: torch.device) -> Upscaler:
    """The inference engine that makes precomputed targets and validation references from the teacher (on
    ``device`` unless the teacher options name one)."""
    assert opts.teacher is not None
    return Upscaler.from_options(teacher, opts.teacher.engine.with_default_device(str(device)))


def teacher_targets_dir(
    opts: TrainOptions,
    info: ModelInfo,
    part: str,
    images: Path,
    lr_downscales: list[int],
    meta_info: Path | None = None,
) -> str:
    """``<experiments_root>/teacher_targets/<part>-<key>``: the folder of the teacher's targets for the source
    ``images`` (see esrgan.train.teacher). The key covers the teacher, the source images, the factors, scale and
    precision (and the self-ensemble and backend when they are not the defaults), so every run with the same ones
    shares the folder: a new run name does not redo the teacher's work."""
    assert opts.teacher is not None
    engine = opts.teacher.engine
    source = [str(p.resolve()) for p in (images, meta_info) if p is not None]
    # Named only when changed, so that the folders of runs made before these could be set keep their keys.
    changed = {"ensemble": engine.ensemble, "backend": engine.backend}
    extra = {k: v for k, v in changed.items() if v != getattr(TEACHER_ENGINE, k)}
    key = targets_key(info.sha256, lr_downscales, opts.scale, engine.precision, source, extra)
    return str(opts.experiments_root / "teacher_targets" / f"{part}-{key}")


def build_online_teacher(
    opts: TrainOptions, teacher: nn.Module, net_g: nn.Module, dist: DistInfo, device: torch.device
) -> OnlineTeacher:
    """The per-step teacher of ``teacher.targets: online``, with feature taps and the adapter of
    ``losses.feature`` (its channels found by one small forward pass of both networks)."""
    assert opts.teacher is not None
    online = OnlineTeacher(teacher, _amp(opts.teacher.engine.precision, device))
    f = opts.losses.feature
    if f is None or f.weight <= 0:
        return online
    online.tap = FeatureTap(teacher, f.teacher or default_feature_layer(teacher))
    online.student_tap = FeatureTap(net_g, f.student or default_feature_layer(net_g))
    probe = torch.zeros(1, as_sr_network(net_g).num_in_ch, 16, 16, device=device)
    with torch.no_grad():
        teacher(probe)
        net_g(probe)
    t_map, s_map = online.tap.take(), online.student_tap.take()
    if t_map.shape[-2:] != s_map.shape[-2:]:
        raise OptionsError(
            f"losses.feature: student layer {online.student_tap.name} gives {tuple(s_map.shape[-2:])} maps for a "
            f"16x16 input, teacher layer {online.tap.name} {tuple(t_map.shape[-2:])}; tap layers of the same size"
        )
    loss = FeatureMatchingLoss(s_map.shape[1], t_map.shape[1], f.criterion).to(device)
    if opts.channels_last:
        _channels_last(loss)
    online.feature = wrap(loss, dist, device)
    online.feature_weight = f.weight
    log.info("feature matching: student %s (%d ch) -> teacher %s (%d ch), weight %g",
             online.student_tap.name, s_map.shape[1], online.tap.name, t_map.shape[1], f.weight)  # fmt: skip
    return online


def build_optimizer(params: Iterable[nn.Parameter], opts: OptimizerOptions) -> torch.optim.Adam:
    return torch.optim.Adam(list(params), lr=opts.lr, betas=opts.betas, weight_decay=opts.weight_decay)


def scheduled_lr(base_lr: float, iteration: int, opts: SchedulerOptions) -> float:
    """Learning rate for 1-based ``iteration`` (the step about to be taken); a pure function of its arguments.

    multistep: ``base_lr * gamma ** (milestones passed)``, where a milestone m has passed once ``iteration > m``
    (milestone 50000: the first 50000 steps use the full rate, step 50001 the reduced one).
    cosine_restart: within period i (starting at iteration s_i + 1, length T_i, weight w_i),
    ``eta_min + w_i * (base_lr - eta_min) * (1 + cos(pi * (iteration - 1 - s_i) / T_i)) / 2``.
    Warm-up multiplies by ``min(1, iteration / warmup_iter)``.
    """
    done = iteration - 1  # completed steps
    if opts.kind == "constant":
        lr = base_lr
    elif opts.kind == "multistep":
        lr = base_lr * opts.gamma ** sum(1 for m in opts.milestones if done >= m)
    else:
        weights = opts.restart_weights or [1.0] * len(opts.periods)
        start = 0
        lr = opts.eta_min
        for period, weight in zip(opts.periods, weights, strict=True):
            if done < start + period:
                progress = (done - start) / period
                lr = opts.eta_min + weight * (base_lr - opts.eta_min) * 0.5 * (1.0 + math.cos(math.pi * progress))
                break
            start += period
    if opts.warmup_iter > 0 and iteration < opts.warmup_iter:
        lr *= iteration / opts.warmup_iter
    return lr


def build_amp(opts: TrainOptions, device: torch.device) -> Amp:
    """Autocast settings for ``precision``: None for fp32; bf16 anywhere it is supported; fp16 on CUDA with a
    grad scaler (fp16 gradients underflow without loss scaling)."""
    return _amp(opts.precision, device)


def _amp(precision: str, device: torch.device) -> Amp:
    dtype = resolve_precision(precision, device)
    if dtype == torch.float32:
        return Amp(device.type)
    if dtype == torch.float16 and device.type != "cuda":
        raise OptionsError(f"precision fp16 needs a CUDA device (training on {device}); use bf16 or fp32")
    scaler = torch.amp.GradScaler("cuda") if dtype == torch.float16 else None
    return Amp(device.type, dtype, scaler)


def build_train_set(opts: TrainOptions, targets: tuple[str, str, str] | None = None) -> Dataset[Any]:
    """Paired folders when ``data.train.lr`` is set, otherwise HR only with LR made on the fly (by
    ``data.train.degradation`` when set, MATLAB bicubic otherwise).

    Distillation with precomputed ``targets`` (lr folder, teacher-output folder, meta-info list of the pairs large
    enough for the patch): those pairs.
    """
    d = opts.data.train
    common: dict[str, Any] = {
        "meta_info": d.meta_info,
        "hflip": d.hflip,
        "rot90": d.rot90,
        "cache": d.cache,
        "seed": opts.seed,
    }
    if targets is not None:
        common["meta_info"] = targets[2]
        return PairedImageDataset(targets[1], targets[0], opts.scale, d.patch_size, **common)
    if d.lr is not None:
        return PairedImageDataset(d.hr, d.lr, opts.scale, d.patch_size, **common)
    if d.degradation is not None:
        return DegradedDataset(d.hr, opts.scale, d.patch_size, d.degradation, **common)
    return HROnlyDataset(d.hr, opts.scale, d.patch_size, **common)


def build_train_loader(
    dataset: Dataset[Any], opts: TrainOptions, dist: DistInfo, start_iter: int, device: torch.device
) -> DataLoader[Any]:
    """Worker processes loading the batches of iterations ``start_iter + 1 .. total_iter`` for this rank.

    Batches are ``{"lr": (B, C, h, w), "hr": (B, C, h * scale, w * scale), "path": [str] * B}``.
    """
    d = opts.data.train
    sampler = ResumableBatchSampler(
        len(dataset),  # type: ignore[arg-type]
        d.batch_size,
        opts.train.total_iter,
        seed=opts.seed,
        rank=dist.rank,
        world_size=dist.world_size,
        start_iter=start_iter,
    )
    return DataLoader(
        SeededDataset(dataset),
        batch_sampler=sampler,
        num_workers=d.num_workers,
        prefetch_factor=d.prefetch_factor if d.num_workers > 0 else None,
        pin_memory=device.type == "cuda",
    )


def build_pool(
    opts: TrainOptions,
    dist: DistInfo,
    loader: DataLoader[Any],
    state: dict[str, Any] | None,
    device: torch.device,
    memory_format: torch.memory_format,
) -> PairPool | None:
    """The training pair pool of ``data.train.queue_size`` (None when 0), refilled from a resumed ``state``: its
    samples are made again from the keys the state holds (see esrgan/train/pool.py), by ``loader``'s workers."""
    d = opts.data.train
    if d.queue_size == 0:
        return None
    sampler = loader.batch_sampler
    assert isinstance(sampler, ResumableBatchSampler)  # build_train_loader made it
    pool = PairPool(d.queue_size, opts.seed, dist.rank, sampler.batch)
    saved = state.get("pool") if state is not None else None
    images = len(loader.dataset)  # type: ignore[arg-type]  # build_train_loader's SeededDataset has a length
    if saved and (why := _pool_mismatch(saved[min(dist.rank, len(saved) - 1)], d.queue_size, images)):
        # The run's options changed under it (the resume warned): an exact resume is impossible, a fresh pool is not.
        log.warning("the checkpoint's training pair pool is not restored (%s); the pool fills again from here", why)
    elif saved:

        def load(keys: list[Key]) -> tuple[torch.Tensor, torch.Tensor]:
            chunks = [keys[i : i + d.batch_size] for i in range(0, len(keys), d.batch_size)]
            again = DataLoader(loader.dataset, batch_sampler=chunks, num_workers=d.num_workers)
            batches = list(again)
            lr, hr = (torch.cat([b[k] for b in batches]) for k in ("lr", "hr"))
            return lr.to(device, memory_format=memory_format), hr.to(device, memory_format=memory_format)

        pool.restore(saved[min(dist.rank, len(saved) - 1)], load)
    elif state is not None:
        log.warning("the training state has no training pair pool; the pool fills again from here")
    return pool


def _pool_mismatch(saved: dict[str, Any], queue_size: int, images: int) -> str | None:
    """Why a saved pool cannot be made again with these options (None: it can)."""
    if int(saved["size"]) != queue_size:
        return f"it holds {int(saved['size'])} pairs, queue_size is now {queue_size}"
    keys = saved["keys"]
    if keys.numel() and int(keys[:, 0].max()) >= images:
        count = f"{images} image" + ("s" if images != 1 else "")
        return f"it holds samples of training image #{int(keys[:, 0].max())}, the training set now has {count}"
    return None


def build_val_set(opts: TrainOptions, reference: tuple[str, str] | None = None) -> ValidationDataset | None:
    """The validation images; distillation without ``data.val.hr``: the teacher's outputs on ``data.val.lr``
    (``reference`` = (lr folder, teacher-output folder)) are the reference."""
    v = opts.data.val
    if v is None:
        return None
    if reference is not None:
        return ValidationDataset(reference[1], opts.scale, reference[0])
    assert v.hr is not None  # TrainOptions checks this outside stage distill
    return ValidationDataset(v.hr, opts.scale, v.lr)
