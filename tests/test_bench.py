"""The benchmark script runs (its --quick mode); timings are never asserted."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_bench_quick_runs(tmp_path):
    pytest.importorskip("transformers")
    out = tmp_path / "bench.json"
    report = tmp_path / "BENCHMARKS.md"
    begin = "<!-- benchmarks/bench.py results: begin (generated, edits here are overwritten) -->"
    end = "<!-- benchmarks/bench.py results: end -->"
    report.write_text(f"# Benchmarks\n\nprose kept\n\n{begin}\nold figures\n{end}\n\n## Soak\n\nkept too\n")
    proc = subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "bench.py"),
            "--quick",
            "--repeats",
            "1",
            "--build",
            str(tmp_path / "build"),
            "--json",
            str(out),
            "--write",
            str(report),
        ],  # fmt: skip
        capture_output=True,
        text=True,
        timeout=600,  # a loose bound for shared machines; no timing is asserted
        # without ffmpeg on PATH, as on machines that lack it: section f must still run
        env={**os.environ, "PATH": str(Path(sys.executable).parent)},
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    results = json.loads(out.read_text())
    assert set(results) >= {"machine", "transformers", "mfu", "variants", "agreement"}
    assert set(results) >= {"end_to_end", "decode", "scaling", "startup", "attention"}
    assert results["transformers"]["max_logit_diff"]["vidclass vs transformers, fp32"] < 1e-4
    assert results["agreement"]["top1_agreement_videos"] >= 0.995
    e, f, g, h = (results[k] for k in ("end_to_end", "decode", "scaling", "startup"))
    assert e["bound"]["rows"][0]["views"] == 2 * 3  # two clips, --clips 1 --crops 3
    assert f["ffmpeg"] is None and "vidclass / pyav every frame" in f["rows"][0]["ratios"]["wall"]
    assert [r["frames"] for r in g["rows"]] == [60, 600]  # 2 s and its 20 s remux, 30 fps
    assert all(r["maxrss_mib"] > 0 for r in g["rows"] + h["rows"])
    i = results["attention"]
    assert [r["mode"] for r in i["modes"]["rows"]] == [
        "fp32",
        "bf16, SDPA attention",
        "bf16, tiled attention (auto)",
        "int8 Linear, fp32 attention",
    ]
    assert i["modes"]["rows"][0]["max_logit_diff"] == 0.0  # fp32 is the reference itself
    assert {(r["dtype"], r["kernel"]) for r in i["kernels"]["rows"]} == {
        (d, k)
        for d in ("bfloat16", "float32")
        for k in ("sdpa (flash)", "sdpa math", "explicit softmax(qk^T)v", "vidclass tiles")
    }
    assert all(r["max_error"] < 1e-5 for r in i["kernels"]["rows"] if r["dtype"] == "float32")
    assert set(i["agreement"]) == {"bf16, SDPA attention", "int8"}
    text = report.read_text()
    assert "prose kept" in text and "kept too" in text and "old figures" not in text
    assert all(f"### {letter}." in text for letter in "abcdefghi")
    assert "apt-get install ffmpeg" in text
    assert text.index("### a.") < text.index("## Soak") and text.count(begin) == text.count(end) == 1
