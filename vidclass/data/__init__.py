"""Labelled datasets: layouts, label matching and subsets, shared by ``eval`` and training."""

from vidclass.data.datasets import (
    LAYOUTS,
    Dataset,
    DatasetError,
    LabelMatch,
    Sample,
    UnknownLabelsError,
    kinetics_name,
    load_dataset,
    match_labels,
    normalize_label,
    parse_shard,
    stratified_sample,
)

__all__ = [
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
