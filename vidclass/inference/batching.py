"""Batch the views of consecutive videos together, and split the logits back per video.

``batch_views`` takes a stream of ``(item, views)`` pairs in input order, ``views`` being a
``(V, ...)`` tensor or None for an item that has no views (a video that failed to decode).
It cuts the concatenated views of consecutive items into batches of exactly ``batch_size``
views, runs each batch through ``run`` once, and yields ``(item, logits, seconds)`` for every
item, in input order: ``logits`` holds that item's ``V`` rows (None for an item without
views), ``seconds`` its share of the batches' run time (each batch's time split by views).

An item is yielded as soon as the batch holding its last view has run, so it waits for later
items only as far as the batch it shares with them; an item without views is yielded as soon
as every item before it is done. Only the stream's last batch can be short; with ``pad`` it
is padded to ``batch_size`` (repeating its last view, whose extra rows are dropped), so that
``run`` only ever sees one input shape: what a ``torch.compile``d model with static shapes
needs to compile once.

Memory: the views waiting for a batch are fewer than ``batch_size``, plus the rest of the item
being cut; items are pulled from the stream only when a batch needs more views.
"""

from __future__ import annotations

import collections
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Generic, TypeVar

import torch

T = TypeVar("T")


@dataclass
class _Entry(Generic[T]):
    item: T
    views: int  # 0: the item has no views
    outputs: list[torch.Tensor] = field(default_factory=list)
    done: int = 0  # views whose logits are in
    seconds: float = 0.0

    @property
    def complete(self) -> bool:
        return self.done == self.views


def batch_views(
    items: Iterable[tuple[T, torch.Tensor | None]],
    run: Callable[[torch.Tensor], torch.Tensor],
    batch_size: int,
    *,
    pad: bool = False,
) -> Iterator[tuple[T, torch.Tensor | None, float]]:
    """Run the views of ``items`` through ``run`` in cross-item batches; see the module docstring.

    ``run`` maps a ``(B, ...)`` batch to ``(B, K)`` logits.
    """
    if batch_size < 1:
        raise ValueError("batch_size must be >= 1")
    inflight: collections.deque[_Entry[T]] = collections.deque()  # in input order, not yet yielded
    waiting: list[tuple[_Entry[T], torch.Tensor]] = []  # view slices for the next batch
    filled = 0
    for item, views in items:
        entry = _Entry(item, 0 if views is None else int(views.shape[0]))
        inflight.append(entry)
        start = 0
        while views is not None and start < entry.views:
            take = min(batch_size - filled, entry.views - start)
            waiting.append((entry, views[start : start + take]))
            filled += take
            start += take
            if filled == batch_size:
                _run(waiting, run, batch_size, pad)
                waiting, filled = [], 0
                yield from _finished(inflight)
        views = None  # the slices in ``waiting`` keep what is still needed
        yield from _finished(inflight)
    if waiting:
        _run(waiting, run, batch_size, pad)
    yield from _finished(inflight)


def _run(
    waiting: list[tuple[_Entry[T], torch.Tensor]],
    run: Callable[[torch.Tensor], torch.Tensor],
    batch_size: int,
    pad: bool,
) -> None:
    chunks = [views for _, views in waiting]
    size = sum(chunk.shape[0] for chunk in chunks)
    if pad and size < batch_size:
        last = chunks[-1][-1:]
        chunks.append(last.expand(batch_size - size, *last.shape[1:]))
    batch = torch.cat(chunks) if len(chunks) > 1 else chunks[0]
    started = time.perf_counter()
    logits = run(batch)
    seconds = time.perf_counter() - started
    if logits.shape[0] != batch.shape[0]:
        raise RuntimeError(f"the model returned {logits.shape[0]} rows for a batch of {batch.shape[0]} views")
    offset = 0
    for entry, views in waiting:
        n = int(views.shape[0])
        entry.outputs.append(logits[offset : offset + n])
        entry.done += n
        entry.seconds += seconds * n / size
        offset += n


def _finished(inflight: collections.deque[_Entry[T]]) -> Iterator[tuple[T, torch.Tensor | None, float]]:
    """Pop and yield the complete entries at the front, in order."""
    while inflight and inflight[0].complete:
        entry = inflight.popleft()
        if not entry.views:
            yield entry.item, None, 0.0
            continue
        logits = entry.outputs[0] if len(entry.outputs) == 1 else torch.cat(entry.outputs)
        entry.outputs = []
        yield entry.item, logits, entry.seconds


__all__ = ["batch_views"]
