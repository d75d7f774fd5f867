"""--compile: torch.compile'd predictions equal the plain forward's, in one compiled graph;
a model that cannot be compiled is one error line and exit 2.

Compiling vivit-micro takes about 5 s with torch's on-disk compile cache warm and about 25 s
cold (the first run on a machine), on the project's busy 2-core CPU.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import vidclass
import vidclass.checkpoints
from tests.cli import CLEAN_ENV, cli_in
from tests.records import LABELS
from tests.videos import write_video
from vidclass.inference import Predictor
from vidclass.inference.compiling import CompileError

ROOT = str(Path(__file__).resolve().parents[1])

pytestmark = pytest.mark.skipif(
    shutil.which(os.environ.get("CXX", "g++")) is None, reason="torch.compile on the CPU needs a C++ compiler"
)


@pytest.fixture(scope="module")
def clf():
    return vidclass.create_model("vivit-micro", labels=LABELS, seed=7)


@pytest.fixture(scope="module")
def work(tmp_path_factory, clf) -> Path:
    root = tmp_path_factory.mktemp("compile")
    vidclass.save_model(clf, root / "model.safetensors")
    write_video(root / "ds" / "walk" / "a.mp4", num_frames=20, width=80, height=48)
    write_video(root / "ds" / "run" / "b.mp4", num_frames=12, width=48, height=64)
    return root


@pytest.fixture
def run(work, monkeypatch):
    return cli_in(work, monkeypatch, TORCH_LOGS=None)


def _no_recompile():
    """torch's public switch that makes any further compilation raise instead of compiling."""
    return torch.compiler.set_stance("fail_on_recompile")


def test_compiled_predictions_equal_eager_in_one_graph(clf, work):
    paths = [work / "ds" / "walk" / "a.mp4", work / "missing.mp4", work / "ds" / "run" / "b.mp4"]
    eager = Predictor(clf, device="cpu", precision="fp32", batch_size=5)
    compiled = Predictor(clf, device="cpu", precision="fp32", batch_size=5, compile=True)
    assert compiled.compile and compiled.describe()["compile"] is True
    assert compiled.compile_seconds is not None and compiled.compile_seconds > 0
    assert eager.compile is False and eager.compile_seconds is None and eager.describe()["compile"] is False
    seen: list[int] = []
    forward = compiled.forward
    compiled.forward = lambda batch: seen.append(batch.shape[0]) or forward(batch)  # type: ignore[method-assign]
    with _no_recompile():  # the graph compiled up front serves every batch
        got = list(compiled.predict_many(paths))
    # 24 views in batches of 5: the last 4 are padded to 5, so the one compiled shape is all it sees
    assert seen == [5, 5, 5, 5, 5]
    expected = list(eager.predict_many(paths))
    assert [p.path for p in got] == [p.path for p in expected] == [str(p) for p in paths]
    assert [p.error for p in got] == [None, "file not found", None]
    for g, e in zip(got, expected, strict=True):
        if not e.ok:
            continue
        assert max(abs(a - b) for a, b in zip(g.scores, e.scores, strict=True)) <= 1e-5
        assert [label for label, _ in g.labels] == [label for label, _ in e.labels]
    # the logits themselves, and a short stand-alone run padded too
    views = torch.randn(7, 3, clf.preprocessing.num_frames, clf.preprocessing.crop_size, clf.preprocessing.crop_size)
    with _no_recompile():
        diff = (compiled.logits(views) - eager.logits(views)).abs().max().item()
    assert diff <= 1e-5


def test_cli_compile_flag(run, clf):
    args = ("predict", "ds/walk/a.mp4", "ds/run/b.mp4", "-m", "model.safetensors", "--device", "cpu",
            "--precision", "fp32", "-b", "5", "--workers", "0", "-f", "json", "--scores")  # fmt: skip
    plain = run(*args)
    compiled = run(*args, "--compile")
    assert plain.exit_code == 0 and compiled.exit_code == 0, compiled.output
    assert compiled.stderr == ""  # compiling logs nothing
    a, b = json.loads(plain.stdout), json.loads(compiled.stdout)
    assert (a["model"]["compile"], b["model"]["compile"]) == (False, True)
    for x, y in zip(a["results"], b["results"], strict=True):
        assert x["path"] == y["path"] and y["ok"]
        assert y["scores"] == pytest.approx(x["scores"], abs=1e-5)
    result = run("eval", "ds", "-m", "model.safetensors", "--device", "cpu", "--compile", "-b", "5", "-f", "json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["counts"]["scored"] == 2


def _failing_compile(model, **kwargs):
    """A stand-in for ``torch.compile`` whose compiled module fails on its first call, with the
    multi-line message compilers write."""

    def compiled(*args, **kw):
        raise RuntimeError("backend failed\n  a traceback line\n  another")

    return compiled


def test_compile_failure_is_one_line_and_exit_2(run, clf, monkeypatch):
    monkeypatch.setattr(torch, "compile", _failing_compile)
    with pytest.raises(CompileError) as raised:
        Predictor(clf, device="cpu", compile=True)
    assert str(raised.value) == "torch.compile failed: backend failed"
    for command in (("predict", "ds/walk/a.mp4"), ("eval", "ds")):
        result = run(*command, "-m", "model.safetensors", "--device", "cpu", "--compile")
        assert result.exit_code == 2, result.output
        assert result.stdout == ""
        assert result.stderr == "error: torch.compile failed: backend failed\n"


def test_no_cpu_compiler_is_one_line_and_exit_2(work, tmp_path):
    """A real failure: inductor with no C++ compiler ($CXX names none) and an empty compile cache.
    What inductor says differs between torch releases; that it is one line, exit 2, does not."""
    env = {k: v for k, v in os.environ.items() if k not in CLEAN_ENV and k != "TORCH_LOGS"}
    env.update(CXX="/nonexistent/g++", TORCHINDUCTOR_CACHE_DIR=str(tmp_path / "inductor"), PYTHONPATH=ROOT)
    result = subprocess.run(
        [sys.executable, "-m", "vidclass", "predict", "ds/walk/a.mp4", "-m", "model.safetensors",
         "--device", "cpu", "--compile"],  # fmt: skip
        cwd=work, env=env, capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: torch.compile failed: ") and len(lines[0]) > len("error: torch.compile failed: ")
