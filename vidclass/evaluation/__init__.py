"""Evaluation: ``vidclass eval`` and ``vidclass report``, and their library mirrors.

- ``request.py``: what to evaluate, checked once (``Request``), ``EvalError``, ``Listener``;
- ``plan.py``: which videos to run and which records are already known (resume, shard, limit);
- ``run.py``: ``evaluate`` in one process, with threads, or under torchrun;
- ``records.py``: ``predictions.jsonl``, append-only and resumable, and how records merge;
- ``metrics.py``: accuracy, mean class accuracy, the confusion matrix;
- ``documents.py``: the metrics document both commands return;
- ``merge.py``: ``report``, which merges prediction files;
- ``reports.py``: metrics.json, the CSV tables and confusion.png.
"""

from vidclass.evaluation.documents import RESULT_FIELDS, exit_status, result_fields
from vidclass.evaluation.merge import report
from vidclass.evaluation.plan import Work, make_record, model_fingerprint
from vidclass.evaluation.records import PredictionsError
from vidclass.evaluation.reports import REPORT_FILES
from vidclass.evaluation.request import PREDICTIONS, EvalError, Listener, Request
from vidclass.evaluation.run import evaluate, run_videos

__all__ = [
    "PREDICTIONS",
    "REPORT_FILES",
    "RESULT_FIELDS",
    "EvalError",
    "Listener",
    "PredictionsError",
    "Request",
    "Work",
    "evaluate",
    "exit_status",
    "make_record",
    "model_fingerprint",
    "report",
    "result_fields",
    "run_videos",
]
