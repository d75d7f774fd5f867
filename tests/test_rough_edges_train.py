"""Issue 14, training feedback, through real ``python -m vidclass train`` processes: how many
videos train and validate, the splits that are refused, the progress bar's steps, loss and
throughput, and what ``--resume`` says and allows."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading

import numpy as np
import pytest

from tests.videos import write_video
from vidclass.training import lr_factor

ENV = {k: v for k, v in os.environ.items() if k not in ("VIDCLASS_MODEL", "NO_COLOR", "FORCE_COLOR")}
TINY = ["-m", "vivit-micro", "--device", "cpu", "--no-randaugment", "-f", "json"]


def _videos(root, classes, per_class):
    for c in range(classes):
        for k in range(per_class):
            level = 10 + 20 * c + 5 * k
            write_video(
                root / f"c{c:02d}" / f"v{k}.mp4",
                num_frames=16,
                width=40,
                height=40,
                pattern=lambda i, h, w, level=level: np.full((h, w, 3), level + i, dtype=np.uint8),
            )
    return root


@pytest.fixture(scope="module")
def pairs(tmp_path_factory):
    """22 videos, two in each of 11 classes: the dataset of the report."""
    return _videos(tmp_path_factory.mktemp("pairs"), 11, 2)


def vidclass_train(*args, cwd, stderr=subprocess.PIPE):
    return subprocess.run(
        [sys.executable, "-m", "vidclass", "train", *map(str, args)],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=stderr,
        text=True,
        env=ENV,
        timeout=300,
    )


def test_the_split_is_printed_and_a_small_dataset_trains_with_the_defaults(pairs, tmp_path):
    # --val-fraction 0.1 of 22 videos holds out 2 (it used to take one of each class: 11, and
    # then refuse the 11 left for a batch of 16).
    done = vidclass_train(pairs, "-o", tmp_path / "run", "--epochs", 1, *TINY, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stderr.splitlines()[0] == "note: 20 videos for training, 2 for validation (--val-fraction 0.1)"
    [epoch] = json.loads(done.stdout)["epochs"]
    assert epoch["step"] == 1 and epoch["val_top1"] is not None  # 20 videos: one batch of 16

    given = vidclass_train(pairs, "-o", tmp_path / "val", "--val", pairs, "--epochs", 1, *TINY, cwd=tmp_path)
    assert given.returncode == 0, given.stderr
    assert given.stderr.splitlines()[0] == "note: 22 videos for training, 22 for validation (the validation set)"
    assert json.loads(given.stdout)["epochs"][0]["step"] == 1


def test_a_split_that_starves_training_is_refused_with_the_remedy(pairs, tmp_path):
    done = vidclass_train(pairs, "-o", tmp_path / "run", "-b", 21, *TINY, cwd=tmp_path)
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr == (
        "error: 20 videos for training, 2 for validation (--val-fraction 0.1): fewer training videos than "
        "one batch of 21: lower --batch-size, or hold out none (--val-fraction 0) or give a validation set "
        "(--val DIR)\n"
    )
    assert not (tmp_path / "run").exists()
    none = vidclass_train(pairs, "-o", tmp_path / "run", "-b", 23, "--val-fraction", 0, *TINY, cwd=tmp_path)
    assert (none.returncode, none.stdout) == (2, "")
    assert none.stderr == (
        "error: 22 videos for training, none for validation (--val-fraction 0): fewer training videos than "
        "one batch of 23: lower --batch-size\n"
    )


def test_a_split_that_leaves_validation_empty_is_refused_with_the_remedy(tmp_path):
    singles = _videos(tmp_path / "singles", 3, 1)  # nothing to hold out: a class keeps its last video
    done = vidclass_train(singles, "-o", tmp_path / "run", "-b", 2, "--epochs", 1, *TINY, cwd=tmp_path)
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr == (
        "error: --val-fraction 0.1 holds out no video: every class has a single one, and a class's last video "
        "is never held out: pass --val-fraction 0 to train without validation, or --val DIR\n"
    )
    assert not (tmp_path / "run").exists()


_CURSOR = re.compile(r"\x1b\[[0-9;?]*[ABCDEFGHJKST]|\r")  # moves and erasures: a new frame
_STYLE = re.compile(r"\x1b\[[0-9;?]*[a-zA-Z]")


@pytest.mark.skipif(not hasattr(os, "openpty"), reason="needs a pseudo-terminal")
def test_the_progress_bar_counts_steps_and_shows_the_running_loss_and_throughput(pairs, tmp_path):
    # stderr on a terminal (a pseudo-terminal), stdout on a pipe: the bar is drawn on stderr.
    master, slave = os.openpty()
    drawn = bytearray()

    def read():
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # the child closed the terminal
                return
            if not chunk:
                return
            drawn.extend(chunk)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    env = {**ENV, "COLUMNS": "200"}
    cmd = [sys.executable, "-m", "vidclass", "train", str(pairs), "-o", str(tmp_path / "run")]
    args = ["--epochs", "2", "-b", "8", "--val-fraction", "0", *TINY]
    with subprocess.Popen([*cmd, *args], cwd=tmp_path, stdout=subprocess.PIPE, stderr=slave, env=env) as proc:
        os.close(slave)
        out, _ = proc.communicate(timeout=300)
    reader.join(timeout=30)
    os.close(master)
    screen = _STYLE.sub("", _CURSOR.sub("\n", drawn.decode("utf-8", "replace")))
    assert proc.returncode == 0, screen[-2000:]
    assert [e["step"] for e in json.loads(out)["epochs"]] == [2, 4]  # 22 videos, batches of 8: 2 a epoch
    # the bar counts batches over the whole run (2 epochs x 2), with the running loss and clips/s
    bars = re.findall(r"epoch (\d)/2 .*? (\d)/4 .*?loss (\d+\.\d{4}), (\d+\.\d) clips/s", screen)
    assert bars, screen[-2000:]
    assert ("2", "4") in {(epoch, done) for epoch, done, _, _ in bars}
    assert all(float(loss) > 0 for _, _, loss, _ in bars)
    assert "note: epoch 2/2, loss " in screen


def test_resume_names_each_option_that_differs(pairs, tmp_path):
    run = tmp_path / "run"
    first = vidclass_train(pairs, "-o", run, "--epochs", 1, "-b", 8, "--val-fraction", 0, *TINY, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    other = ["--epochs", 1, "-b", 4, "--val-fraction", 0, "--lr", "0.001", "--hflip"]
    done = vidclass_train(pairs, "-o", run, "--resume", *other, *TINY, cwd=tmp_path)
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr == (
        f"error: --resume: the run in {run} started with other options: --batch-size 4 (the run: 8), "
        "--lr 0.001 (the run: 0.0005), --hflip on (the run: off): resume with the run's options "
        "(only --epochs may change), or train into another folder\n"
    )


def test_resume_with_more_epochs_trains_a_finished_run_on(pairs, tmp_path):
    run = tmp_path / "run"
    recipe = ["-b", 8, "--val-fraction", 0, "--warmup-epochs", 0, *TINY]
    first = vidclass_train(pairs, "-o", run, "--epochs", 1, *recipe, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    [one] = json.loads(first.stdout)["epochs"]
    assert one["step"] == 2 and one["lr"] == pytest.approx(1e-6)  # 22 videos, batches of 8; the schedule's end

    more = vidclass_train(pairs, "-o", run, "--epochs", 3, "--resume", *recipe, cwd=tmp_path)
    assert more.returncode == 0, more.stderr
    notes = more.stderr.splitlines()
    assert notes[:3] == [
        "note: 22 videos for training, none for validation (--val-fraction 0)",
        "note: resuming after epoch 1 (step 2)",
        "note: --epochs 1 -> 3: the learning rate follows the cosine schedule for 3 epochs from step 2",
    ]
    epochs = json.loads(more.stdout)["epochs"]
    assert [(e["epoch"], e["step"]) for e in epochs] == [(1, 2), (2, 4), (3, 6)]
    assert epochs[0] == one  # the finished epoch, as it was
    # the cosine schedule recomputed for 3 epochs (6 steps), picked up at step 2
    assert epochs[1]["lr"] == pytest.approx(5e-4 * lr_factor(4, 6, 0, 1e-6 / 5e-4))
    assert epochs[2]["lr"] == pytest.approx(1e-6)
    lines = (run / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["epoch"] for line in lines] == [1, 2, 3]

    fewer = vidclass_train(pairs, "-o", run, "--epochs", 2, "--resume", *recipe, cwd=tmp_path)
    assert (fewer.returncode, fewer.stdout) == (2, "")
    assert (
        fewer.stderr == f"error: --epochs 2: the run in {run} has trained 3 epochs already: pass --epochs 3 or more\n"
    )


def test_the_hold_out_is_a_fraction_of_the_videos_and_never_the_last_of_a_class():
    from vidclass.data.training import split_validation

    pairs = [c for c in range(11) for _ in range(2)]
    train, val = split_validation(pairs, 0.1, seed=0)
    assert (len(train), len(val)) == (20, 2) and len({pairs[i] for i in val}) == 2
    assert split_validation(pairs, 0.1, seed=0) == (train, val)
    labels = [0, 0, 1, 1, 2]
    train, val = split_validation(labels, 0.9, seed=0)  # 5 asked for; each class keeps one
    assert sorted(labels[i] for i in val) == [0, 1] and len(train) == 3
    assert split_validation([0, 1, 2], 0.5, seed=0) == ([0, 1, 2], [])
