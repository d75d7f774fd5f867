"""vidclass.timelines: per-window scores to segments (docs/timeline-segments.md), their records,
their score against truth, and their picture. Every expected value is worked out by hand; the
probabilities are sums of powers of two, so means are exact."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from vidclass.synth.segments import Segment as TruthSegment
from vidclass.synth.segments import SequenceTruth
from vidclass.timelines import (
    Segment,
    TimelineError,
    WindowScores,
    plot,
    render,
    score_timeline,
    segment_record,
    segments,
    smooth,
    window_record,
)
from vidclass.timelines.metrics import match_segments, sample_times
from vidclass.timelines.plot import BACKGROUND, HEIGHT, PLOT_LEFT, PLOT_WIDTH, WIDTH, top_classes

LABELS = ["a", "b", "c"]
A, A_WEAK = [0.75, 0.125, 0.125], [0.5, 0.25, 0.25]
B, B_WEAK = [0.125, 0.75, 0.125], [0.25, 0.5, 0.25]
C = [0.125, 0.125, 0.75]


def windows(probs, length=2.0, hop=1.0, first=0.0):
    """Windows ``length`` s long every ``hop`` s from ``first``, with these probabilities."""
    return [
        WindowScores(i, first + i * hop, first + i * hop + length, np.array(p, dtype=np.float64))
        for i, p in enumerate(probs)
    ]


# --------------------------------------------------------------------------- segments


def test_overlapping_windows_cut_at_the_midpoints_of_their_centres_and_merge_by_top_label():
    # windows [0,2] [1,3] [2,4] [3,5] [4,6]: centres 1..5, cuts at 1.5, 2.5, 3.5, 4.5
    got = segments(windows([A, A_WEAK, B, B_WEAK, B]), LABELS, 6.0)
    assert got == [Segment(0.0, 2.5, "a", 0.625), Segment(2.5, 6.0, "b", (0.75 + 0.5 + 0.75) / 3)]


def test_windows_with_gaps_still_tile_the_video():
    ws = [WindowScores(0, 0.0, 1.0, np.array(A)), WindowScores(1, 3.0, 4.0, np.array(B))]  # centres 0.5, 3.5
    assert segments(ws, LABELS, 5.0) == [Segment(0.0, 2.0, "a", 0.75), Segment(2.0, 5.0, "b", 0.75)]


def test_one_window_covers_the_whole_video():
    assert segments(windows([B]), LABELS, 2.0) == [Segment(0.0, 2.0, "b", 0.75)]
    assert segments(windows([B]), LABELS, 3.5) == [Segment(0.0, 3.5, "b", 0.75)]


def test_no_windows_is_one_background_segment_and_no_duration_is_none():
    assert segments([], LABELS, 4.0) == [Segment(0.0, 4.0, None, None)]
    assert segments(windows([A]), LABELS, 0.0) == []


def test_a_window_whose_time_is_empty_is_dropped_and_does_not_split_its_neighbours():
    # centres 1, 1, 1, 3: cuts 1, 1, 2; window 1 holds [1, 1] and is dropped
    ws = [
        WindowScores(0, 0.0, 2.0, np.array(A)),
        WindowScores(1, 0.5, 1.5, np.array(B)),
        WindowScores(2, 0.0, 2.0, np.array(A_WEAK)),
        WindowScores(3, 2.0, 4.0, np.array(C)),
    ]
    assert segments(ws, LABELS, 4.0) == [Segment(0.0, 2.0, "a", 0.625), Segment(2.0, 4.0, "c", 0.75)]


def test_two_equal_centres_split_at_that_centre():
    ws = [WindowScores(0, 0.0, 2.0, np.array(A)), WindowScores(1, 0.0, 2.0, np.array(B))]
    assert segments(ws, LABELS, 2.0) == [Segment(0.0, 1.0, "a", 0.75), Segment(1.0, 2.0, "b", 0.75)]


def test_windows_past_the_duration_are_clamped_and_dropped():
    # centres 1, 3, 5 with duration 2.5: cuts 2, 2.5 (4 clamped); the third window is empty
    got = segments(windows([A, B, C], hop=2.0), LABELS, 2.5)
    assert got == [Segment(0.0, 2.0, "a", 0.75), Segment(2.0, 2.5, "b", 0.75)]


def test_segments_tile_the_video_for_any_windows():
    rng = np.random.default_rng(0)
    for _ in range(50):
        n = int(rng.integers(1, 30))
        starts = np.sort(rng.uniform(0, 20, n))
        ends = starts + rng.uniform(0, 4, n)
        order = np.argsort((starts + ends) / 2, kind="stable")
        probs = rng.dirichlet(np.ones(3) * 0.5, n)
        ws = [WindowScores(k, float(starts[i]), float(ends[i]), probs[i]) for k, i in enumerate(order)]
        duration = float(rng.uniform(0.5, 25))
        for min_score in (None, 0.6):
            for n_smooth in (1, 2, 3):
                got = segments(ws, LABELS, duration, min_score=min_score, smooth=n_smooth)
                assert got[0].start == 0.0 and got[-1].end == duration
                assert all(s.end > s.start for s in got)
                assert all(x.end == y.start and x.label != y.label for x, y in zip(got, got[1:], strict=False))
                assert all((s.label is None) == (s.score is None) for s in got)


def test_smoothing_removes_a_one_window_flicker():
    flicker = [[0.75, 0.25, 0.0]] * 2 + [[0.375, 0.625, 0.0]] + [[0.75, 0.25, 0.0]] * 2
    ws = windows(flicker)  # centres 1..5, duration 6
    assert [s.label for s in segments(ws, LABELS, 6.0)] == ["a", "b", "a"]
    assert segments(ws, LABELS, 6.0)[1] == Segment(2.5, 3.5, "b", 0.625)
    smoothed = smooth(ws, 3)
    assert smoothed[2].probs.tolist() == [0.625, 0.375, 0.0]  # (0.75 + 0.375 + 0.75) / 3
    assert smoothed[0].probs.tolist() == [0.75, 0.25, 0.0]  # the edge: windows 0 and 1
    assert [(w.index, w.start, w.end) for w in smoothed] == [(w.index, w.start, w.end) for w in ws]
    # window 2 scores 0.625 after smoothing, window 1 (0.75 + 0.75 + 0.375) / 3 = 0.625, ...
    assert segments(ws, LABELS, 6.0, smooth=3) == [Segment(0.0, 6.0, "a", (0.75 + 0.625 * 3 + 0.75) / 5)]


def test_smoothing_over_an_even_count_takes_one_more_window_after():
    ws = windows([A, B, C, A])
    got = smooth(ws, 2)  # window i: mean of i and i + 1 (the last: itself)
    assert got[0].probs.tolist() == [0.4375, 0.4375, 0.125]
    assert got[3].probs.tolist() == A
    got = smooth(ws, 4)  # window i: i - 1 .. i + 2
    assert got[0].probs.tolist() == ((np.array(A) + np.array(B) + np.array(C)) / 3).tolist()
    assert got[1].probs.tolist() == ((np.array(A) * 2 + np.array(B) + np.array(C)) / 4).tolist()


def test_smoothing_over_one_window_changes_nothing_and_zero_is_refused():
    ws = windows([A, B])
    assert smooth(ws, 1) == ws
    with pytest.raises(TimelineError):
        smooth(ws, 0)


def test_min_score_makes_weak_windows_background_that_merges():
    # centres 1..4, cuts 1.5, 2.5, 3.5; windows 1 and 2 top out at 0.5
    got = segments(windows([A, A_WEAK, B_WEAK, B]), LABELS, 5.0, min_score=0.6)
    assert got == [Segment(0.0, 1.5, "a", 0.75), Segment(1.5, 3.5, None, None), Segment(3.5, 5.0, "b", 0.75)]
    # a top probability equal to min_score is not background
    assert [s.label for s in segments(windows([A, A_WEAK]), LABELS, 3.0, min_score=0.5)] == ["a"]


def test_a_tie_goes_to_the_first_label():
    assert segments(windows([[0.375, 0.375, 0.25]]), LABELS, 2.0) == [Segment(0.0, 2.0, "a", 0.375)]


@pytest.mark.parametrize(
    "call",
    [
        lambda: segments(windows([A, B])[::-1], LABELS, 3.0),  # out of time order
        lambda: segments(windows([[0.5, 0.5]]), LABELS, 2.0),  # two probabilities for three labels
        lambda: segments(windows([[np.nan, 0.5, 0.5]]), LABELS, 2.0),
        lambda: segments(windows([A]), LABELS, -1.0),
        lambda: segments(windows([A]), LABELS, float("inf")),
        lambda: segments(windows([A]), LABELS, 2.0, min_score=1.5),
    ],
)
def test_what_segments_refuses(call):
    with pytest.raises(TimelineError):
        call()


# --------------------------------------------------------------------------- records


def test_window_record_keys_order_and_rounding():
    w = WindowScores(7, 1.23456, 3.0004, np.array([0.25, 0.5, 0.25]))
    assert window_record(w, LABELS, 2) == {
        "type": "window",
        "start": 1.235,
        "end": 3.0,
        "labels": [{"label": "b", "score": 0.5}, {"label": "a", "score": 0.25}],  # the tie: "a" first
    }
    full = window_record(w, LABELS, 5, scores=True)
    assert list(full) == ["type", "start", "end", "labels", "scores"]
    assert full["scores"] == {"a": 0.25, "b": 0.5, "c": 0.25}
    assert [x["label"] for x in full["labels"]] == ["b", "a", "c"]
    assert json.loads(json.dumps(full)) == full
    with pytest.raises(TimelineError):
        window_record(w, LABELS, 0)


def test_segment_record_keys_and_rounding():
    assert segment_record(Segment(0.0004, 2.0006, "a", 0.625)) == {
        "type": "segment",
        "start": 0.0,
        "end": 2.001,
        "label": "a",
        "score": 0.625,
    }
    record = segment_record(Segment(1.5, 3.25, None, None))
    assert list(record) == ["type", "start", "end", "label", "score"]
    assert record == {"type": "segment", "start": 1.5, "end": 3.25, "label": None, "score": None}


# --------------------------------------------------------------------------- metrics

TRUTH = [(0.0, 2.0, "a"), (2.0, 4.0, "b"), (4.0, 6.0, "c")]


def test_a_perfect_timeline_scores_one_one_one_and_no_boundary_error():
    predicted = [Segment(s, e, label, 0.75) for s, e, label in TRUTH]
    m = score_timeline(predicted, TRUTH, fps=10)
    assert (m.accuracy, m.precision, m.recall, m.boundary_error) == (1.0, 1.0, 1.0, 0.0)
    assert (m.samples, m.predicted, m.truth, m.matched) == (60, 3, 3, 3)


def test_a_shifted_boundary_costs_its_shift():
    predicted = [Segment(0.0, 2.5, "a", 1.0), Segment(2.5, 4.0, "b", 1.0), Segment(4.0, 6.0, "c", 1.0)]
    m = score_timeline(predicted, TRUTH, fps=10)
    assert m.boundary_error == (0.5 + 0.0) / 2
    assert m.accuracy == 55 / 60  # frames at 2.05 .. 2.45 s are called "a"
    assert (m.precision, m.recall) == (1.0, 1.0)  # IoU 2/2.5 and 1.5/2


def test_a_missing_segment_lowers_recall_exactly():
    predicted = [Segment(0.0, 2.0, "a", 1.0), Segment(2.0, 6.0, "c", 1.0)]  # c: IoU 2/4 = 0.5, a match
    m = score_timeline(predicted, TRUTH, fps=10)
    assert (m.precision, m.recall, m.matched) == (1.0, 2 / 3, 2)
    assert m.accuracy == 40 / 60
    assert m.boundary_error == (0.0 + 2.0) / 2  # the truth's 4 s boundary: nearest is 6 s (or 2 s)


def test_iou_below_the_threshold_is_no_match():
    predicted = [Segment(0.0, 2.0, "a", 1.0), Segment(2.0, 6.0, "c", 1.0)]
    assert score_timeline(predicted, TRUTH, fps=10, iou_threshold=0.51).recall == 1 / 3


def test_background_is_wrong_where_truth_has_a_label_and_is_not_a_prediction():
    predicted = [Segment(0.0, 2.0, "a", 1.0), Segment(2.0, 4.0, None, None), Segment(4.0, 6.0, "c", 1.0)]
    m = score_timeline(predicted, TRUTH, fps=10)
    assert (m.accuracy, m.precision, m.recall, m.predicted, m.boundary_error) == (40 / 60, 1.0, 2 / 3, 2, 0.0)


def test_matching_is_one_to_one():
    predicted = [Segment(0.0, 2.5, "a", 1.0), Segment(2.5, 3.0, "b", 1.0), Segment(3.0, 4.0, "a", 1.0)]
    m = score_timeline(predicted, [(0.0, 4.0, "a")], fps=4)
    assert (m.matched, m.precision, m.recall) == (1, 1 / 3, 1.0)  # [0, 2.5]: IoU 0.625; [3, 4]: 0.25
    assert m.boundary_error is None  # one truth segment has no boundary
    assert m.accuracy == 14 / 16  # the samples at 2.625 and 2.875 s are called b


def test_greedy_matching_takes_the_best_iou_first_and_ties_go_to_the_earlier_truth():
    # two overlapping predictions for one truth segment: IoU 0.6 and 0.75; the better one wins
    assert match_segments([Segment(0.0, 2.4, "a", 1.0), Segment(0.0, 3.0, "a", 1.0)], [(0.0, 4.0, "a")]) == [(1, 0)]
    # one prediction, two truth segments at IoU 0.5 each: the earlier truth
    assert match_segments([Segment(0.0, 4.0, "a", 1.0)], [(0.0, 2.0, "a"), (2.0, 4.0, "a")]) == [(0, 0)]


def test_a_timeline_without_boundaries_is_measured_to_the_nearest_end():
    m = score_timeline([Segment(0.0, 6.0, "a", 1.0)], TRUTH, fps=10)
    assert m.boundary_error == (2.0 + 2.0) / 2
    assert (m.precision, m.recall) == (0.0, 0.0)


def test_no_prediction_has_no_precision():
    m = score_timeline([], TRUTH, fps=10)
    assert (m.accuracy, m.precision, m.recall, m.predicted) == (0.0, None, 0.0, 0)


def test_sampling_is_at_frame_centres():
    assert sample_times(1.0, 4).tolist() == [0.125, 0.375, 0.625, 0.875]
    assert score_timeline([Segment(0.0, 6.0, "a", 1.0)], TRUTH).samples == 600  # 100 a second


def test_synth_sequence_truth_is_scored_frame_by_frame():
    truth = SequenceTruth(
        path="sequence_00000.mp4",
        fps=12,
        frames=30,
        duration=2.5,
        width=64,
        height=48,
        segments=(TruthSegment("static", 0.0, 1.0, 0, 12), TruthSegment("growing", 1.0, 2.5, 12, 30)),
    )
    predicted = [Segment(0.0, 1.25, "static", 1.0), Segment(1.25, 2.5, "growing", 1.0)]
    m = score_timeline(predicted, truth.segments, fps=truth.fps)
    called = ["static" if (i + 0.5) / 12 < 1.25 else "growing" for i in range(30)]
    right = sum(c == t for c, t in zip(called, truth.frame_labels(), strict=True))
    assert (m.samples, right) == (30, 27)
    assert m.accuracy == right / 30
    assert m.boundary_error == 0.25


def test_overlapping_truth_is_refused():
    with pytest.raises(TimelineError):
        score_timeline([], [(0.0, 2.0, "a"), (1.0, 3.0, "b")])


# --------------------------------------------------------------------------- the picture

BAR_ROW = 288 + 1  # the segment bar's rows are 288 .. 315; its top rows carry no text


def bar_colours(image):
    return [image.getpixel((x, BAR_ROW)) for x in range(WIDTH)]


def test_the_png_has_the_documented_size_and_its_bar_changes_colour_at_the_boundaries(tmp_path):
    ws = windows([A, A, B_WEAK, B, B])  # centres 1..5, duration 6
    segs = segments(ws, LABELS, 6.0, min_score=0.6)
    assert [(s.start, s.end, s.label) for s in segs] == [(0.0, 2.5, "a"), (2.5, 3.5, None), (3.5, 6.0, "b")]
    path = tmp_path / "timeline.png"
    plot(ws, segs, LABELS, path, top_k=2, title="t")
    with Image.open(path) as image:
        assert image.format == "PNG"
        assert image.size == (WIDTH, HEIGHT) == (960, 360)
        row = bar_colours(image.convert("RGB"))
    # columns: 48 + round(t / 6 * 700): 2.5 s -> 340, 3.5 s -> 456, 6 s -> 748
    assert (PLOT_LEFT, PLOT_WIDTH) == (48, 700)
    a, b = row[48], row[456]
    assert len({a, b, BACKGROUND, (255, 255, 255)}) == 4
    assert row[47] == (255, 255, 255) and row[748] == (255, 255, 255)
    assert set(row[48:340]) == {a}
    assert set(row[340:456]) == {BACKGROUND}
    assert set(row[456:748]) == {b}


def test_a_segment_has_its_curves_colour_and_neighbours_never_share_one():
    ws = windows([A, C, A, C])
    segs = [Segment(0.0, 1.0, "a", 1.0), Segment(1.0, 2.0, "b", 1.0), Segment(2.0, 3.0, "c", 1.0)]
    image = render(ws, segs, LABELS, top_k=1)
    row = bar_colours(image)
    # top_k 1 draws "a" (peak 0.75, mean higher than c's) in the first palette colour
    assert top_classes(ws, 1) == [0]
    columns = [48 + round(t / 3 * 700) for t in (0.0, 1.0, 2.0)]  # 48, 281, 515
    first, second, third = (row[x] for x in columns)
    assert first == (31, 119, 180)
    assert len({first, second, third}) == 3
    # the legend (swatches at x 764 .. 778, rows 20 px apart from y 48) names the curve, then
    # the bar's other labels in the colours the bar gives them
    assert [image.getpixel((770, 48 + 20 * k)) for k in range(3)] == [first, second, third]
    assert image.getpixel((770, 48 + 20 * 3)) == (255, 255, 255)


def test_top_classes_rank_by_peak_then_mean():
    ws = windows([[0.5, 0.5, 0.0], [0.25, 0.5, 0.25], [0.0, 0.25, 0.75]])
    assert top_classes(ws, 3) == [2, 1, 0]  # peaks 0.75, 0.5 (mean 5/12), 0.5 (mean 1/4)


def test_plot_refuses_a_top_k_the_legend_cannot_hold():
    with pytest.raises(TimelineError):
        render(windows([A]), [], LABELS, top_k=11)
