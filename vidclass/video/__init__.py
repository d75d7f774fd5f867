"""Video input: probing and decoding files, sampling clips and crops, building model views."""

from vidclass.protocol import Aggregate, Preprocessing, ViewProtocol
from vidclass.video.base import Decoder, VideoError, VideoInfo
from vidclass.video.decoders import DECODERS, decoders_for, first_that_works, get_decoder
from vidclass.video.decord_decoder import probe, read_frames
from vidclass.video.pyav_decoder import probe as probe_pyav
from vidclass.video.pyav_decoder import read_frames as read_frames_pyav
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
from vidclass.video.views import build_views, load_clip_frames, load_views, normalise

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
    "ViewProtocol",
    "build_views",
    "clip_starts",
    "crop_boxes",
    "decoders_for",
    "first_that_works",
    "get_decoder",
    "load_clip_frames",
    "load_views",
    "normalise",
    "plan_training_clip",
    "plan_views",
    "probe",
    "probe_pyav",
    "read_frames",
    "read_frames_pyav",
    "resized_hw",
    "sample_clips",
    "sample_clips_timed",
    "training_clip",
    "training_clip_timed",
]
