"""``fit``: the training loop, read top to bottom — start or resume, then iterate, log, validate, checkpoint.

Outputs go to ``<experiments_root>/<name>/``:

- ``options.yml``: the options of the run (after ``--set`` overrides);
- ``checkpoints/state_<iter>.pth``: training states (see :mod:`esrgan.train.state`), the last ``checkpoint.keep``;
- ``models/net_g_<iter>.pth`` and ``models/net_g_latest.pth``: the EMA generator in BasicSR's layout with
  metadata (``esrgan.models.save_model``), for ``esrgan upscale -m`` and other tools;
- ``samples/<image>_<iter>.png``: validation strips LR-bicubic | SR | HR;
- ``train_log.jsonl``, ``curves.png``, ``tb/``: see :mod:`esrgan.train.logger`.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml
from torch import nn

from esrgan import __version__
from esrgan.archs import Described, as_sr_network
from esrgan.data import ImageSource
from esrgan.device import resolve_device, torch_threads
from esrgan.errors import NonFiniteLossError as NonFiniteLossError
from esrgan.errors import NotFoundError, OptionsError, OutputExistsError
from esrgan.fileio import remove_partial_files, write_text_atomic
from esrgan.models import save_model
from esrgan.options import to_dict
from esrgan.train import build
from esrgan.train.distributed import (
    DistInfo,
    all_finite,
    any_rank,
    barrier,
    broadcast_object,
    gather_objects,
    mean_across,
    sync_buffers,
    unwrap_ddp,
    wrap,
)
from esrgan.train.logger import TrainLogger
from esrgan.train.options import TrainOptions
from esrgan.train.pool import PairPool
from esrgan.train.state import (
    capture_rng,
    latest_state,
    list_states,
    load_state,
    make_state,
    prune_states,
    restore_rng,
    save_state,
    state_path,
)
from esrgan.train.steps import EMA, Amp, Losses, OnlineTeacher, distill_step, gan_step, psnr_step
from esrgan.train.teacher import prepare_targets, usable_pairs
from esrgan.train.validate import validate

log = logging.getLogger(__name__)


class RunExistsError(OutputExistsError):
    """A new run (``resume=None``) was asked for in a run folder that holds training states."""

    def __init__(self, run_dir: Path, iteration: int) -> None:
        super().__init__(
            f"{run_dir} already holds a run (checkpoints up to iteration {iteration}): continue it with "
            "resume='auto', or start a new run under another name"
        )
        self.run_dir, self.iteration = run_dir, iteration


@dataclass
class FitResult:
    """What :func:`fit` leaves behind (networks unwrapped, on the training device)."""

    iteration: int
    run_dir: Path
    net_g: nn.Module
    net_g_ema: nn.Module
    net_d: nn.Module | None
    last_state: Path | None
    val_scores: dict[str, float] = field(default_factory=dict)


def fit(
    opts: TrainOptions,
    *,
    resume: str | None = None,
    dist: DistInfo | None = None,
    device: torch.device | None = None,
) -> FitResult:
    """Train according to ``opts``.

    Args:
        opts: validated options (:class:`esrgan.train.options.TrainOptions`).
        resume: None (a new run; refused if the run folder already has checkpoints), "auto" (the newest state in
            the run's checkpoints folder, or a new run if there is none), or a training-state path.
        dist: this process among torchrun's (default: a single process).
        device: where to train (default: ``opts.device`` resolved).

    Raises:
        NonFiniteLossError: a loss became NaN/inf (nothing is saved after it).
        FileExistsError: a new run would overwrite a run with checkpoints.
    """
    with torch_threads(opts.threads):
        return _fit(opts, resume, dist or DistInfo(), device or resolve_device(opts.device))


def _fit(opts: TrainOptions, resume: str | None, dist: DistInfo, device: torch.device) -> FitResult:
    """Set up (:func:`_setup`), then the loop: step, check the losses, log, validate, checkpoint, stop on time."""
    run = _setup(opts, resume, dist, device)
    t, total = run.trainables, opts.train.total_iter
    it, last_state = run.start_iter, run.resume_path
    val_scores: dict[str, float] = {}
    window = _Window()
    batches = iter(run.loader)
    deadline = time.monotonic() + 60.0 * opts.train.max_minutes if opts.train.max_minutes > 0 else None
    try:
        while it < total:
            t0 = time.perf_counter()
            batch = next(batches)
            t_data = time.perf_counter() - t0
            it += 1
            out, lrs = run.step(it, batch)  # scheduled learning rates, the stage's update, the EMA
            if not all_finite(out, dist):
                values = ", ".join(f"{k} {v.item():.4g}" for k, v in out.items())
                raise NonFiniteLossError(
                    f"non-finite loss at iteration {it} ({values}); training stopped. Last good checkpoint: "
                    f"{last_state or 'none written yet'}. A lower learning rate, grad_clip or fp32 may help",
                    last_state,
                )
            window.add(out, t_data, time.perf_counter() - t0)
            # The last iteration of this invocation: the end of training, or the time limit (all ranks agree).
            out_of_time = deadline is not None and any_rank(time.monotonic() > deadline, dist)
            last = it == total or out_of_time

            if it % opts.logging.every == 0 or last:
                run.logger.log_train(it, total, {**mean_across(window.means(), dist, device), **lrs})
                window = _Window()

            val = opts.data.val
            if val is not None and ((val.every and it % val.every == 0) or last):
                if dist.is_main:
                    assert run.val_set is not None
                    val_scores = validate(t.ema.net, run.val_set, val, opts.scale, device, run.dirs.samples, it)
                    run.logger.log_val(it, val_scores)
                barrier(dist)

            if it % opts.checkpoint.every == 0 or last:
                if t.net_d is not None:
                    sync_buffers(t.net_d, dist)
                last_state = _checkpoint(opts, dist, it, t, run.dirs, run.pool)

            if out_of_time:
                log.warning(
                    "time limit of %g minutes reached at iteration %d of %d; resume='auto' continues the run",
                    opts.train.max_minutes,
                    it,
                    total,
                )
                break
    finally:
        run.logger.close()
    return FitResult(it, run.dirs.run, t.net_g, t.ema.net, t.net_d, last_state, val_scores)


# ---------------------------------------------------------------------------------------------------------------
# What fit works with, and how it is built.


@dataclass
class Trainables:
    """Everything a training state saves and restores: the networks, their optimisers and the fp16 loss scaler.

    The networks are the plain modules (never DDP-wrapped); ``feature`` is the distillation feature-matching
    adapter (None without one).
    """

    net_g: nn.Module
    ema: EMA
    net_d: nn.Module | None
    opt_g: torch.optim.Optimizer
    opt_d: torch.optim.Optimizer | None
    scaler: torch.amp.GradScaler | None
    feature: nn.Module | None = None


@dataclass(frozen=True)
class RunDirs:
    """The folders of a run: ``<experiments_root>/<name>/`` and its checkpoints, models and samples."""

    run: Path
    checkpoints: Path
    models: Path
    samples: Path

    @classmethod
    def of(cls, opts: TrainOptions) -> RunDirs:
        run = opts.experiments_root / opts.name
        return cls(run, run / "checkpoints", run / "models", run / "samples")


StepFn = Callable[[int, dict[str, Any]], tuple[dict[str, torch.Tensor], dict[str, float]]]
"""``step(iteration, batch) -> (step scalars, learning rates)``: one optimisation step of the run's stage."""


@dataclass
class _Run:
    """What the loop of :func:`_fit` works with."""

    dirs: RunDirs
    resume_path: Path | None  # the training state it started from
    start_iter: int  # iterations completed before this invocation
    trainables: Trainables
    step: StepFn
    loader: Any  # the DataLoader of iterations start_iter + 1 ..
    val_set: Any  # the validation dataset (rank 0), or None
    logger: TrainLogger
    pool: PairPool | None = None  # the training pair pool (data.train.queue_size), or None


def _setup(opts: TrainOptions, resume: str | None, dist: DistInfo, device: torch.device) -> _Run:
    """Start or resume: data, networks, losses, optimisers, precision, the step, the data order, logging."""
    dirs = RunDirs.of(opts)
    # ---- where to start: a fresh run or a saved training state (rank 0 decides, all ranks load the same file)
    resume_path = broadcast_object(_resume_path(resume, dirs.checkpoints, dirs.run) if dist.is_main else None, dist)
    if dist.is_main:  # a run killed while saving left full-size temporary files: never valid, never used
        for leftover in [p for d in (dirs.checkpoints, dirs.models, dirs.samples) for p in remove_partial_files(d)]:
            log.info("removed %s, left by an interrupted run", leftover)
    state = load_state(resume_path) if resume_path is not None else None
    # ---- data (first: a wrong folder fails before anything slow happens); distillation: the teacher's targets
    teacher, targets, val_reference = None, None, None
    if opts.stage == "distill":
        ImageSource(opts.data.train.hr, opts.data.train.meta_info)  # a wrong folder fails before the teacher loads
        teacher, targets, val_reference = _teacher_and_targets(opts, dist, device)
    train_set = build.build_train_set(opts, targets)
    val_set = build.build_val_set(opts, val_reference) if dist.is_main else None
    _seed_everything(opts.seed)  # same initial weights on every rank

    # ---- networks, losses, optimisers, precision (in this order: each may draw random numbers)
    trainables, online, losses, amp = _build(opts, teacher, dist, device, load_pretrained=state is None)
    start_iter = 0
    if state is not None:
        assert resume_path is not None
        start_iter = _restore(state, resume_path, opts, dist, trainables)

    # ---- data order from start_iter on, the pair pool (refilled from the state), the step, logging
    loader = build.build_train_loader(train_set, opts, dist, start_iter, device)
    memory_format = torch.channels_last if opts.channels_last else torch.contiguous_format
    pool = build.build_pool(opts, dist, loader, state, device, memory_format)  # None without data.train.queue_size
    step = _make_step(opts, trainables, online, losses, amp, dist, device, pool)  # after _restore: DDP copies weights
    logger = TrainLogger(
        dirs.run if dist.is_main else None,
        start_iter=start_iter,
        tensorboard=opts.logging.tensorboard,
        plot=opts.logging.plot,
        title=f"{opts.name} ({opts.stage} stage)",
    )
    if dist.is_main:
        _write_options(dirs.run / "options.yml", opts)
        log.info(
            "%s: %s stage, iterations %d..%d, %d training images, batch %d x %d process(es), %s, %s",
            dirs.run,
            opts.stage,
            start_iter + 1,
            opts.train.total_iter,
            len(train_set),  # type: ignore[arg-type]
            opts.data.train.batch_size,
            dist.world_size,
            device,
            str(amp.dtype or torch.float32).replace("torch.", ""),
        )
    return _Run(dirs, resume_path, start_iter, trainables, step, loader, val_set, logger, pool)


def _build(
    opts: TrainOptions, teacher: nn.Module | None, dist: DistInfo, device: torch.device, *, load_pretrained: bool
) -> tuple[Trainables, OnlineTeacher | None, Losses, Amp]:
    """The networks, the online teacher (distillation with online targets), losses, optimisers and precision."""
    net_g = build.build_generator(opts, device, load_pretrained=load_pretrained)
    ema = EMA(net_g, opts.train.ema_decay)
    net_d = (
        build.build_discriminator(opts, device, _out_channels(net_g), load_pretrained=load_pretrained)
        if opts.stage == "gan"
        else None
    )
    online: OnlineTeacher | None = None
    if teacher is not None and opts.teacher is not None and opts.teacher.targets == "online":
        online = build.build_online_teacher(opts, teacher, net_g, dist, device)  # after EMA: its hooks stay off it
    feature = online.feature if online is not None else None
    losses = build.build_losses(opts, device)
    g_params = list(net_g.parameters()) + (list(feature.parameters()) if feature is not None else [])
    opt_g = build.build_optimizer(g_params, opts.train.optim_g)
    opt_d = build.build_optimizer(net_d.parameters(), opts.train.optim_d) if net_d is not None else None
    amp = build.build_amp(opts, device)
    return Trainables(net_g, ema, net_d, opt_g, opt_d, amp.scaler, feature), online, losses, amp


def _make_step(
    opts: TrainOptions,
    t: Trainables,
    online: OnlineTeacher | None,
    losses: Losses,
    amp: Amp,
    dist: DistInfo,
    device: torch.device,
    pool: PairPool | None = None,
) -> StepFn:
    """The run's step: set the scheduled learning rates, move the batch (swapped through the pair pool when there
    is one), update by the stage, update the EMA."""
    net_g = wrap(t.net_g, dist, device)
    net_d = wrap(t.net_d, dist, device) if t.net_d is not None else None
    memory_format = torch.channels_last if opts.channels_last else torch.contiguous_format
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # fixed patch sizes: let cuDNN pick the fastest kernels once
    train, clip = opts.train, opts.train.grad_clip

    def step(it: int, batch: dict[str, Any]) -> tuple[dict[str, torch.Tensor], dict[str, float]]:
        lrs = {"lr_g": _set_lr(t.opt_g, build.scheduled_lr(train.optim_g.lr, it, train.scheduler))}
        if t.opt_d is not None:
            lrs["lr_d"] = _set_lr(t.opt_d, build.scheduled_lr(train.optim_d.lr, it, train.scheduler))
        lr_img = batch["lr"].to(device, non_blocking=True, memory_format=memory_format)
        hr_img = batch["hr"].to(device, non_blocking=True, memory_format=memory_format)
        if pool is not None:
            lr_img, hr_img = pool.swap(it, lr_img, hr_img)
        if opts.stage == "gan":
            assert net_d is not None and t.opt_d is not None
            out = gan_step(lr_img, hr_img, net_g, net_d, t.opt_g, t.opt_d, losses, amp, clip)
        elif opts.stage == "distill":
            # Precomputed: "hr" holds the teacher's output. Online: the teacher makes it from the LR patch.
            target = hr_img if online is None else None
            out = distill_step(lr_img, target, net_g, t.opt_g, losses, amp, clip, online)
        else:
            out = psnr_step(lr_img, hr_img, net_g, t.opt_g, losses, amp, clip)
        t.ema.update(t.net_g)
        return out, lrs

    return step


# ---------------------------------------------------------------------------------------------------------------
# Helpers, in the order fit uses them.


def _resume_path(resume: str | None, ckpt_dir: Path, run_dir: Path) -> Path | None:
    """The training state to start from (see :func:`fit`), or None for a fresh run."""
    if resume is None:
        existing = list_states(ckpt_dir)
        if existing:
            raise RunExistsError(run_dir, existing[-1][0])
        return None
    if resume == "auto":
        path = latest_state(ckpt_dir)
        if path is None:
            log.info("resume='auto': no training state in %s; starting a new run", ckpt_dir)
        return path
    path = Path(resume)
    if not path.is_file():
        raise NotFoundError(f"resume={resume!r}: no such training state (resume='auto' takes the latest)")
    return path


def _teacher_and_targets(
    opts: TrainOptions, dist: DistInfo, device: torch.device
) -> tuple[nn.Module, tuple[str, str, str] | None, tuple[str, str] | None]:
    """Distillation: the teacher; the (lr folder, sr folder, list of the pairs large enough for the patch) of the
    precomputed training targets (None for online targets); and the (lr, sr) folders of the validation reference
    (None when ``data.val.hr`` is the reference). Every process makes its share of the training targets; rank 0
    makes the validation reference."""
    assert opts.teacher is not None
    t, d, v = opts.teacher, opts.data.train, opts.data.val
    teacher, info = build.build_teacher(opts, device)
    engine = build.teacher_engine(teacher, opts, device)

    def progress(what: str) -> Any:
        step = 0

        def report(done: int, total: int) -> None:
            nonlocal step
            if done * 10 // total > step or done == total:
                step = done * 10 // total
                log.info("teacher %s: %d/%d images", what, done, total)

        return report

    targets = None
    if t.targets == "precomputed":
        out = Path(build.teacher_targets_dir(opts, info, "train", d.hr, t.lr_downscales, d.meta_info))
        log.info("teacher targets for training: %s (made once, reused by later runs)", out)
        lr_dir, sr_dir, stems = prepare_targets(
            engine, d.hr, out, t.lr_downscales, meta_info=d.meta_info, rank=dist.rank, world_size=dist.world_size,
            progress=progress("targets"),
        )  # fmt: skip
        barrier(dist)
        lr_patch = d.patch_size // opts.scale
        kept, small = usable_pairs(lr_dir, stems, lr_patch)
        if small:
            log.warning("%d of %d teacher-target pairs are smaller than the %d-pixel LR patch and are not used, "
                        "e.g. %s", len(small), len(stems), lr_patch, small[0])  # fmt: skip
        if not kept:
            raise OptionsError(
                f"no source image is large enough for data.train.patch_size {d.patch_size} at the "
                f"downscales {t.lr_downscales}; use a smaller patch_size or smaller lr_downscales"
            )
        # Every process writes the same list; the atomic write makes that harmless.
        pairs = out / f"pairs_lr{lr_patch}.txt"
        write_text_atomic(pairs, "".join(f"{stem}.png\n" for stem in kept))
        targets = (str(lr_dir), str(sr_dir), str(pairs))
    reference = None
    if v is not None and v.hr is None and dist.is_main:
        assert v.lr is not None  # ValDataOptions needs hr or lr
        out = Path(build.teacher_targets_dir(opts, info, "val", v.lr, [1]))
        lr_dir, sr_dir, _ = prepare_targets(engine, v.lr, out, [1], progress=progress("validation reference"))
        reference = (str(lr_dir), str(sr_dir))
        log.info("validation scores the student against the teacher's outputs on %s", v.lr)
    return teacher, targets, reference


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # also seeds every CUDA device


def _describe(net: nn.Module) -> dict[str, Any]:
    """{"arch", "hparams"} of one of our networks (generators and discriminators carry both)."""
    if not isinstance(net, Described):
        raise TypeError(f"{type(net).__name__} does not carry arch_name and hparams() (esrgan.archs.Described)")
    return {"arch": net.arch_name, "hparams": net.hparams()}


def _out_channels(net: nn.Module) -> int:
    return as_sr_network(net).num_out_ch


def _restore(state: dict[str, Any], path: Path, opts: TrainOptions, dist: DistInfo, t: Trainables) -> int:
    """Load a training state into the freshly built objects; returns the completed iteration count."""
    meta = state["esrgan"]
    if meta.get("stage") != opts.stage:
        raise OptionsError(
            f"{path} is a {meta.get('stage')}-stage state but the options say stage {opts.stage}; to start the GAN "
            "stage from PSNR weights set network_g.pretrained to the exported models/net_g_latest.pth instead"
        )
    mine = _describe(t.net_g)
    if meta.get("arch") != mine["arch"] or meta.get("hparams") != mine["hparams"]:
        raise OptionsError(
            f"{path} holds {meta.get('arch')} {meta.get('hparams')}, the options build "
            f"{mine['arch']} {mine['hparams']}; use the options of that run"
        )
    t.net_g.load_state_dict(state["params"])
    t.ema.net.load_state_dict(state["params_ema"])
    t.opt_g.load_state_dict(state["optimizers"]["g"])
    if t.net_d is not None and t.opt_d is not None:
        if state["net_d"] is None:
            raise OptionsError(f"{path} has no discriminator; it cannot resume a GAN-stage run")
        t.net_d.load_state_dict(state["net_d"])
        t.opt_d.load_state_dict(state["optimizers"]["d"])
    if t.scaler is not None and state["scaler"] is not None:
        t.scaler.load_state_dict(state["scaler"])
    if t.feature is not None:
        if state.get("feature") is None:
            raise OptionsError(f"{path} has no feature-matching adapter; resume it without losses.feature")
        unwrap_ddp(t.feature).load_state_dict(state["feature"])
    rngs = state["rng"]
    if len(rngs) != dist.world_size:
        log.warning("%s was written by %d process(es), this run has %d", path, len(rngs), dist.world_size)
    restore_rng(rngs[min(dist.rank, len(rngs) - 1)])
    if dist.is_main:
        _warn_changed_options(state["options"], to_dict(opts), path)
        log.info("resumed from %s at iteration %d", path, state["iteration"])
    return int(state["iteration"])


def _warn_changed_options(saved: dict[str, Any], current: dict[str, Any], path: Path, prefix: str = "") -> None:
    # Keys the saved run does not have are newer than it (the schema grew, e.g. the engine keys of data.val):
    # nothing the user changed.
    for key in sorted(saved):
        a, b = saved.get(key), current.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            _warn_changed_options(a, b, path, f"{prefix}{key}.")
        elif a != b:
            log.warning("option %s%s changed since %s: %r -> %r", prefix, key, path.name, a, b)


def _write_options(path: Path, opts: TrainOptions) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(path, yaml.safe_dump(to_dict(opts), sort_keys=False))


def _set_lr(optimizer: torch.optim.Optimizer, lr: float) -> float:
    for group in optimizer.param_groups:
        group["lr"] = lr
    return lr


class _Window:
    """Sums of the step scalars and timings since the last log line."""

    def __init__(self) -> None:
        self.sums: dict[str, torch.Tensor] = {}
        self.count = 0
        self.t_data = 0.0
        self.t_iter = 0.0

    def add(self, out: dict[str, torch.Tensor], t_data: float, t_iter: float) -> None:
        for k, v in out.items():
            self.sums[k] = self.sums[k] + v.float() if k in self.sums else v.float()
        self.count += 1
        self.t_data += t_data
        self.t_iter += t_iter

    def means(self) -> dict[str, float]:
        n = max(self.count, 1)
        means = {k: float(v.item()) / n for k, v in self.sums.items()}
        means["time_per_iter"] = self.t_iter / n
        # Share of the iteration time spent waiting for the DataLoader (0: loading is fully hidden).
        means["data_wait"] = self.t_data / self.t_iter if self.t_iter > 0 else 0.0
        return means


def _checkpoint(
    opts: TrainOptions, dist: DistInfo, it: int, t: Trainables, dirs: RunDirs, pool: PairPool | None = None
) -> Path:
    """Write the training state and the exported EMA generator (rank 0), then let every rank go on."""
    rng = gather_objects(capture_rng(), dist)  # every rank's RNG state: a collective, so all ranks call it
    pools = gather_objects(pool.state(), dist) if pool is not None else None  # every rank's pool keys
    path = state_path(dirs.checkpoints, it)
    if dist.is_main:
        meta = {**_describe(t.ema.net), "version": __version__}
        extra = {"iteration": it, "stage": opts.stage, "name": opts.name}
        state = make_state(
            meta={**meta, **extra},
            params_ema=t.ema.net.state_dict(),
            params=t.net_g.state_dict(),
            net_d=t.net_d.state_dict() if t.net_d is not None else None,
            net_d_meta=_describe(t.net_d) if t.net_d is not None else None,
            optimizers={"g": t.opt_g.state_dict(), "d": t.opt_d.state_dict() if t.opt_d is not None else None},
            scaler=t.scaler.state_dict() if t.scaler is not None else None,
            iteration=it,
            rng=rng,
            options=to_dict(opts),
            feature=unwrap_ddp(t.feature).state_dict() if t.feature is not None else None,
            pool=pools,
        )
        save_state(path, state)
        dirs.models.mkdir(parents=True, exist_ok=True)
        save_model(t.ema.net, dirs.models / f"net_g_{it:08d}.pth", extra=extra)
        save_model(t.ema.net, dirs.models / "net_g_latest.pth", extra=extra)
        prune_states(dirs.checkpoints, opts.checkpoint.keep)
        log.info("saved %s and %s", path, dirs.models / f"net_g_{it:08d}.pth")
    barrier(dist)
    return path
