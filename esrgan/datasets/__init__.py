"""Data-preparation scripts, each run as ``python -m esrgan.datasets.<name>`` (see datasets/README.md).

- ``extract_subimages``: cut large HR images into overlapping sub-images (BasicSR: 480 px, step 240).
- ``make_lr``: LR images by MATLAB-compatible bicubic downscaling, for any scale.
- ``meta_info``: a BasicSR meta-info list, ``name (h,w,c)`` per line.
- ``make_lmdb``: pack a folder into an LMDB database that :mod:`esrgan.data` reads transparently.
- ``visualize``: a PNG grid of training pairs (LR upscaled nearest beside HR) to check data before training.
- ``make_degraded_lr``: a degraded LR test set, from a degradation block with a fixed seed.
- ``strips``: a PNG strip of crops, LR | each model's SR | HR, on a test set (:mod:`esrgan.evaluation.strips`).

All of them use every core, show progress bars and refuse to replace existing outputs without ``--overwrite``.
Shared plumbing lives in :mod:`esrgan.datasets.common`.
"""
