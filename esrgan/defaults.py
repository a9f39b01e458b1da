"""Names and defaults that ``esrgan --help`` shows, in a module that imports nothing heavy.

The library modules that own these values import them from here, and so do the commands: ``esrgan --help`` must
not wait for torch or PyAV, and one value has one home.
"""

from __future__ import annotations

# ---- video (esrgan.video)

DEFAULT_CODEC = "libx264"
DEFAULT_PIX_FMT = "yuv420p"
# Constant-quality defaults per encoder (each encoder's own scale). x264 18 is close to visually lossless,
# which an upscaler's output deserves; the others are set to a similar quality.
DEFAULT_CRF: dict[str, float] = {"libx264": 18, "libx264rgb": 18, "libx265": 20, "libvpx-vp9": 24, "libsvtav1": 24}
# x264 "veryfast" encodes ~3x faster than "medium" (40 vs 13 fps at 720p on 2 cores, realesr-animevideov3 output,
# crf 18) for 1 dB less PSNR at ~49 dB (invisible) and smaller files. The encoder shares the CPU with the network
# and can become the bottleneck behind a GPU; preset medium/slow compress ~10% better for archival encodes.
DEFAULT_PRESET: dict[str, str] = {"libx264": "veryfast", "libx264rgb": "veryfast"}
# Frames per resumable segment: an interruption loses at most one segment's work (300 frames = 12.5 s of 24 fps video).
DEFAULT_SEGMENT_FRAMES = 300
