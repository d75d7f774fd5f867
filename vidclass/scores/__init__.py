"""Scores: per-view logits combined into one probability vector, and the result for one video.

The stage after the model: ``aggregate`` turns a video's ``(V, K)`` view logits into its ``(K,)``
probabilities, and ``Prediction`` is what every command and library call reports for a video
(its top-k labels, optionally every score, and what was decoded), or the one-line error that
replaced them. Logits that are not finite give no scores: ``aggregate`` raises
``NonFiniteScores``, and the video fails with that message.
"""

from vidclass.scores.prediction import (
    Aggregate,
    NonFiniteScores,
    Prediction,
    aggregate,
    positive_labels,
    top_labels,
)

__all__ = ["Aggregate", "NonFiniteScores", "Prediction", "aggregate", "positive_labels", "top_labels"]
