"""The final remux: the video segments joined without re-encoding, with the input's audio, subtitles,
attachments, tags and chapters, into a temporary file beside the output that is renamed over it at the end.

Audio and subtitles are copied bit for bit when the output container takes their codec; otherwise audio is
re-encoded (AAC, or the container's own) and text subtitles converted (mov_text in MP4). Timestamps: a ``start``
window shifts video and audio by the same amount.
"""

from __future__ import annotations

import contextlib
import heapq
import logging
import math
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av

from esrgan.video.probe import VideoInfo, codec_name, open_input, video_stream
from esrgan.video.segments import Manifest
from esrgan.video.writer import MOV_FAMILY

__all__ = ["assemble"]

log = logging.getLogger(__name__)

# ISO MP4 (unlike QuickTime .mov) takes PCM only through a recent extension that few players read and FFmpeg
# cannot write for unlabelled channel layouts: PCM audio is re-encoded for these.
_NO_PCM = {"mp4", "ipod", "3gp", "3g2", "psp", "ismv"}
# Container-level tags the muxer writes itself.
_MUXER_TAGS = {"major_brand", "minor_version", "compatible_brands", "encoder"}
# Text subtitle codecs we can re-encode into, in order of preference, when a container cannot take the input's.
_TEXT_SUBTITLE_TARGETS = ("mov_text", "subrip", "ass", "webvtt")


@dataclass
class _Passthrough:
    """How one input audio/subtitle stream reaches the output."""

    index: int
    out: Any  # output av stream
    mode: str  # "copy", "audio" (re-encode), "subtitle" (text re-encode)
    offset: int  # subtracted from pts, in the input stream's time base
    decoder: Any = None
    resampler: Any = None
    description: str = ""


def assemble(
    src: Path, dst: Path, parts: Path, manifest: Manifest, info: VideoInfo, fmt: str, windowed: bool
) -> tuple[list[str], list[str]]:
    """Join the segments of ``manifest`` (in ``parts``) with the streams of ``src`` into ``dst`` (muxer ``fmt``).

    ``info`` describes ``src``'s video stream; ``windowed`` says the job covered only a time window, whose audio
    and subtitles are cut alike. ``dst`` appears complete or not at all (temporary file, then a rename).

    Returns:
        (audio, subtitles): one description per kept stream, e.g. "#1 aac (copied)".
    """
    offset = manifest.pts_offset or 0
    # Segment starts on the output clock, in seconds (a segment's own time base may differ from the input's: MP4
    # raises small time scales, Matroska always uses milliseconds).
    segments = [(parts / s.file, (s.first_pts - offset) * info.time_base) for s in manifest.segments]
    t0 = Fraction(offset) * info.time_base  # output time zero, in input seconds
    t_end = Fraction(manifest.segments[-1].end_pts) * info.time_base
    tmp = dst.with_name(f".{dst.stem}.partial{dst.suffix}")
    options = {"movflags": "+faststart"} if fmt in MOV_FAMILY else {}
    audio: list[str] = []
    subtitles: list[str] = []
    first = av.open(str(segments[0][0]))
    source = open_input(src)
    out = av.open(str(tmp), mode="w", format=fmt, container_options=options)
    try:
        # The template carries the codec parameters, colour tags and display matrix of the segments.
        vstream = out.add_stream_from_template(first.streams.video[0])
        in_video = video_stream(source, src)
        if in_video.language:
            vstream.metadata["language"] = in_video.language
        out.metadata.update({k: v for k, v in source.metadata.items() if k not in _MUXER_TAGS})
        plans = _plan_passthrough(source, out, t0, dst)
        audio = [p.description for p in plans if p.out.type == "audio"]
        subtitles = [p.description for p in plans if p.out.type == "subtitle"]
        if not windowed and offset == 0:
            with contextlib.suppress(Exception):  # chapters are a nicety; some muxers reject them
                out.set_chapters(source.chapters())
        video_packets = _segment_packets(segments, vstream)
        other_packets = _passthrough_packets(source, plans, t0, t_end if windowed else None)
        for packet in heapq.merge(video_packets, other_packets, key=_packet_time):
            out.mux(packet)
        for plan in plans:
            if plan.mode == "audio":
                for packet in _flush_audio(plan):
                    out.mux(packet)
        out.close()
    except BaseException:
        with contextlib.suppress(Exception):
            out.close()
        tmp.unlink(missing_ok=True)
        raise
    finally:
        first.close()
        source.close()
    os.replace(tmp, dst)
    return audio, subtitles


def _packet_time(packet: av.Packet) -> float:
    ts = packet.dts if packet.dts is not None else packet.pts
    return float((ts or 0) * packet.time_base) if packet.time_base else 0.0


def _segment_packets(segments: Sequence[tuple[Path, Fraction]], out_stream: Any) -> Iterator[av.Packet]:
    """Video packets of all segments in order, for remuxing into ``out_stream``.

    ``segments`` holds (file, start): each segment's start in seconds on the output clock. A file's first frame
    is moved to ``start`` (segments are written from pts 0, but containers may read back a constant offset: AVI's
    H.264 delay, Matroska's shift of negative times). Decoding timestamps are recomputed for the whole joined
    stream (containers do not all store them: Matroska keeps none, and each segment's encoder started its own
    B-frame delay): dts = the sorted pts shifted back by the smallest constant that keeps every dts <= its pts,
    which is strictly increasing by construction. Durations come through as the segments stored them (the
    :class:`VideoWriter` gave each packet its display duration; muxers only need the last one).
    """

    def packets(path: Path) -> Iterator[tuple[av.Packet, int, Fraction]]:
        with av.open(str(path)) as seg:
            stream = seg.streams.video[0]
            tb = stream.time_base or Fraction(1, 1000)
            for packet in seg.demux(stream):
                if packet.size and packet.pts is not None:  # skip the demuxer's end-of-stream marker
                    yield packet, packet.pts, tb

    def ticks(seconds: Fraction, tb: Fraction) -> int:
        return math.floor(seconds / tb + Fraction(1, 2))

    decode_order: list[int] = []
    shifts: list[int] = []
    for path, start in segments:
        seg_pts = [(pts, tb) for _, pts, tb in packets(path)]
        if not seg_pts:
            shifts.append(0)
            continue
        tb = seg_pts[0][1]
        shifts.append(ticks(start, tb) - min(p for p, _ in seg_pts))
        decode_order.extend(p + shifts[-1] for p, _ in seg_pts)
    presentation = sorted(decode_order)
    delay = max(0, max((p - d for p, d in zip(presentation, decode_order, strict=True)), default=0))
    i = 0
    for (path, _), shift in zip(segments, shifts, strict=True):
        for packet, pts, _ in packets(path):
            packet.pts = pts + shift
            packet.dts = presentation[i] - delay
            packet.stream = out_stream
            i += 1
            yield packet


def _plan_passthrough(source: Any, out: Any, t0: Fraction, dst: Path) -> list[_Passthrough]:
    """Create an output stream for every audio and subtitle stream of ``source``: a bit-exact copy when the
    output container takes the codec, otherwise audio is re-encoded (AAC, or the container's own audio codec)
    and text subtitles are converted (mov_text in MP4); bitmap subtitles that do not fit are skipped."""
    plans: list[_Passthrough] = []
    supported = out.supported_codecs
    for s in source.streams:
        if s.type == "attachment" and out.format.name in ("matroska", "webm"):
            # Fonts for ASS subtitles and the like: Matroska holds them as-is.
            with contextlib.suppress(ValueError):
                out.add_stream_from_template(s)
                log.info("attachment #%d (%s) copied", s.index, s.metadata.get("filename", "?"))
                continue
        if s.type not in ("audio", "subtitle"):
            if s.type != "video":
                log.warning("not keeping %s stream #%d (%s): not supported here", s.type, s.index, codec_name(s))
            continue
        name = codec_name(s)
        plan: _Passthrough | None
        offset = math.floor(t0 / s.time_base + Fraction(1, 2)) if s.time_base else 0
        try:
            if name.startswith("pcm_") and out.format.name in _NO_PCM:
                raise ValueError(f"{out.format.name} does not take PCM audio")
            o = out.add_stream_from_template(s)
            plan = _Passthrough(s.index, o, "copy", offset, description=f"#{s.index} {name} (copied)")
        except ValueError:
            if s.type == "audio":
                plan = _audio_encoder_plan(s, out, supported, offset)
            else:
                plan = _subtitle_encoder_plan(s, out, supported, offset, dst)
            if plan is None:
                continue
        for key in ("language", "title", "handler_name"):
            if key in s.metadata:
                plan.out.metadata[key] = s.metadata[key]
        with contextlib.suppress(AttributeError, TypeError, ValueError):
            plan.out.disposition = s.disposition
        log.info("%s stream %s", s.type, plan.description)
        plans.append(plan)
    return plans


def _audio_encoder_plan(s: Any, out: Any, supported: set[str], offset: int) -> _Passthrough | None:
    if s.codec_context is None:
        log.warning("skipping audio stream #%d: its codec %s cannot be decoded here", s.index, codec_name(s))
        return None
    codec = av.Codec("aac" if "aac" in supported else out.default_audio_codec, "w")
    dec = s.codec_context
    rates = sorted(codec.audio_rates or ())
    # Opus only runs at 8-48 kHz: take the nearest rate at or above the input's (resampled).
    rate = next((r for r in rates if r >= dec.sample_rate), rates[-1]) if rates else dec.sample_rate
    channels = dec.layout.nb_channels
    o = out.add_stream(codec.name, rate=rate)
    # An unlabelled layout ("2 channels") becomes the usual one for that count (stereo, 5.1, ...).
    named = {1: "mono", 2: "stereo", 3: "2.1", 4: "quad", 5: "5.0", 6: "5.1", 7: "6.1", 8: "7.1"}
    o.layout = named.get(channels, dec.layout) if dec.layout.name.endswith("channels") else dec.layout
    o.time_base = Fraction(1, rate)
    o.codec_context.time_base = Fraction(1, rate)
    o.bit_rate = 96_000 * min(channels, 2) + 64_000 * max(0, channels - 2)
    o.codec_context.open()  # now frame_size is known, for the resampler
    resampler = av.AudioResampler(
        format=o.codec_context.format.name,
        layout=o.codec_context.layout.name,
        rate=o.codec_context.sample_rate,
        frame_size=o.codec_context.frame_size or None,
    )
    desc = f"#{s.index} {codec_name(s)} → {o.codec_context.name} (re-encoded: the container cannot hold it)"
    return _Passthrough(s.index, o, "audio", offset, decoder=dec, resampler=resampler, description=desc)


def _subtitle_encoder_plan(s: Any, out: Any, supported: set[str], offset: int, dst: Path) -> _Passthrough | None:
    dec = s.codec_context
    is_text = dec is not None and bool(av.Codec(dec.name, "r").text_sub)
    target = next((c for c in _TEXT_SUBTITLE_TARGETS if c in supported), None)
    if not is_text or target is None:
        log.warning(
            "skipping subtitle stream #%d (%s): %s cannot hold it (a .mkv output keeps it)",
            s.index,
            codec_name(s),
            dst.suffix or dst.name,
        )
        return None
    o = out.add_stream(target)
    o.time_base = s.time_base
    o.codec_context.time_base = s.time_base
    # Text encoders need the decoder's ASS header (styles), which exists once the decoder is open.
    dec.open(strict=False)
    if dec.subtitle_header is not None:
        o.codec_context.subtitle_header = dec.subtitle_header
    desc = f"#{s.index} {codec_name(s)} → {target} (converted: the container cannot hold it)"
    return _Passthrough(s.index, o, "subtitle", offset, decoder=dec, description=desc)


def _passthrough_packets(
    source: Any, plans: Sequence[_Passthrough], t0: Fraction, t_end: Fraction | None
) -> Iterator[av.Packet]:
    """Audio and subtitle packets on the output clock (shifted by ``t0``), only those starting in
    [t0, t_end) when a window is given; copied or re-encoded according to each plan."""
    if not plans:
        return
    by_index = {p.index: p for p in plans}
    streams = [source.streams[p.index] for p in plans]
    if t_end is not None and t0 > 0:
        # Any stream, backwards: the demuxer lands at or before t0 for all of them.
        source.seek(max(0, math.floor(t0 * 1_000_000) - 1_000_000), backward=True)
    margin = Fraction(5)  # demuxers interleave loosely; read a little past the window's end
    for packet in source.demux(streams):
        plan = by_index[packet.stream.index]
        if not packet.size or (packet.pts is None and packet.dts is None):
            continue
        tb = packet.time_base
        t = (packet.pts if packet.pts is not None else packet.dts) * tb
        if t_end is not None:
            if t >= t_end + margin:
                break
            if t < t0 or t >= t_end:
                continue
        if plan.mode == "copy":
            if packet.pts is not None:
                packet.pts -= plan.offset
            if packet.dts is not None:
                packet.dts -= plan.offset
            packet.stream = plan.out
            yield packet
        elif plan.mode == "audio":
            for frame in plan.decoder.decode(packet):
                if frame.pts is not None:
                    frame.pts -= plan.offset
                for resampled in plan.resampler.resample(frame):
                    yield from plan.out.encode(resampled)
        else:
            yield from _convert_subtitle(plan, packet)


def _convert_subtitle(plan: _Passthrough, packet: av.Packet) -> Iterator[av.Packet]:
    subs = plan.decoder.decode2(packet)
    if subs is None or not len(subs):
        return
    if packet.pts is None:
        return
    out = plan.out.codec_context.encode_subtitle(subs)
    out.pts = out.dts = packet.pts - plan.offset
    out.duration = packet.duration or (subs.end_display_time - subs.start_display_time)
    out.time_base = packet.time_base
    out.stream = plan.out
    yield out


def _flush_audio(plan: _Passthrough) -> Iterator[av.Packet]:
    for resampled in plan.resampler.resample(None):
        yield from plan.out.encode(resampled)
    yield from plan.out.encode(None)
