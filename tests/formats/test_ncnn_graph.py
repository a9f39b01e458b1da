"""The ncnn graph walker and interpreter: blob aliases, trailing resizes, layer semantics against torch."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from esrgan.formats import ncnn_graph
from esrgan.formats.ncnn import parse_param
from esrgan.formats.ncnn_graph import Graph, run_graph


def test_module_lists_only_supported_layers() -> None:
    # Every layer the interpreter runs is one the walker accepts, and vice versa (Input needs no function).
    assert set(ncnn_graph._LAYER_FNS) | {"Input"} == set(ncnn_graph.SUPPORTED_LAYERS)


def test_graph_resolves_splits_and_strips_a_trailing_resize() -> None:
    text = (
        "7767517\n5 6\nInput in 0 1 data\nSplit s 1 2 data a b\nBinaryOp add 2 1 a b sum\n"
        "Reorg r 1 1 sum u 0=2\nInterp up 1 1 u out 0=3 1=5.000000e-01 2=5.000000e-01\n"
    )
    g = Graph(parse_param(text, "<g>"), "<g>", "NetA or NetB")
    assert (g.input, g.output, g.trailing_resize) == ("data", "u", ("bicubic", 0.5))
    assert g.resolve("b") == "data" and [layer.type for layer in g.of_type("Reorg", "BinaryOp")] == [
        "BinaryOp",
        "Reorg",
    ]
    x = torch.rand(1, 1, 4, 4)
    torch.testing.assert_close(run_graph(g.layers, g.input, g.output, x), F.pixel_unshuffle(2 * x, 2))
    with pytest.raises(ValueError, match="layer types Sigmoid are not part of NetA or NetB graphs"):
        Graph(parse_param("7767517\n2 2\nInput in 0 1 data\nSigmoid s 1 1 data out\n", "<g>"), "<g>", "NetA or NetB")
    assert str(g.fail("NetA", "why")) == "<g>: ncnn graph not recognised as NetA: why"


def test_conv_with_fused_leaky_relu_matches_torch() -> None:
    layers = parse_param(
        "7767517\n2 2\nInput in 0 1 data\nConvolution c 1 1 data out 0=2 1=3 4=1 5=1 6=18 9=2 -23310=1,1.0e-01\n", "<c>"
    )
    w = np.random.default_rng(0).standard_normal(18).astype(np.float32)
    layers[1].weights = [w, np.array([0.5, -0.5], np.float32)]
    g = Graph(layers, "<c>", "Net")
    assert g.conv_shape(layers[1]) == (2, 1) and g.act_of(layers[1]) == ("lrelu", 0.1)
    x = torch.rand(1, 1, 5, 5)
    expected = F.leaky_relu(
        F.conv2d(x, torch.from_numpy(w).view(2, 1, 3, 3), torch.tensor([0.5, -0.5]), padding=1), 0.1
    )
    torch.testing.assert_close(run_graph(g.layers, g.input, g.output, x), expected)
