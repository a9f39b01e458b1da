"""Several devices of this machine named at once: ``cuda:0,1``, ``cuda:all``, ``cpu,cpu`` (one worker each)."""

from __future__ import annotations

from esrgan.errors import OptionsError

__all__ = ["split_devices"]


def split_devices(spec: str) -> list[str]:
    """The devices a device name lists, one entry per worker.

    ``"cuda:0,1"`` and ``"cuda:0,cuda:1"`` give ``["cuda:0", "cuda:1"]``; ``"cuda:all"`` every GPU of this
    machine; ``"cpu,cpu"`` two CPU workers (sharing the cores); a single name (``"cuda:1"``, ``"auto"``) gives
    itself. A device may be listed twice (two workers sharing it). Each name is checked when its engine is built.

    Raises:
        ValueError: an empty entry, or ``cuda:all`` on a machine without CUDA.
    """
    text = spec.strip().lower()
    if text == "cuda:all":
        import torch

        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise OptionsError("device 'cuda:all' requested but CUDA is not available here")
        return [f"cuda:{i}" for i in range(count)]
    parts = [p.strip() for p in text.split(",")]
    if any(not p for p in parts):
        raise OptionsError(f"bad device list {spec!r}: an entry is empty (e.g. cuda:0,1 or cpu,cpu)")
    devices: list[str] = []
    kind = ""
    for part in parts:
        if part.isdigit():  # "cuda:0,1": a bare index continues the previous kind
            if kind != "cuda":
                raise OptionsError(f"bad device list {spec!r}: a bare index ({part}) must follow cuda:N")
            part = f"cuda:{part}"
        kind = part.partition(":")[0]
        devices.append(part)
    return devices
