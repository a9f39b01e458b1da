"""``esrgan train``: two-stage ESRGAN training from a YAML options file.

    esrgan train -opt options/train_RRDBNet_PSNR_x4.yml [--set a.b=value ...] [--resume auto|PATH] [--name NAME]
    torchrun --nproc_per_node N -m esrgan train -opt ...      # DistributedDataParallel, one process per GPU/core

Exit status: 0 when training finished, 1 when a loss became NaN/inf (the message names the last good
checkpoint), 2 for invalid options or paths.
"""

from __future__ import annotations

import argparse
import logging
from typing import Any

from esrgan.errors import OutputExistsError

log = logging.getLogger(__name__)


def register(sub: Any) -> None:
    p = sub.add_parser(
        "train",
        help="train an ESRGAN generator (PSNR stage, then GAN stage) from a YAML options file",
        description="Train from a YAML options file (`esrgan options list` shows the shipped ones). Outputs go to "
        "<experiments_root>/<name>/: checkpoints, exported generators, samples, logs and curves.png.",
    )
    p.add_argument(
        "-opt",
        "--opt",
        required=True,
        metavar="YAML",
        help="options file, or the name of a shipped one (e.g. train_ESRGAN_x4; `esrgan options list`)",
    )
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        dest="overrides",
        help="override an option, value read as YAML data (repeatable), e.g. --set train.total_iter=1000",
    )
    p.add_argument(
        "--resume",
        metavar="auto|PATH",
        default=None,
        help="continue a run: 'auto' takes the newest state in the run's checkpoints/ (or starts fresh), "
        "or give a training-state file",
    )
    p.add_argument("--name", default=None, help="experiment name (overrides the file's name)")
    p.add_argument("-q", "--quiet", action="store_true", help="warnings and errors only")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import dataclasses

    from esrgan.device import resolve_device
    from esrgan.options import load_options
    from esrgan.shipped_options import resolve
    from esrgan.train.distributed import init_from_env, shutdown
    from esrgan.train.loop import NonFiniteLossError, RunExistsError, fit
    from esrgan.train.options import TrainOptions

    opts = load_options(TrainOptions, resolve(args.opt), args.overrides)
    if args.name is not None:
        opts = dataclasses.replace(opts, name=args.name)  # __post_init__ checks the name again
    dist, device = init_from_env(resolve_device(opts.device))
    if not dist.is_main:
        logging.getLogger("esrgan").setLevel(logging.WARNING)  # one console logger: rank 0's
    try:
        result = fit(opts, resume=args.resume, dist=dist, device=device)
    except NonFiniteLossError as exc:
        hint = f" (continue from the last good checkpoint with --resume {exc.last_state})" if exc.last_state else ""
        log.error("%s%s", exc, hint)
        return 1
    except RunExistsError as exc:  # said in terms of this command's flags
        raise OutputExistsError(
            f"{exc.run_dir} already holds a run (checkpoints up to iteration {exc.iteration}): continue it with "
            "--resume auto, or start a new run with --name NEW_NAME"
        ) from None
    finally:
        shutdown(dist)
    if dist.is_main and result.iteration < opts.train.total_iter:
        log.info(
            "stopped at iteration %d of %d: run the same command with --resume auto to continue",
            result.iteration,
            opts.train.total_iter,
        )
    elif dist.is_main:
        log.info(
            "finished at iteration %d; generator: %s", result.iteration, result.run_dir / "models/net_g_latest.pth"
        )
    return 0
