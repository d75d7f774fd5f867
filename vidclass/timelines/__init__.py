"""``vidclass timeline``: a long video labelled window by window (``run``: ``timeline``, the
library's mirror of the command), per-window scores into segments that tile the video
(``segments``), their records, their score against truth (``metrics``; ``actions``: Charades' per-frame mAP), their picture
(``plot``) and the labelled video (``labelled``). The rules are in docs/timeline-segments.md."""

from .actions import POINTS, ActionPoints, ActionTruth, FrameMetrics, action_points, read_action_truth, score_points
from .metrics import DEFAULT_FPS, IOU, TimelineMetrics, TruthSegment, score_timeline, truth_spans
from .plot import plot, render
from .run import Timeline, TimelineInputError, TimelineSettings, finish, stream_windows, timeline, timeline_records
from .segments import Segment, TimelineError, WindowScores, segment_record, segments, smooth, window_record

__all__ = [
    "POINTS",
    "ActionPoints",
    "ActionTruth",
    "FrameMetrics",
    "action_points",
    "read_action_truth",
    "score_points",
    "DEFAULT_FPS",
    "IOU",
    "Segment",
    "Timeline",
    "TimelineInputError",
    "TimelineSettings",
    "TimelineError",
    "TimelineMetrics",
    "TruthSegment",
    "WindowScores",
    "finish",
    "plot",
    "render",
    "score_timeline",
    "segment_record",
    "segments",
    "smooth",
    "stream_windows",
    "timeline",
    "timeline_records",
    "truth_spans",
    "window_record",
]
