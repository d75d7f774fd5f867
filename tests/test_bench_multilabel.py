"""benchmarks/multilabel_eval.py runs its whole path on a tiny set; timings are never asserted."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "benchmarks" / "multilabel_eval.py"


def test_multilabel_eval_bench_runs_and_writes_its_section(tmp_path):
    out = tmp_path / "ml.json"
    doc = tmp_path / "BENCHMARKS.md"
    doc.write_text("# Benchmarks\n\nprose kept\n\n## Not measured (yet)\n\n- kept too\n")
    args = ["--videos", "2", "--records", "20", "--repeats", "1", "--clips", "1", "--crops", "1"]
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), *args, "--work", str(tmp_path / "work"), "--json", str(out), "--write", str(doc)],
        capture_output=True,
        text=True,
        timeout=600,  # a loose bound for shared machines; no timing is asserted
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    results = json.loads(out.read_text())
    assert set(results) >= {"date", "machine", "load_before", "load_after", "eval", "report", "multi_label_layout"}
    ev, rep = results["eval"], results["report"]
    assert [r["contender"] for r in ev["rows"]] == ["multi-label", "single-label", "single-label + save_scores"]
    for row in ev["rows"]:
        assert all(row[key] > 0 for key in ("videos_per_second", "cpu_seconds_per_video", "bytes_per_record"))
        assert row["record_seconds_per_video"] > 0
    pairs = {"multi-label / single-label", "single-label + save_scores / single-label"}
    assert set(ev["ratios_bytes_per_record"]) == pairs
    for key in ("videos_per_second", "cpu_seconds_per_video", "record_seconds_per_video"):
        assert set(ev[f"ratios_{key}"]) == pairs
        assert all(0 < r["min"] <= r["median"] <= r["max"] for r in ev[f"ratios_{key}"].values())
    # Every score in each record: the multi-label and save_scores records are the larger ones.
    assert all(v > 1 for v in ev["ratios_bytes_per_record"].values())
    assert [r["file"] for r in rep["rows"]] == ["multi-label", "single-label"]
    for row in rep["rows"]:
        assert row["records"] == row["check"]["scored"] == 20 and row["file_bytes"] > 0
        assert all(row[f"{step}_seconds"] > 0 for step in ("read", "report", "report+write"))
    assert rep["rows"][0]["check"]["mAP"] is not None and rep["rows"][1]["check"]["top1"] is not None
    assert rep["ratio_file_bytes"] > 1 and set(rep["ratios_seconds"]) == {"read", "report", "report+write"}
    assert all(0 < r["min"] <= r["median"] <= r["max"] for r in rep["ratios_seconds"].values())
    text = doc.read_text()
    assert "prose kept" in text and "kept too" in text
    assert text.index("## Multi-label evaluation") < text.index("## Not measured")


def test_the_section_replaces_the_one_between_its_markers(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(SCRIPT.parent))  # as when the script runs: benchmarks/common.py beside it
    spec = importlib.util.spec_from_file_location("multilabel_eval", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    doc = tmp_path / "BENCHMARKS.md"
    doc.write_text(f"# Benchmarks\n\nbefore\n\n{module.BEGIN}\nold figures\n{module.END}\n\n## Soak\n\nafter\n")
    section = "## Multi-label evaluation\n\nnew figures\n"
    module.publish({}, section, None, str(doc), module.BEGIN, module.END, module.INSERT_BEFORE)
    text = doc.read_text()
    assert "old figures" not in text and "new figures" in text and "before" in text and "after" in text
    assert text.count(module.BEGIN) == text.count(module.END) == 1
    assert text.index("new figures") < text.index("## Soak")
