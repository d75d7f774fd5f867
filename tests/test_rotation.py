"""Portrait phone videos: frames stored landscape plus a display rotation are shown upright."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

import vidclass
from tests.videos import set_rotation, write_video
from vidclass.cli.main import main
from vidclass.video import ViewProtocol, load_views
from vidclass.video.decord_decoder import probe, read_frames
from vidclass.video.pyav_decoder import probe as probe_pyav
from vidclass.video.pyav_decoder import read_frames as read_frames_pyav

EXPECTED_SIDE = {0: "top", 90: "right", 180: "bottom", 270: "left"}  # where the stored top band shows


def red_band_on_top(i, h, w):
    frame = np.zeros((h, w, 3), np.uint8)
    frame[: h // 4, :, 0] = 255
    return frame


def band_side(frame: np.ndarray) -> str:
    red = frame[..., 0].astype(float)
    h, w = red.shape
    sides = {"top": red[: h // 4], "bottom": red[-(h // 4) :], "left": red[:, : w // 4], "right": red[:, -(w // 4) :]}
    return max(sides, key=lambda k: sides[k].mean())


@pytest.fixture(scope="module")
def rotated(tmp_path_factory):
    root = tmp_path_factory.mktemp("rotation")
    files = {}
    for degrees in EXPECTED_SIDE:
        path = write_video(root / f"r{degrees}.mp4", num_frames=12, width=96, height=64, pattern=red_band_on_top)
        files[degrees] = set_rotation(path, degrees) if degrees else path
    return files


@pytest.mark.parametrize("degrees", list(EXPECTED_SIDE))
@pytest.mark.parametrize("decoder", ["decord", "pyav"])
def test_frames_come_out_upright_at_the_displayed_size(rotated, degrees, decoder):
    probe_fn, read_fn = (probe, read_frames) if decoder == "decord" else (probe_pyav, read_frames_pyav)
    info = probe_fn(rotated[degrees])
    assert (info.width, info.height) == ((64, 96) if degrees in (90, 270) else (96, 64))
    frames = read_fn(rotated[degrees], [0, 5], (info.height // 2, info.width // 2)).numpy()
    assert frames.shape == (2, info.height // 2, info.width // 2, 3)
    assert [band_side(f) for f in frames] == [EXPECTED_SIDE[degrees]] * 2


def test_portrait_video_gets_portrait_crops_and_both_decoders_agree(rotated, tmp_path):
    model = vidclass.save_model(
        vidclass.create_model("vivit-micro", labels=["a", "b", "c"], seed=0), tmp_path / "m.safetensors"
    )
    runner = CliRunner()
    info = runner.invoke(main, ["info", str(rotated[90]), "--model", str(model), "--format", "json"])
    assert info.exit_code == 0, info.output
    doc = json.loads(info.stdout)
    assert (doc["width"], doc["height"]) == (64, 96)
    assert [c["name"] for c in doc["crops"]] == ["top", "middle", "bottom"]
    for decoder in ("decord", "pyav"):
        result = runner.invoke(
            main, ["predict", str(rotated[90]), "--model", str(model), "--decoder", decoder, "--format", "jsonl"]
        )
        assert result.exit_code == 0, result.output
        record = json.loads(result.stdout)
        assert record["decoder"] == decoder and (record["width"], record["height"]) == (64, 96)


def test_both_decoders_build_the_same_upright_views(rotated):
    prep = vidclass.create_model("vivit-micro", labels=["a", "b"]).preprocessing
    protocol = ViewProtocol(clips=2, crops=3)
    by_decord, _, _ = load_views(rotated[90], prep, protocol, decoder="decord")
    by_pyav, _, _ = load_views(rotated[90], prep, protocol, decoder="pyav")
    close = (by_decord - by_pyav).abs().mean().item()
    turned = (by_decord - by_pyav.flip(-1, -2)).abs().mean().item()  # the same views upside down
    assert close < 0.05 < 0.2 < turned, (close, turned)
