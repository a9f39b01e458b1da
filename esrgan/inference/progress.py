"""Progress inside a network call: the work of its convolutions counted as they run.

One tile of realesrgan-x4plus is about 2.3 TFLOP (256 x 256 input): 20-80 s on a 2-core CPU. Counting tiles alone
leaves the progress bar at 0 for that long, and an image that fits one tile shows nothing until it is done. The
convolutions and linear layers are > 99% of these networks' arithmetic, so their FLOPs, counted by forward hooks
as each layer finishes, measure how far a call has got: :class:`WorkMeter` reports that fraction at most every
``interval`` seconds. The expected total comes from :func:`trace_layers`, a shape-only pass on the meta device
(no memory, no arithmetic), which also gives the largest layer for the automatic tile size.

Only eager PyTorch calls can be watched this way; compiled graphs (ONNX Runtime, OpenVINO, torch.compile)
report at the end of each call.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import torch
from torch import nn
from torch.func import functional_call

__all__ = ["LayerTrace", "WorkMeter", "layer_flops", "trace_layers"]


def layer_flops(module: nn.Module, output: object) -> int:
    """FLOPs (multiply and add counted as two) that ``module`` spent producing ``output``; 0 for layers other than
    convolutions and linear layers."""
    if not isinstance(output, torch.Tensor):
        return 0
    if isinstance(module, nn.Conv2d):
        k = module.kernel_size[0] * module.kernel_size[1] * (module.in_channels // module.groups)
        return 2 * k * output.numel()
    if isinstance(module, nn.Linear):
        return 2 * module.in_features * output.numel()
    return 0


class LayerTrace:
    """What :func:`trace_layers` measured for one input size.

    Attributes:
        largest_values: the largest input + output element count of any module (the network included).
        flops: the FLOPs of the convolutions and linear layers (see :func:`layer_flops`).
    """

    def __init__(self, largest_values: int, flops: int) -> None:
        self.largest_values = largest_values
        self.flops = flops


def trace_layers(net: nn.Module, in_channels: int, side: int, *, meta: bool = True) -> LayerTrace:
    """Run ``net`` on a (1, in_channels, side, side) input on the meta device (shapes only: no memory, no
    arithmetic), or with ``meta=False`` by one real call on that small input (for networks that may keep what a
    shape-only call computed), and record the largest layer and the FLOPs of the counted layers."""
    largest = flops = 0

    def record(module: nn.Module, inputs: tuple[object, ...], output: object) -> None:
        nonlocal largest, flops
        values = sum(t.numel() for t in (*inputs, output) if isinstance(t, torch.Tensor))
        largest = max(largest, values)
        flops += layer_flops(module, output)

    hooks = [m.register_forward_hook(record) for m in net.modules()]
    try:
        if meta:
            shapes = {n: torch.empty_like(t, device="meta") for n, t in (*net.named_parameters(), *net.named_buffers())}
            functional_call(net, shapes, (torch.empty(1, in_channels, side, side, device="meta"),))
        else:
            param = next(net.parameters())
            with torch.inference_mode():
                net(torch.zeros(1, in_channels, side, side, device=param.device, dtype=param.dtype))
    finally:
        for hook in hooks:
            hook.remove()
    return LayerTrace(largest, flops)


class WorkMeter:
    """Reports how much of a network call is done, from the FLOPs of the layers that have finished.

    Args:
        net: the network whose convolutions and linear layers are watched (hooks live only inside
            :meth:`measuring`).
        report: called with the fraction of the expected work done, in [0, 1).
        interval: least time between two reports, in seconds (the hooks run ~350 times per RRDBNet call; each
            costs a clock read).
    """

    def __init__(self, net: nn.Module, report: Callable[[float], None], interval: float = 0.5) -> None:
        self.layers = [m for m in net.modules() if isinstance(m, nn.Conv2d | nn.Linear)]
        self.report = report
        self.interval = interval

    @contextmanager
    def measuring(self, expected_flops: float) -> Iterator[None]:
        """Watch one call that is expected to cost ``expected_flops``."""
        done = 0
        last = time.monotonic()

        def hook(module: nn.Module, _inputs: tuple[object, ...], output: object) -> None:
            nonlocal done, last
            done += layer_flops(module, output)
            now = time.monotonic()
            if now - last >= self.interval:
                last = now
                self.report(min(done / expected_flops, 0.999))

        hooks = [m.register_forward_hook(hook) for m in self.layers] if expected_flops > 0 else []
        try:
            yield
        finally:
            for h in hooks:
                h.remove()
