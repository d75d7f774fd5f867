"""Multi-label metrics (vidclass.evaluation.multilabel) against scikit-learn and a hand-worked
example, and the per-class AP chart (vidclass.evaluation.ap_chart) measured in its pixels."""

from __future__ import annotations

import io
import json
from fractions import Fraction

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, f1_score, precision_score, recall_score

from vidclass.evaluation.ap_chart import (
    BAR_WIDTH,
    ap_chart_bars,
    ap_chart_geometry,
    ap_chart_layout,
    render_ap_chart,
)
from vidclass.evaluation.multilabel import METRIC_KEYS, PER_CLASS_KEYS, average_precision, multilabel_metrics

EXACT = {"rel": 1e-12, "abs": 1e-15}


def _matrix(seed: int, n: int = 80, k: int = 12, decimals: int | None = None):
    """Seeded scores and targets with every case in it: rare and common classes, a class with no
    positive (column 1), one whose videos are all positive (column 2)."""
    rng = np.random.default_rng(seed)
    scores = rng.random((n, k))
    prevalence = rng.uniform(0.02, 0.6, size=k)
    targets = rng.random((n, k)) < prevalence
    targets[:, 1] = False
    targets[:, 2] = True
    targets[0, 3] = True  # at least one positive besides the all-positive column
    scores = scores * 0.5 + targets * rng.uniform(0.0, 0.5, size=k)  # some signal
    if decimals is not None:
        scores = np.round(scores, decimals)  # heavy ties
    return scores, targets


@pytest.mark.parametrize("decimals", [None, 1])
@pytest.mark.parametrize("seed", range(20))
def test_average_precision_equals_sklearn(seed, decimals):
    rng = np.random.default_rng(1000 + seed)
    n = int(rng.integers(1, 60))
    scores = rng.random(n)
    if decimals is not None:
        scores = np.round(scores, decimals)
    positive = rng.random(n) < rng.random()
    ap = average_precision(scores.tolist(), positive.tolist())
    if not positive.any():
        assert ap is None
    else:
        assert type(ap) is float
        assert ap == pytest.approx(average_precision_score(positive, scores), **EXACT)


def test_ties_enter_together_and_edge_classes():
    # Two items tied at 0.7, the positive one first in input order: the tie is one threshold, so
    # precision there is 1/2 (an item-by-item ranking would give 1).
    assert average_precision([0.7, 0.7], [True, False]) == 0.5
    assert average_precision([0.7, 0.7], [False, True]) == 0.5
    assert average_precision([0.1, 0.9, 0.4], [True, True, True]) == 1.0
    assert average_precision([0.1, 0.9], [False, False]) is None
    assert average_precision([], []) is None
    assert average_precision([0.2, 0.8], [1, 0]) == 0.5


@pytest.mark.parametrize("decimals", [None, 1])
@pytest.mark.parametrize("seed", range(6))
def test_map_and_per_class_ap_equal_sklearn(seed, decimals):
    scores, targets = _matrix(seed, decimals=decimals)
    labels = [f"class {k}" for k in range(scores.shape[1])]
    result = multilabel_metrics(scores, targets, labels, 0.5)
    has = targets.any(axis=0)
    assert result["classes_with_positives"] == int(has.sum()) == scores.shape[1] - 1
    reference = average_precision_score(targets[:, has], scores[:, has], average=None)
    ours = [row["ap"] for row in result["per_class"] if row["ap"] is not None]
    assert ours == pytest.approx(list(reference), **EXACT)
    assert result["per_class"][1]["ap"] is None  # no positive: no AP, not counted
    assert result["per_class"][2]["ap"] == 1.0  # every video positive
    macro = average_precision_score(targets[:, has], scores[:, has], average="macro")
    assert result["mAP"] == pytest.approx(macro, **EXACT)
    assert result["chance_mAP"] == pytest.approx(float(targets[:, has].mean(axis=0).mean()), **EXACT)


@pytest.mark.parametrize("threshold", [0.0, 0.3, 0.5, 0.75, 1.0])
@pytest.mark.parametrize("seed", range(4))
def test_f1_and_example_scores_equal_sklearn(seed, threshold):
    scores, targets = _matrix(seed, decimals=2)
    labels = [f"c{k}" for k in range(scores.shape[1])]
    result = multilabel_metrics(scores, targets, labels, threshold)
    predicted = scores >= threshold
    with_positives = [k for k in range(len(labels)) if targets[:, k].any()]
    assert result["threshold"] == threshold
    assert result["micro_f1"] == pytest.approx(f1_score(targets, predicted, average="micro", zero_division=0), **EXACT)
    macro = f1_score(targets, predicted, average="macro", labels=with_positives, zero_division=0)
    assert result["macro_f1"] == pytest.approx(macro, **EXACT)
    rows = predicted.any(axis=1)
    if rows.any():
        reference = precision_score(targets[rows], predicted[rows], average="samples", zero_division=0)
        assert result["example_precision"] == pytest.approx(reference, **EXACT)
    else:
        assert result["example_precision"] is None
    rows = targets.any(axis=1)
    reference = recall_score(targets[rows], predicted[rows], average="samples", zero_division=0)
    assert result["example_recall"] == pytest.approx(reference, **EXACT)
    per_f1 = f1_score(targets, predicted, average=None, zero_division=0)
    per_recall = recall_score(targets, predicted, average=None, zero_division=0)
    per_precision = precision_score(targets, predicted, average=None, zero_division=0)
    for k, row in enumerate(result["per_class"]):
        assert row["predicted"] == int(predicted[:, k].sum())
        assert row["true_positives"] == int((predicted[:, k] & targets[:, k]).sum())
        assert row["positives"] == int(targets[:, k].sum())
        if row["predicted"]:
            assert row["precision"] == pytest.approx(per_precision[k], **EXACT)
        else:
            assert row["precision"] is None
        if row["positives"]:
            assert row["recall"] == pytest.approx(per_recall[k], **EXACT)
            assert row["f1"] == pytest.approx(per_f1[k], **EXACT)
        else:
            assert row["recall"] is None and row["f1"] is None


def test_hand_worked_example():
    #            A     B     C     D          true classes
    scores = [
        [0.9, 0.2, 0.3, 0.6],  # video 1    A, C
        [0.8, 0.7, 0.3, 0.1],  # video 2    B, C
        [0.1, 0.7, 0.3, 0.4],  # video 3    A, C
    ]
    targets = [[1, 0, 1, 0], [0, 1, 1, 0], [1, 0, 1, 0]]
    # AP, ranking by score:
    #   A: v1 (.9, pos) precision 1/1; v2 (.8, neg); v3 (.1, pos) precision 2/3.
    #      AP = (1/2)(1) + (1/2)(2/3) = 5/6.
    #   B: v2 and v3 tie at .7 and enter together: 1 positive of 2, precision 1/2, recall 1;
    #      AP = 1 * 1/2 = 1/2 (taking v2 before v3 would wrongly give 1).
    #   C: all three positive (all tied at .3): precision 3/3 at recall 1, AP = 1.
    #   D: no positive: no AP, left out of the mean.
    #   mAP = (5/6 + 1/2 + 1) / 3 = (5/6 + 3/6 + 6/6) / 3 = 14/18 = 7/9.
    #   chance mAP = (2/3 + 1/3 + 3/3) / 3 = 2/3.
    # At threshold 0.5 the predicted sets are v1 {A, D}, v2 {A, B}, v3 {B}:
    #   A: predicted 2, TP 1 (v1), positives 2: precision 1/2, recall 1/2, F1 = 2/(2+2) = 1/2.
    #   B: predicted 2, TP 1 (v2), positives 1: precision 1/2, recall 1, F1 = 2/(2+1) = 2/3.
    #   C: predicted 0, positives 3: precision None, recall 0, F1 0.
    #   D: predicted 1 (v1), TP 0, positives 0: precision 0, recall and F1 None.
    #   macro F1 = (1/2 + 2/3 + 0) / 3 = 7/18.
    #   micro: TP 2, predicted 5, positives 6: F1 = 2*2 / (5 + 6) = 4/11.
    #   example precision: v1 |{A}|/|{A,D}| = 1/2, v2 |{B}|/|{A,B}| = 1/2, v3 0/1: mean 1/3.
    #   example recall:    v1 |{A}|/|{A,C}| = 1/2, v2 |{B}|/|{B,C}| = 1/2, v3 0/2: mean 1/3.
    result = multilabel_metrics(np.array(scores), np.array(targets, dtype=bool), ["A", "B", "C", "D"], 0.5)

    def f(fraction: Fraction) -> float:
        return pytest.approx(float(fraction), rel=1e-12)

    assert result["mAP"] == f(Fraction(7, 9))
    assert result["chance_mAP"] == f(Fraction(2, 3))
    assert result["classes_with_positives"] == 3
    assert result["threshold"] == 0.5
    assert result["macro_f1"] == f(Fraction(7, 18))
    assert result["micro_f1"] == f(Fraction(4, 11))
    assert result["example_precision"] == f(Fraction(1, 3))
    assert result["example_recall"] == f(Fraction(1, 3))
    assert result["per_class"] == [
        {"label": "A", "positives": 2, "ap": f(Fraction(5, 6)), "predicted": 2, "true_positives": 1,
         "precision": 0.5, "recall": 0.5, "f1": 0.5},
        {"label": "B", "positives": 1, "ap": 0.5, "predicted": 2, "true_positives": 1,
         "precision": 0.5, "recall": 1.0, "f1": f(Fraction(2, 3))},
        {"label": "C", "positives": 3, "ap": 1.0, "predicted": 0, "true_positives": 0,
         "precision": None, "recall": 0.0, "f1": 0.0},
        {"label": "D", "positives": 0, "ap": None, "predicted": 1, "true_positives": 0,
         "precision": 0.0, "recall": None, "f1": None},
    ]  # fmt: skip
    columns = np.array(scores).T.tolist()
    truths = np.array(targets, dtype=bool).T.tolist()
    assert [average_precision(c, t) for c, t in zip(columns, truths, strict=True)] == [
        f(Fraction(5, 6)), 0.5, 1.0, None
    ]  # fmt: skip


def test_result_is_plain_json():
    scores, targets = _matrix(3, n=30, k=6, decimals=1)
    result = multilabel_metrics(scores.astype(np.float32), targets.astype(np.int64), list("abcdef"), 0.5)
    assert tuple(result) == METRIC_KEYS
    assert all(tuple(row) == PER_CLASS_KEYS for row in result["per_class"])

    def plain(value) -> bool:
        if isinstance(value, dict):
            return all(type(key) is str and plain(item) for key, item in value.items())
        if isinstance(value, list):
            return all(plain(item) for item in value)
        return value is None or type(value) in (float, int, str)

    assert plain(result)
    assert json.loads(json.dumps(result, allow_nan=False)) == result


def test_nothing_predicted_nothing_true_and_no_videos():
    result = multilabel_metrics(np.zeros((3, 2)), np.zeros((3, 2), dtype=bool), ["a", "b"], 0.5)
    assert result["mAP"] is None and result["chance_mAP"] is None and result["macro_f1"] is None
    assert result["micro_f1"] == 0.0 and result["classes_with_positives"] == 0
    assert result["example_precision"] is None and result["example_recall"] is None
    assert [row["ap"] for row in result["per_class"]] == [None, None]
    empty = multilabel_metrics(np.zeros((0, 2)), np.zeros((0, 2), dtype=bool), ["a", "b"], 0.5)
    assert empty["mAP"] is None and empty["micro_f1"] == 0.0 and empty["per_class"][0]["positives"] == 0


@pytest.mark.parametrize(
    "call",
    [
        lambda: average_precision([0.1, 0.2], [True]),
        lambda: average_precision([[0.1, 0.2]], [[True, False]]),
        lambda: average_precision([0.1, float("nan")], [True, False]),
        lambda: average_precision([0.1, 0.2], [2, 0]),
        lambda: average_precision(["a", "b"], [1, 0]),
        lambda: multilabel_metrics(np.zeros((2, 3)), np.zeros((2, 3), bool), ["a", "b"], 0.5),
        lambda: multilabel_metrics(np.zeros((2, 3)), np.zeros((3, 2), bool), ["a", "b", "c"], 0.5),
        lambda: multilabel_metrics(np.zeros(3), np.zeros(3, bool), ["a", "b", "c"], 0.5),
        lambda: multilabel_metrics(np.full((1, 1), np.inf), np.zeros((1, 1), bool), ["a"], 0.5),
        lambda: multilabel_metrics(np.zeros((1, 1)), np.zeros((1, 1), bool), ["a"], 1.5),
        lambda: multilabel_metrics(np.zeros((1, 1)), np.zeros((1, 1), bool), ["a"], float("nan")),
    ],
)
def test_malformed_input_is_a_value_error(call):
    with pytest.raises(ValueError):
        call()


# --------------------------------------------------------------------------- the chart


def _bar_lengths(image, geo, count: int) -> list[int]:
    """Measured: the run of the bar's own colour from the left edge along each bar's middle row."""
    lengths = []
    for k in range(count):
        y = geo["top"] + k * geo["row"] + geo["bar_offset"] + geo["bar_height"] // 2
        colour = image.getpixel((geo["left"], y))
        assert colour != (255, 255, 255)
        x = geo["left"]
        while image.getpixel((x, y)) == colour:
            x += 1
        lengths.append(x - geo["left"])
    return lengths


def test_bars_are_as_long_as_their_ap_best_first():
    labels = ["low", "none", "best", "mid", "half"]
    aps = [0.25, None, 1.0, 0.6, 0.5]
    image = render_ap_chart(labels, aps, "toy")
    names = [name for name, _ in ap_chart_bars(labels, aps)]
    assert names == ["best", "mid", "half", "low"]  # classes without an AP are not drawn
    geo = ap_chart_geometry(names, "toy")
    assert image.size == (geo["width"], geo["height"])
    lengths = _bar_lengths(image, geo, 4)
    assert lengths == [BAR_WIDTH, 300, 250, 125]  # AP 1.0 fills the full width; AP x: x of it
    assert max(lengths) == lengths[0]
    below = geo["top"] + 4 * geo["row"] + 2  # under the last bar: no fifth bar
    assert image.getpixel((geo["left"] + 50, below)) == (255, 255, 255)
    darker = [sum(image.getpixel((geo["left"] + 2, geo["top"] + k * geo["row"] + geo["row"] // 2))) for k in range(4)]
    assert darker == sorted(darker)  # the shade darkens with the AP
    name_strip = image.crop((0, geo["top"], geo["left"] - 2, geo["top"] + geo["row"]))
    assert name_strip.getextrema()[0][0] < 128  # the first bar's name is written left of it


def test_ties_keep_model_order_and_bad_aps_are_refused():
    assert ap_chart_bars(["a", "b", "c"], [0.5, 0.9, 0.5]) == [("b", 0.9), ("a", 0.5), ("c", 0.5)]
    with pytest.raises(ValueError):
        ap_chart_bars(["a", "b"], [0.5])
    with pytest.raises(ValueError):
        ap_chart_bars(["a"], [1.5])
    with pytest.raises(ValueError):
        ap_chart_bars(["a"], [float("nan")])


def test_chart_grows_with_the_class_count_and_names_charades_but_not_a_thousand():
    def chart(n: int):
        rng = np.random.default_rng(n)
        return render_ap_chart([f"class {i}" for i in range(n)], [float(x) for x in rng.uniform(0.01, 1, n)])

    heights = [chart(n).size[1] for n in (1, 5, 20, 80)]
    assert heights == sorted(heights) and len(set(heights)) == 4
    assert ap_chart_layout(157)["show_labels"] and ap_chart_layout(157)["show_values"]
    assert not ap_chart_layout(1000)["show_labels"] and not ap_chart_layout(1000)["show_values"]
    big = chart(1000)
    names = [f"class {i}" for i in range(1000)]
    geo = ap_chart_geometry(names)
    assert geo["label_width"] == 0 and geo["row"] >= 2 and big.size == (geo["width"], geo["height"])
    assert big.size[1] >= 1000 * 2
    lengths = _bar_lengths(big.convert("RGB"), geo, 1000)
    assert lengths == sorted(lengths, reverse=True) and lengths[0] > lengths[-1]
    # Long names are clipped to 40 characters: a 100-character name takes the room of its clip.
    assert ap_chart_geometry(["x" * 100])["label_width"] == ap_chart_geometry(["x" * 39 + "…"])["label_width"]
    assert ap_chart_geometry(["x" * 100])["label_width"] > ap_chart_geometry(["x" * 20])["label_width"]


def test_no_class_with_an_ap_draws_no_bar():
    image = render_ap_chart(["a", "b"], [None, None])
    assert image.tobytes() == render_ap_chart([], []).tobytes()
    assert image.size == (ap_chart_geometry([])["width"], ap_chart_geometry([])["height"])
    bluish = [colour for _, colour in image.getcolors(1 << 20) if colour[2] - colour[0] > 60]
    assert bluish == []  # every bar is a blue (_shade of 0.5 or more); text and grid are grey
    drawn = render_ap_chart(["a"], [0.01])
    assert [colour for _, colour in drawn.getcolors(1 << 20) if colour[2] - colour[0] > 60]  # the check sees a bar


def test_chart_is_deterministic():
    rng = np.random.default_rng(7)
    labels = [f"action {i}: someone does something with an object" for i in range(157)]
    aps = [None if i % 9 == 0 else float(x) for i, x in enumerate(rng.random(157))]

    def png() -> bytes:
        buffer = io.BytesIO()
        render_ap_chart(labels, aps, "Charades").save(buffer, format="PNG")
        return buffer.getvalue()

    assert png() == png()
