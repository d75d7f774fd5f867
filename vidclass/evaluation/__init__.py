"""Evaluation: ``vidclass eval`` and ``vidclass report``, and their library mirrors.

- ``request.py``: what to evaluate, checked once (``Request``), ``EvalError``, ``Listener``;
- ``plan.py``: which videos to run and which records are already known (resume, shard, limit);
- ``work.py``: one video to run (``Work``) and the record written for it;
- ``run.py``: ``evaluate`` in one process, with threads, or under torchrun;
- ``records.py``: ``predictions.jsonl``, append-only and resumable, and how records merge;
- ``metrics.py``: accuracy, mean class accuracy, the confusion matrix;
- ``multilabel.py``: exact average precision, mAP, F1, example-based precision and recall;
- ``label_sets.py``: the metrics of a run's records, single-label or multi-label (``score_records``);
- ``documents.py``: the metrics document both commands return;
- ``merge.py``: ``report``, which merges prediction files;
- ``reports.py``: metrics.json, the CSV tables and confusion.png (``ap_chart.py``: a multi-label
  run's ap.png).
"""

from vidclass.evaluation.documents import RESULT_FIELDS, exit_status, result_fields
from vidclass.evaluation.merge import report
from vidclass.evaluation.plan import model_fingerprint
from vidclass.evaluation.records import PredictionsError
from vidclass.evaluation.reports import LABEL_SET_REPORT_FILES, REPORT_FILES, report_files
from vidclass.evaluation.request import PREDICTIONS, EvalError, Listener, Request
from vidclass.evaluation.run import evaluate, run_videos
from vidclass.evaluation.work import Work, make_record

__all__ = [
    "LABEL_SET_REPORT_FILES",
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
    "report_files",
    "result_fields",
    "run_videos",
]
