"""Upscaling on several workers: several GPUs of one machine, or Ray actors on a cluster (issue 17).

The rooms, in the order a run meets them:

- :mod:`~esrgan.cluster.worker`: what runs in a worker: a :class:`~esrgan.cluster.worker.Job` (picklable:
  the network's weights, the engine's options) started once on a device, then called per item; an item's own
  failure comes back as a value, its log lines with it.
- :mod:`~esrgan.cluster.pools`: the :class:`~esrgan.cluster.pools.Pool` interface and
  :class:`~esrgan.cluster.pools.ThreadPool` (one worker per device, threads of this process, no Ray).
- :mod:`~esrgan.cluster.ray_pool`: :class:`~esrgan.cluster.ray_pool.RayPool` (one Ray actor per worker),
  :func:`~esrgan.cluster.ray_pool.ray_session` and :func:`~esrgan.cluster.ray_pool.plan_workers`
  (resources per worker). Ray is imported only there, only when used.
- :mod:`~esrgan.cluster.scheduler`: the driver's loop: items streamed to the workers with back-pressure, each
  done exactly once (a lost worker's items are retried elsewhere), outcomes in item order for reports.

Who writes: only the driver. Workers compute and return results (encoded image bytes, encoded video segments);
the driver writes them atomically, so a retried item can never be written twice, and no worker needs to see the
output folder.
"""

from esrgan.cluster.pools import AllWorkersLostError, Pool, ThreadPool, WorkerLostError
from esrgan.cluster.scheduler import Done, InOrder, Scheduler, WorkerStats
from esrgan.cluster.worker import Job, Reply, Runner, Worker, WorkerInfo

__all__ = [
    "AllWorkersLostError",
    "Done",
    "InOrder",
    "Job",
    "Pool",
    "Reply",
    "Runner",
    "Scheduler",
    "ThreadPool",
    "Worker",
    "WorkerInfo",
    "WorkerLostError",
    "WorkerStats",
]
