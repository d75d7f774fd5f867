"""Multi-label classification metrics (Charades-style: several classes per video), a pure
function of a score matrix and a target matrix. NumPy only.

Inputs: ``scores`` (N videos, K classes) of finite numbers (probabilities), ``targets`` (N, K)
true/false (bool, or numbers that are all 0 or 1), the K model ``labels`` and a ``threshold`` in
[0, 1]. A video's *predicted set* P is the classes whose score is ``>= threshold``; its *true
set* T is the classes its targets mark. Anything malformed raises ValueError.

Definitions:

- **Average precision** of one class (``average_precision``; ``vidclass.scores.ranking``): rank the videos by score, best
  first; all videos with an equal score form one threshold and enter together. At each distinct
  threshold t (from the highest), precision P_t = true positives / videos at or above t and
  recall R_t = true positives / positives. AP = sum over t of (R_t - R_{t-1}) * P_t, with
  R_0 = 0: the exact area under the precision/recall step curve, no interpolation; the value
  scikit-learn's ``average_precision_score`` gives. A class with no positive has no AP (None);
  a class whose videos are all positive has AP 1.0.
- ``mAP``: the mean of the per-class APs over the classes with at least one positive (the
  Charades definition); None when no class has one. ``classes_with_positives`` counts them.
- ``chance_mAP``: the mAP that random scores get in expectation, the mean over those classes of
  positives / N (a random ranking's AP tends to the class's prevalence); print it beside mAP.
- At ``threshold``, per class: TP = videos predicted and true, ``predicted`` = videos predicted.
  ``precision`` = TP / predicted (None if never predicted); ``recall`` = TP / positives and
  ``f1`` = 2 TP / (predicted + positives) (both None without positives; f1 0 when TP is 0).
- ``micro_f1``: 2 TP / (predicted + positives) with each count summed over all K classes; 0 when
  both sums are 0 (zero_division 0). ``macro_f1``: the mean of the per-class F1 over the classes
  with positives (None if none).
- ``example_precision``: the mean of |P ∩ T| / |P| over the videos with a non-empty P (None if
  none); ``example_recall``: the mean of |P ∩ T| / |T| over the videos with a non-empty T.
- ``per_class``: one row per class in model order: ``label``, ``positives``, ``ap``,
  ``predicted``, ``true_positives``, ``precision``, ``recall``, ``f1``.

The result holds only Python floats, ints, strings and None, so it serialises as JSON as is.
Cost: one argsort per column, vectorised over all classes (O(N K log N)).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from vidclass.scores.ranking import ap_columns

METRIC_KEYS = (
    "mAP",
    "chance_mAP",
    "classes_with_positives",
    "threshold",
    "micro_f1",
    "macro_f1",
    "example_precision",
    "example_recall",
    "per_class",
)
PER_CLASS_KEYS = ("label", "positives", "ap", "predicted", "true_positives", "precision", "recall", "f1")


def average_precision(scores: npt.ArrayLike, positive: npt.ArrayLike) -> float | None:
    """The AP of one class: ``scores`` and ``positive`` (true/false) per video, 1-D and of equal
    length. None when no video is positive. See the module docstring for the definition."""
    score_array = _scores(scores, ndim=1)
    truth = _targets(positive, score_array.shape)
    ap = ap_columns(score_array[:, None], truth[:, None])[0]
    return None if math.isnan(ap) else float(ap)


def multilabel_metrics(
    scores: npt.ArrayLike, targets: npt.ArrayLike, labels: Sequence[str], threshold: float
) -> dict[str, Any]:
    """mAP, F1s, example-based precision/recall and per-class rows for ``scores`` (N, K) against
    ``targets`` (N, K) over the K ``labels``, predicting the classes scored ``>= threshold``."""
    score_array = _scores(scores, ndim=2)
    truth = _targets(targets, score_array.shape)
    labels = [str(label) for label in labels]
    if len(labels) != score_array.shape[1]:
        raise ValueError(f"{len(labels)} labels for {score_array.shape[1]} score columns")
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not 0.0 <= threshold <= 1.0:
        raise ValueError(f"threshold must be a number in [0, 1], not {threshold!r}")
    n = score_array.shape[0]

    positives = truth.sum(axis=0)
    predicted_matrix = score_array >= threshold
    predicted = predicted_matrix.sum(axis=0)
    hits = predicted_matrix & truth
    true_pos = hits.sum(axis=0)
    aps = ap_columns(score_array, truth)
    has = positives > 0

    f1 = np.zeros(len(labels))
    f1[has] = 2 * true_pos[has] / (predicted[has] + positives[has])
    micro_den = int(predicted.sum() + positives.sum())

    per_video_hits = hits.sum(axis=1)
    per_video_pred = predicted_matrix.sum(axis=1)
    per_video_true = truth.sum(axis=1)
    some_pred = per_video_pred > 0
    some_true = per_video_true > 0

    rows = [
        {
            "label": label,
            "positives": int(positives[k]),
            "ap": float(aps[k]) if has[k] else None,
            "predicted": int(predicted[k]),
            "true_positives": int(true_pos[k]),
            "precision": float(true_pos[k] / predicted[k]) if predicted[k] else None,
            "recall": float(true_pos[k] / positives[k]) if has[k] else None,
            "f1": float(f1[k]) if has[k] else None,
        }
        for k, label in enumerate(labels)
    ]
    return {
        "mAP": _mean(aps[has]),
        "chance_mAP": _mean(positives[has] / n) if n else None,
        "classes_with_positives": int(has.sum()),
        "threshold": float(threshold),
        "micro_f1": float(2 * true_pos.sum() / micro_den) if micro_den else 0.0,
        "macro_f1": _mean(f1[has]),
        "example_precision": _mean(per_video_hits[some_pred] / per_video_pred[some_pred]),
        "example_recall": _mean(per_video_hits[some_true] / per_video_true[some_true]),
        "per_class": rows,
    }


def _mean(values: npt.NDArray[Any]) -> float | None:
    return float(values.mean()) if values.size else None


def _scores(scores: Any, ndim: int) -> npt.NDArray[np.float64]:
    array = np.asarray(scores)
    if array.ndim != ndim:
        raise ValueError(f"scores must be {ndim}-D, not of shape {array.shape}")
    if array.dtype == bool or not (np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.floating)):
        raise ValueError(f"scores must be numbers, not {array.dtype}")
    array = array.astype(np.float64)
    if not np.isfinite(array).all():
        raise ValueError("scores must be finite (no NaN or infinity)")
    return array


def _targets(targets: Any, shape: tuple[int, ...]) -> npt.NDArray[np.bool_]:
    array = np.asarray(targets)
    if array.shape != shape:
        raise ValueError(f"targets of shape {array.shape} do not match scores of shape {shape}")
    if array.dtype == bool:
        return array
    if not (np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.floating)):
        raise ValueError(f"targets must be true/false, not {array.dtype}")
    if not np.isin(array, (0, 1)).all():
        raise ValueError("targets must be true/false (0 or 1)")
    return array.astype(bool)


__all__ = ["METRIC_KEYS", "PER_CLASS_KEYS", "average_precision", "multilabel_metrics"]
