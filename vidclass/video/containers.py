"""Checks on a file before any decoder reads it: readable at all, a video at all, not cut short,
naming no other file, of a frame size that can be decoded.

``readable_file`` gives clearer messages than the decoders for a missing, directory, unreadable
or empty file, refuses playlists (``refuse_playlist``) and text (``refuse_text``), and runs
``check_iso_boxes`` (an MP4/MOV cut short inside or after its index). ``check_container`` refuses, from PyAV's typed error,
demuxer and stream list, what is no video at all: data no demuxer recognises, no video stream,
text and still images, playlists, and a declared frame size out of bounds. Each failure is a
one-line ``VideoError``.

Playlists: FFmpeg's HLS, DASH, IMF, concat, SDP and VobSub demuxers open the files or URLs
that the file names, whatever its own name (an HLS playlist called ``x.mp4`` is decoded as
the video it points to, and hangs on a FIFO). vidclass reads the one file it is given, so
these are refused before any demuxer reads them, from the signatures those demuxers probe
for; PyAV opens files with ``OPEN_OPTIONS`` (only the ``file`` protocol), and a container
PyAV's FFmpeg opens with one of those demuxers is refused. decord takes no FFmpeg options:
it only ever opens a file these checks passed.
"""

from __future__ import annotations

import os
import re
import struct
from typing import Any

from vidclass.video.base import NOT_A_VIDEO, VideoError, check_frame_size

PLAYLIST = "not a video file (a playlist)"
TEXT = "not a video file (text)"
# What PyAV opens files with: no protocol but local files, should a demuxer open another URL.
OPEN_OPTIONS = {"protocol_whitelist": "file"}
# Demuxers that open other files or URLs named in the file they read.
_URL_OPENING_FORMATS = frozenset({"hls", "applehttp", "dash", "imf", "concat", "sdp", "rtsp", "rtp", "vobsub"})
# What those demuxers probe for: at the start of the text (HLS, concat, VobSub) ...
_PLAYLIST_STARTS = (b"#EXTM3U", b"ffconcat version", b"# VobSub index file")
# ... or anywhere in it (SDP's connection line, DASH and IMF manifests' root elements).
_PLAYLIST_MARKS = re.compile(rb"(?:^|[\r\n])c=IN IP|<MPD\b|<CompositionPlaylist\b", re.IGNORECASE)
_SNIFF_CHUNK = 1 << 14
_SNIFF_LIMIT = 1 << 20  # FFmpeg probes at most this much of a file (PROBE_BUF_MAX)
_TEXT_FORMATS = frozenset({"tty", "srt", "webvtt", "ass", "subviewer", "microdvd", "jacosub"})
_IMAGE_FORMATS = frozenset({"image2", "apng"})  # plus every "*_pipe" image demuxer
# Top-level box types an ISO-BMFF file (MP4, MOV, M4V, 3GP) can start with.
_ISO_FIRST_BOXES = frozenset({b"ftyp", b"moov", b"mdat", b"free", b"skip", b"wide", b"pnot", b"styp", b"sidx", b"uuid"})
_BOX_TYPE = re.compile(rb"^[A-Za-z0-9 ]{4}$")


def readable_file(path: str | os.PathLike[str]) -> str:
    """``path`` as a string, after checks that give clearer messages than decord's."""
    name = os.fspath(path)
    if not os.path.exists(name):
        raise VideoError("file not found")
    if os.path.isdir(name):
        raise VideoError("is a directory, not a video file")
    if not os.path.isfile(name):
        raise VideoError("not a regular file")
    try:
        with open(name, "rb") as handle:
            empty = not handle.read(1)
    except OSError as exc:
        raise VideoError(f"cannot read file: {exc.strerror or exc}") from exc
    if empty:
        raise VideoError("empty file")
    refuse_playlist(name)
    refuse_text(name)
    check_iso_boxes(name)
    return name


def refuse_playlist(name: str) -> None:
    """VideoError when the file is text that makes an FFmpeg demuxer open other files or URLs.

    An HLS or DASH playlist, an IMF composition, an FFmpeg concat list, an SDP session or a
    VobSub index, recognised by what FFmpeg's demuxers probe for, in the text before the first
    NUL byte (a video container has one within its first bytes) of FFmpeg's probe window.
    """
    text = _text_head(name).removeprefix(b"\xef\xbb\xbf").lstrip()  # a UTF-8 byte order mark
    if text.startswith(_PLAYLIST_STARTS) or _PLAYLIST_MARKS.search(text):
        raise VideoError(PLAYLIST)


def refuse_text(name: str) -> None:
    """VideoError when the file starts as text: its first ``_SNIFF_CHUNK`` bytes (or all of it)
    are UTF-8 of printable characters, white space and escapes (ANSI art), with no NUL byte.

    A video container starts with binary fields (a NUL byte or bytes that are no UTF-8 within its
    first bytes), except YUV4MPEG2 (``.y4m``): a text header, then raw frames, which may happen
    to read as text. Without this, FFmpeg opens a text file named ``.txt`` as ANSI art (a
    one-frame "video" that decord then fails on) and PyAV calls it an unknown format.
    """
    try:
        with open(name, "rb") as handle:
            head = handle.read(_SNIFF_CHUNK)
    except OSError as exc:
        raise VideoError(f"cannot read file: {exc.strerror or exc}") from exc
    if head.startswith(b"YUV4MPEG2"):
        return
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as exc:  # a character cut at the end of the read is no sign of binary data
        if len(head) < _SNIFF_CHUNK or exc.start < len(head) - 3:
            return
        text = head[: exc.start].decode("utf-8")
    if all(c.isprintable() or c in "\t\n\r\f\v\x1b" for c in text.removeprefix("\ufeff")):
        raise VideoError(TEXT)


def _text_head(name: str) -> bytes:
    """The file's bytes up to its first NUL byte, or its first ``_SNIFF_LIMIT`` bytes."""
    head = b""
    try:
        with open(name, "rb") as handle:
            while len(head) < _SNIFF_LIMIT:
                chunk = handle.read(_SNIFF_CHUNK)
                head += chunk.split(b"\0", 1)[0]
                if len(chunk) < _SNIFF_CHUNK or b"\0" in chunk:
                    break
    except OSError as exc:
        raise VideoError(f"cannot read file: {exc.strerror or exc}") from exc
    return head


def check_container(path: str) -> str:
    """The first video stream's codec name; VideoError for what is no video at all.

    Refused here, from PyAV's typed error and stream list rather than from decord's wording:
    data no demuxer recognises, a container without a video stream, and text and still-image
    files (FFmpeg opens those as videos: text through its ANSI-art demuxer, images as
    one-frame streams, so both decoders would "succeed" on them), playlists, and a frame size
    out of bounds (``check_declared_size``), before a decoder allocates a frame of it.
    "unknown" when PyAV cannot tell for another reason; the decoder then gives the message.
    """
    return inspect_container(path, first_frame=False)[0]


def inspect_container(path: str, first_frame: bool = True) -> tuple[str, tuple[int, int] | None]:
    """``check_container``'s codec name and checks, and from the same open (with
    ``first_frame``) the (width, height) of the first frame as displayed (a rotation from the
    display matrix applied), or None when PyAV cannot decode one; the decoder then decides."""
    try:
        import av
    except ImportError:
        return "unknown", None
    try:
        container = av.open(path, options=dict(OPEN_OPTIONS))
    except Exception as exc:  # PyAV's error zoo: only "no demuxer recognises this" is decided here
        if isinstance(exc, av.error.InvalidDataError):
            raise VideoError(f"cannot open video: {NOT_A_VIDEO}") from exc
        return "unknown", None
    with container:
        refuse_non_video(container)
        streams = container.streams.video
        if not streams:
            raise VideoError("cannot open video: no video stream")
        check_declared_size(streams[0])
        codec = str(streams[0].codec_context.name)
        if not first_frame:
            return codec, None
        streams[0].thread_type = "SLICE"
        streams[0].codec_context.thread_count = 1
        try:
            frame = next(container.decode(streams[0]), None)
        except Exception:  # av.error.*: the decoder gives the message
            return codec, None
        if frame is None:
            return codec, None
        width, height = int(frame.width), int(frame.height)
        return codec, (height, width) if quarter_turns(frame) % 2 else (width, height)


def quarter_turns(frame: Any) -> int:
    """Clockwise quarter turns that show a PyAV ``frame`` upright, from its display matrix.

    Phones store portrait video as landscape frames plus a rotation in the track header; PyAV
    reports it as ``frame.rotation`` (degrees counter-clockwise) and leaves the pixels as
    stored. decord applies it itself, and takes the size to scale to as displayed.
    """
    rotation = getattr(frame, "rotation", 0) or 0
    return round(-float(rotation) / 90) % 4


def check_declared_size(stream: Any) -> None:
    """VideoError when a PyAV video ``stream`` declares a frame size out of bounds (0: unknown)."""
    width, height = int(stream.codec_context.width or 0), int(stream.codec_context.height or 0)
    if width > 0 and height > 0:
        check_frame_size(width, height)


def refuse_non_video(container: Any) -> None:
    """VideoError when an open PyAV ``container`` was read by a text, still-image or playlist demuxer."""
    formats = set(str(container.format.name).split(","))
    if formats & _URL_OPENING_FORMATS:
        raise VideoError(PLAYLIST)
    if formats & _TEXT_FORMATS:
        raise VideoError(TEXT)
    if any(f.endswith("_pipe") or f in _IMAGE_FORMATS for f in formats):
        raise VideoError("a still image, not a video")


def check_iso_boxes(name: str) -> None:
    """VideoError when an MP4/MOV file is cut short inside or after its index (``moov``).

    PyAV reads a file cut after its index without complaint and returns the frames that are
    there, decord fails part-way, while the index promises more. This walks the top-level
    boxes (a 16-byte header read per box, never the media) and fails when the ``moov`` box,
    or any box after it, claims to end past the end of the file. A file cut before its
    ``moov`` has no index at all, and is left to the decoders, which reject it ("not a
    video file"). Files that are not ISO-BMFF, trailing bytes too short for a box header,
    and box headers that do not look like one (junk) stop the walk without an error.
    """
    file_size = os.path.getsize(name)
    indexed = False  # a moov box seen
    offset = 0
    with open(name, "rb") as handle:
        while offset + 8 <= file_size:
            handle.seek(offset)
            header = handle.read(16)
            box_size, kind = struct.unpack(">I4s", header[:8])
            if offset == 0 and kind not in _ISO_FIRST_BOXES:
                return  # not ISO-BMFF
            if not _BOX_TYPE.match(kind):
                return  # junk after the last box
            if box_size == 0:
                return  # the box runs to the end of the file
            header_size = 8
            if box_size == 1:  # 64-bit size after the type
                if len(header) < 16:
                    return
                box_size = struct.unpack(">Q", header[8:16])[0]
                header_size = 16
            if box_size < header_size:
                return  # not a real box header
            indexed = indexed or kind == b"moov"
            end = offset + box_size
            if end > file_size:
                if indexed:
                    raise VideoError(
                        f"truncated file: the container describes {end} bytes, the file ends after {file_size}"
                    )
                return
            offset = end


__all__ = [
    "OPEN_OPTIONS",
    "PLAYLIST",
    "TEXT",
    "check_container",
    "check_declared_size",
    "check_iso_boxes",
    "inspect_container",
    "quarter_turns",
    "readable_file",
    "refuse_non_video",
    "refuse_playlist",
    "refuse_text",
]
