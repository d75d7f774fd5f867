"""Views of consecutive videos share batches: same predictions, same order, nothing dropped."""

from __future__ import annotations

import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

import vidclass
from tests import decode_hooks
from tests.records import LABELS
from tests.videos import write_video
from vidclass.inference import Predictor
from vidclass.inference.batching import batch_views
from vidclass.scores import aggregate
from vidclass.video import load_views

# --------------------------------------------------------------------------- batch_views

# View counts of a stream of items; None is an item without views (a video that failed).
COUNTS = [3, None, 7, 1, 12, None, None, 5, 2]


def _items(counts, events=None):
    """Items named by their index, each view a row [item, view]: what comes back is traceable."""
    for index, count in enumerate(counts):
        if events is not None:
            events.append(("pull", index))
        if count is None:
            yield index, None
        else:
            views = torch.tensor([[index, view] for view in range(count)], dtype=torch.float32)
            yield index, views


def _recorder(events, batches):
    def run(batch: torch.Tensor) -> torch.Tensor:
        batches.append(batch.clone())
        events.append(("run", len(batches) - 1))
        return batch * 10 + 1  # logits that say exactly which view they came from

    return run


@pytest.mark.parametrize("pad", [False, True])
@pytest.mark.parametrize("batch_size", [1, 4, 5, 12, 64])
def test_batch_views_splits_logits_back_per_item_in_order(batch_size, pad):
    events: list = []
    batches: list[torch.Tensor] = []
    out = []
    for item, logits, seconds in batch_views(_items(COUNTS, events), _recorder(events, batches), batch_size, pad=pad):
        events.append(("yield", item))
        out.append((item, logits, seconds))
    # every item once, in input order; failures (None) included
    assert [item for item, _, _ in out] == list(range(len(COUNTS)))
    for (item, logits, seconds), count in zip(out, COUNTS, strict=True):
        if count is None:
            assert logits is None and seconds == 0.0
            continue
        expected = torch.tensor([[item, view] for view in range(count)], dtype=torch.float32) * 10 + 1
        assert torch.equal(logits, expected)  # its own views, all of them, in order
        assert seconds >= 0.0
    # batches are cut from the concatenated stream of views: full ones, then the rest
    total = sum(c for c in COUNTS if c)
    full, rest = divmod(total, batch_size)
    sizes = [len(b) for b in batches]
    assert sizes == [batch_size] * full + ([batch_size if pad else rest] if rest else [])
    stream = torch.cat([b for b in batches])[:total]
    expected_stream = torch.cat([v for _, v in _items(COUNTS) if v is not None])
    assert torch.equal(stream, expected_stream)
    if pad and rest:
        last = batches[-1]
        assert torch.equal(last[rest:], last[rest - 1 : rest].expand(batch_size - rest, -1))  # the last view, repeated


@pytest.mark.parametrize("batch_size", [1, 5, 12, 64])
def test_batch_views_yields_each_item_as_soon_as_its_last_batch_ran(batch_size):
    """An item waits for later items only as far as the batch it shares with them, and the
    stream is read only as far as a batch needs: at most one batch of views is held back."""
    events: list = []
    batches: list[torch.Tensor] = []
    for item, _, _ in batch_views(_items(COUNTS, events), _recorder(events, batches), batch_size):
        events.append(("yield", item))
    last_batch = {}  # item -> the batch holding its last view
    for number, batch in enumerate(batches):
        for row in batch.tolist():
            last_batch[int(row[0])] = number
    position = {event: i for i, event in enumerate(events)}
    runs = [position[("run", n)] for n in range(len(batches))]
    for item, count in enumerate(COUNTS):
        yielded = position[("yield", item)]
        previous = position[("yield", item - 1)] if item else -1
        assert yielded > previous
        if count is None:  # a failure comes out right behind the item before it
            pulled = position[("pull", item)]
            assert not [r for r in runs if max(previous, pulled) < r < yielded]
            continue
        ran = runs[last_batch[item]]
        assert ran < yielded  # after its last batch ...
        assert not [r for r in runs if ran < r < yielded]  # ... before any later batch runs
    # reading ahead: when an item is pulled, the views pulled but not yet run fill less than a batch
    pulled_views = run_views = 0
    for kind, index in events:
        if kind == "pull":
            assert pulled_views - run_views < batch_size
            pulled_views += COUNTS[index] or 0
        elif kind == "run":
            run_views += len(batches[index])


def test_batch_views_with_no_views_at_all_and_nothing():
    calls = []
    assert list(batch_views([], calls.append, 4)) == []
    assert [(item, logits) for item, logits, _ in batch_views([("a", None), ("b", None)], calls.append, 4)] == [
        ("a", None),
        ("b", None),
    ]
    assert calls == []
    with pytest.raises(ValueError, match="batch_size"):
        list(batch_views([], calls.append, 0))


def test_batch_views_splits_the_batch_time_by_views(monkeypatch):
    import vidclass.inference.batching as batching

    clock = iter([0.0, 2.0])  # one batch of 4 views that takes 2 s: 3 views of a, 1 of b
    monkeypatch.setattr(batching, "time", SimpleNamespace(perf_counter=lambda: next(clock)))
    out = list(batch_views([("a", torch.zeros(3, 1)), ("b", torch.zeros(1, 1))], lambda b: b, 4))
    assert [(item, seconds) for item, _, seconds in out] == [("a", 1.5), ("b", 0.5)]


# --------------------------------------------------------------------------- Predictor


@pytest.fixture(scope="module")
def clf():
    return vidclass.create_model("vivit-micro", labels=LABELS, seed=5)


@pytest.fixture(scope="module")
def videos(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("batching")
    write_video(root / "a.mp4", num_frames=20, width=80, height=48)
    write_video(root / "b.mp4", num_frames=12, width=48, height=64)
    write_video(root / "c.mp4", num_frames=33, width=64, height=64, fps=30)
    write_video(root / "d.mp4", num_frames=7, width=96, height=40)
    (root / "corrupt.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42 not really a video")
    return root


# good, missing, good, corrupt, good, good: failures between good videos
NAMES = ["a.mp4", "missing.mp4", "b.mp4", "corrupt.mp4", "c.mp4", "d.mp4"]


def _per_video(clf, path: Path, predictor: Predictor) -> torch.Tensor:
    """The reference: the model on this video's views alone, in one forward pass."""
    views, _, _ = load_views(path, predictor.preprocessing, predictor.protocol)
    with torch.inference_mode():
        return aggregate(clf.model.eval()(views), predictor.protocol.aggregate)


def _check_against_per_video(clf, root: Path, names, predictions, predictor, errors) -> None:
    assert [p.path for p in predictions] == [str(root / name) for name in names]
    views = predictor.protocol.clips * predictor.protocol.crops
    for name, p in zip(names, predictions, strict=True):
        if name in errors:
            assert not p.ok and p.scores is None
            assert errors[name] is None or p.error == errors[name]
            continue
        assert p.ok, (name, p.error)
        assert p.views == views
        expected = _per_video(clf, root / name, predictor)
        got = torch.tensor(p.scores)
        assert (got - expected).abs().max().item() <= 1e-6
        order = torch.argsort(expected, descending=True).tolist()
        assert torch.argsort(got, descending=True).tolist() == order  # identical ordering
        assert [label for label, _ in p.labels] == [LABELS[i] for i in order[: len(p.labels)]]


@pytest.mark.parametrize("clips,crops", [(4, 3), (3, 1), (5, 3)])  # 12, 3 and 15 views per video
@pytest.mark.parametrize("batch_size", [5, 12, 64])
def test_cross_video_batches_predict_what_each_video_alone_does(clf, videos, clips, crops, batch_size):
    predictor = Predictor(clf, device="cpu", precision="fp32", batch_size=batch_size, clips=clips, crops=crops)
    seen: list[int] = []
    original = predictor.forward

    def counting(batch):
        seen.append(batch.shape[0])
        return original(batch)

    predictor.forward = counting  # type: ignore[method-assign]
    predictions = list(predictor.predict_many(videos / name for name in NAMES))
    errors = {"missing.mp4": "file not found", "corrupt.mp4": None}
    _check_against_per_video(clf, videos, NAMES, predictions, predictor, errors)
    # the batches really crossed videos: 4 good videos' views, cut into full batches
    total = 4 * clips * crops
    full, rest = divmod(total, batch_size)
    assert seen == [batch_size] * full + ([rest] if rest else [])


def test_single_video_runs_its_own_batches(clf, videos):
    """One input: batches of its own views, the last one short, as before batching crossed videos."""
    predictor = Predictor(clf, device="cpu", precision="fp32", batch_size=5)
    seen: list[int] = []
    original = predictor.forward
    predictor.forward = lambda batch: seen.append(batch.shape[0]) or original(batch)  # type: ignore[method-assign]
    (many,) = predictor.predict_many([videos / "a.mp4"])
    one = predictor.predict(videos / "a.mp4")
    assert seen == [5, 5, 2, 5, 5, 2]
    assert many.scores == one.scores
    _check_against_per_video(clf, videos, ["a.mp4"], [one], predictor, {})


def test_worker_crash_between_good_videos_costs_only_that_file(clf, videos, monkeypatch):
    """With decoding in worker processes, a crash in the middle of a shared batch stream."""
    shutil.copy(videos / "b.mp4", videos / "crash.mp4")
    decode_hooks.install(monkeypatch)
    names = ["a.mp4", "crash.mp4", "b.mp4", "c.mp4"]
    with Predictor(clf, device="cpu", precision="fp32", batch_size=5, workers=1) as predictor:
        predictions = list(predictor.predict_many(videos / name for name in names))
    errors = {"crash.mp4": "decoder crashed (SIGSEGV)"}
    _check_against_per_video(clf, videos, names, predictions, predictor, errors)
