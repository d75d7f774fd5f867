"""Video input: probing and decoding files, sampling clips and crops, building model views."""

from vidclass.video.decode import VideoError, VideoInfo, codec_name, probe, read_frames
from vidclass.video.protocol import Aggregate, Preprocessing, ViewProtocol
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
    "Aggregate",
    "Clip",
    "Crop",
    "Preprocessing",
    "VideoError",
    "VideoInfo",
    "View",
    "ViewPlan",
    "ViewProtocol",
    "build_views",
    "clip_starts",
    "codec_name",
    "crop_boxes",
    "load_clip_frames",
    "load_views",
    "normalise",
    "plan_training_clip",
    "plan_views",
    "probe",
    "read_frames",
    "resized_hw",
    "sample_clips",
    "sample_clips_timed",
    "training_clip",
    "training_clip_timed",
]
