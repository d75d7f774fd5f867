"""Metrics from a fixed predictions file, checked against values worked out by hand; merging
(``vidclass report``), torn lines, conflicts, and the report files."""

from __future__ import annotations

import csv
import io
import json
import struct
from pathlib import Path

import pytest
from click.testing import CliRunner

from vidclass.cli.main import main
from vidclass.evaluation import report, result_fields
from vidclass.evaluation.metrics import compute_metrics
from vidclass.evaluation.records import PredictionsError, PredictionsWriter, merge_records, read_predictions
from vidclass.evaluation.reports import confusion_geometry, confusion_layout, render_confusion, write_reports

LABELS = ["a", "b", "c", "d", "e", "f"]


def header(**changes) -> dict:
    base = {
        "type": "header",
        "format": "vidclass-eval",
        "version": 1,
        "model": {"name": "toy", "source": "toy.safetensors", "labels": LABELS, "fingerprint": "0123"},
        "protocol": {"clips": 4, "crops": 3, "aggregate": "softmax"},
        "preprocessing": {"num_frames": 8},
        "top_k": 5,
        "dataset": {"root": "/data", "layout": "folders", "evaluated": 9},
        "limit": None,
        "shard": None,
    }
    base.update(changes)
    return base


def scored(key: str, true: str, top: str, score: float = 0.5) -> dict:
    labels = [{"label": label, "score": score if i == 0 else 0.1 / (i + 1)} for i, label in enumerate(top)]
    return {
        "id": key,
        "path": key,
        "status": "scored",
        "true_label": true,
        "dataset_label": true,
        "correct": top[0] == true,
        "labels": labels,
        "seconds": 0.5,
        "error": None,
    }


def other(key: str, true: str | None, status: str, error: str, dataset_label: str | None = None) -> dict:
    return {
        "id": key,
        "path": key,
        "status": status,
        "true_label": true,
        "dataset_label": dataset_label or true,
        "correct": None,
        "labels": [],
        "seconds": 0.0,
        "error": error,
    }


RECORDS = [
    scored("a/v1.mp4", "a", "abcde"),  # top-1 and top-5 right
    scored("a/v2.mp4", "a", "bacde"),  # top-5 only
    scored("a/v3.mp4", "a", "cdefb"),  # wrong
    scored("b/v4.mp4", "b", "bacde"),  # right
    scored("b/v5.mp4", "b", "acdeb"),  # top-5 only (5th)
    scored("c/v6.mp4", "c", "cabde"),  # right
    other("c/v7.mp4", "c", "failed", "boom"),
    other("d/v8.mp4", "d", "missing", "file not found"),
    other("z/v9.mp4", None, "ignored", "label not among the model's labels", "zebra"),
]

# Worked out by hand from RECORDS.
EXPECTED = {
    "counts": {"samples": 9, "scored": 6, "failed": 1, "missing": 1, "ignored": 1, "pending": 0},
    "complete": True,
    "num_classes": 6,
    "top1": 3 / 6,
    "top5": 5 / 6,
    "mean_class_accuracy": (1 / 3 + 1 / 2 + 1) / 3,
    "per_class": [
        {
            "label": "a",
            "support": 3,
            "correct": 1,
            "accuracy": 1 / 3,
            "top5_accuracy": 2 / 3,
            "predicted": 2,
            "precision": 1 / 2,
            "failed": 0,
            "missing": 0,
        },
        {
            "label": "b",
            "support": 2,
            "correct": 1,
            "accuracy": 1 / 2,
            "top5_accuracy": 1.0,
            "predicted": 2,
            "precision": 1 / 2,
            "failed": 0,
            "missing": 0,
        },
        {
            "label": "c",
            "support": 1,
            "correct": 1,
            "accuracy": 1.0,
            "top5_accuracy": 1.0,
            "predicted": 2,
            "precision": 1 / 2,
            "failed": 1,
            "missing": 0,
        },
        {
            "label": "d",
            "support": 0,
            "correct": 0,
            "accuracy": None,
            "top5_accuracy": None,
            "predicted": 0,
            "precision": None,
            "failed": 0,
            "missing": 1,
        },
    ],
    "confusion": {"labels": ["a", "b", "c", "d"], "matrix": [[1, 1, 1, 0], [1, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 0]]},
    "confused_pairs": [
        {"true": "a", "predicted": "b", "count": 1, "fraction": 1 / 3},
        {"true": "a", "predicted": "c", "count": 1, "fraction": 1 / 3},
        {"true": "b", "predicted": "a", "count": 1, "fraction": 1 / 2},
    ],
    "failed": [{"path": "c/v7.mp4", "error": "boom"}],
    "missing": ["d/v8.mp4"],
    "unknown_labels": {"zebra": 1},
}


def same(actual, expected) -> bool:
    """Deep equality with floats compared to 1e-9 (pytest.approx does not nest)."""
    if isinstance(expected, float) and isinstance(actual, (int, float)):
        return actual == pytest.approx(expected, rel=1e-9, abs=1e-12)
    if isinstance(expected, dict):
        return (
            isinstance(actual, dict)
            and actual.keys() == expected.keys()
            and all(same(actual[k], v) for k, v in expected.items())
        )
    if isinstance(expected, list):
        return isinstance(actual, list) and len(actual) == len(expected) and all(map(same, actual, expected))
    return actual == expected and type(actual) is type(expected)


def write(path: Path, head: dict | None, records: list[dict], tail: bytes = b"") -> Path:
    lines = ([json.dumps(head)] if head else []) + [json.dumps(r) for r in records]
    path.write_bytes(("\n".join(lines) + "\n").encode() + tail)
    return path


def test_metrics_equal_hand_computed_values():
    assert same(compute_metrics(RECORDS, LABELS, expected=9), EXPECTED)


def test_top5_omitted_for_five_classes_or_fewer_and_pending_counted():
    records = [scored("x", "a", "ab"), scored("y", "b", "ab")]
    metrics = compute_metrics(records, ["a", "b"], expected=3)
    assert metrics["top1"] == 0.5 and metrics["top5"] is None
    assert all(row["top5_accuracy"] is None for row in metrics["per_class"])
    assert metrics["counts"]["pending"] == 1 and metrics["complete"] is False
    with pytest.raises(ValueError, match="label 'zz' is not one of the model's labels"):
        compute_metrics([scored("x", "zz", "ab")], ["a", "b"])


def test_report_command_on_a_fixed_file(tmp_path):
    pred = write(tmp_path / "p.jsonl", header(), RECORDS)
    result = CliRunner().invoke(main, ["report", str(pred), "--format", "json", "-o", str(tmp_path / "out")])
    assert result.exit_code == 1  # a failed and a missing video
    doc = json.loads(result.stdout)
    assert same(result_fields(doc), EXPECTED)
    assert doc["command"] == "report" and doc["model"]["name"] == "toy"
    assert doc["throughput"]["clock"] == "per_video" and doc["throughput"]["videos"] == 7
    out = tmp_path / "out"
    assert json.loads((out / "metrics.json").read_text()) == doc
    rows = list(csv.DictReader(io.StringIO((out / "per_class.csv").read_text())))
    assert [r["label"] for r in rows] == ["a", "b", "c", "d"]
    assert rows[0] == {
        "label": "a",
        "support": "3",
        "correct": "1",
        "accuracy": "0.333333",
        "top5_accuracy": "0.666667",
        "predicted": "2",
        "precision": "0.500000",
        "failed": "0",
        "missing": "0",
    }
    assert rows[3]["accuracy"] == "" and rows[3]["missing"] == "1"
    confusion = list(csv.reader(io.StringIO((out / "confusion.csv").read_text())))
    assert confusion[0] == ["true \\ predicted", "a", "b", "c", "d"]
    assert confusion[1] == ["a", "1", "1", "1", "0"]
    table = CliRunner().invoke(main, ["report", str(pred), "--format", "table"])
    assert table.exit_code == 1
    for text in (
        "top-1",
        "50.00%",
        "top-5",
        "83.33%",
        "mean class accuracy",
        "61.11%",
        "worst classes",
        "most confused",
        "boom",
    ):
        assert text in table.stdout


def test_shards_merge_with_duplicates_and_retries(tmp_path):
    first = write(
        tmp_path / "s0.jsonl",
        header(shard={"index": 0, "count": 2}),
        RECORDS[:5] + [other("c/v6.mp4", "c", "failed", "x")],
    )
    # Video v5 is in both; v6 failed in the first and was scored in the second.
    second = write(tmp_path / "s1.jsonl", header(shard={"index": 1, "count": 2}), RECORDS[4:])
    doc = report([first, second])
    assert same(result_fields(doc), EXPECTED)
    assert doc["dataset"]["shards"] == ["0/2", "1/2"]
    # One shard alone is incomplete, and says so.
    alone = report([first])
    assert alone["counts"]["pending"] == 3 and alone["complete"] is False
    result = CliRunner().invoke(main, ["report", str(first), "--format", "json"])
    assert result.exit_code == 1 and "have no result yet" in result.stderr


def test_disagreeing_duplicates_and_other_models_are_refused(tmp_path):
    good = write(tmp_path / "a.jsonl", header(), RECORDS)
    bad = write(tmp_path / "b.jsonl", header(), [scored("a/v1.mp4", "a", "bacde")])
    result = CliRunner().invoke(main, ["report", str(good), str(bad)])
    assert result.exit_code == 2
    assert "1 video(s) have results that disagree: 'a/v1.mp4'" in result.stderr
    assert result.stdout == ""
    near = write(tmp_path / "c.jsonl", header(), [scored("a/v1.mp4", "a", "abcde", score=0.5004)])
    assert report([good, near])["top1"] == 0.5  # the same result up to float noise
    other_model = header()
    other_model["model"] = {**other_model["model"], "fingerprint": "ffff"}
    alien = write(tmp_path / "d.jsonl", other_model, RECORDS)
    result = CliRunner().invoke(main, ["report", str(good), str(alien)])
    assert result.exit_code == 2
    assert result.stderr == (
        f"error: {alien}: made with a different model than {good} (the same labels, other weights: fingerprint"
        ' "ffff" instead of "0123"); report merges the files of one evaluation: report each evaluation\'s files on'
        " their own\n"
    )
    views = write(tmp_path / "e.jsonl", header(protocol={"clips": 1, "crops": 1, "aggregate": "softmax"}), RECORDS)
    with pytest.raises(PredictionsError, match="different protocol"):
        report([good, views])


def test_torn_last_line_is_dropped_and_damage_is_reported(tmp_path):
    path = write(tmp_path / "p.jsonl", header(), RECORDS[:3], tail=b'{"id": "a/v4.mp4", "stat')
    pf = read_predictions(path)
    assert pf.torn and [r["id"] for r in pf.records] == ["a/v1.mp4", "a/v2.mp4", "a/v3.mp4"]
    assert path.read_bytes().endswith(b'"stat')  # reading leaves the file alone...
    read_predictions(path, repair=True)
    assert path.read_bytes().endswith(b"}\n")  # ...repairing cuts the torn line off
    result = CliRunner().invoke(main, ["report", str(write(tmp_path / "t.jsonl", header(), RECORDS, tail=b"{"))])
    assert result.exit_code == 1 and "dropped a torn last line" in result.stderr
    damaged = tmp_path / "damaged.jsonl"
    damaged.write_text(json.dumps(header()) + "\nnot json\n" + json.dumps(RECORDS[0]) + "\n")
    result = CliRunner().invoke(main, ["report", str(damaged)])
    assert result.exit_code == 2 and "damaged.jsonl:2: not a JSON line" in result.stderr
    headless = write(tmp_path / "h.jsonl", None, RECORDS)
    result = CliRunner().invoke(main, ["report", str(headless)])
    assert result.exit_code == 2 and "no header line" in result.stderr
    result = CliRunner().invoke(main, ["report", str(tmp_path / "nope.jsonl")])
    assert result.exit_code == 2


def test_merge_rules():
    failed = other("x", "a", "failed", "boom")
    ok = scored("x", "a", "abcde")
    assert merge_records([failed, ok]).records["x"] is ok
    assert merge_records([ok, failed]).records["x"] is ok
    retry = other("x", "a", "failed", "again")
    assert merge_records([failed, retry]).records["x"] is retry
    merged = merge_records([ok, scored("x", "a", "abcde"), scored("x", "a", "bacde")])
    assert merged.duplicates == 2 and merged.conflicts == ["x"]


def test_writer_locks_and_appends_whole_lines(tmp_path):
    path = tmp_path / "p.jsonl"
    with PredictionsWriter(path) as writer:
        writer.append(header())
        writer.append({"id": "odd \udce9 name", "status": "failed", "true_label": "a", "error": "x"})
        with pytest.raises(PredictionsError, match="another vidclass eval is writing"):
            PredictionsWriter(path)
    pf = read_predictions(path)
    assert pf.records[0]["id"] == "odd \udce9 name"
    PredictionsWriter(path).close()  # the lock went with the writer


def test_confusion_png_is_a_valid_png_of_the_expected_size(tmp_path):
    from PIL import Image

    labels = [f"class {i}" for i in range(12)]
    matrix = [[10 if r == c else 0 for c in range(12)] for r in range(12)]
    matrix[3][5] = 10  # class 3: half right, half taken for class 5
    metrics = compute_metrics([], labels)
    metrics.update({"model": {"name": "toy"}, "confusion": {"labels": labels, "matrix": matrix}})
    (png,) = [p for p in write_reports(metrics, tmp_path) if p.endswith(".png")]
    data = Path(png).read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    geo = confusion_geometry(labels)
    assert (width, height) == (geo["width"], geo["height"])
    assert geo["show_labels"] and geo["show_counts"] and geo["label_width"] > 0
    assert width > 12 * geo["cell"] + geo["label_width"] and height > 12 * geo["cell"] + geo["label_width"]
    with Image.open(png) as image:
        image.verify()
    with Image.open(png) as image:
        rgb = image.convert("RGB")

        def cell(r: int, c: int) -> tuple[int, int, int]:  # a pixel inside the cell, off its text
            return rgb.getpixel((geo["left"] + c * geo["cell"] + 3, geo["top"] + r * geo["cell"] + 3))

        assert cell(0, 0) == cell(11, 11) == (8, 48, 107)  # all of the row: darkest
        assert cell(3, 3) == cell(3, 5) == (107, 174, 214)  # half of the row
        assert cell(0, 1) == cell(5, 3) == (255, 255, 255)  # none
    # Wider with more classes, and still labelled at 100.
    assert render_confusion([f"c{i}" for i in range(100)], [[0] * 100] * 100).size[0] > width
    assert confusion_layout(100)["show_labels"] and not confusion_layout(200)["show_labels"]
