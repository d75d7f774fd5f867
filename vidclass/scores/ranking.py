"""Exact average precision: the ranking metric multi-label evaluation and training share.

``ap_columns`` gives each class's (column's) AP of a score matrix against true/false targets:
rank the videos by score, best first; videos with an equal score form one threshold and enter
together; AP = sum over thresholds t of (R_t - R_{t-1}) * P_t with R_0 = 0, the exact area under
the precision/recall step curve (no interpolation), the value scikit-learn's
``average_precision_score`` gives. A class with no positive has no AP (NaN here); a class whose
videos are all positive has AP 1.0. ``mean_average_precision``: the mean over the classes with
a positive (Charades' mAP). NumPy only; one argsort per column, vectorised over all columns.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt


def ap_columns(scores: npt.NDArray[np.float64], truth: npt.NDArray[np.bool_]) -> npt.NDArray[np.float64]:
    """The AP of each column of ``scores`` (N, K) against ``truth``; NaN where a column has no
    positive.

    Each positive contributes, divided by the column's positives, the precision at the end of
    its tie group (the last rank holding its score): the sum over thresholds of (R_t - R_{t-1})
    * P_t, since R_t - R_{t-1} is the group's positives over all positives."""
    n, k = scores.shape
    result = np.full(k, np.nan)
    positives = truth.sum(axis=0)
    if n == 0:
        return result
    order = np.argsort(-scores, axis=0, kind="stable")
    ranked = np.take_along_axis(scores, order, axis=0)
    hit = np.take_along_axis(truth, order, axis=0)
    precision = np.cumsum(hit, axis=0, dtype=np.int64) / np.arange(1, n + 1)[:, None]
    group_end = np.ones((n, k), dtype=bool)  # the last rank of each run of equal scores
    group_end[:-1] = ranked[:-1] != ranked[1:]
    ranks = np.broadcast_to(np.arange(n)[:, None], (n, k))
    end = np.minimum.accumulate(np.where(group_end, ranks, n - 1)[::-1], axis=0)[::-1]
    sums = np.where(hit, np.take_along_axis(precision, end, axis=0), 0.0).sum(axis=0)
    has = positives > 0
    result[has] = sums[has] / positives[has]
    return result


def mean_average_precision(scores: npt.NDArray[np.float64], truth: npt.NDArray[np.bool_]) -> float | None:
    """The mean AP over the columns with at least one positive; None when none has one."""
    ap = ap_columns(np.asarray(scores, dtype=np.float64), np.asarray(truth, dtype=bool))
    kept = ap[~np.isnan(ap)]
    return float(kept.mean()) if kept.size else None


__all__ = ["ap_columns", "mean_average_precision"]
