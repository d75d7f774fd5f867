"""Video input: probing and decoding files, sampling clips and crops, building model views."""

from vidclass.video.decode import (
    DECODERS,
    VideoError,
    VideoInfo,
    probe,
    probe_pyav,
    read_frames,
    read_frames_pyav,
)
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
    "DECODERS",
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
    "crop_boxes",
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
