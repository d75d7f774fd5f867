"""How ``vidclass eval`` and ``vidclass report`` show a metrics document, and what they say
while running. Streams, colour and JSON are decided in ``vidclass.cli.output``; this only
builds the tables and the listener on top of it. Strings in the tables are shown through
``output.printable`` by the console; a ``Text`` built here is built from ``printable``."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Any

from rich.table import Table
from rich.text import Text

from vidclass.cli.output import Messages, printable
from vidclass.evaluation.metrics import worst_classes
from vidclass.evaluation.request import Listener

WORST = 10
CONFUSED = 10
FAILED_SHOWN = 10


def _pct(value: float | None) -> str:
    return "" if value is None else f"{100 * value:.2f}%"


def metrics_tables(metrics: dict[str, Any]) -> Sequence[Any]:
    """The terminal summary: headline metrics, worst classes, most confused pairs, failures."""
    counts = metrics["counts"]
    model = metrics["model"]
    dataset = metrics.get("dataset") or {}
    protocol = metrics.get("protocol") or {}
    title = f"{model.get('name') or 'model'} on {dataset.get('root') or ''}"
    summary = Table(title=title, title_justify="left", show_header=False)
    summary.add_column("metric")
    summary.add_column("value")
    multi_label = bool(metrics.get("multi_label"))
    if multi_label:
        _label_set_rows(summary, metrics)
    else:
        summary.add_row("top-1", Text(_pct(metrics["top1"]) or "-", style="bold"))
        if metrics["top5"] is not None:
            summary.add_row("top-5", _pct(metrics["top5"]))
        summary.add_row("mean class accuracy", _pct(metrics["mean_class_accuracy"]) or "-")
        if metrics.get("mAP") is not None:
            summary.add_row("mAP (saved scores)", _pct(metrics["mAP"]))
    videos = f"{counts['scored']} scored"
    for key in ("failed", "missing", "ignored", "pending"):
        if counts[key]:
            videos += f", {counts[key]} {key}"
    summary.add_row("videos", f"{videos} (of {counts['samples']})")
    if multi_label:
        classes = metrics.get("classes_with_positives") or 0
        summary.add_row("classes", f"{classes} with a positive (in mAP), model has {metrics['num_classes']}")
    else:
        classes = len([row for row in metrics["per_class"] if row["support"]])
        summary.add_row("classes", f"{classes} evaluated, model has {metrics['num_classes']}")
    if protocol:
        views = protocol.get("clips", 0) * protocol.get("crops", 0)
        summary.add_row(
            "views",
            f"{views} = {protocol.get('clips')} clips x {protocol.get('crops')} crops, aggregate {protocol.get('aggregate')}",
        )
    extent = []
    if dataset.get("layout"):
        extent.append(f"layout {dataset['layout']}")
    if dataset.get("limit"):
        extent.append(f"--limit {dataset['limit']}")
    if dataset.get("shard"):
        extent.append(f"shard {dataset['shard']['index']}/{dataset['shard']['count']}")
    if dataset.get("shards"):
        extent.append(f"shards {', '.join(dataset['shards'])}")
    if extent:
        summary.add_row("dataset", ", ".join(extent))
    tp = metrics.get("throughput") or {}
    if tp.get("videos"):
        rate = tp.get("videos_per_second")
        per = tp.get("seconds_per_video")
        text = f"{rate:.2f} videos/s" if rate else ""
        if per is not None:
            text += f"{', ' if text else ''}{per:.3f} s/video"
        if tp.get("clock") == "per_video":
            text += " (from per-video times)"
        elif tp.get("processes", 1) and tp.get("processes", 1) > 1:
            text += f" ({tp['processes']} processes)"
        summary.add_row("throughput", text)
    if not metrics.get("complete", True):
        summary.add_row("complete", Text("no: some videos have no result yet", style="yellow"))
    out: list[Any] = [summary]
    if multi_label:
        out.extend(_lowest_ap_table(metrics))
    else:
        out.extend(_confusion_tables(metrics))
    failed = metrics.get("failed") or []
    if failed:
        table = Table(title=f"failed videos ({len(failed)})", title_justify="left")
        table.add_column("video", overflow="fold")
        table.add_column("error", overflow="fold")
        for item in failed[:FAILED_SHOWN]:
            table.add_row(str(item["path"]), Text(printable(str(item["error"])), style="red"))
        if len(failed) > FAILED_SHOWN:
            table.add_row(f"... {len(failed) - FAILED_SHOWN} more in metrics.json", "")
        out.append(table)
    return out


def _label_set_rows(summary: Table, metrics: dict[str, Any]) -> None:
    """A multi-label run's headline: mAP beside its chance level, then the thresholded scores."""
    chance = metrics.get("chance_mAP")
    summary.add_row("mAP", Text(_pct(metrics["mAP"]) or "-", style="bold"))
    if chance is not None:
        summary.add_row("chance mAP", _pct(chance))
    threshold = metrics.get("threshold")
    at = f" at {threshold:g}" if threshold is not None else ""
    summary.add_row(f"micro / macro F1{at}", f"{_pct(metrics['micro_f1']) or '-'} / {_pct(metrics['macro_f1']) or '-'}")
    summary.add_row(
        "example precision / recall",
        f"{_pct(metrics['example_precision']) or '-'} / {_pct(metrics['example_recall']) or '-'}",
    )


def _lowest_ap_table(metrics: dict[str, Any]) -> list[Any]:
    from vidclass.evaluation.label_sets import lowest_ap

    rows = lowest_ap(metrics, WORST)
    if len([row for row in metrics["per_class"] if row.get("ap") is not None]) < 2:
        return []
    table = Table(title="lowest AP", title_justify="left")
    for column, right in (("class", False), ("AP", True), ("positives", True), ("predicted", True), ("F1", True)):
        table.add_column(column, justify="right" if right else "left")
    for row in rows:
        table.add_row(row["label"], _pct(row["ap"]), str(row["positives"]), str(row["predicted"]), _pct(row["f1"]))
    return [table]


def _confusion_tables(metrics: dict[str, Any]) -> list[Any]:
    """A single-label run's worst classes and most confused pairs."""
    out: list[Any] = []
    worst = worst_classes(metrics, WORST)
    if len([row for row in metrics["per_class"] if row["accuracy"] is not None]) > 1 and worst:
        confusion = metrics["confusion"]
        position = {label: i for i, label in enumerate(confusion["labels"])}
        table = Table(title="worst classes", title_justify="left")
        for column, right in (("class", False), ("accuracy", True), ("correct", True), ("mostly mistaken for", False)):
            table.add_column(column, justify="right" if right else "left")
        for row in worst:
            r = position[row["label"]]
            cells = confusion["matrix"][r]
            wrong = max(((n, c) for c, n in enumerate(cells) if c != r and n), default=None)
            mistaken = f"{confusion['labels'][wrong[1]]} ({wrong[0]})" if wrong else ""
            table.add_row(row["label"], _pct(row["accuracy"]), f"{row['correct']}/{row['support']}", mistaken)
        out.append(table)

    pairs = metrics["confused_pairs"][:CONFUSED]
    if pairs:
        table = Table(title="most confused", title_justify="left")
        for column, right in (("true", False), ("predicted", False), ("videos", True), ("of class", True)):
            table.add_column(column, justify="right" if right else "left")
        for pair in pairs:
            table.add_row(pair["true"], pair["predicted"], str(pair["count"]), _pct(pair["fraction"]))
        out.append(table)
    return out


class CliListener(Listener):
    """An evaluation's progress bar (with the running top-1), notes, warnings and per-video
    errors, on stderr."""

    def __init__(self, messages: Messages) -> None:
        self.messages = messages
        self._stack = contextlib.ExitStack()
        self._tracker: Any = None
        self._scored = 0
        self._correct = 0

    def start(self, total: int, done: int, description: str) -> None:
        show = self.messages.show_progress(streaming_to_stdout=False)
        self._tracker = self._stack.enter_context(self.messages.progress(total - done, show, description))

    def record(self, record: dict[str, Any]) -> None:
        if record["status"] == "failed":
            self.messages.input_error(str(record["path"]), str(record.get("error") or "failed"))
        if record["status"] == "scored":
            self._scored += 1
            top = record.get("labels") or []  # correct as ``compute_metrics`` counts it
            if "true_labels" in record:  # multi-label: the top label is one of the video's
                self._correct += bool(top) and top[0].get("label") in record["true_labels"]
            else:
                self._correct += bool(top) and top[0].get("label") == record.get("true_label")
        if self._tracker is not None:
            self._tracker.current(str(record["path"]), self.running_top1())
            self._tracker.advance()

    def running_top1(self) -> str:
        """The bar's running top-1: over the videos scored so far in this run (on --resume,
        not the ones scored before)."""
        return f"top-1 {100 * self._correct / self._scored:5.1f}%" if self._scored else "top-1      -"

    def note(self, message: str) -> None:
        self.messages.note(message)

    def warning(self, message: str) -> None:
        self.messages.warning(message)

    def finish(self) -> None:
        self._stack.close()
        self._tracker = None


__all__ = ["CliListener", "metrics_tables"]
