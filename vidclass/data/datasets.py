"""The dataset names as they were first laid out, re-exported from the modules that define them.

Layouts and loading: ``vidclass.data.layouts`` (annotation-file parsing in
``vidclass.data.annotations``); ``Sample``, ``Dataset`` and the errors:
``vidclass.data.samples``; label matching: ``vidclass.data.labels``; subsets:
``vidclass.data.subsets``.
"""

from vidclass.data.annotations import KINETICS_COLUMNS
from vidclass.data.labels import LabelMatch, match_labels, normalize_label
from vidclass.data.layouts import ANNOTATION_SUFFIXES, LAYOUTS, kinetics_name, load_dataset
from vidclass.data.samples import Dataset, DatasetError, Sample, UnknownLabelsError
from vidclass.data.subsets import parse_shard, stratified_sample

__all__ = [
    "ANNOTATION_SUFFIXES",
    "KINETICS_COLUMNS",
    "LAYOUTS",
    "Dataset",
    "DatasetError",
    "LabelMatch",
    "Sample",
    "UnknownLabelsError",
    "kinetics_name",
    "load_dataset",
    "match_labels",
    "normalize_label",
    "parse_shard",
    "stratified_sample",
]
