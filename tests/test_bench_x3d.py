"""benchmarks/x3d_speed.py runs its whole path on tiny settings; timings are never asserted."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "benchmarks" / "x3d_speed.py"


def test_x3d_speed_bench_runs_and_writes_its_section(tmp_path):
    out = tmp_path / "x3d.json"
    doc = tmp_path / "BENCHMARKS.md"
    doc.write_text("# Benchmarks\n\nprose kept\n\n## Not measured (yet)\n\n- kept too\n")
    args = ["--models", "x3d-xs", "--repeats", "1", "--clips", "1", "--crops", "1"]
    args += ["--seconds", "1", "--size", "160x120", "--precision", "fp32"]
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), *args, "--work", str(tmp_path / "work"), "--json", str(out), "--write", str(doc)],
        capture_output=True,
        text=True,
        timeout=600,  # a loose bound for shared machines; no timing is asserted
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    results = json.loads(out.read_text())
    assert set(results) >= {"date", "machine", "load_before", "load_after", "clip", "precision", "bench"}
    (row,) = results["bench"]["rows"]
    assert (row["model"], row["precision"], row["protocol"], row["views"]) == ("x3d-xs", "fp32", "1x1", 1)
    assert row["input"] == [3, 4, 182, 182]  # X3D-XS: 4 frames, 182 px test crops
    for key in ("seconds_per_video", "record_seconds", "model_seconds", "gmacs_per_video", "gmacs_per_second"):
        assert row[key] > 0
    assert 0 < row["mfu"] and row["matmul_gflops"] > 0
    text = doc.read_text()
    assert "prose kept" in text and "kept too" in text
    assert text.index("## X3D against ViViT-B") < text.index("## Not measured")


def test_x3d_speed_bench_measures_the_adopted_lever_against_the_plain_model(tmp_path):
    out = tmp_path / "x3d.json"
    args = ["--models", "x3d-xs", "--lever-model", "x3d-xs", "--repeats", "1", "--clips", "1", "--crops", "1"]
    args += ["--seconds", "1", "--size", "160x120", "--precision", "fp32"]
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), *args, "--work", str(tmp_path / "work"), "--json", str(out)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    bench = json.loads(out.read_text())["bench"]
    rows = {(row["model"], row["precision"]) for row in bench["rows"]}
    assert rows == {("x3d-xs", "fp32"), ("x3d-xs (plain)", "fp32"), ("x3d-xs", "bf16")}
    (measured,) = bench["all_rounds"]
    for key, slow, fast in (("lever plain / fast", "x3d-xs fp32 plain", "x3d-xs fp32"),
                            ("lever fp32 / bf16", "x3d-xs fp32", "x3d-xs bf16")):  # fmt: skip
        assert bench["ratios"][key]["median"] == measured[slow]["e2e"] / measured[fast]["e2e"]
    assert "Lever, adopted: X3D-XS" in proc.stdout


def test_x3d_levers_bench_runs(tmp_path):
    out = tmp_path / "levers.json"
    script = ROOT / "benchmarks" / "x3d_levers.py"
    args = ["--model", "x3d-xs", "--rounds", "1", "--batch", "1", "--dtypes", "fp32", "--json", str(out)]
    proc = subprocess.run([sys.executable, str(script), *args], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    rows = json.loads(out.read_text())["rows"]
    assert set(rows) == {"fp32 base", "fp32 CL", "fp32 fold", "fp32 fold+CL", "fp32 adopted"}
    assert rows["fp32 adopted"]["max_logit_diff_over_max_logit"] < 1e-5
