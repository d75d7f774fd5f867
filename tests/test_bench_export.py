"""benchmarks/export_speed.py runs its whole path on a micro model; timings are never asserted."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("onnxruntime")
pytest.importorskip("onnxscript")

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "benchmarks" / "export_speed.py"


def test_export_speed_bench_runs_and_writes_its_section(tmp_path):
    out = tmp_path / "export.json"
    doc = tmp_path / "BENCHMARKS.md"
    doc.write_text("# Benchmarks\n\nprose kept\n\n## Not measured (yet)\n\n- kept too\n")
    args = ["--models", "vivit-micro", "--repeats", "1", "--min-seconds", "0.01"]
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), *args, "--json", str(out), "--write", str(doc)],
        capture_output=True,
        text=True,
        timeout=600,  # a loose bound for shared machines; no timing is asserted
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    results = json.loads(out.read_text())
    assert set(results) >= {"date", "machine", "onnxruntime", "load_before", "load_after", "rows"}
    (row,) = results["rows"]
    assert row["model"] == "vivit-micro" and row["input"] == [1, 3, 8, 32, 32]
    assert "torch fp32" in row["seconds"] and "onnxruntime fp32" in row["seconds"]
    assert row["max_abs_difference"] < 1e-4 and row["onnx_bytes"] > 0
    text = doc.read_text()
    assert "prose kept" in text and "kept too" in text
    assert text.index("## onnxruntime against torch") < text.index("## Not measured")
