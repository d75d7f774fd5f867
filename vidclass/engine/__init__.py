"""Evaluation: plan, run, metrics, prediction records, reports (``vidclass eval``, ``vidclass report``)."""
