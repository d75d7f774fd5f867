"""``--render``: the video again, with the current segment's label and score drawn on every frame.

The source is decoded once, frame by frame, with PyAV (each frame is drawn and encoded before
the next is decoded, so memory does not grow with the length), at the source resolution or
scaled to a short side of ``size``; the output is H.264 (yuv420p) at the source's frame rate.
A frame at time t shows the segment that holds t (the last segment holds the video's end).
"""

from __future__ import annotations

import bisect
import os
from collections.abc import Sequence
from fractions import Fraction

import av
from PIL import Image, ImageDraw, ImageFont

from vidclass.timelines.segments import Segment

BAR = (0, 0, 0)
INK = (255, 255, 255)


def caption(segment: Segment) -> str:
    if segment.label is None:
        return "-"  # background: no label reached --min-score
    return f"{segment.label} {segment.score:.2f}" if segment.score is not None else segment.label


def render(
    source: str | os.PathLike[str], segments: Sequence[Segment], out: str | os.PathLike[str], size: int | None = None
) -> int:
    """Write ``out`` from ``source`` with the captions of ``segments``; returns frames written."""
    starts = [s.start for s in segments]
    written = 0
    with av.open(os.fspath(source)) as src, av.open(os.fspath(out), mode="w", format="mp4") as dst:
        stream = src.streams.video[0]
        stream.thread_type = "AUTO"
        rate = stream.average_rate or stream.guessed_rate or Fraction(25)
        width, height = stream.codec_context.width, stream.codec_context.height
        if size is not None:
            scale = size / min(width, height)
            width, height = round(width * scale), round(height * scale)
        width, height = width + width % 2, height + height % 2  # yuv420p needs even sides
        encoder = dst.add_stream("libx264", rate=rate)
        encoder.width, encoder.height, encoder.pix_fmt = width, height, "yuv420p"
        try:
            font: ImageFont.ImageFont | ImageFont.FreeTypeFont = ImageFont.load_default(size=max(12, height // 20))
        except TypeError:  # a Pillow before 10.1: one bitmap size
            font = ImageFont.load_default()
        for index, frame in enumerate(src.decode(stream)):
            t = float(frame.time) if frame.time is not None else index / float(rate)
            segment = segments[max(0, bisect.bisect_right(starts, t) - 1)]
            picture = frame.to_image()
            if picture.size != (width, height):
                picture = picture.resize((width, height), Image.Resampling.BILINEAR)
            draw = ImageDraw.Draw(picture)
            text = caption(segment)
            box = draw.textbbox((0, 0), text, font=font)
            pad = max(2, height // 100)
            draw.rectangle((0, 0, box[2] + 2 * pad, box[3] + 2 * pad), fill=BAR)
            draw.text((pad, pad), text, fill=INK, font=font)
            for packet in encoder.encode(av.VideoFrame.from_image(picture)):
                dst.mux(packet)
            written += 1
        for packet in encoder.encode():
            dst.mux(packet)
    return written


__all__ = ["caption", "render"]
