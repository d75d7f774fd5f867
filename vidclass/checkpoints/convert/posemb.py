"""Position embeddings at another token grid: resampling over (t, h, w) and tiling over time.

A position embedding is (1, P, D): ``num_prefix`` rows for prefix tokens (the CLS token) first,
then one row per grid cell, row-major over the grid (time, then height, then width, the order
of our tokens). These are pure functions; converters call them when the user explicitly asks
to run a checkpoint at another frame count or resolution, and to tile image embeddings over
time.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

_MODES = {1: "linear", 2: "bilinear", 3: "trilinear"}


def _check_grid(grid: tuple[int, ...], what: str) -> None:
    if not 1 <= len(grid) <= 3 or any(n < 1 for n in grid):
        raise ValueError(f"{what} grid must be 1 to 3 positive sizes, got {grid}")


def _check(pos: torch.Tensor, grid: tuple[int, ...], num_prefix: int, what: str) -> None:
    if pos.ndim != 3 or pos.shape[0] != 1:
        raise ValueError(f"position embedding must be (1, P, D), got {tuple(pos.shape)}")
    _check_grid(grid, what)
    if num_prefix < 0:
        raise ValueError(f"num_prefix must be >= 0, got {num_prefix}")
    expected = num_prefix + math.prod(grid)
    if pos.shape[1] != expected:
        cells = "x".join(str(n) for n in grid)
        raise ValueError(
            f"position embedding has {pos.shape[1]} rows, but {num_prefix} prefix row(s) + a {cells} "
            f"{what} grid need {expected}"
        )


def resample_pos_embed(
    pos: torch.Tensor, old_grid: tuple[int, ...], new_grid: tuple[int, ...], num_prefix: int
) -> torch.Tensor:
    """(1, num_prefix + prod(old_grid), D) -> (1, num_prefix + prod(new_grid), D).

    The prefix rows are kept as they are. The grid rows are interpolated (linear, bilinear or
    trilinear for 1-, 2- or 3-D grids; ``align_corners=False``) in float32 and returned in
    ``pos``'s dtype. Equal grids return an unchanged copy.
    """
    old_grid, new_grid = tuple(int(n) for n in old_grid), tuple(int(n) for n in new_grid)
    if len(old_grid) != len(new_grid):
        raise ValueError(f"grids {old_grid} and {new_grid} have different numbers of axes")
    _check(pos, old_grid, num_prefix, "old")
    _check_grid(new_grid, "new")
    if old_grid == new_grid:
        return pos.clone()
    d = pos.shape[2]
    prefix, cells = pos[:, :num_prefix], pos[:, num_prefix:]
    x = cells.float().reshape(1, *old_grid, d).movedim(-1, 1)  # (1, D, *old_grid)
    y = F.interpolate(x, size=new_grid, mode=_MODES[len(old_grid)], align_corners=False)
    y = y.movedim(1, -1).reshape(1, math.prod(new_grid), d).to(pos.dtype)  # (1, prod(new), D)
    return torch.cat([prefix, y], dim=1)


def tile_over_time(pos_2d: torch.Tensor, frames: int, num_prefix: int) -> torch.Tensor:
    """(1, num_prefix + S, D) -> (1, num_prefix + frames * S, D), the S rows repeated per frame.

    Tokens are ordered time, then space, so frame k's rows are ``num_prefix + k*S ...``.
    """
    if frames < 1:
        raise ValueError(f"frames must be >= 1, got {frames}")
    if pos_2d.ndim != 3 or pos_2d.shape[0] != 1 or pos_2d.shape[1] <= num_prefix or num_prefix < 0:
        raise ValueError(
            f"position embedding must be (1, num_prefix + S, D) with S >= 1, got {tuple(pos_2d.shape)} "
            f"for num_prefix={num_prefix}"
        )
    prefix, cells = pos_2d[:, :num_prefix], pos_2d[:, num_prefix:]
    return torch.cat([prefix, cells.repeat(1, frames, 1)], dim=1)
