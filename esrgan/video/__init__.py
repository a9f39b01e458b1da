"""Video in and out for super-resolution, with PyAV (FFmpeg's libraries, bundled in the ``av`` wheels).

Why PyAV rather than ``ffmpeg`` command lines: its wheels bring their own FFmpeg with H.264 (libx264), H.265,
VP9, AV1, AAC and Opus encoders, so nothing else has to be installed; frames arrive as arrays in this process
(no pipes, no temporary images); and every timestamp, audio packet and side-data entry is in reach, which is
what keeping them exactly needs.

The rooms, in the order a frame meets them (each imports only those above it):

- :mod:`~esrgan.video.settings`: :class:`VideoSettings` (one job) and :class:`EncodeSettings` (the encoder),
  frozen and checked once.
- :mod:`~esrgan.video.probe`: :func:`probe_video` → :class:`VideoInfo` (size, rate, frame count if stated,
  rotation, colour), and :class:`VideoError`.
- :mod:`~esrgan.video.reader`: :class:`VideoReader` decodes the first video stream into :class:`Frame` (RGB uint8
  + pts + display duration in the stream's time base), optionally in a time window or after a timestamp.
- :mod:`~esrgan.video.frames`: uint8 RGB frames (B, H, W, 3) <-> the package's float RGB tensors (B, 3, H, W)
  in [0, 1], and the output frame size (the image rule, with even sides).
- :mod:`~esrgan.video.writer`: :func:`resolve_encode_settings` and :class:`VideoWriter` (H.264 yuv420p by default).
- :mod:`~esrgan.video.segments`: the parts folder, its manifest and :func:`resume_identity`, the one place that
  says what a resumed run must share with the first one.
- :mod:`~esrgan.video.threads`: bounded queues and worker threads that stop together.
- :mod:`~esrgan.video.remux`: segments + the input's audio and subtitles → the output, without re-encoding video.
- :mod:`~esrgan.video.pipeline`: :func:`upscale_video`, decode → upscale → encode in three threads, then the remux.

Timestamps: output frames keep the input pts in the input time base (variable frame rate too); packets get
their display durations back before muxing, so the stream duration is kept as well. Only a ``start`` window
shifts time (video and audio by the same amount).

To add a video option: a field on :class:`VideoSettings` (checked in its ``__post_init__``; it joins the resume
identity by itself), its use in the reader, writer or pipeline, and the flag in ``esrgan/commands/video.py``.
"""

from esrgan.defaults import DEFAULT_CODEC, DEFAULT_CRF, DEFAULT_PIX_FMT, DEFAULT_PRESET, DEFAULT_SEGMENT_FRAMES
from esrgan.video.frames import fit_frames, frame_size, frames_to_tensor, tensor_to_frames
from esrgan.video.pipeline import ProgressFn, VideoResult, check_paths, upscale_video
from esrgan.video.probe import Colour, VideoError, VideoInfo, probe_video
from esrgan.video.reader import Frame, VideoReader
from esrgan.video.segments import MANIFEST_VERSION, Manifest, Segment, parts_folder, resume_identity
from esrgan.video.settings import EncodeSettings, VideoSettings
from esrgan.video.writer import VideoWriter, available_video_encoders, output_format, resolve_encode_settings

__all__ = [
    "DEFAULT_CODEC",
    "DEFAULT_CRF",
    "DEFAULT_PIX_FMT",
    "DEFAULT_PRESET",
    "DEFAULT_SEGMENT_FRAMES",
    "MANIFEST_VERSION",
    "Colour",
    "EncodeSettings",
    "Frame",
    "Manifest",
    "ProgressFn",
    "Segment",
    "VideoError",
    "VideoInfo",
    "VideoReader",
    "VideoResult",
    "VideoSettings",
    "VideoWriter",
    "available_video_encoders",
    "check_paths",
    "fit_frames",
    "frame_size",
    "frames_to_tensor",
    "output_format",
    "parts_folder",
    "probe_video",
    "resolve_encode_settings",
    "resume_identity",
    "tensor_to_frames",
    "upscale_video",
]
