"""benchmarks/gpu.sh without a GPU: it refuses in one line with exit 3, and its CPU smoke run
(--dry-run) goes through every step's code and writes the JSON and the BENCHMARKS.md section.
No timings are checked."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from vidclass.synth import CLASSES

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "gpu.sh"
STEPS = ["tests", "clips", "peak", "forward", "e2e-vivit", "e2e-bundled", "agreement"]

pytestmark = pytest.mark.skipif(
    shutil.which("bash") is None or shutil.which("timeout") is None, reason="gpu.sh needs bash and coreutils' timeout"
)


def gpu_sh(*args: str, timeout: float = 600, **env: str) -> subprocess.CompletedProcess[str]:
    inherited = {
        k: v for k, v in os.environ.items() if k not in ("VIDCLASS_GPU_SMOKE", "VIDCLASS_GPU_BUDGET", "VIDCLASS_MODEL")
    }
    environment = {**inherited, "VIDCLASS_PYTHON": sys.executable, "CUDA_VISIBLE_DEVICES": "", **env}
    return subprocess.run(
        ["bash", str(SCRIPT), *args], capture_output=True, text=True, env=environment, timeout=timeout
    )


def test_refuses_without_cuda(tmp_path):
    result = gpu_sh("--build", str(tmp_path / "build"))
    assert result.returncode == 3
    assert result.stdout == ""
    assert len(result.stderr.splitlines()) == 1
    assert result.stderr.startswith("gpu.sh: no CUDA device: ")
    assert not (tmp_path / "build").exists()  # nothing measured, nothing written


def test_usage_errors_exit_2(tmp_path):
    for args in (["--bogus"], ["--build"]):
        result = gpu_sh(*args)
        assert result.returncode == 2, args
        assert result.stdout == ""
        assert len(result.stderr.splitlines()) == 1 and result.stderr.startswith("gpu.sh: ")


def benchmarks_md(path: Path) -> Path:
    path.write_text("# Benchmarks\n\nabove\n\n## Not measured (yet)\n\nbelow\n")
    return path


def test_dry_run_runs_every_step_and_writes_json_and_section(tmp_path):
    md = benchmarks_md(tmp_path / "B.md")
    result = gpu_sh("--dry-run", "--build", str(tmp_path / "build"), "--json", str(tmp_path / "gpu.json"),
                    "--write", str(md))  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    r = json.loads((tmp_path / "gpu.json").read_text())
    assert r["smoke"] is True and r["machine"]["gpu"] is None
    assert [(s["step"], s["status"]) for s in r["steps"]] == [(step, "ok") for step in STEPS]
    assert r["skipped"] == []
    # the CUDA-marked tests were selected and, without CUDA, skipped
    assert r["tests"]["returncode"] == 0 and r["tests"]["counts"]["skipped"] > 0
    assert "passed" not in r["tests"]["counts"] and "failed" not in r["tests"]["counts"]
    assert r["peak"]["bf16"]["tflops"] > 0
    (row,) = r["forward"]["rows"]
    assert (row["precision"], row["batch"]) == ("bf16", 2)
    assert row["flash_or_efficient_runs"] is True  # the CPU has a flash kernel; restricted, it still runs
    assert row["mfu"] > 0
    for part in ("e2e-vivit", "e2e-bundled"):
        (run,) = r[part]["runs"]
        assert run["workers"] == 1 and run["returncode"] == 0
        assert run["ok"] == run["videos"] == r["clips"]["clips"] == 2
    assert r["e2e-vivit"]["precision"] == "bf16" and r["e2e-bundled"]["model"] == "default.safetensors"
    bf16 = r["agreement"]["bf16"]
    assert bf16["device"] == "cpu" and bf16["videos"] == len(CLASSES) and bf16["views"] == 12 * len(CLASSES)
    assert set(bf16) >= {"top1_agreement_views", "max_softmax_diff_video", "meets_bounds"}
    text = md.read_text()
    begin = "<!-- benchmarks/gpu.sh results: begin (generated, edits here are overwritten) -->"
    assert text.index("above") < text.index(begin) < text.index("## Not measured") < text.index("below")
    section = text.split(begin, 1)[1].split("<!-- benchmarks/gpu.sh results: end -->", 1)[0]
    assert "## GPU (issue 19)" in section and "Smoke run on the CPU" in section
    for heading in ("### Model forward", "### End to end", "### Agreement with fp32"):
        assert heading in section


def test_out_of_budget_steps_are_skipped_and_said(tmp_path):
    md = benchmarks_md(tmp_path / "B.md")
    result = gpu_sh("--build", str(tmp_path / "build"), "--write", str(md), VIDCLASS_GPU_SMOKE="1",
                    VIDCLASS_GPU_BUDGET="0")  # fmt: skip
    assert result.returncode == 1
    r = json.loads((tmp_path / "build" / "gpu" / "gpu.json").read_text())
    reason = "no time left of the 0 s budget"
    assert [(s["step"], s["status"], s["reason"]) for s in r["steps"]] == [(s, "skipped", reason) for s in STEPS]
    assert [(s["step"], s["reason"]) for s in r["skipped"]] == [(s, reason) for s in STEPS]
    for step in STEPS:
        assert f"-- {step}: skipped: {reason}" in result.stdout.splitlines()
    assert f"| tests | 0 | 0 | skipped: {reason} |" in md.read_text()
