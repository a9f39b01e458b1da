"""RRDBNet as an ncnn graph, laid out like the Real-ESRGAN ncnn releases: convolutions with fused leaky ReLU,
Concat-fed dense blocks, Eltwise residual sums scaled by 0.2, a BinaryOp trunk skip, nearest Interp x2 before each
upsampling convolution, and a Reorg (pixel-unshuffle) in front for x1/x2.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from torch import nn

from esrgan.archs.rrdbnet.net import RRDB, RRDBNet
from esrgan.formats.ncnn import ACT_LRELU, GraphWriter, Layer
from esrgan.formats.ncnn_graph import Graph

SIGNATURE = "Concat + Eltwise dense blocks"


def matches(types: Counter[str]) -> bool:
    """Dense blocks concatenate and residual sums are Eltwise: a graph with both is RRDBNet's to recognise."""
    return bool(types["Eltwise"] and types["Concat"])


def recognise(g: Graph) -> tuple[dict[str, Any], list[tuple[Layer, str]]]:
    """Hyper-parameters and (convolution layer, our parameter name) pairs of an RRDBNet graph."""
    arch = "RRDBNet"
    convs = g.of_type("Convolution")
    shapes = [g.conv_shape(c) for c in convs]
    reorgs = g.of_type("Reorg")
    if len(reorgs) > 1 or any(r.get(1, 0) != 0 for r in reorgs):
        raise g.fail(arch, "expected at most one Reorg (pixel-unshuffle, mode 0) layer")
    unshuffle = reorgs[0].integer(0, 0) if reorgs else 1
    if unshuffle not in (1, 2, 4):
        raise g.fail(arch, f"pixel-unshuffle by {unshuffle}: only 2 (x2) and 4 (x1) exist in RRDBNet")
    if len(convs) < 9:
        raise g.fail(arch, f"only {len(convs)} convolutions")
    num_feat, first_in = shapes[0]
    if first_in % (unshuffle * unshuffle):
        raise g.fail(arch, f"first conv takes {first_in} channels, not a multiple of {unshuffle}^2")
    num_grow = shapes[1][0]
    dense = [(num_grow, num_feat + k * num_grow) for k in range(4)] + [(num_feat, num_feat + 4 * num_grow)]
    i, rdbs = 1, 0
    while shapes[i : i + 5] == dense:
        i, rdbs = i + 5, rdbs + 1
    if rdbs == 0 or rdbs % 3:
        raise g.fail(arch, f"found {rdbs} dense blocks of 5 convs (growth {num_grow}), expected a multiple of 3")
    num_block = rdbs // 3
    tail = shapes[i:]
    num_up = len(tail) - 3  # conv_body, upsampling convs, conv_hr, conv_last
    ups = [layer for layer in g.of_type("Interp") if layer.get(0, 0) == 1 and layer.get(1, 1.0) == 2.0]
    if num_up not in (2, 3) or len(ups) != num_up or any(s != (num_feat, num_feat) for s in tail[:-1]):
        raise g.fail(
            arch, f"after the trunk expected conv_body, 2-3 upsampling convs, conv_hr and conv_last; got {tail}"
        )
    scale = 2**num_up // unshuffle
    if num_up == 3 and unshuffle != 1:
        raise g.fail(arch, "x8 upsampling after a pixel-unshuffle does not exist in RRDBNet")
    eltwise = g.of_type("Eltwise")
    if len(eltwise) != 4 * num_block:
        raise g.fail(arch, f"{len(eltwise)} Eltwise residual sums for {num_block} blocks (expected {4 * num_block})")
    num_out = tail[-1][0]
    hparams = {
        "num_in_ch": first_in // unshuffle**2,
        "num_out_ch": num_out,
        "scale": scale,
        "num_feat": num_feat,
        "num_block": num_block,
        "num_grow_ch": num_grow,
    }
    names = ["conv_first"]
    names += [f"body.{b}.rdb{r}.conv{c}" for b in range(num_block) for r in (1, 2, 3) for c in range(1, 6)]
    names += ["conv_body"] + [f"conv_up{k}" for k in range(1, num_up + 1)] + ["conv_hr", "conv_last"]
    return hparams, list(zip(convs, names, strict=True))


def write(w: GraphWriter, net: nn.Module, x: str) -> str:
    """Add the layers of ``net`` (an RRDBNet) after blob ``x``; returns the output blob."""
    assert isinstance(net, RRDBNet)
    lrelu = (ACT_LRELU, 0.2)
    if net.unshuffle > 1:
        x = w.add("Reorg", [x], {0: int(net.unshuffle)})
    first = w.conv(net.conv_first, x)
    cur = first
    for block in net.body:
        assert isinstance(block, RRDB)
        block_in = cur
        for rdb in (block.rdb1, block.rdb2, block.rdb3):
            feats = [cur]
            for j in range(1, 5):
                inp = feats[0] if j == 1 else w.add("Concat", list(feats), {})
                feats.append(w.conv(getattr(rdb, f"conv{j}"), inp, lrelu))
            x5 = w.conv(rdb.conv5, w.add("Concat", list(feats), {}))
            cur = w.add("Eltwise", [x5, feats[0]], {0: 1, 1: [0.2, 1.0]})
        cur = w.add("Eltwise", [cur, block_in], {0: 1, 1: [0.2, 1.0]})
    cur = w.add("BinaryOp", [first, w.conv(net.conv_body, cur)], {})  # op 0 (add) is the default
    ups = [getattr(net, f"conv_up{i}") for i in range(1, net.num_upsample + 1)]
    for up in ups:
        cur = w.conv(up, w.add("Interp", [cur], {0: 1, 1: 2.0, 2: 2.0}), lrelu)
    return w.conv(net.conv_last, w.conv(net.conv_hr, cur, lrelu))
