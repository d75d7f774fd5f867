"""``Explanation``: where a model looked in one clip of one video, and its ways out (PNG, GIF,
MP4, JSON)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from vidclass.errors import VidclassError

DECIMALS = 6  # of the maps in JSON: each map still sums to 1 within 1e-5
PICTURE_SUFFIXES = (".png",)
ANIMATION_SUFFIXES = (".gif", ".mp4")
SAVE_SUFFIXES = (*PICTURE_SUFFIXES, *ANIMATION_SUFFIXES, ".json")


@dataclass(frozen=True, eq=False)
class Explanation:
    """One clip of one video explained; every per-frame array has one entry per input frame.

    ``maps`` float64 (T, R, h, w): for each of the clip's T input frames and each of R rows (the
    learned tokens for ``tokens``, one row for ``rollout``), a map over the model's h x w token
    grid that sums to 1. The frames of one tubelet share its maps. ``row_weights`` (T, R): how
    much each row counts in that frame (each frame's sum is 1); ``frame_weights`` (T,): how much
    each frame counts (sum 1). ``frames`` uint8 (T, s, s, 3): what the model saw, its centre crop
    of the clip, un-normalised. ``crop_box`` (left, top, size) and ``resized_hw`` place that crop
    in the video: the crop was cut from the frame resized to ``resized_hw``.
    """

    path: str
    model: str
    method: str
    label: str
    score: float
    clip: int
    frame_indices: tuple[int, ...]
    maps: np.ndarray
    row_weights: np.ndarray
    frame_weights: np.ndarray
    frames: np.ndarray
    tubelet: int  # input frames per map step
    layer: int | None  # the TokenLearner layer of ``tokens``
    crop_box: tuple[int, int, int]
    resized_hw: tuple[int, int]
    video: dict[str, Any] = field(default_factory=dict)  # width, height, fps, frames, duration
    clip_fps: float = 0.0  # the clip's frame rate, for its animation
    seconds: float = 0.0

    @property
    def grid(self) -> tuple[int, int]:
        return int(self.maps.shape[2]), int(self.maps.shape[3])

    def combined(self) -> np.ndarray:
        """One map per frame (T, h, w), the rows weighted by ``row_weights``; each sums to 1."""
        return np.einsum("tr,trhw->thw", self.row_weights, self.maps)

    def peaks(self) -> np.ndarray:
        """Where ``combined`` peaks in each frame: (T, 2) x, y at the centre of the top grid cell,
        in the pixels of the video as decoded (its full frame)."""
        combined = self.combined()
        h, w = self.grid
        flat = combined.reshape(len(combined), -1).argmax(axis=1)
        rows, cols = np.divmod(flat, w)
        left, top, size = self.crop_box
        resized_h, resized_w = self.resized_hw
        x = (left + (cols + 0.5) * size / w) * self.video["width"] / resized_w
        y = (top + (rows + 0.5) * size / h) * self.video["height"] / resized_h
        return np.stack([x, y], axis=1)

    def title(self) -> str:
        return f"{self.label} {self.score:.2f} | {self.method} | clip {self.clip} | {self.model}"

    def row_labels(self) -> list[str]:
        if self.method == "rollout":
            return ["rollout"]
        mean = self.row_weights.mean(axis=0)
        return [f"token {r} ({mean[r]:.2f})" for r in range(self.maps.shape[1])]

    def picture(self) -> Any:
        """The PNG grid as a ``PIL.Image``: one column per tubelet step (its middle frame), one
        row per map row."""
        from vidclass.explanation.picture import grid_picture

        steps = len(self.frame_indices) // self.tubelet
        columns = [step * self.tubelet + self.tubelet // 2 for step in range(steps)]
        labels = [f"frame {self.frame_indices[c]}" for c in columns]
        return grid_picture(self.frames, self.maps, self.title(), self.row_labels(), labels, columns)

    def to_record(self) -> dict[str, Any]:
        """The JSON document ``vidclass explain -f json`` prints."""
        return {
            "path": self.path,
            "model": self.model,
            "method": self.method,
            "layer": self.layer,
            "label": self.label,
            "score": self.score,
            "clip": self.clip,
            "frame_indices": list(self.frame_indices),
            "tubelet": self.tubelet,
            "grid": list(self.grid),
            "crop": {"left": self.crop_box[0], "top": self.crop_box[1], "size": self.crop_box[2]},
            "resized": list(self.resized_hw),
            "maps": np.round(self.maps, DECIMALS).tolist(),
            "row_weights": np.round(self.row_weights, DECIMALS).tolist(),
            "frame_weights": np.round(self.frame_weights, DECIMALS).tolist(),
            "video": dict(self.video),
            "seconds": round(self.seconds, 3),
        }

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the PNG grid (.png), the animation (.gif, .mp4) or the JSON document (.json),
        by ``path``'s suffix; the file is replaced."""
        suffix = os.path.splitext(os.fspath(path))[1].lower()
        if suffix in PICTURE_SUFFIXES:
            self.picture().save(path, format="PNG")
        elif suffix in ANIMATION_SUFFIXES:
            from vidclass.explanation.picture import animation_frames, write_animation

            write_animation(animation_frames(self.frames, self.combined(), self.title()), path, self.clip_fps)
        elif suffix == ".json":
            from vidclass.serialize import json_dumps

            with open(path, "w", encoding="utf-8") as out:
                out.write(json_dumps(self.to_record()) + "\n")
        else:
            raise VidclassError(
                f"cannot save an explanation as {suffix or 'a file without suffix'}: use .png, .gif, .mp4 or .json"
            )


__all__ = ["Explanation"]
