"""``explain``: the library mirror of ``vidclass explain``: one video, one clip, its maps.

::

    e = vidclass.explain("clip.mp4")          # the bundled model, method "auto"
    print(e.label, e.score, e.clip, e.maps.shape)
    e.save("clip.explain.png")

The video is decoded once, through the predictor's decode queue (so a decoder crash or hang
costs this video alone, as in ``predict``), and scored over the model's whole view protocol,
so that ``label`` and ``score`` are exactly what ``vidclass predict`` reports. The clip
explained is the one whose centre crop scores that label highest, unless ``clip`` names one;
its centre crop then runs once more through the model, in float32, with the maps recorded
(``vidclass.explanation.maps.explain_clip``): no gradient is computed.
"""

from __future__ import annotations

import os
import time
from typing import Any

import numpy as np
import torch

from vidclass.checkpoints import ModelSpec, load_classifier
from vidclass.defaults import EXPLAIN_METHODS
from vidclass.errors import InputError, VidclassError
from vidclass.explanation.maps import explain_clip, methods_for, token_layers
from vidclass.explanation.result import Explanation
from vidclass.explanation.x3d_tokens import PLAIN_REFUSAL, ROLLOUT_REFUSAL
from vidclass.inference import Predictor, RunOptions
from vidclass.models import X3D, ViViT, X3DConfig, family_of
from vidclass.scores import aggregate

METHODS = EXPLAIN_METHODS


class ExplainInputError(InputError):
    """The video cannot be explained: it could not be decoded, or its scores are not finite."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(message)
        self.path = path


def explain(
    path: str | os.PathLike[str],
    model: ModelSpec = None,
    *,
    method: str = "auto",
    clip: int | None = None,
    layer: int | None = None,
    options: RunOptions | None = None,
    **changes: Any,
) -> Explanation:
    """Explain one video (see the module's docstring). ``method``: ``auto`` (``tokens`` for a
    TokenLearner model, else ``rollout``), ``tokens`` or ``rollout`` (ViViT only). ``clip``: the
    temporal clip's index (0-based, as ``vidclass info`` numbers them). ``layer``: which
    TokenLearner layer ``tokens`` reads (default the first; X3D-TL: the stage its block follows,
    the only one). ``options``/keywords: as for ``predict``
    (``device``, ``precision``, ``decoder``, ``workers``, ``timeout``, ...).

    A method or layer the model cannot explain is a ``VidclassError`` (usage); a video that
    cannot be decoded or scored, an ``ExplainInputError`` (an ``InputError``).
    """
    options = RunOptions.build(options, **changes)
    classifier = load_classifier(model)
    chosen = resolve_method(method, classifier.model.config, classifier.name)
    with Predictor(classifier, options) as predictor:
        return explain_with(predictor, path, method=chosen, clip=clip, layer=layer)


def resolve_method(method: str, config: Any, name: str) -> str:
    """``auto`` made concrete, or ``method`` checked against what the model can explain. The maps
    are made of a ViViT's attention and TokenLearner weights, or of an X3D-TL's TokenLearner
    block's weights (``tokens`` alone); a plain X3D has neither."""
    possible = methods_for(config)
    if not possible:
        raise VidclassError(
            f"{name} is an {family_of(config).name} model without a TokenLearner block: {PLAIN_REFUSAL}"
        )
    if method == "auto":
        return possible[0]
    if method not in METHODS:
        raise VidclassError(f"unknown method {method!r}: use one of {', '.join(METHODS)}")
    if method not in possible:
        can = " or ".join(possible)
        why = f" ({ROLLOUT_REFUSAL})" if isinstance(config, X3DConfig) else ""
        raise VidclassError(f"{name} cannot be explained with --method {method}{why}: it can with --method {can}")
    return method


def explain_with(
    predictor: Predictor, path: str | os.PathLike[str], *, method: str, clip: int | None, layer: int | None
) -> Explanation:
    """Explain ``path`` with an open ``predictor`` (its model, options and decode queue)."""
    started = time.perf_counter()
    name = os.fspath(path)
    ((decoded, views),) = list(predictor.queue.decoded([name], read_ahead=False))
    if views is None:
        raise ExplainInputError(name, decoded.error or "cannot read video")
    logits = predictor.logits(views)  # (V, K), clip-major: clip0 crop0, clip0 crop1, ...
    try:
        probs = aggregate(logits, predictor.protocol.aggregate, predictor.multi_label)  # (K,)
    except InputError as exc:  # non-finite scores
        raise ExplainInputError(name, str(exc)) from exc
    label = int(probs.argmax())
    plan, info = decoded.plan, decoded.info
    crops = len(plan.crops)
    centre = crops // 2  # the middle crop: left/centre/right, or the one centre crop
    if clip is None:
        centre_scores = torch.softmax(logits[centre::crops], dim=-1)[:, label]  # (clips,)
        clip = int(centre_scores.argmax())
    elif not 0 <= clip < len(plan.clips):
        raise VidclassError(f"--clip {clip}: this video has clips 0 to {len(plan.clips) - 1}")
    view = views[clip * crops + centre].unsqueeze(0)  # (1, 3, T, s, s)
    network = predictor.classifier.model  # on the predictor's device
    assert isinstance(network, ViViT | X3D)
    maps = explain_clip(network, view.to(predictor.device), method, layer)
    prep = predictor.preprocessing
    tubelet = prep.num_frames // maps.maps.shape[0]
    crop = plan.crops[centre]
    return Explanation(
        path=name,
        model=predictor.classifier.name,
        method=method,
        label=predictor.labels[label],
        score=float(probs[label]),
        clip=clip,
        frame_indices=tuple(plan.clips[clip].frame_indices),
        maps=np.repeat(maps.maps, tubelet, axis=0),
        row_weights=np.repeat(maps.row_weights, tubelet, axis=0),
        frame_weights=np.repeat(maps.step_weights, tubelet, axis=0) / tubelet,
        frames=pixels(view[0], prep.mean, prep.std),
        tubelet=tubelet,
        layer=(token_layers(network.config)[0] if layer is None else layer) if method == "tokens" else None,
        crop_box=(crop.left, crop.top, crop.size),
        resized_hw=tuple(plan.resized_hw),
        video={
            "width": int(info.width),
            "height": int(info.height),
            "fps": float(info.fps),
            "frames": int(info.num_frames),
            "duration": float(info.duration),
        },
        clip_fps=(prep.target_fps or float(info.fps)) / prep.frame_stride,
        seconds=time.perf_counter() - started,
    )


def pixels(view: torch.Tensor, mean: tuple[float, ...], std: tuple[float, ...]) -> np.ndarray:
    """A normalised view (3, T, s, s) back to uint8 frames (T, s, s, 3)."""
    m = torch.tensor(mean).view(3, 1, 1, 1)
    s = torch.tensor(std).view(3, 1, 1, 1)
    restored = (view.float().cpu() * s + m).mul(255).round().clamp(0, 255)
    return restored.to(torch.uint8).permute(1, 2, 3, 0).numpy()


__all__ = ["METHODS", "ExplainInputError", "explain", "explain_with", "resolve_method"]
