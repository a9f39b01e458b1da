"""Two-stage ESRGAN training: options (options.py) → objects (build.py) → steps (steps.py) in a loop (loop.py),
with resumable state (state.py), DistributedDataParallel (distributed.py) and records (logger.py)."""

from esrgan.train.loop import FitResult, NonFiniteLossError, fit
from esrgan.train.options import TrainOptions

__all__ = ["FitResult", "NonFiniteLossError", "TrainOptions", "fit"]
