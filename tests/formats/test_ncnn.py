"""The ncnn container: .param parsing, weight blobs (tags, fp16 padding, raw fp32), pair resolution and the
writer's Split insertion."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest
from torch import nn

from esrgan.formats.ncnn import TAG_FP16, GraphWriter, is_ncnn_param, ncnn_pair, parse_param, read_weights


def test_blob_layout_tag_fp16_padding_and_raw_fp32() -> None:
    # One 1->1 3x3 conv with bias: 9 fp16 values (18 bytes + 2 padding) after the tag, then 1 raw fp32 bias.
    layers = parse_param("7767517\n2 2\nInput in 0 1 data\nConvolution c 1 1 data out 0=1 1=3 4=1 5=1 6=9\n", "<test>")
    weights = np.arange(9, dtype=np.float16) / 8
    data = struct.pack("<I", TAG_FP16) + weights.tobytes() + b"\0\0" + struct.pack("<f", -1.5)
    assert read_weights(layers, data, "<test>") == "fp16"
    np.testing.assert_array_equal(layers[1].weights[0], weights.astype(np.float32))
    np.testing.assert_array_equal(layers[1].weights[1], [-1.5])
    data32 = struct.pack("<I", 0) + weights.astype("<f4").tobytes() + struct.pack("<f", 2.0)
    assert read_weights(layers, data32, "<test>") == "fp32"
    with pytest.raises(ValueError, match="bytes left"):
        read_weights(layers, data + b"\0" * 4, "<test>")
    with pytest.raises(ValueError, match="truncated"):
        read_weights(layers, data[:-2], "<test>")
    with pytest.raises(ValueError, match=r"weight tag 0x000D4B38 .* only fp32 \(tag 0\) and fp16"):
        read_weights(layers, struct.pack("<I", 0x000D4B38) + data[4:], "<test>")


def test_parse_param_values() -> None:
    text = "7767517\n2 2\nInput in 0 1 data\nEltwise e 2 1 a b out 0=1 -23301=2,2.000000e-01,1.0 3=7 4=1e-3\n"
    layer = parse_param(text, "<t>")[1]
    assert layer.bottoms == ["a", "b"] and layer.tops == ["out"]
    assert layer.params == {0: 1, 1: [0.2, 1.0], 3: 7, 4: 1e-3}
    with pytest.raises(ValueError, match=r"not an ncnn text \.param file"):
        parse_param("7767518\n0 0\n", "<t>")
    with pytest.raises(ValueError, match="announces 3 layers but the file has 2"):
        parse_param(text.replace("2 2", "3 2", 1), "<t>")
    with pytest.raises(ValueError, match="line 4 is not a valid ncnn layer line"):
        parse_param(text.replace("a b out", "a"), "<t>")


def test_pair_and_magic(tmp_path: Path) -> None:
    (tmp_path / "m.param").write_text("7767517\n1 1\nInput in 0 1 data\n")
    (tmp_path / "m.bin").write_bytes(b"")
    assert (
        ncnn_pair(tmp_path / "m.bin") == ncnn_pair(tmp_path / "m.param") == (tmp_path / "m.param", tmp_path / "m.bin")
    )
    assert is_ncnn_param(tmp_path / "m.param") and not is_ncnn_param(tmp_path / "m.bin")
    assert not is_ncnn_param(tmp_path / "missing.param")
    with pytest.raises(ValueError, match=r"an ncnn model is a \.param \+ \.bin pair"):
        ncnn_pair(tmp_path / "m.pth")
    (tmp_path / "m.bin").unlink()
    with pytest.raises(FileNotFoundError, match=r"m\.bin: not found"):
        ncnn_pair(tmp_path / "m.param")


def test_writer_splits_blobs_used_twice_and_reads_back() -> None:
    w = GraphWriter(fp16=False)
    x = w.add("Input", [], {})
    conv = nn.Conv2d(1, 2, 3, 1, 1)
    y = w.conv(conv, x)
    w.add("BinaryOp", [y, y], {})
    w.layers[-1].tops = ["output"]
    lines, blob = w.lines_and_blobs()
    layers = parse_param("\n".join(lines), "<w>")
    assert [layer.type for layer in layers] == ["Input", "Convolution", "Split", "BinaryOp"]
    assert layers[3].bottoms == layers[2].tops and len(layers[2].tops) == 2
    assert read_weights(layers, blob, "<w>") == "fp32"
    np.testing.assert_array_equal(layers[1].weights[0], conv.weight.detach().numpy().reshape(-1))
