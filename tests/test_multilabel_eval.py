"""Multi-label evaluation end to end: records with label sets and every score, mAP checked
against scikit-learn on the same scores, report over shards equal to the whole run, a
softmax model on a multi-label dataset, mAP of a single-label run that saved its scores, and
predict's threshold and formats."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.metrics import average_precision_score

import vidclass
from tests.cli import cli_in
from tests.test_eval_cli import pattern
from tests.videos import write_video
from vidclass.checkpoints import load_classifier, read_model_card
from vidclass.evaluation import evaluate, report, result_fields
from vidclass.scores import aggregate

LABELS = ["walk", "run", "jump", "swim", "climb", "sit"]
# Label sets of the 8 videos: overlapping, one empty, one class ("sit") never positive.
SETS = [["walk", "run"], ["jump"], [], ["run", "swim", "climb"], ["walk"], ["swim", "jump"], ["climb"], ["run"]]
FAST = ("--clips", "1", "--crops", "1", "--device", "cpu", "-j", "0")


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("multilabel")
    multi = vidclass.create_model("vivit-micro", labels=LABELS, seed=3, multi_label=True)
    vidclass.save_model(multi, root / "multi.safetensors")
    vidclass.save_model(vidclass.create_model("vivit-micro", labels=LABELS, seed=3), root / "single.safetensors")
    rows = ["path,labels"]
    for i, labels in enumerate(SETS):
        write_video(root / "ds" / "videos" / f"v{i}.mp4", num_frames=10, width=64, height=64, pattern=pattern(40 + i))
        rows.append(f"videos/v{i}.mp4,{';'.join(labels)}")
    (root / "ds" / "labels.csv").write_text("\n".join(rows) + "\n")
    return root


def records_of(folder: Path) -> list[dict]:
    return [json.loads(line) for line in (folder / "predictions.jsonl").read_text().splitlines()][1:]


def sklearn_map(records: list[dict]) -> float:
    """mAP as scikit-learn computes it from the records' own scores: classes with a positive."""
    scored = [r for r in records if r["status"] == "scored"]
    y = np.array([[label in r["true_labels"] for label in LABELS] for r in scored])
    s = np.array([[r["scores"][label] for label in LABELS] for r in scored])
    keep = y.any(axis=0)
    return float(average_precision_score(y[:, keep], s[:, keep], average="macro"))


def test_eval_on_a_label_set_csv_records_sets_and_scores_and_its_map_is_sklearns(work, monkeypatch):
    invoke = cli_in(work, monkeypatch)
    result = invoke("eval", "ds", "-m", "multi.safetensors", *FAST, "-o", "out", "-f", "json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    records = records_of(work / "out")
    header = json.loads((work / "out" / "predictions.jsonl").read_text().splitlines()[0])
    assert header["multi_label"] is True and header["model"]["multi_label"] is True
    assert header["threshold"] == 0.5 and header["protocol"]["aggregate"] == "max"
    assert [r["true_labels"] for r in records] == [sorted(s, key=LABELS.index) for s in SETS]
    for r in records:
        assert r["status"] == "scored" and set(r["scores"]) == set(LABELS)
        assert r["true_label"] is None and r["correct"] is None
        assert r["positives"] == sorted(
            ({"label": k, "score": v} for k, v in r["scores"].items() if v >= 0.5),
            key=lambda item: (-item["score"], LABELS.index(item["label"])),
        )
    assert doc["multi_label"] is True and doc["top1"] is None and doc["confusion"] is None
    assert doc["classes_with_positives"] == 5  # "sit" has no positive: left out of mAP
    assert doc["mAP"] == pytest.approx(sklearn_map(records), abs=1e-12)
    assert doc["chance_mAP"] == pytest.approx(np.mean([2 / 8, 3 / 8, 2 / 8, 2 / 8, 2 / 8]), abs=1e-12)
    rows = {row["label"]: row for row in doc["per_class"]}
    assert rows["run"]["positives"] == 3 and rows["swim"]["positives"] == 2
    # The report files of a multi-label run: the AP chart instead of the confusion matrix.
    assert sorted(p.name for p in (work / "out").iterdir()) == [
        "ap.png",
        "metrics.json",
        "per_class.csv",
        "predictions.jsonl",
    ]
    table = list(csv.DictReader(io.StringIO((work / "out" / "per_class.csv").read_text())))
    assert list(table[0]) == ["label", "positives", "ap", "predicted", "true_positives", "precision", "recall", "f1"]
    assert float(table[[r["label"] for r in table].index("run")]["ap"]) == pytest.approx(rows["run"]["ap"], abs=1e-6)


def test_report_over_two_shards_equals_the_whole_run_exactly(work, monkeypatch):
    invoke = cli_in(work, monkeypatch)
    for i in range(2):
        args = ("eval", "ds", "-m", "multi.safetensors", *FAST, "--shard", f"{i}/2", "-o", f"shard{i}", "-f", "json")
        assert invoke(*args).exit_code == 0
    whole = evaluate(work / "ds", str(work / "multi.safetensors"), clips=1, crops=1, device="cpu", isolate=False)
    merged = report([work / "shard0", work / "shard1"])
    assert result_fields(merged) == result_fields(whole)
    assert merged["mAP"] == whole["mAP"]
    result = invoke("report", "shard0", "shard1", "-f", "table")
    assert result.exit_code == 0
    assert "mAP" in result.stdout and "chance mAP" in result.stdout and "lowest AP" in result.stdout


def test_resume_keeps_label_sets_and_a_changed_set_is_refused(work, monkeypatch, tmp_path):
    invoke = cli_in(work, monkeypatch)
    out = tmp_path / "resume"
    assert invoke("eval", "ds", "-m", "multi.safetensors", *FAST, "--limit", "3", "-o", str(out)).exit_code == 0
    done = evaluate(
        work / "ds", str(work / "multi.safetensors"), clips=1, crops=1, device="cpu", isolate=False,
        output=out, resume=True, limit=3,
    )  # fmt: skip
    assert done["counts"]["scored"] == 3
    lines = (out / "predictions.jsonl").read_text().splitlines()
    changed = json.loads(lines[1])
    changed["true_labels"] = ["sit"]  # no video of the dataset has this set
    (out / "predictions.jsonl").write_text("\n".join([lines[0], json.dumps(changed), *lines[2:]]) + "\n")
    result = invoke("eval", "ds", "-m", "multi.safetensors", *FAST, "--limit", "3", "-o", str(out), "--resume")
    assert result.exit_code == 2
    assert result.stderr.count("error:") == 1 and "--overwrite" in result.stderr


def test_a_softmax_model_on_a_label_set_dataset_is_scored_from_its_softmax_with_a_note(work, monkeypatch):
    invoke = cli_in(work, monkeypatch)
    result = invoke("eval", "ds", "-m", "single.safetensors", *FAST, "-o", "soft", "-f", "json")
    assert result.exit_code == 0, result.output
    assert "note:" in result.stderr and "softmax" in result.stderr
    doc = json.loads(result.stdout)
    records = records_of(work / "soft")
    assert all(abs(sum(r["scores"].values()) - 1) < 1e-5 for r in records)  # softmax scores
    assert doc["multi_label"] is True and doc["mAP"] == pytest.approx(sklearn_map(records), abs=1e-12)


def test_unknown_labels_in_sets_are_an_error_or_left_out_with_ignore_unknown(work, monkeypatch, tmp_path):
    invoke = cli_in(work, monkeypatch)
    ds = tmp_path / "odd"
    (ds / "videos").mkdir(parents=True)
    for i in range(2):
        (ds / "videos" / f"v{i}.mp4").write_bytes((work / "ds" / "videos" / f"v{i}.mp4").read_bytes())
    (ds / "labels.csv").write_text("path,labels\nvideos/v0.mp4,walk;fly\nvideos/v1.mp4,fly\n")
    result = invoke("eval", str(ds), "-m", "multi.safetensors", *FAST, "-f", "json")
    assert result.exit_code == 2 and result.stderr.count("error:") == 1 and "'fly'" in result.stderr
    result = invoke("eval", str(ds), "-m", "multi.safetensors", *FAST, "-f", "json", "--ignore-unknown", "-o", "odd")
    assert result.exit_code == 0, result.output
    assert [r["true_labels"] for r in records_of(work / "odd")] == [["walk"], []]
    assert [r["dataset_labels"] for r in records_of(work / "odd")] == [["walk", "fly"], ["fly"]]


def test_a_single_label_run_that_saved_its_scores_reports_map_too(work, monkeypatch, tmp_path):
    invoke = cli_in(work, monkeypatch)
    ds = tmp_path / "folders"
    for i, label in enumerate(["walk", "walk", "run", "jump"]):
        (ds / label).mkdir(parents=True, exist_ok=True)
        (ds / label / f"v{i}.mp4").write_bytes((work / "ds" / "videos" / f"v{i}.mp4").read_bytes())
    result = invoke("eval", str(ds), "-m", "single.safetensors", *FAST, "-o", "saved", "--save-scores", "-f", "json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    records = records_of(work / "saved")
    y = np.array([[r["true_label"] == label for label in LABELS] for r in records])
    s = np.array([[r["scores"][label] for label in LABELS] for r in records])
    keep = y.any(axis=0)
    assert doc["top1"] is not None and not doc.get("multi_label")
    assert doc["mAP"] == pytest.approx(
        float(average_precision_score(y[:, keep], s[:, keep], average="macro")), abs=1e-12
    )
    assert report([work / "saved"])["mAP"] == doc["mAP"]
    without = invoke("eval", str(ds), "-m", "single.safetensors", *FAST, "-f", "json")
    assert "mAP" not in json.loads(without.stdout)


def test_predict_lists_the_set_at_the_threshold_in_every_format(work, monkeypatch):
    invoke = cli_in(work, monkeypatch)
    video = "ds/videos/v0.mp4"
    base = ("predict", video, "-m", "multi.safetensors", "--clips", "1", "--crops", "1", "--device", "cpu")
    record = json.loads(invoke(*base, "-f", "jsonl", "--scores", "--threshold", "0").stdout)
    scores = record["scores"]
    cut = sorted(scores.values())[2]  # three classes at or above it
    record = json.loads(invoke(*base, "-f", "jsonl", "--threshold", str(cut)).stdout)
    expected = sorted((k for k, v in scores.items() if v >= cut), key=lambda k: (-scores[k], LABELS.index(k)))
    assert [item["label"] for item in record["positives"]] == expected and len(expected) == 4
    assert [item["label"] for item in record["labels"]] == sorted(LABELS, key=lambda k: -scores[k])[:5]
    rows = list(csv.DictReader(io.StringIO(invoke(*base, "-f", "csv", "--threshold", str(cut)).stdout)))
    assert [pair.split(":")[0] for pair in rows[0]["positives"].split(";")] == expected
    table = invoke(*base, "-f", "table", "--threshold", str(cut)).stdout
    assert ", ".join(expected) in table
    none = json.loads(invoke(*base, "-f", "jsonl", "--threshold", "1").stdout)
    assert none["positives"] == []
    bad = invoke(*base, "--aggregate", "softmax")
    assert bad.exit_code == 2 and bad.stderr.count("error:") == 1
    # A single-label model's records are as before: no positives.
    single = json.loads(invoke(*base[:3], "single.safetensors", *base[4:], "-f", "jsonl").stdout)
    assert "positives" not in single


def test_aggregate_max_and_mean_over_sigmoid_views():
    logits = torch.tensor([[2.0, -1.0, 0.0], [-2.0, 3.0, 0.5]])
    sig = torch.sigmoid(logits)
    assert torch.equal(aggregate(logits, "max", multi_label=True), sig.amax(0))
    assert torch.equal(aggregate(logits, "mean", multi_label=True), sig.mean(0))
    assert torch.equal(aggregate(logits, "logits", multi_label=True), torch.sigmoid(logits.mean(0)))
    assert torch.equal(aggregate(logits, "mean"), torch.softmax(logits, -1).mean(0))
    with pytest.raises(ValueError):
        aggregate(logits, "softmax", multi_label=True)


def test_the_multi_label_flag_round_trips_through_the_model_file(work):
    card = read_model_card(work / "multi.safetensors")
    assert card.multi_label is True and card.protocol.aggregate.value == "max"
    assert read_model_card(work / "single.safetensors").multi_label is False
    loaded = load_classifier(str(work / "multi.safetensors"))
    assert loaded.multi_label is True


def test_report_scores_f1_at_another_threshold_and_keeps_the_map(work, monkeypatch):
    invoke = cli_in(work, monkeypatch)
    if not (work / "out" / "predictions.jsonl").exists():
        assert invoke("eval", "ds", "-m", "multi.safetensors", *FAST, "-o", "out").exit_code == 0
    records = records_of(work / "out")
    at_run = report([work / "out"])
    lowered = json.loads(invoke("report", "out", "--threshold", "0", "-f", "json").stdout)
    assert lowered["threshold"] == 0.0 and at_run["threshold"] == 0.5
    assert lowered["mAP"] == at_run["mAP"]
    # At 0 every class is predicted for every video: example precision is the mean share of true labels.
    shares = [len(r["true_labels"]) / len(LABELS) for r in records]
    assert lowered["example_precision"] == pytest.approx(sum(shares) / len(shares), abs=1e-12)
    assert invoke("report", "out", "--threshold", "2").exit_code == 2


CHARADES_NAMES = {
    "c000": "Walking somewhere",
    "c001": "Running somewhere",
    "c002": "Jumping over something",
    "c003": "Swimming in a pool",
    "c004": "Climbing a ladder",
    "c005": "Sitting on a chair",
}


def write_charades(folder: Path, work: Path) -> None:
    """A Charades-format copy of the work set: ids as names, actions with times, a class list."""
    folder.mkdir(parents=True, exist_ok=True)
    header = "id,subject,scene,quality,relevance,verified,script,objects,descriptions,actions,length"
    rows = [header]
    for i, labels in enumerate(SETS):
        ids = [f"c{LABELS.index(label):03d}" for label in labels]
        actions = ";".join(f"{cid} {1.5 * k:.2f} {1.5 * k + 4:.2f}" for k, cid in enumerate(ids))
        rows.append(f'V{i:04d},S1,Kitchen,6,7,Yes,"A person, then another",,"Desc, with comma",{actions},10.0')
        (folder / f"V{i:04d}.mp4").write_bytes((work / "ds" / "videos" / f"v{i}.mp4").read_bytes())
    (folder / "Charades_v1_test.csv").write_text("\n".join(rows) + "\n")
    (folder / "Charades_v1_classes.txt").write_text("".join(f"{k} {v}\n" for k, v in CHARADES_NAMES.items()))


def test_eval_on_a_charades_csv_matches_ids_through_the_class_list_and_its_map_is_sklearns(work, monkeypatch, tmp_path):
    invoke = cli_in(work, monkeypatch)
    write_charades(tmp_path / "charades", work)
    named = vidclass.create_model("vivit-micro", labels=list(CHARADES_NAMES.values()), seed=3, multi_label=True)
    vidclass.save_model(named, tmp_path / "named.safetensors")
    out = tmp_path / "out"
    args = ("eval", str(tmp_path / "charades"), "-m", str(tmp_path / "named.safetensors"), *FAST, "-o", str(out))
    result = invoke(*args, "-f", "json")
    assert result.exit_code == 0, result.output
    assert "through the class list" in result.stderr
    doc = json.loads(result.stdout)
    records = records_of(out)
    names = list(CHARADES_NAMES.values())
    assert [r["dataset_labels"] for r in records] == [[f"c{LABELS.index(x):03d}" for x in s] for s in SETS]
    assert [r["true_labels"] for r in records] == [
        sorted((CHARADES_NAMES[f"c{LABELS.index(x):03d}"] for x in s), key=names.index) for s in SETS
    ]
    y = np.array([[label in r["true_labels"] for label in names] for r in records])
    s = np.array([[r["scores"][label] for label in names] for r in records])
    keep = y.any(axis=0)
    assert doc["dataset"]["layout"] == "charades"
    assert doc["mAP"] == pytest.approx(
        float(average_precision_score(y[:, keep], s[:, keep], average="macro")), abs=1e-12
    )
    # Given explicitly (--classes), a class list elsewhere does the same.
    (tmp_path / "charades" / "Charades_v1_classes.txt").rename(tmp_path / "list.txt")
    result = invoke(*args, "--overwrite", "--classes", str(tmp_path / "list.txt"), "-f", "json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["mAP"] == doc["mAP"]
    # Without it, the ids are not the model's labels: one error line, exit 2.
    result = invoke(*args, "--overwrite", "-f", "json")
    assert result.exit_code == 2 and result.stderr.count("error:") == 1 and "c000" in result.stderr


def test_a_multi_label_model_on_class_folders_scores_sets_of_one(work, monkeypatch, tmp_path):
    invoke = cli_in(work, monkeypatch)
    ds = tmp_path / "folders"
    for i, label in enumerate(["walk", "run", "run", "fly"]):
        (ds / label).mkdir(parents=True, exist_ok=True)
        (ds / label / f"v{i}.mp4").write_bytes((work / "ds" / "videos" / f"v{i}.mp4").read_bytes())
    args = ("eval", str(ds), "-m", "multi.safetensors", *FAST, "-f", "json", "-o", str(tmp_path / "out"))
    refused = invoke(*args)
    assert refused.exit_code == 2 and refused.stderr.count("error:") == 1 and "'fly'" in refused.stderr
    result = invoke(*args, "--ignore-unknown", "--overwrite")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    records = records_of(tmp_path / "out")
    assert [(r["status"], r["true_labels"], r["dataset_labels"]) for r in records] == [
        ("ignored", [], ["fly"]),
        ("scored", ["run"], ["run"]),
        ("scored", ["run"], ["run"]),
        ("scored", ["walk"], ["walk"]),
    ]
    assert doc["multi_label"] is True and doc["counts"]["ignored"] == 1 and doc["unknown_labels"] == {"fly": 1}
    assert doc["mAP"] == pytest.approx(sklearn_map(records), abs=1e-12)
