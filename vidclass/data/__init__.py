"""Labelled datasets: layouts, label matching and subsets, shared by ``eval`` and training."""

from vidclass.data.labels import LabelMatch, match_labels, normalize_label
from vidclass.data.layouts import LAYOUTS, kinetics_name, load_dataset
from vidclass.data.samples import Action, Dataset, DatasetError, Sample, UnknownLabelsError
from vidclass.data.subsets import parse_shard, stratified_sample

__all__ = [
    "Action",
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
