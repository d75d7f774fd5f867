"""Video input: probing and decoding files, sampling clips and crops, building model views.

Each decoder is a module with the same two functions, ``probe`` and ``read_frames``
(``decord_decoder``, ``pyav_decoder``); ``get_decoder(name)`` gives one as a ``Decoder`` and
``decoders_for(name)`` the order ``"auto"`` tries them in. ``probe`` and ``read_frames`` here
are the default decoder's (decord).
"""

from vidclass.protocol import Aggregate, Preprocessing, ViewProtocol
from vidclass.video import decord_decoder, pyav_decoder
from vidclass.video.base import Decoder, VideoError, VideoInfo
from vidclass.video.decoders import DECODERS, decoders_for, first_that_works, get_decoder
from vidclass.video.decord_decoder import probe, read_frames  # the default decoder's, by these names
from vidclass.video.sampling import (
    Clip,
    Crop,
    View,
    ViewPlan,
    clip_starts,
    crop_boxes,
    plan_training_clip,
    plan_views,
    resized_hw,
    sample_clips,
    sample_clips_timed,
    training_clip,
    training_clip_timed,
)
from vidclass.video.views import build_views, load_clip_frames, load_views, load_window_views, normalise
from vidclass.video.windows import Window, plan_windows, window_view_plan

__all__ = [
    "DECODERS",
    "Aggregate",
    "Clip",
    "Crop",
    "Decoder",
    "Preprocessing",
    "VideoError",
    "VideoInfo",
    "View",
    "ViewPlan",
    "Window",
    "ViewProtocol",
    "build_views",
    "clip_starts",
    "crop_boxes",
    "decord_decoder",
    "decoders_for",
    "first_that_works",
    "get_decoder",
    "load_clip_frames",
    "load_views",
    "load_window_views",
    "normalise",
    "plan_training_clip",
    "plan_views",
    "plan_windows",
    "pyav_decoder",
    "probe",
    "read_frames",
    "resized_hw",
    "sample_clips",
    "sample_clips_timed",
    "training_clip",
    "training_clip_timed",
    "window_view_plan",
]
