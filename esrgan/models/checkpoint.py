"""Load any ESRGAN-family model file into our networks, and save networks in a self-describing format.

Recognised layouts (detection by key names, hyper-parameters from tensor shapes, never from the user):

- the original ESRGAN release ("old arch"): ``model.0`` (first conv), ``model.1.sub.N.RDBk.convj.0``,
  ``model.1.sub.<nb>`` (trunk conv), upsampling convs at ``model.3``, ``model.6`` (``model.9`` for x8), then the
  HR conv and the last conv two and four indices later;
- the later ESRGAN repository: ``conv_first``, ``RRDB_trunk.N.RDBk.convj``, ``trunk_conv``, ``upconvN``,
  ``HRconv``, ``conv_last``;
- BasicSR / Real-ESRGAN names (``conv_first``, ``body.N.rdbk.convj``, ``conv_body``, ``conv_upN``, ``conv_hr``,
  ``conv_last``; SRVGGNetCompact ``body.N``), bare or under ``params_ema`` (preferred) / ``params``, with any mix
  of ``module.`` (DataParallel) and ``_orig_mod.`` (torch.compile) prefixes; pixel-unshuffle x1/x2 variants are
  told by the first conv taking 16x / 4x the output channels (spandrel's rule);
- our own files (:func:`save_model`): BasicSR layout plus an ``esrgan`` metadata entry, ``.pth`` or
  ``.safetensors``; training checkpoints holding more (``net_d``, optimizers) give their generator;
- ncnn ``.param`` + ``.bin`` pairs (see :mod:`esrgan.models.ncnn`) and the built-in names of
  :mod:`esrgan.models.zoo`.

``.pth`` files are read with ``torch.load(..., weights_only=True)``: a file that would run code when unpickled is
refused and nothing in it executes. SRVGGNetCompact files without PReLU weights cannot tell ReLU from LeakyReLU
(neither has weights); Real-ESRGAN's default is PReLU, and such files are assumed LeakyReLU(0.1) unless their
``esrgan`` metadata says otherwise (spandrel does not detect them at all).
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import pickle
import re
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from esrgan import __version__
from esrgan.archs import ARCHS
from esrgan.archs.span import layout as span_layout
from esrgan.device import resolve_device
from esrgan.fileio import atomic_path
from esrgan.models import ncnn, spandrel_bridge, zoo
from esrgan.models.signatures import unrecognised_hint

log = logging.getLogger(__name__)

SUPPORTED = (
    "supported: ESRGAN/RRDBNet (original ESRGAN, later ESRGAN and BasicSR/Real-ESRGAN layouts), "
    "SRVGGNetCompact and SPAN, as .pth/.pt/.ckpt, .safetensors or ncnn .param+.bin"
)
MODEL_SUFFIXES = (".pth", ".pt", ".ckpt", ".safetensors", ".param", ".bin")
# Entries of a checkpoint dict that may hold the generator's weights, in order of preference.
WEIGHT_ENTRIES = ("params_ema", "params", "state_dict", "model_state_dict", "net_g", "generator", "model")
PREFIXES = ("module.", "_orig_mod.")
RESERVED_META = ("arch", "hparams", "version")


@dataclass(frozen=True)
class ModelInfo:
    """What was loaded.

    Attributes:
        arch: "RRDBNet" or "SRVGGNetCompact".
        hparams: constructor arguments (RRDBNet: num_in_ch, num_out_ch, scale, num_feat, num_block, num_grow_ch;
            SRVGGNetCompact: num_in_ch, num_out_ch, num_feat, num_conv, upscale, act_type).
        scale: output size / input size.
        in_channels, out_channels: image channels in and out.
        num_params: number of weights.
        source_format: "<container>:<layout>[entry]", e.g. "pth:esrgan-old", "pth:basicsr[params_ema]",
            "safetensors:esrgan", "ncnn:fp16".
        path: the file read (the ``.param`` for ncnn), None for in-memory state dicts.
        name: the built-in model name, else None.
        sha256: hex digest of the file (of the ``.bin`` for ncnn).
        trailing_resize: (mode, factor) of a resize the source graph applied after the network (ncnn
            animevideov3 x2/x3 graphs); it is not part of the loaded network.
        notes: assumptions made while loading, one sentence each.
        loader: "native" (esrgan's own network) or "spandrel" (the optional extra built it).
        reason: why that loader took the file ("SPAN reference layout recognised from its keys", "spandrel
            0.4.2 detected PLKSR from its keys", ...).
    """

    arch: str
    hparams: dict[str, Any]
    scale: int
    in_channels: int
    out_channels: int
    num_params: int
    source_format: str
    path: str | None
    name: str | None
    sha256: str
    trailing_resize: tuple[str, float] | None = None
    notes: tuple[str, ...] = field(default=())
    loader: str = "native"
    reason: str = ""

    def summary(self) -> str:
        """One line: name/file, architecture with its sizes, scale, channels, parameter count, format."""
        h = self.hparams
        if self.loader == "spandrel":
            shape = self.reason
        elif self.arch == "RRDBNet":
            shape = f"{h['num_block']} blocks, {h['num_feat']} features, growth {h['num_grow_ch']}"
        elif self.arch == "SPAN":
            shape = span_layout.describe(h)
        else:
            shape = f"{h['num_conv']} convs, {h['num_feat']} features, {h['act_type']}"
        what = self.name or (Path(self.path).name if self.path else "state dict")
        return (
            f"{what}: {self.arch} x{self.scale} ({shape}), {self.in_channels}->{self.out_channels} channels, "
            f"{self.num_params:,} parameters, {self.source_format}"
        )


@dataclass
class LoadedWeights:
    """Weights under our parameter names plus what is known about them (before a network is built)."""

    arch: str
    hparams: dict[str, Any]
    state_dict: dict[str, torch.Tensor]
    source_format: str
    notes: list[str] = field(default_factory=list)
    trailing_resize: tuple[str, float] | None = None
    ncnn_model: ncnn.NcnnModel | None = None
    network: nn.Module | None = None  # built by a foreign loader (spandrel): nothing left to assemble
    loader: str = "native"
    reason: str = ""


# ------------------------------------------------------------------------------------------------ public API


def build_network(arch: str, hparams: Mapping[str, Any]) -> nn.Module:
    """A freshly initialised network (train mode) from an architecture name and its constructor arguments."""
    if arch not in ARCHS:
        raise ValueError(f"unknown architecture {arch!r}: known {', '.join(ARCHS)}")
    try:
        return ARCHS[arch](**hparams)
    except TypeError as exc:
        raise ValueError(f"bad hyper-parameters for {arch}: {exc}") from None


def load_model(
    spec: str | os.PathLike[str] = zoo.DEFAULT_MODEL, device: str | torch.device = "cpu"
) -> tuple[nn.Module, ModelInfo]:
    """Load a built-in model or a model file, whatever its layout, into a ready network.

    Args:
        spec: a built-in name (``realesrgan-x4plus`` default, ``realesrgan-x4plus-anime``,
            ``realesr-animevideov3``) or a path (.pth/.pt/.ckpt/.safetensors, or either file of an ncnn pair).
        device: where the network goes: "auto", "cpu", "cuda[:N]", "mps" or a torch.device (checked by
            :func:`esrgan.device.resolve_device`).

    Returns:
        (network in eval mode, float32, parameters with requires_grad False; :class:`ModelInfo`).

    Raises:
        FileNotFoundError: the file (or the ncnn sibling) does not exist.
        ValueError: unknown name (with the closest one), unsafe pickle, corrupt/empty file, discriminator or
            unknown architecture; always one line naming the file and what was found.
    """
    path, builtin = _resolve(spec)
    loaded = read_model_file(path)
    net = loaded.network if loaded.network is not None else _assemble(loaded, str(path))
    scale = int(getattr(net, "scale"))  # noqa: B009 (every network here carries it; nn.Module hides the type)
    if loaded.ncnn_model is not None:
        loaded.ncnn_model.check(net)
    if loaded.trailing_resize:
        mode, factor = loaded.trailing_resize
        loaded.notes.append(
            f"the ncnn graph ends with a {mode} resize x{factor:g} of the network output; it is not part of the "
            f"loaded x{scale} network (ask for output scale {scale * factor:g} to get the same size)"
        )
    hashed = loaded.ncnn_model.bin_path if loaded.ncnn_model is not None else path
    info = ModelInfo(
        arch=loaded.arch,
        hparams=dict(loaded.hparams),
        scale=scale,
        in_channels=int(getattr(net, "num_in_ch")),  # noqa: B009
        out_channels=int(getattr(net, "num_out_ch")),  # noqa: B009
        num_params=sum(p.numel() for p in net.parameters()),
        source_format=loaded.source_format,
        path=str(path),
        name=builtin.name if builtin else None,
        sha256=file_sha256(hashed),
        trailing_resize=loaded.trailing_resize,
        notes=tuple(loaded.notes),
        loader=loaded.loader,
        reason=f"built-in model, {loaded.reason}" if builtin else loaded.reason,
    )
    for note in info.notes:
        log.info("%s: %s", info.name or path.name, note)
    net = net.to(resolve_device(device))
    log.debug("loaded %s", info.summary())
    return net, info


def save_model(net: nn.Module, path: str | os.PathLike[str], *, extra: Mapping[str, Any] | None = None) -> None:
    """Save a network so that :func:`load_model`, BasicSR and spandrel can load it.

    Writes ``{"params_ema": state_dict, "esrgan": {"arch", "hparams", "version", **extra}}`` with torch.save,
    or, for a ``.safetensors`` path, the tensors with the metadata as JSON under the ``esrgan`` header key.
    The file appears atomically (temporary file in the same folder, then ``os.replace``).

    Args:
        net: an RRDBNet or SRVGGNetCompact (DataParallel / torch.compile wrappers are unwrapped).
        path: destination; its folder must exist.
        extra: more metadata (e.g. {"iteration": 400000}); plain str/int/float/bool/None values, lists and
            dicts of them, so the file stays loadable with ``weights_only=True``.
    """
    path = Path(path)
    net = unwrap(net)
    arch = getattr(net, "arch_name", None)
    hparams_of = getattr(net, "hparams", None)
    if arch not in ARCHS or not callable(hparams_of):
        raise ValueError(f"cannot save {type(net).__name__}: only {', '.join(ARCHS)} carry their hyper-parameters")
    extra = dict(extra or {})
    clash = sorted(set(extra) & set(RESERVED_META))
    if clash:
        raise ValueError(f"extra metadata may not set {', '.join(clash)}: save_model fills them in")
    _check_plain(extra, "extra")
    meta = {"arch": arch, "hparams": dict(hparams_of()), "version": __version__, **extra}
    state = {k: v.detach().to("cpu", torch.float32).contiguous().clone() for k, v in net.state_dict().items()}
    if not path.parent.is_dir():
        raise FileNotFoundError(f"{path.parent}: folder does not exist (cannot save {path.name})")
    with atomic_path(path) as tmp:
        if path.suffix == ".safetensors":
            from safetensors.torch import save_file

            save_file(state, str(tmp), metadata={"esrgan": json.dumps(meta)})
        else:
            torch.save({"params_ema": state, "esrgan": meta}, tmp)


def unwrap(net: nn.Module) -> nn.Module:
    """The network inside any nesting of DataParallel/DistributedDataParallel (``.module``) and torch.compile
    (``._orig_mod``) wrappers."""
    while True:
        inner = getattr(net, "module", None)
        if not isinstance(inner, nn.Module):
            inner = getattr(net, "_orig_mod", None)
        if not isinstance(inner, nn.Module):
            return net
        net = inner


def read_model_file(path: str | os.PathLike[str]) -> LoadedWeights:
    """Read a model file of any supported format into weights under our names (no network built yet)."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"model file not found: {path}")
    if path.is_dir():
        raise ValueError(f"{path} is a folder, not a model file ({SUPPORTED})")
    size = path.stat().st_size
    if size == 0:
        raise ValueError(f"{path}: empty file (0 bytes), not a model; re-download or re-export it")
    kind = _sniff(path)
    if kind == "ncnn":
        m = ncnn.read_ncnn(path, verify=False)
        return LoadedWeights(
            m.arch,
            m.hparams,
            m.state_dict,
            f"ncnn:{m.weight_format}",
            trailing_resize=m.trailing_resize,
            ncnn_model=m,
            reason=f"ncnn graph recognised as {m.arch}",
        )
    if kind == "safetensors":
        tensors, meta = _read_safetensors(path)
        return convert_state_dict(tensors, meta=meta, where=str(path), container="safetensors")
    obj = _torch_load(path)
    return convert_checkpoint(obj, where=str(path))


def convert_checkpoint(obj: Any, *, where: str = "<checkpoint>", container: str = "pth") -> LoadedWeights:
    """Pick the generator weights out of a loaded checkpoint object and convert them (see module docstring)."""
    if not isinstance(obj, Mapping):
        raise ValueError(f"{where}: holds a {type(obj).__name__}, not a dict of tensors ({SUPPORTED})")
    meta = obj.get("esrgan") if isinstance(obj.get("esrgan"), Mapping) else None
    for entry in WEIGHT_ENTRIES:
        value = obj.get(entry)
        if isinstance(value, Mapping) and any(isinstance(v, torch.Tensor) for v in value.values()):
            return convert_state_dict(value, meta=meta, where=where, container=container, entry=entry)
    if any(isinstance(v, torch.Tensor) for v in obj.values()):
        return convert_state_dict(obj, meta=meta, where=where, container=container)
    keys = ", ".join(map(str, list(obj)[:6]))
    if "optimizers" in obj or "schedulers" in obj:
        raise ValueError(
            f"{where}: a training state (keys {keys}) with optimizer state but no network weights; "
            f"load the matching generator file (net_g_*.pth) instead"
        )
    raise ValueError(f"{where}: no weight tensors found (top-level keys {keys}); {SUPPORTED}")


def convert_state_dict(
    state: Mapping[str, Any],
    *,
    meta: Mapping[str, Any] | None = None,
    where: str = "<state dict>",
    container: str = "pth",
    entry: str | None = None,
) -> LoadedWeights:
    """Detect the layout of a state dict, rename it to BasicSR names and read the hyper-parameters off shapes.

    Args:
        state: parameter name -> tensor, in any recognised layout; non-tensor entries are ignored.
        meta: our ``esrgan`` metadata if the file had it: its hyper-parameters are used only when they describe
            tensors of exactly these shapes (they settle what shapes alone cannot, e.g. ReLU vs LeakyReLU).
        where: file name for messages.
        container, entry: recorded in ``source_format``.
    """
    sd = _strip_prefixes({k: v for k, v in state.items() if isinstance(v, torch.Tensor)}, where)
    if not sd:
        raise ValueError(f"{where}: no weight tensors found; {SUPPORTED}")
    layout = _detect_layout(sd, where)
    if layout is None:
        return _load_foreign(sd, where, container, entry)
    reason = f"esrgan's own network; {layout} layout recognised from its keys"
    notes: list[str] = []
    if layout == "esrgan-old":
        sd = _from_old_esrgan(sd, where)
    elif layout == "esrgan-new":
        sd = _from_new_esrgan(sd)
    if layout == "srvgg":
        arch, hparams = "SRVGGNetCompact", _srvgg_hparams(sd, where)
    elif layout == "span":
        arch, hparams = "SPAN", span_layout.hparams_from(sd, where)
        span_layout.validate_hparams(hparams, where)
    else:
        arch, hparams = "RRDBNet", _rrdb_hparams(sd, where)
    hparams, confirmed = _prefer_metadata(arch, hparams, sd, meta, notes, where)
    if arch == "SRVGGNetCompact" and hparams["act_type"] != "prelu" and not confirmed:
        notes.append("no PReLU weights: ReLU and LeakyReLU files look alike; assumed LeakyReLU(0.1)")
    if meta is not None:
        layout = "esrgan"
    elif layout == "srvgg":
        layout = "basicsr"
    fmt = f"{container}:{layout}" + (f"[{entry}]" if entry else "")
    bad = [k for k, v in sd.items() if not (v.is_floating_point())]
    if bad:
        raise ValueError(f"{where}: tensor {bad[0]} has dtype {sd[bad[0]].dtype}, not floating point")
    sd = {k: v.to(torch.float32).contiguous() for k, v in sd.items()}
    return LoadedWeights(arch, hparams, sd, fmt, notes, reason=reason)


def _load_foreign(sd: dict[str, torch.Tensor], where: str, container: str, entry: str | None) -> LoadedWeights:
    """A state dict none of our architectures recognises: spandrel's, if the extra is installed and knows it."""
    found = spandrel_bridge.load_with_spandrel(sd, where)
    if found is None:
        version = spandrel_bridge.spandrel_version()
        hint = f"spandrel {version} does not recognise it either" if version else unrecognised_hint(sd)
        first = ", ".join(list(sd)[:5])
        raise ValueError(
            f"{where}: unrecognised architecture ({len(sd)} tensors, first keys {first}); {SUPPORTED}; {hint}"
        )
    net, reason = found
    fmt = f"{container}:spandrel" + (f"[{entry}]" if entry else "")
    return LoadedWeights(net.arch_name, net.hparams(), {}, fmt, network=net, loader="spandrel", reason=reason)


def file_sha256(path: str | os.PathLike[str]) -> str:
    """Hex SHA-256 of a file, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


# ------------------------------------------------------------------------------------------------ resolving


def _resolve(spec: str | os.PathLike[str]) -> tuple[Path, zoo.BuiltinModel | None]:
    """(file to read, built-in model or None) for a name or a path."""
    text = os.fspath(spec)
    path = Path(text).expanduser()
    if path.exists():
        return path, None
    builtin = zoo.find_builtin(text)
    if builtin is not None:
        return zoo.builtin_files(builtin)[0], builtin
    if os.sep in text or "/" in text or path.suffix.lower() in MODEL_SUFFIXES:
        raise FileNotFoundError(f"model file not found: {path}")
    raise ValueError(zoo.unknown_name_message(text))


def _sniff(path: Path) -> str:
    """'ncnn', 'safetensors' or 'torch' from the first bytes (and, for ncnn .bin, the sibling .param)."""
    with open(path, "rb") as f:
        head = f.read(16)
    if ncnn.is_ncnn_param(path):
        return "ncnn"
    if path.suffix == ".bin" and ncnn.is_ncnn_param(path.with_suffix(".param")):
        return "ncnn"
    if path.suffix == ".param":
        raise ValueError(f"{path}: not an ncnn text .param file (no 7767517 magic); {SUPPORTED}")
    if len(head) >= 9 and head[8:9] == b"{" and int.from_bytes(head[:8], "little") < 100_000_000:
        return "safetensors"
    if head.startswith(b"PK\x03\x04") and _is_torchscript(path):
        raise ValueError(
            f"{path}: a TorchScript archive (a compiled program, not plain weights): if you trust it, save its "
            f"torch.jit.load(...).state_dict() with torch.save and load that file"
        )
    if head.startswith(b"PK\x03\x04") or head.startswith(b"\x80"):
        return "torch"  # torch's zip format, or a legacy torch.save pickle (protocol 2+ opcode)
    if path.suffix == ".bin":
        raise FileNotFoundError(f"{path.with_suffix('.param')}: not found (an ncnn .bin needs its .param beside it)")
    raise ValueError(f"{path}: not a PyTorch, safetensors or ncnn file (starts with {head[:8]!r}); {SUPPORTED}")


def _is_torchscript(path: Path) -> bool:
    """TorchScript archives carry ``<name>/constants.pkl`` and compiled ``code/``; torch.save files do not."""
    try:
        with zipfile.ZipFile(path) as z:
            return any(n.endswith("/constants.pkl") for n in z.namelist())
    except (zipfile.BadZipFile, OSError):
        return False  # torch.load reports the damage


def _torch_load(path: Path) -> Any:
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        found = re.search(r"GLOBAL ([\w.]+)", str(exc))
        if found:
            raise ValueError(
                f"{path}: not a plain weights file: it holds a pickled Python object ({found.group(1)}) that could "
                f"run code when loaded; refused without executing anything (re-save only the state dict, or use "
                f".safetensors)"
            ) from None
        found = re.search(r"Unsupported operand (\d+)", str(exc))
        if found:
            raise ValueError(
                f"{path}: not a plain weights file: its pickle uses an instruction (opcode {found.group(1)}) the "
                f"weights-only reader does not run; refused without executing anything (re-save only the state "
                f"dict with torch.save's default protocol, or use .safetensors)"
            ) from None
        raise ValueError(f"{path}: corrupt PyTorch file ({_first_line(exc)}); re-download or re-export it") from None
    except (RuntimeError, EOFError, OSError, KeyError, ValueError, IndexError) as exc:
        raise ValueError(
            f"{path}: corrupt or truncated PyTorch file ({_first_line(exc)}); re-download or re-export it"
        ) from None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:120]}" if text else type(exc).__name__


def _read_safetensors(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, Any] | None]:
    from safetensors import SafetensorError
    from safetensors.torch import load_file, safe_open

    try:
        with safe_open(str(path), framework="pt") as f:
            header = f.metadata() or {}
        tensors = load_file(str(path), device="cpu")
    except (SafetensorError, OSError, ValueError) as exc:
        raise ValueError(f"{path}: corrupt or truncated safetensors file ({_first_line(exc)})") from None
    meta = None
    if "esrgan" in header:
        try:
            meta = json.loads(header["esrgan"])
        except json.JSONDecodeError:
            raise ValueError(f"{path}: the 'esrgan' metadata in the safetensors header is not JSON") from None
    return tensors, meta


def _check_plain(value: Any, where: str) -> None:
    """ValueError unless value only holds what ``torch.load(weights_only=True)`` reads back."""
    if value is None or isinstance(value, str | int | float | bool | torch.Tensor):
        return
    if isinstance(value, list | tuple):
        for i, v in enumerate(value):
            _check_plain(v, f"{where}[{i}]")
        return
    if isinstance(value, dict):
        for k, v in value.items():
            if not isinstance(k, str | int):
                raise ValueError(f"{where} has a {type(k).__name__} key: use str keys")
            _check_plain(v, f"{where}[{k!r}]")
        return
    raise ValueError(f"{where} is a {type(value).__name__}: only str/int/float/bool/None, lists and dicts of them")


# -------------------------------------------------------------------------------------------------- layouts


_OLD_RDB = re.compile(r"model\.1\.sub\.(\d+)\.RDB([123])\.conv([1-5])\.0\.(weight|bias)")
_OLD_TRUNK = re.compile(r"model\.1\.sub\.(\d+)\.(weight|bias)")
_OLD_TOP = re.compile(r"model\.(\d+)\.(weight|bias)")
_NEW_RDB = re.compile(r"RRDB_trunk\.(\d+)\.RDB([123])\.conv([1-5])\.(weight|bias)")
_SRVGG = re.compile(r"body\.(\d+)\.(weight|bias)")


def _strip_prefixes(sd: dict[str, torch.Tensor], where: str) -> dict[str, torch.Tensor]:
    out: dict[str, torch.Tensor] = {}
    for key, value in sd.items():
        name = key
        while name.startswith(PREFIXES):
            name = name.removeprefix("module.").removeprefix("_orig_mod.")
        if name in out:
            raise ValueError(f"{where}: {key!r} and another key both mean {name!r} once prefixes are removed")
        out[name] = value
    return out


def _detect_layout(sd: dict[str, torch.Tensor], where: str) -> str | None:
    keys = set(sd)
    first = ", ".join(list(sd)[:5])
    disc = (
        any(k.startswith(("conv0_0.", "linear1.")) for k in keys)
        or (any(k.startswith("features.") for k in keys) and any(k.startswith("classifier.") for k in keys))
        or ("conv0.weight" in keys and any(k.endswith("weight_orig") for k in keys))
    )
    if disc:
        raise ValueError(
            f"{where}: a discriminator (keys {first}, ...), not a super-resolution generator; load the generator "
            f"file (net_g_*.pth) instead"
        )
    if "model.0.weight" in keys and any(".conv1x1." in k for k in keys):
        return None  # ESRGAN+ (conv1x1 noise branches): spandrel's, when installed
    if "model.0.weight" in keys and any(_OLD_RDB.fullmatch(k) for k in keys):
        return "esrgan-old"
    if "conv_first.weight" in keys and any(_NEW_RDB.fullmatch(k) for k in keys):
        return "esrgan-new"
    if "conv_first.weight" in keys and any(k.startswith("body.0.rdb1.") for k in keys):
        return "basicsr"
    if "body.0.weight" in keys and all(_SRVGG.fullmatch(k) for k in keys):
        return "srvgg"
    if span_layout.detect(frozenset(keys)):
        return "span"
    return None


def _from_old_esrgan(sd: dict[str, torch.Tensor], where: str) -> dict[str, torch.Tensor]:
    num_rrdb = 1 + max(int(m.group(1)) for k in sd if (m := _OLD_RDB.fullmatch(k)))
    top = sorted({int(m.group(1)) for k in sd if (m := _OLD_TOP.fullmatch(k))})
    # model.0 is the first conv, model.1 the trunk; then [Upsample, conv, LeakyReLU] per x2, conv_hr, LeakyReLU,
    # conv_last: upsampling convs at 3, 6, 9 and the last two convs two and four indices after the last one.
    convs = [i for i in top if i >= 2]
    if len(convs) < 2:
        raise ValueError(f"{where}: original-ESRGAN layout without the final convolutions (found model.{top})")
    *ups, hr, last = convs
    if ups != [3 * (n + 1) for n in range(len(ups))] or hr != (ups[-1] if ups else 0) + 2 or last != hr + 2:
        raise ValueError(
            f"{where}: original-ESRGAN layout with convs at model.{convs} is not nearest-upsampling ESRGAN "
            f"(expected upsampling convs at model.3, 6(, 9), then conv_hr and conv_last); {SUPPORTED}"
        )
    rename = {0: "conv_first", hr: "conv_hr", last: "conv_last"} | {u: f"conv_up{n + 1}" for n, u in enumerate(ups)}
    out: dict[str, torch.Tensor] = {}
    for key, value in sd.items():
        if m := _OLD_RDB.fullmatch(key):
            out[f"body.{m[1]}.rdb{m[2]}.conv{m[3]}.{m[4]}"] = value
        elif (m := _OLD_TRUNK.fullmatch(key)) and int(m[1]) == num_rrdb:
            out[f"conv_body.{m[2]}"] = value
        elif (m := _OLD_TOP.fullmatch(key)) and int(m[1]) in rename:
            out[f"{rename[int(m[1])]}.{m[2]}"] = value
        else:
            out[key] = value  # left as is: reported as unexpected when the network is built
    return out


def _from_new_esrgan(sd: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    simple = {"trunk_conv": "conv_body", "HRconv": "conv_hr"}
    out: dict[str, torch.Tensor] = {}
    for key, value in sd.items():
        module, _, kind = key.rpartition(".")
        if m := _NEW_RDB.fullmatch(key):
            out[f"body.{m[1]}.rdb{m[2]}.conv{m[3]}.{m[4]}"] = value
        elif m := re.fullmatch(r"upconv(\d)", module):
            out[f"conv_up{m[1]}.{kind}"] = value
        else:
            out[f"{simple.get(module, module)}.{kind}"] = value
    return out


def _rrdb_hparams(sd: dict[str, torch.Tensor], where: str) -> dict[str, Any]:
    num_feat, first_in = sd["conv_first.weight"].shape[:2]
    if "conv_last.weight" not in sd or "body.0.rdb1.conv1.weight" not in sd:
        raise ValueError(f"{where}: RRDBNet weights without conv_last or body.0 (first keys {', '.join(list(sd)[:5])})")
    num_out = sd["conv_last.weight"].shape[0]
    num_block = len({m[1] for k in sd if (m := re.match(r"body\.(\d+)\.", k))})
    num_up = sum(bool(re.fullmatch(r"conv_up\d\.weight", k)) for k in sd)
    # Pixel-unshuffle variants (Real-ESRGAN x2plus / x1) fold 2x2 or 4x4 pixels into channels: the first conv
    # then takes 4x or 16x the output channels.
    unshuffle = {4 * num_out: 2, 16 * num_out: 4}.get(first_in, 1)
    scale = 2**num_up / unshuffle
    # Real-ESRGAN: 2 upsampling convs (x4, or x2/x1 after pixel-unshuffle) or 3 (x8); original ESRGAN code also
    # builds x1/x2 with 0/1 upsampling convs and no unshuffle.
    plain_low_scale = num_up in (0, 1) and unshuffle == 1
    if not ((num_up == 2 and unshuffle in (1, 2, 4)) or (num_up == 3 and unshuffle == 1) or plain_low_scale):
        raise ValueError(
            f"{where}: RRDBNet with {num_up} upsampling conv(s) and pixel-unshuffle {unshuffle} (x{scale:g}) "
            "cannot be built: esrgan's RRDBNet has 2 upsampling convs (x4, or x2/x1 after pixel-unshuffle), "
            "3 (x8), or 1/0 (x2/x1 without pixel-unshuffle)"
        )
    hparams: dict[str, Any] = {
        "num_in_ch": first_in // unshuffle**2,
        "num_out_ch": num_out,
        "scale": int(scale),
        "num_feat": num_feat,
        "num_block": num_block,
        "num_grow_ch": sd["body.0.rdb1.conv1.weight"].shape[0],
    }
    if plain_low_scale:
        hparams["pixel_unshuffle"] = False
    return hparams


def _srvgg_hparams(sd: dict[str, torch.Tensor], where: str) -> dict[str, Any]:
    index = sorted({int(m[1]) for k in sd if (m := _SRVGG.fullmatch(k))})
    convs = [i for i in index if sd[f"body.{i}.weight"].ndim == 4]
    prelus = [i for i in index if sd[f"body.{i}.weight"].ndim == 1]
    between = [i + 1 for i in convs[:-1]]
    if len(convs) < 2 or convs != list(range(0, 2 * len(convs), 2)) or prelus not in ([], between):
        raise ValueError(
            f"{where}: SRVGGNetCompact-like keys but convs at body.{convs} and PReLUs at body.{prelus} "
            f"(expected convs at even indices, PReLUs between them)"
        )
    num_feat, num_in = sd["body.0.weight"].shape[:2]
    last_out = sd[f"body.{convs[-1]}.weight"].shape[0]
    num_out, upscale = _split_upscale(last_out, num_in, where)
    return {
        "num_in_ch": num_in,
        "num_out_ch": num_out,
        "num_feat": num_feat,
        "num_conv": len(convs) - 2,
        "upscale": upscale,
        "act_type": "prelu" if prelus else "lrelu",  # no weights tell relu from lrelu: see module docstring
    }


def _split_upscale(last_out: int, num_in: int, where: str) -> tuple[int, int]:
    """(out channels, upscale) with out * upscale**2 == last_out; the input's channel count first."""
    for out in dict.fromkeys((num_in, 3, 1, 4)):
        if last_out % out == 0 and math.isqrt(last_out // out) ** 2 == last_out // out:
            return out, math.isqrt(last_out // out)
    raise ValueError(f"{where}: last conv has {last_out} outputs: not channels x upscale^2 for 1, 3 or 4 channels")


def _prefer_metadata(
    arch: str,
    hparams: dict[str, Any],
    sd: dict[str, torch.Tensor],
    meta: Mapping[str, Any] | None,
    notes: list[str],
    where: str,
) -> tuple[dict[str, Any], bool]:
    """(hyper-parameters, whether the file's metadata confirmed them).

    The file's own hyper-parameters win when they fit the tensors exactly (they settle what shapes cannot);
    otherwise the shape-derived ones are kept and a note says so.
    """
    if meta is None or meta.get("arch") != arch or not isinstance(meta.get("hparams"), Mapping):
        return hparams, False
    claimed = dict(meta["hparams"])
    if claimed == hparams:
        return hparams, True
    try:
        with torch.device("meta"):
            shapes = {k: tuple(v.shape) for k, v in ARCHS[arch](**claimed).state_dict().items()}
    except (TypeError, ValueError):
        shapes = {}
    if shapes == {k: tuple(v.shape) for k, v in sd.items()}:
        return claimed, True
    notes.append(f"the file's metadata hparams {claimed} do not fit its tensors; using {hparams} read from shapes")
    log.warning("%s: %s", where, notes[-1])
    return hparams, False


def _assemble(loaded: LoadedWeights, where: str) -> nn.Module:
    """Build the network without initialising it and put the weights in; ValueError listing any misfit."""
    with torch.device("meta"):  # no random init: every parameter is replaced by a loaded tensor below
        net = build_network(loaded.arch, loaded.hparams)
    expected = {k: tuple(v.shape) for k, v in net.state_dict().items()}
    got = {k: tuple(v.shape) for k, v in loaded.state_dict.items()}
    problems = [f"missing {k}" for k in expected if k not in got]
    problems += [f"unexpected {k}" for k in got if k not in expected]
    problems += [f"{k} is {got[k]} not {expected[k]}" for k in expected if k in got and got[k] != expected[k]]
    if problems:
        more = f" (+{len(problems) - 3} more)" if len(problems) > 3 else ""
        raise ValueError(
            f"{where}: weights do not fit {loaded.arch}({_fmt(loaded.hparams)}): {'; '.join(problems[:3])}{more}"
        )
    net.load_state_dict(loaded.state_dict, strict=True, assign=True)
    net.eval()
    net.requires_grad_(False)
    return net


def _fmt(hparams: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in hparams.items())
