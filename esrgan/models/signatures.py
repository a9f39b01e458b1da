"""Which architecture a state dict probably is, from a few key names: for the one-line message about a file no
loader here recognises (without the spandrel extra). Torch-free.

Each signature is a handful of keys spandrel's own detection requires for that architecture (spandrel 0.4.2,
``spandrel/architectures/<name>/__init__.py``), enough to tell the common ones apart; checked in order, so the more
specific of two similar signatures comes first (HAT and ATD before SwinIR, whose keys they also have). A guess
only: loading still goes through a real detector.
"""

from __future__ import annotations

from collections.abc import Iterable

SPANDREL_EXTRA = "pip install 'esrgan[spandrel]'"


def spandrel_version() -> str | None:
    """The installed spandrel's version, or None when it is not installed (never imports it)."""
    from importlib import metadata

    try:
        return metadata.version("spandrel")
    except metadata.PackageNotFoundError:
        return None


SIGNATURES: tuple[tuple[str, frozenset[str]], ...] = tuple(
    (name, frozenset(keys))
    for name, keys in (
        ("HAT", ("relative_position_index_SA", "layers.0.residual_group.overlap_attn.qkv.weight")),
        ("ATD", ("relative_position_index_SA", "layers.0.residual_group.td")),
        ("DRCT", ("layers.0.swin1.attn.qkv.weight", "layers.0.adjust1.weight")),
        ("Swin2SR", ("patch_embed.proj.weight", "layers.0.residual_group.blocks.0.attn.relative_position_index")),
        ("SwinIR", ("layers.0.residual_group.blocks.0.attn.relative_position_index",)),
        ("CRAFT", ("layers.0.residual_group.hf_blocks.0.attn.temperature",)),
        ("DAT", ("before_RG.1.weight", "layers.0.blocks.0.ffn.sg.conv.weight")),
        ("RGT", ("before_RG.1.weight", "layers.0.blocks.0.gamma")),
        ("GRL", ("norm_start.weight", "layers.0.blocks.0.attn.window_attn.attn_transform.logit_scale")),
        ("RealPLKSR", ("feats.0.weight", "feats.1.channel_mixer.0.weight")),
        ("PLKSR", ("feats.0.weight", "feats.1.channe_mixer.0.weight")),
        ("SAFMN", ("to_feat.weight", "feats.0.safm.aggr.weight")),
        ("OmniSR", ("residual_layer.0.residual_layer.0.layer.0.fn.0.weight", "input.weight")),
        ("DITN", ("sft.weight", "UFONE.0.ITLs.0.attn.temperature")),
        ("SPAN", ("conv_1.sk.weight", "block_1.c1_r.eval_conv.weight", "upsampler.0.weight")),
        ("SeemoRe", ("body.0.local_block.block.moe_layer.experts.0.conv_1.weight",)),
        ("MoSR", ("gblocks.0.weight", "gblocks.1.fc1.weight")),
        ("MoESR", ("in_to_dim.weight", "blocks.0.blocks.0.conv.dwconv_hw.weight")),
        ("FDAT", ("groups.0.blocks.0.inter.cg.1.weight", "upsampler.MetaUpsample")),
        ("RealCUGAN", ("unet1.conv1.conv.0.weight", "unet2.conv_bottom.weight")),
        ("SCUNet", ("m_head.0.weight", "m_tail.0.weight")),
        ("ESRGAN+", ("model.0.weight", "model.1.sub.0.RDB1.conv1x1.weight")),
    )
)


def guess_architecture(keys: Iterable[str]) -> str | None:
    """The first architecture of :data:`SIGNATURES` whose keys are all present, or None."""
    present = frozenset(keys)
    for name, signature in SIGNATURES:
        if signature <= present:
            return name
    return None


def unrecognised_hint(keys: Iterable[str]) -> str:
    """The end of the one-line message for a file no installed loader recognises (spandrel not installed)."""
    name = guess_architecture(keys)
    if name is not None:
        return f"its keys look like {name}, which loads through the optional spandrel extra: {SPANDREL_EXTRA}"
    return f"about 40 more architectures load through the optional spandrel extra: {SPANDREL_EXTRA}"
