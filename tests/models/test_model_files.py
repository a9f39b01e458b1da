"""Hostile model files (issue 12, kind 4): every damaged, mutated or lying ``.pth``, ``.safetensors`` or ncnn
``.param`` + ``.bin`` file ends in one :class:`~esrgan.errors.ModelFileError` line naming it (or loads, when the
damage leaves a valid model), within a time and memory bound; nothing a file claims is built before it is checked.

The property-based tests mutate small valid files of each container; ``make fuzz`` runs them longer.
"""

from __future__ import annotations

import json
import resource
import shutil
import struct
import time
import warnings
from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from safetensors.torch import save_file

from esrgan.archs import REGISTRY, RRDBNet, SRVGGNetCompact
from esrgan.errors import ModelFileError, NotFoundError
from esrgan.models import load_model, save_model
from esrgan.models.ncnn import write_ncnn

# A load of any of these files takes milliseconds; a hang (building what a file claims) takes minutes.
SECONDS = 5.0


def _srvgg() -> SRVGGNetCompact:
    torch.manual_seed(1)
    return SRVGGNetCompact(num_in_ch=3, num_out_ch=3, num_feat=4, num_conv=1, upscale=2, act_type="prelu")


def _rrdb() -> RRDBNet:
    torch.manual_seed(2)
    return RRDBNet(num_in_ch=3, num_out_ch=3, scale=2, num_feat=4, num_block=1, num_grow_ch=4)


def _load(path: Path) -> None:
    """load_model(path) loads a network, or raises the package's one-line error naming the file, in time."""
    start = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:  # a warning would print lines of its own on stderr
        warnings.simplefilter("always")
        try:
            net, info = load_model(path)
        except (ModelFileError, NotFoundError) as exc:
            message = str(exc)
            assert "\n" not in message and len(message) < 2000, message
            assert str(path.with_suffix("")) in message or path.name in message, message
        else:
            assert info.scale >= 1 and all(bool(torch.isfinite(p).all()) for p in net.parameters())
    assert time.perf_counter() - start < SECONDS
    assert not caught, [str(w.message) for w in caught]


# --------------------------------------------------------------------------------------------- known cases
def test_metadata_claiming_thirty_million_convs_does_not_hang(tmp_path: Path) -> None:
    """A 20 KB file whose metadata claims num_conv 30000000 hung the loader, which built the claimed network."""
    for suffix in (".pth", ".safetensors"):
        path = tmp_path / f"claims{suffix}"
        save_model(_srvgg(), path)
        _rewrite_metadata(path, {"num_conv": 30_000_000})
        start = time.perf_counter()
        _, info = load_model(path)  # the tensors say 1 conv: the claim is out of bounds and ignored
        assert info.hparams["num_conv"] == 1 and time.perf_counter() - start < SECONDS
        assert any("do not fit its tensors" in note for note in info.notes)


@pytest.mark.parametrize("claim", [{"num_feat": -4}, {"num_feat": 10**30}, {"upscale": 0}, {"act_type": [[[]]]}])
def test_lying_metadata_is_never_built(tmp_path: Path, claim: dict[str, object]) -> None:
    path = tmp_path / "lies.safetensors"
    save_model(_srvgg(), path)
    _rewrite_metadata(path, claim)
    _, info = load_model(path)
    assert info.hparams == _srvgg().hparams()


def test_a_model_declaring_x128_is_refused(tmp_path: Path) -> None:
    """A 1.7 MB SRVGGNetCompact whose last convolution makes 3 x 128^2 channels: x128, 48x48 -> 6144x6144."""
    sd = {
        "body.0.weight": torch.zeros(1, 3, 3, 3),
        "body.0.bias": torch.zeros(1),
        "body.1.weight": torch.zeros(1),
        "body.2.weight": torch.zeros(3 * 128 * 128, 1, 3, 3),
        "body.2.bias": torch.zeros(3 * 128 * 128),
    }
    torch.save({"params": sd}, tmp_path / "x128.pth")
    with pytest.raises(ModelFileError, match=r"x128\.pth: upscale must be an integer from 1 to 16, got 128"):
        load_model(tmp_path / "x128.pth")


def test_deeply_nested_metadata_is_one_line(tmp_path: Path) -> None:
    """200,000 nested '[' made json.loads raise RecursionError."""
    path = tmp_path / "deep.safetensors"
    save_model(_srvgg(), path)
    _rewrite_header(path, lambda header: {**header, "__metadata__": {"esrgan": "[" * 200_000}})
    with pytest.raises(ModelFileError, match=r"deep\.safetensors: the 'esrgan' metadata .* is not JSON"):
        load_model(path)


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_non_finite_weights_are_refused(tmp_path: Path, value: float) -> None:
    """NaN weights gave an all-black image and exit status 0."""
    net = _srvgg()
    with torch.no_grad():
        net.body[0].weight[0, 0, 0, 0] = value
    for suffix in (".pth", ".safetensors"):
        save_model(net, tmp_path / f"nan{suffix}")
        with pytest.raises(ModelFileError, match=r"tensor body\.0\.weight holds NaN or infinite values"):
            load_model(tmp_path / f"nan{suffix}")


def test_a_zip_pth_renamed_safetensors_is_read_by_its_content(tmp_path: Path) -> None:
    save_model(_srvgg(), tmp_path / "m.pth")
    shutil.copy(tmp_path / "m.pth", tmp_path / "m.safetensors")
    assert load_model(tmp_path / "m.safetensors")[1].arch == "SRVGGNetCompact"
    (tmp_path / "cut.safetensors").write_bytes((tmp_path / "m.pth").read_bytes()[:300])
    with pytest.raises(ModelFileError, match=r"cut\.safetensors: corrupt or truncated PyTorch file"):
        load_model(tmp_path / "cut.safetensors")


def test_views_claiming_more_than_the_stored_data_are_refused(tmp_path: Path) -> None:
    """A 1.6 KB .pth can hold a 10^9-element stride-0 view of 4 floats (found by the fuzz campaign: loading it
    allocated gigabytes when the weights were made contiguous), or the same data viewed many times."""
    state = _srvgg().state_dict()
    torch.save({"params": {**state, "body.0.bias": torch.zeros(4).as_strided((10**9,), (0,))}}, tmp_path / "v.pth")
    start = time.perf_counter()
    with pytest.raises(ModelFileError, match=r"v\.pth: tensor body\.0\.bias claims 1,000,000,000 values"):
        load_model(tmp_path / "v.pth")
    assert time.perf_counter() - start < SECONDS
    data = torch.zeros(300_000)
    many = {f"extra{i}": data for i in range(20)}  # one storage, twenty full views: 24 MB from 1.2 MB
    torch.save({"params": {**state, **many}}, tmp_path / "many.pth")
    with pytest.raises(ModelFileError, match=r"many\.pth: its tensors are .* views of"):
        load_model(tmp_path / "many.pth")


def test_a_mangled_zip_member_name_is_one_line(tmp_path: Path) -> None:
    """A byte flipped in a member name made zipfile raise UnicodeDecodeError while the loader looked for a
    TorchScript archive (found by make fuzz)."""
    save_model(_rrdb(), tmp_path / "m.pth")
    data = bytearray((tmp_path / "m.pth").read_bytes())
    central = data.rindex(b"PK\x01\x02")  # the last central-directory entry: flag UTF-8 names, and break one
    data[central + 8] |= 0x08
    name_at = central + 46
    data[name_at] = 0x80
    (tmp_path / "m.pth").write_bytes(bytes(data))
    _load(tmp_path / "m.pth")


def test_a_missing_tensor_is_one_line(tmp_path: Path) -> None:
    """A missing key gave KeyError."""
    state = _rrdb().state_dict()
    del state["conv_last.weight"]
    torch.save({"params_ema": state}, tmp_path / "missing.pth")
    with pytest.raises(ModelFileError, match=r"missing\.pth: "):
        load_model(tmp_path / "missing.pth")


@pytest.mark.parametrize("block", ["block_ ", "block_1_0", "block_7"])
def test_a_span_file_with_a_strange_block_name_is_one_line(tmp_path: Path, block: str) -> None:
    """A SPAN safetensors whose header named ``block_ .c1_r...`` gave ``ValueError: invalid literal for int()``
    (found by the mutated-safetensors property once SPAN joined the seeds)."""
    spec = next(spec for spec in REGISTRY if spec.name == "SPAN")
    torch.manual_seed(4)
    state = spec.net(**spec.tiny_hparams).state_dict()
    state = {(block + k[len("block_2") :] if k.startswith("block_2.") else k): v for k, v in state.items()}
    save_file(state, str(tmp_path / "span.safetensors"))
    with pytest.raises(ModelFileError, match=r"span\.safetensors: SPAN has blocks 1\.\.6"):
        load_model(tmp_path / "span.safetensors")


def test_ncnn_pixelshuffle_zero_is_one_line(tmp_path: Path) -> None:
    """``PixelShuffle 0=0`` gave ZeroDivisionError."""
    param, _ = write_ncnn(_srvgg(), tmp_path / "m.param", fp16=False)
    text = param.read_text()
    assert "PixelShuffle" in text and " 0=2" in text
    lines = [line.replace(" 0=2", " 0=0") if line.startswith("PixelShuffle") else line for line in text.splitlines()]
    param.write_text("\n".join(lines) + "\n")
    with pytest.raises(ModelFileError, match=r"m\.param: "):
        load_model(param)


@pytest.mark.parametrize("count", ["-5", "99999999999", "1.5e30", "0,1"])
def test_ncnn_absurd_sizes_are_one_line(tmp_path: Path, count: str) -> None:
    param, _ = write_ncnn(_srvgg(), tmp_path / "m.param", fp16=False)
    lines = param.read_text().splitlines()
    conv = next(i for i, line in enumerate(lines) if line.startswith("Convolution"))
    lines[conv] = " ".join(t if not t.startswith("6=") else f"6={count}" for t in lines[conv].split())
    param.write_text("\n".join(lines) + "\n")
    with pytest.raises(ModelFileError, match=r"m\.(param|bin): "):
        load_model(param)


# ----------------------------------------------------------------------------------------- property-based
def _nets() -> list[tuple[str, torch.nn.Module]]:
    """A small network of every registered architecture (each room's ``tiny_hparams``)."""
    torch.manual_seed(3)
    return [(spec.name, spec.net(**spec.tiny_hparams)) for spec in REGISTRY]


NCNN_ARCHS = [spec.name for spec in REGISTRY if spec.ncnn is not None]


def _seeds(folder: Path) -> dict[str, list[Path]]:
    """Small valid files of each container for every architecture: .pth (zip), .safetensors, and ncnn fp16 and
    fp32 pairs where the architecture has an ncnn form."""
    folder.mkdir(parents=True, exist_ok=True)
    seeds: dict[str, list[Path]] = {"pth": [], "safetensors": [], "ncnn": []}
    for name, net in _nets():
        for kind in ("pth", "safetensors"):
            path = folder / f"{name}.{kind}"
            save_model(net, path)
            seeds[kind].append(path)
        if name in NCNN_ARCHS:
            for fp16 in (True, False):
                param, _ = write_ncnn(net, folder / f"{name}_{'fp16' if fp16 else 'fp32'}.param", fp16=fp16)
                seeds["ncnn"].append(param)
    return seeds


class _Seeds(dict):
    """The seed files' bytes by container; a short repr, so that hypothesis's report of a failing example shows
    the mutation (index, flips, cut, insert) rather than megabytes of seed."""

    def __repr__(self) -> str:
        return f"<seed files: {', '.join(f'{k} x{len(v)}' for k, v in self.items())}>"


@pytest.fixture(scope="module")
def seed_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[bytes | tuple[bytes, bytes]]]:
    seeds = _seeds(tmp_path_factory.mktemp("seeds"))
    out = _Seeds({k: [p.read_bytes() for p in v] for k, v in seeds.items()})
    out["ncnn"] = [(p.read_bytes(), p.with_suffix(".bin").read_bytes()) for p in seeds["ncnn"]]
    return out


_MUTATIONS = st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)), max_size=6)


def _mutate(data: bytes, flips: list[tuple[int, int]], cut: int, insert: bytes) -> bytes:
    out = bytearray(data)
    for at, value in flips:
        out[at % len(out)] = value
    if insert:
        at = flips[0][0] % len(out) if flips else 0
        out[at:at] = insert
    return bytes(out[: max(1, len(out) - cut % len(out))]) if cut else bytes(out)


_ONE_FOLDER = settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
_RSS_MB_AT_START = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _memory_bound() -> None:
    # No example may have made the process allocate what a file merely claims (gigabytes).
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 - _RSS_MB_AT_START < 1500


@_ONE_FOLDER
@given(index=st.integers(0, len(REGISTRY) - 1), flips=_MUTATIONS, cut=st.integers(0, 10**6),
       insert=st.binary(max_size=16))  # fmt: skip
def test_property_mutated_pth_loads_or_one_model_file_error(
    tmp_path: Path, seed_files: dict[str, list[bytes]], index: int, flips: list[tuple[int, int]], cut: int,
    insert: bytes,
) -> None:  # fmt: skip
    path = tmp_path / "fuzz.pth"
    path.write_bytes(_mutate(seed_files["pth"][index], flips, cut, insert))
    _load(path)
    _memory_bound()


@_ONE_FOLDER
@given(index=st.integers(0, len(REGISTRY) - 1), flips=_MUTATIONS, cut=st.integers(0, 10**6),
       insert=st.binary(max_size=16))  # fmt: skip
def test_property_mutated_safetensors_loads_or_one_model_file_error(
    tmp_path: Path, seed_files: dict[str, list[bytes]], index: int, flips: list[tuple[int, int]], cut: int,
    insert: bytes,
) -> None:  # fmt: skip
    path = tmp_path / "fuzz.safetensors"
    path.write_bytes(_mutate(seed_files["safetensors"][index], flips, cut, insert))
    _load(path)
    _memory_bound()


_PARAM_TOKENS = st.sampled_from(
    [
        "0=0",
        "0=-1",
        "0=99999999",
        "1=0",
        "6=-8",
        "6=1e30",
        "5=0",
        "9=7",
        "-23310=3,0.1",
        "1=1.5",
        "0=2,3",
        "x",
        "=",
        "7767517",
    ]
)


@_ONE_FOLDER
@given(
    index=st.integers(0, 2 * len(NCNN_ARCHS) - 1),
    edits=st.lists(st.tuples(st.integers(0, 10**4), st.integers(0, 40), _PARAM_TOKENS), max_size=4),
    bin_flips=_MUTATIONS,
    bin_cut=st.integers(0, 10**6),
)
def test_property_mutated_ncnn_loads_or_one_model_file_error(
    tmp_path: Path, seed_files: dict[str, list[tuple[bytes, bytes]]], index: int,
    edits: list[tuple[int, int, str]], bin_flips: list[tuple[int, int]], bin_cut: int,
) -> None:  # fmt: skip
    param_bytes, bin_bytes = seed_files["ncnn"][index]
    lines = param_bytes.decode().splitlines()
    for line_no, token_no, token in edits:  # replace a token of a line, or append one
        tokens = lines[line_no % len(lines)].split()
        if token_no < len(tokens):
            tokens[token_no] = token
        else:
            tokens.append(token)
        lines[line_no % len(lines)] = " ".join(tokens)
    (tmp_path / "fuzz.param").write_text("\n".join(lines) + "\n")
    (tmp_path / "fuzz.bin").write_bytes(_mutate(bin_bytes, bin_flips, bin_cut, b""))
    _load(tmp_path / "fuzz.param")
    _memory_bound()


@_ONE_FOLDER
@given(data=st.binary(max_size=4096), suffix=st.sampled_from([".pth", ".safetensors", ".bin", ".ckpt"]))
def test_property_any_bytes_load_or_one_model_file_error(tmp_path: Path, data: bytes, suffix: str) -> None:
    path = tmp_path / f"fuzz{suffix}"
    path.write_bytes(data)
    _load(path)


# ------------------------------------------------------------------------------------------------- helpers
def _rewrite_metadata(path: Path, hparams: dict[str, object]) -> None:
    """Change the hparams our metadata claims, in a .pth or a .safetensors file (the tensors stay)."""
    if path.suffix == ".pth":
        obj = torch.load(path, weights_only=True)
        obj["esrgan"]["hparams"].update(hparams)
        torch.save(obj, path)
        return

    def edit(header: dict[str, object]) -> dict[str, object]:
        meta = header["__metadata__"]
        assert isinstance(meta, dict)
        ours = json.loads(meta["esrgan"])
        ours["hparams"].update(hparams)
        return {**header, "__metadata__": {**meta, "esrgan": json.dumps(ours)}}

    _rewrite_header(path, edit)


def _rewrite_header(path: Path, edit: object) -> None:
    """Replace the JSON header of a safetensors file (its tensor data stays where the offsets say)."""
    data = path.read_bytes()
    (length,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + length])
    new = json.dumps(edit(header)).encode()  # type: ignore[operator]
    path.write_bytes(struct.pack("<Q", len(new)) + new + data[8 + length :])
