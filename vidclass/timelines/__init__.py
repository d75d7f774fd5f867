"""What ``vidclass timeline`` does after the model: per-window scores into segments that tile
the video (``segments``), their records, their score against truth (``metrics``) and their
picture (``plot``, imports Pillow when it draws). Only numpy is imported here. The rules are
in docs/timeline-segments.md."""

from .metrics import DEFAULT_FPS, IOU, TimelineMetrics, TruthSegment, score_timeline, truth_spans
from .plot import plot, render
from .segments import Segment, TimelineError, WindowScores, segment_record, segments, smooth, window_record

__all__ = [
    "DEFAULT_FPS",
    "IOU",
    "Segment",
    "TimelineError",
    "TimelineMetrics",
    "TruthSegment",
    "WindowScores",
    "plot",
    "render",
    "score_timeline",
    "segment_record",
    "segments",
    "smooth",
    "truth_spans",
    "window_record",
]
