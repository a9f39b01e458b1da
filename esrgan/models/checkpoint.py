"""Load any model file of a registered architecture into a ready network, and save networks in a self-describing
format.

A load steps from the generic containers into exactly one architecture room of :mod:`esrgan.archs` and back:

1. the container (:mod:`esrgan.formats`): ``.pth``/``.pt``/``.ckpt`` read with ``torch.load(weights_only=True)``
   (a file that would run code when unpickled is refused and nothing in it executes), ``.safetensors``, or an
   ncnn ``.param`` + ``.bin`` pair (see :mod:`esrgan.models.ncnn`), or a built-in name of :mod:`esrgan.models.zoo`;
2. the generator's tensors: bare or under ``params_ema`` (preferred) / ``params`` / the other
   :data:`WEIGHT_ENTRIES`, with any mix of ``module.`` (DataParallel) and ``_orig_mod.`` (torch.compile) prefixes;
   discriminators are recognised and refused;
3. the first spec of :data:`esrgan.archs.REGISTRY` whose ``detect`` knows the keys, then its ``to_canonical``
   (renames to the network's own names) and ``hparams_from`` (sizes from tensor shapes, never from the user);
4. ``validate_hparams`` before anything is built; our own files' ``esrgan`` metadata (:func:`save_model`) is used
   only when it is in bounds and fits the tensors exactly (it settles what shapes cannot, e.g. ReLU vs
   LeakyReLU); training checkpoints holding more (``net_d``, optimizers) give their generator;
5. the network built on the meta device (no random init) and checked against the tensors, which replace its
   parameters.

The layouts each architecture recognises are listed in its room's ``layout.py``. A state dict that no room
recognises (or that a room knows as a variant it cannot build, such as ESRGAN+) goes to spandrel when the optional
extra is installed (:mod:`esrgan.models.spandrel_bridge`): as tensors read by step 1, never as a file; without
the extra the message names the likely architecture (:mod:`esrgan.models.signatures`) and the install command.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from esrgan import __version__
from esrgan.archs import REGISTRY, ArchSpec, SRNetwork, as_sr_network, find, get, names
from esrgan.device import resolve_device
from esrgan.errors import ModelFileError, NotFoundError, OptionsError
from esrgan.fileio import atomic_path, file_sha256
from esrgan.formats.ncnn import is_ncnn_param
from esrgan.formats.safetensors_file import looks_like_safetensors, read_safetensors
from esrgan.formats.torch_file import looks_like_torch, read_torch_file, refuse_torchscript
from esrgan.models import ncnn, spandrel_bridge, zoo
from esrgan.models.signatures import unrecognised_hint

log = logging.getLogger(__name__)


def _supported() -> str:
    texts = [spec.supported_text for spec in REGISTRY]
    archs = texts[0] if len(texts) == 1 else f"{', '.join(texts[:-1])} and {texts[-1]}"
    return f"supported: {archs}, as .pth/.pt/.ckpt, .safetensors or ncnn .param+.bin"


SUPPORTED = _supported()
MODEL_SUFFIXES = zoo.MODEL_SUFFIXES
# Entries of a checkpoint dict that may hold the generator's weights, in order of preference.
WEIGHT_ENTRIES = ("params_ema", "params", "state_dict", "model_state_dict", "net_g", "generator", "model")
PREFIXES = ("module.", "_orig_mod.")
RESERVED_META = ("arch", "hparams", "version")


@dataclass(frozen=True)
class ModelInfo:
    """What was loaded.

    Attributes:
        arch: the architecture's name (an :class:`~esrgan.archs.spec.ArchSpec` of ``esrgan.archs.REGISTRY``).
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
        loader: "native" (a network of :mod:`esrgan.archs`) or "spandrel" (the optional extra built it).
        reason: why that loader took the file ("SPAN: reference layout recognised from its keys", "spandrel
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
        native = self.loader != "spandrel"  # spandrel's networks have no spec here
        spec = get(self.arch) if native else None
        shape = spec.describe(self.hparams) if spec is not None else self.reason
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
    """A freshly initialised network (train mode) from an architecture name and its constructor arguments.

    Raises:
        OptionsError: unknown architecture (with the closest name), a size out of the architecture's bounds
            (checked before anything is built), or an argument its constructor does not take.
    """
    return find(arch).build(hparams, f"bad hyper-parameters for {arch}")


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
        NotFoundError: the file (or the ncnn sibling) does not exist.
        OptionsError: an unknown built-in name (with the closest one).
        ModelFileError: unsafe pickle, corrupt/empty/truncated file, discriminator, unknown architecture, sizes out
            of the architecture's bounds, weights that do not fit, or weights that are not all finite; always one
            line naming the file and what was found. Reading is bounded in time and memory by the file's size.
    """
    path, builtin = zoo.resolve(spec)
    loaded = read_model_file(path)
    net = loaded.network if loaded.network is not None else _assemble(loaded, str(path))
    contract = as_sr_network(net)
    scale = contract.scale
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
        in_channels=contract.num_in_ch,
        out_channels=contract.num_out_ch,
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
        net: a network of a registered architecture (DataParallel / torch.compile wrappers are unwrapped).
        path: destination; its folder must exist.
        extra: more metadata (e.g. {"iteration": 400000}); plain str/int/float/bool/None values, lists and
            dicts of them, so the file stays loadable with ``weights_only=True``.
    """
    path = Path(path)
    net = unwrap(net)
    if not isinstance(net, SRNetwork) or (spec := get(net.arch_name)) is None:
        raise OptionsError(f"cannot save {type(net).__name__}: only {', '.join(names())} carry their hyper-parameters")
    extra = dict(extra or {})
    clash = sorted(set(extra) & set(RESERVED_META))
    if clash:
        raise OptionsError(f"extra metadata may not set {', '.join(clash)}: save_model fills them in")
    _check_plain(extra, "extra")
    meta = {"arch": spec.name, "hparams": dict(net.hparams()), "version": __version__, **extra}
    state = {k: v.detach().to("cpu", torch.float32).contiguous().clone() for k, v in net.state_dict().items()}
    if not path.parent.is_dir():
        raise NotFoundError(f"{path.parent}: folder does not exist (cannot save {path.name})")
    with atomic_path(path) as tmp:
        if path.suffix == ".safetensors":
            from safetensors.torch import save

            # Written through our own handle: safetensors' save_file replaces the file with one of mode 0600,
            # whatever the umask (atomic_path made it with the umask's permissions, as every output here).
            tmp.write_bytes(save(state, metadata={"esrgan": json.dumps(meta)}))
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
        raise NotFoundError(f"model file not found: {path}")
    if path.is_dir():
        raise ModelFileError(f"{path} is a folder, not a model file ({SUPPORTED})")
    size = path.stat().st_size
    if size == 0:
        raise ModelFileError(f"{path}: empty file (0 bytes), not a model; re-download or re-export it")
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
        tensors, header = read_safetensors(path)
        return convert_state_dict(tensors, meta=_header_meta(header, path), where=str(path), container="safetensors")
    obj = read_torch_file(path)
    return convert_checkpoint(obj, where=str(path))


def convert_checkpoint(obj: Any, *, where: str = "<checkpoint>", container: str = "pth") -> LoadedWeights:
    """Pick the generator weights out of a loaded checkpoint object and convert them (see module docstring)."""
    if not isinstance(obj, Mapping):
        raise ModelFileError(f"{where}: holds a {type(obj).__name__}, not a dict of tensors ({SUPPORTED})")
    meta = obj.get("esrgan") if isinstance(obj.get("esrgan"), Mapping) else None
    for entry in WEIGHT_ENTRIES:
        value = obj.get(entry)
        if isinstance(value, Mapping) and any(isinstance(v, torch.Tensor) for v in value.values()):
            return convert_state_dict(value, meta=meta, where=where, container=container, entry=entry)
    if any(isinstance(v, torch.Tensor) for v in obj.values()):
        return convert_state_dict(obj, meta=meta, where=where, container=container)
    keys = ", ".join(map(str, list(obj)[:6]))
    if "optimizers" in obj or "schedulers" in obj:
        raise ModelFileError(
            f"{where}: a training state (keys {keys}) with optimizer state but no network weights; "
            f"load the matching generator file (net_g_*.pth) instead"
        )
    raise ModelFileError(f"{where}: no weight tensors found (top-level keys {keys}); {SUPPORTED}")


def convert_state_dict(
    state: Mapping[str, Any],
    *,
    meta: Mapping[str, Any] | None = None,
    where: str = "<state dict>",
    container: str = "pth",
    entry: str | None = None,
) -> LoadedWeights:
    """Detect the architecture and layout of a state dict, rename it to the network's names and read the
    hyper-parameters off shapes (checked against the architecture's bounds before anything is built).

    Args:
        state: parameter name -> tensor, in any recognised layout; non-tensor entries are ignored.
        meta: our ``esrgan`` metadata if the file had it: its hyper-parameters are used only when they are in
            bounds and describe tensors of exactly these shapes (they settle what shapes alone cannot, e.g. ReLU
            vs LeakyReLU).
        where: file name for messages.
        container, entry: recorded in ``source_format``.
    """
    sd = _strip_prefixes({k: v for k, v in state.items() if isinstance(v, torch.Tensor)}, where)
    if not sd:
        raise ModelFileError(f"{where}: no weight tensors found; {SUPPORTED}")
    _check_storage(sd, where)
    spec, layout = _detect(sd, where)
    if spec is None:
        return _load_foreign(sd, where, container, entry, refusal=layout)
    reason = f"{spec.name}: {layout} layout recognised from its keys"
    sd = spec.to_canonical(sd, layout, where)
    hparams = spec.hparams_from(sd, where)
    validate_file_hparams(spec, hparams, where)
    notes: list[str] = []
    hparams, confirmed = _prefer_metadata(spec, hparams, sd, meta, notes, where)
    if not confirmed:
        notes.extend(spec.shape_notes(hparams))
    if meta is not None:
        layout = "esrgan"
    fmt = f"{container}:{layout}" + (f"[{entry}]" if entry else "")
    bad = [k for k, v in sd.items() if not (v.is_floating_point())]
    if bad:
        raise ModelFileError(f"{where}: tensor {bad[0]} has dtype {sd[bad[0]].dtype}, not floating point")
    sd = {k: v.to(torch.float32).contiguous() for k, v in sd.items()}
    return LoadedWeights(spec.name, hparams, sd, fmt, notes, reason=reason)


def validate_file_hparams(spec: ArchSpec, hparams: Mapping[str, Any], where: str) -> None:
    """The architecture's bounds (:attr:`ArchSpec.validate_hparams`) on sizes read from a model file: a
    :class:`~esrgan.errors.ModelFileError` naming the file when one is out of them, before anything is built."""
    try:
        spec.validate_hparams(hparams, where)
    except OptionsError as exc:
        raise ModelFileError(f"{exc} (the file's tensors declare it)") from None


def _load_foreign(
    sd: dict[str, torch.Tensor], where: str, container: str, entry: str | None, *, refusal: str
) -> LoadedWeights:
    """A state dict none of our rooms takes (``refusal``: why a room that knows it cannot build it, else ""):
    spandrel's, if the extra is installed and knows it; otherwise one line saying what was found and what to do."""
    found = spandrel_bridge.load_with_spandrel(sd, where)
    if found is None:
        version = spandrel_bridge.spandrel_version()
        hint = f"spandrel {version} does not recognise it either" if version else unrecognised_hint(sd)
        if refusal:
            raise ModelFileError(f"{where}: {refusal}; {SUPPORTED}; {hint}")
        first = ", ".join(list(sd)[:5])
        raise ModelFileError(
            f"{where}: unrecognised architecture ({len(sd)} tensors, first keys {first}); {SUPPORTED}; {hint}"
        )
    net, reason = found
    fmt = f"{container}:spandrel" + (f"[{entry}]" if entry else "")
    return LoadedWeights(net.arch_name, net.hparams(), {}, fmt, network=net, loader="spandrel", reason=reason)


# ------------------------------------------------------------------------------------------------ resolving


def _sniff(path: Path) -> str:
    """'ncnn', 'safetensors' or 'torch' from the first bytes (and, for ncnn .bin, the sibling .param)."""
    with open(path, "rb") as f:
        head = f.read(16)
    if is_ncnn_param(path):
        return "ncnn"
    if path.suffix == ".bin" and is_ncnn_param(path.with_suffix(".param")):
        return "ncnn"
    if path.suffix == ".param":
        raise ModelFileError(f"{path}: not an ncnn text .param file (no 7767517 magic); {SUPPORTED}")
    if looks_like_safetensors(head):
        return "safetensors"
    refuse_torchscript(path, head)
    if looks_like_torch(head):
        return "torch"
    if path.suffix == ".bin":
        raise NotFoundError(f"{path.with_suffix('.param')}: not found (an ncnn .bin needs its .param beside it)")
    raise ModelFileError(f"{path}: not a PyTorch, safetensors or ncnn file (starts with {head[:8]!r}); {SUPPORTED}")


def _header_meta(header: Mapping[str, str], path: Path) -> dict[str, Any] | None:
    """Our metadata from a safetensors header (JSON under the ``esrgan`` key), None if there is none."""
    if "esrgan" not in header:
        return None
    try:
        meta = json.loads(header["esrgan"])
    except (json.JSONDecodeError, RecursionError):  # RecursionError: thousands of nested brackets
        raise ModelFileError(f"{path}: the 'esrgan' metadata in the safetensors header is not JSON") from None
    return meta if isinstance(meta, dict) else None


def _check_plain(value: Any, where: str) -> None:
    """OptionsError unless value only holds what ``torch.load(weights_only=True)`` reads back."""
    if value is None or isinstance(value, str | int | float | bool | torch.Tensor):
        return
    if isinstance(value, list | tuple):
        for i, v in enumerate(value):
            _check_plain(v, f"{where}[{i}]")
        return
    if isinstance(value, dict):
        for k, v in value.items():
            if not isinstance(k, str | int):
                raise OptionsError(f"{where} has a {type(k).__name__} key: use str keys")
            _check_plain(v, f"{where}[{k!r}]")
        return
    raise OptionsError(f"{where} is a {type(value).__name__}: only str/int/float/bool/None, lists and dicts of them")


def _strip_prefixes(sd: dict[str, torch.Tensor], where: str) -> dict[str, torch.Tensor]:
    out: dict[str, torch.Tensor] = {}
    for key, value in sd.items():
        name = key
        while name.startswith(PREFIXES):
            name = name.removeprefix("module.").removeprefix("_orig_mod.")
        if name in out:
            raise ModelFileError(f"{where}: {key!r} and another key both mean {name!r} once prefixes are removed")
        out[name] = value
    return out


def _check_storage(sd: Mapping[str, torch.Tensor], where: str) -> None:
    """Refuse tensors that claim more elements than the file holds data for.

    A pickled tensor is a view (size, stride, offset) of a storage read from the file: a 2 KB file can describe a
    billion-element tensor with stride 0, or many full-size views of one storage. Everything after loading copies
    tensors (float32, contiguous), so such a file would allocate gigabytes from nothing; the data actually stored
    bounds what is used instead.
    """
    storages: dict[int, int] = {}
    used = 0
    for key, v in sd.items():
        nbytes = v.untyped_storage().nbytes()
        if v.numel() * v.element_size() > nbytes:
            raise ModelFileError(
                f"{where}: tensor {key} claims {v.numel():,} values but its data holds {nbytes:,} bytes (overlapping "
                "or repeated views); not a weights file as torch.save writes them"
            )
        storages[v.untyped_storage().data_ptr()] = nbytes
        used += v.numel() * v.element_size()
    if used > 2 * sum(storages.values()) + (1 << 20):
        raise ModelFileError(
            f"{where}: its tensors are {used:,} bytes of views of {sum(storages.values()):,} bytes of data "
            "(repeated views of the same data); not a weights file as torch.save writes them"
        )


def _is_discriminator(keys: frozenset[str]) -> bool:
    """BasicSR's VGG-style (``conv0_0``, ``linear1``), the original ESRGAN's (``features`` + ``classifier``) or a
    spectral-norm U-Net discriminator (``conv0`` + ``weight_orig``)."""
    return (
        any(k.startswith(("conv0_0.", "linear1.")) for k in keys)
        or (any(k.startswith("features.") for k in keys) and any(k.startswith("classifier.") for k in keys))
        or ("conv0.weight" in keys and any(k.endswith("weight_orig") for k in keys))
    )


def _detect(sd: dict[str, torch.Tensor], where: str) -> tuple[ArchSpec | None, str]:
    """(architecture, layout) of a state dict: the first spec of the registry whose ``detect`` knows its keys;
    (None, why a room refuses it or "") when none takes it (the caller tries spandrel)."""
    keys = frozenset(sd)
    first = ", ".join(list(sd)[:5])
    if _is_discriminator(keys):
        raise ModelFileError(
            f"{where}: a discriminator (keys {first}, ...), not a super-resolution generator; load the generator "
            f"file (net_g_*.pth) instead"
        )
    for spec in REGISTRY:
        try:
            layout = spec.detect(keys)
        except ModelFileError as exc:  # a known variant the room cannot load (spandrel may: ESRGAN+)
            return None, str(exc)
        if layout is not None:
            return spec, layout
    return None, ""


def _prefer_metadata(
    spec: ArchSpec,
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
    if meta is None or meta.get("arch") != spec.name or not isinstance(meta.get("hparams"), Mapping):
        return hparams, False
    claimed = dict(meta["hparams"])
    if claimed == hparams:
        return hparams, True
    if _fits(spec, claimed, sd, where):
        return claimed, True
    notes.append(f"the file's metadata hparams {claimed} do not fit its tensors; using {hparams} read from shapes")
    log.warning("%s: %s", where, notes[-1])
    return hparams, False


def _fits(spec: ArchSpec, claimed: dict[str, Any], sd: dict[str, torch.Tensor], where: str) -> bool:
    """Whether the network ``claimed`` describes has exactly the tensors of ``sd``. What a file merely claims is
    checked against the architecture's bounds first and never built when out of them (a 20 KB file claiming
    millions of layers would otherwise hang the loader); in bounds, it is built on the meta device (no memory)."""
    try:
        spec.validate_hparams(claimed, where)
        with torch.device("meta"):
            net = spec.net(**claimed)
    except (TypeError, ValueError):  # OptionsError (out of bounds) or a constructor refusing the values
        return False
    return {k: tuple(v.shape) for k, v in net.state_dict().items()} == {k: tuple(v.shape) for k, v in sd.items()}


def _assemble(loaded: LoadedWeights, where: str) -> nn.Module:
    """Build the network without initialising it and put the weights in; ModelFileError listing any misfit."""
    with torch.device("meta"):  # no random init: every parameter is replaced by a loaded tensor below
        net = build_network(loaded.arch, loaded.hparams)
    problems = fit_problems(net, loaded.state_dict)
    if problems:
        raise ModelFileError(f"{where}: weights do not fit {loaded.arch}({_fmt(loaded.hparams)}): {problems}")
    _check_finite(loaded.state_dict, where)  # NaN weights made an all-black image that exited 0
    net.load_state_dict(loaded.state_dict, strict=True, assign=True)
    net.eval()
    net.requires_grad_(False)
    return net


def _fmt(hparams: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in hparams.items())


def fit_problems(net: nn.Module, sd: Mapping[str, torch.Tensor]) -> str:
    """What keeps ``sd`` from loading into ``net`` strictly, in the network's order (missing, unexpected and
    mis-shaped tensors; the first three and a count), or "" when it fits."""
    expected = {k: tuple(v.shape) for k, v in net.state_dict().items()}
    got = {k: tuple(v.shape) for k, v in sd.items()}
    problems = [f"missing {k}" for k in expected if k not in got]
    problems += [f"unexpected {k}" for k in got if k not in expected]
    problems += [f"{k} is {got[k]} not {expected[k]}" for k in expected if k in got and got[k] != expected[k]]
    more = f" (+{len(problems) - 3} more)" if len(problems) > 3 else ""
    return "; ".join(problems[:3]) + more


def read_tensors(path: str | os.PathLike[str], entries: tuple[str, ...]) -> dict[str, torch.Tensor]:
    """The tensors of a ``.pth`` or ``.safetensors`` file of any network, as step 1 of a model load reads them (no
    code unpickled, prefixes stripped, views bounded by the stored data, all finite): under the first of
    ``entries`` that holds tensors, else at the top level. For weights that are not a generator (a discriminator).

    Raises:
        NotFoundError: no such file. ModelFileError: not such a file, no tensors, or non-finite values.
    """
    path = Path(path)
    if not path.is_file():
        raise NotFoundError(f"{path}: no such file")
    kind = _sniff(path)
    if kind == "ncnn":
        raise ModelFileError(f"{path}: an ncnn graph; expected a .pth or .safetensors weights file")
    obj: Any = read_safetensors(path)[0] if kind == "safetensors" else read_torch_file(path)
    if isinstance(obj, Mapping):
        obj = next((obj[k] for k in entries if isinstance(obj.get(k), Mapping)), obj)
    tensors = {str(k): v for k, v in obj.items() if isinstance(v, torch.Tensor)} if isinstance(obj, Mapping) else {}
    if not tensors:
        raise ModelFileError(f"{path}: no weight tensors found (looked under {', '.join(entries)} and the top level)")
    sd = _strip_prefixes(tensors, str(path))
    _check_storage(sd, str(path))
    _check_finite(sd, str(path))
    return sd


def _check_finite(sd: Mapping[str, torch.Tensor], where: str) -> None:
    non_finite = next((k for k, v in sd.items() if v.is_floating_point() and not bool(torch.isfinite(v).all())), None)
    if non_finite is not None:
        raise ModelFileError(f"{where}: tensor {non_finite} holds NaN or infinite values; re-download or re-export it")
