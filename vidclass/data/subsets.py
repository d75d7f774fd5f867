"""Subsets of a dataset: a shard of a split run, or a stratified sample of a given size."""

from __future__ import annotations

import re
from collections.abc import Sequence

from vidclass.data.samples import Sample


def parse_shard(text: str) -> tuple[int, int]:
    """``"I/N"`` -> (I, N), with 0 <= I < N; ValueError otherwise."""
    match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text)
    if not match:
        raise ValueError(f"shard must look like I/N (for example 0/4), got {text!r}")
    index, count = int(match.group(1)), int(match.group(2))
    if count < 1:
        raise ValueError("shard count N must be at least 1")
    if index >= count:
        raise ValueError(f"shard index counts from 0: I must be below N={count}, got {index}")
    return index, count


def _stable_hash(text: str) -> int:
    import hashlib

    return int.from_bytes(hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=8).digest(), "big")


def stratified_sample(samples: Sequence[Sample], limit: int) -> list[Sample]:
    """A deterministic sample of ``limit`` videos with each label in proportion to its share.

    Each label gets its largest-remainder share of ``limit``; within a label, videos are
    taken in an order fixed by a hash of their keys (not alphabetically, which often groups
    similar videos). The result keeps the dataset's order.
    """
    if limit >= len(samples):
        return list(samples)
    if limit <= 0:
        return []
    by_label: dict[str, list[int]] = {}
    for i, sample in enumerate(samples):
        by_label.setdefault(sample.label, []).append(i)
    total = len(samples)
    quotas = {label: limit * len(idx) // total for label, idx in by_label.items()}
    left = limit - sum(quotas.values())
    # Largest remainders first; ties in a fixed, label-hashed order rather than alphabetical.
    order = sorted(
        by_label,
        key=lambda label: (-((limit * len(by_label[label])) % total), _stable_hash(label)),
    )
    for label in order[:left]:
        quotas[label] += 1
    chosen: list[int] = []
    for label, idx in by_label.items():
        ranked = sorted(idx, key=lambda i: (_stable_hash(samples[i].key), i))
        chosen.extend(ranked[: quotas[label]])
    return [samples[i] for i in sorted(chosen)]


__all__ = ["parse_shard", "stratified_sample"]
