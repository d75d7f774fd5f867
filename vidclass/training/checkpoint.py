"""A training run's files in ``OUT``: the per-epoch checkpoint (``OUT/checkpoint/``: the model
file, the optimiser tensors as safetensors, and a JSON state; no pickles), the metrics log and
the final model file; and resuming from the checkpoint.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from vidclass.checkpoints import VideoClassifier, read_model_file, save_model
from vidclass.training.options import TrainOptions

CHECKPOINT = "checkpoint"
METRICS = "metrics.jsonl"
FINAL = "model.safetensors"


def save_checkpoint(
    out: Path, classifier: VideoClassifier, optimizer: torch.optim.Optimizer, state: dict[str, Any]
) -> None:
    """Write ``OUT/checkpoint`` atomically: model file, optimiser tensors, JSON state."""
    tmp = out / f"{CHECKPOINT}.partial"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    save_model(classifier, tmp / "model.safetensors")
    opt = optimizer.state_dict()
    tensors, scalars = {}, {}
    for index, entry in opt["state"].items():
        for name, value in entry.items():
            if isinstance(value, torch.Tensor):
                tensors[f"{index}.{name}"] = value.detach().cpu().contiguous()
            else:
                scalars[f"{index}.{name}"] = value
    save_file(tensors, str(tmp / "optimizer.safetensors"))
    groups = [{k: v for k, v in g.items()} for g in opt["param_groups"]]
    (tmp / "state.json").write_text(json.dumps({**state, "optimizer_scalars": scalars, "param_groups": groups}))
    final = out / CHECKPOINT
    old = out / f"{CHECKPOINT}.old"
    shutil.rmtree(old, ignore_errors=True)
    if final.exists():
        final.rename(old)
    tmp.rename(final)
    shutil.rmtree(old, ignore_errors=True)


def load_checkpoint(out: Path, optimizer: torch.optim.Optimizer) -> tuple[VideoClassifier, dict[str, Any]]:
    """The checkpoint's model and JSON state; loads its tensors into ``optimizer``."""
    folder = out / CHECKPOINT
    if not (folder / "state.json").is_file():
        raise FileNotFoundError(f"{folder}: no checkpoint to resume from")
    classifier = read_model_file(folder / "model.safetensors")
    state = json.loads((folder / "state.json").read_text())
    tensors = load_file(str(folder / "optimizer.safetensors"))
    entries: dict[int, dict[str, Any]] = {}
    for key, value in {**tensors, **state["optimizer_scalars"]}.items():
        index, name = key.split(".", 1)
        entries.setdefault(int(index), {})[name] = value
    optimizer.load_state_dict({"state": entries, "param_groups": state["param_groups"]})
    return classifier, state


RESUMABLE = frozenset({"epochs"})  # the options a resumed run may change: --epochs trains on, or stops sooner
_FLAGS = {
    "augment.hflip": "--hflip",
    "augment.randaugment": "--no-randaugment",
    "augment.time_reversal": "--time-reversal",
    "min_lr": "min_lr",
    "multi_label": "--multi-label",
}


def _flat(options: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for name, value in options.items():
        if isinstance(value, dict):
            flat.update(_flat(value, f"{prefix}{name}."))
        else:
            flat[prefix + name] = value
    return flat


def _shown(name: str, value: Any) -> str:
    if name == "augment.randaugment":  # the command line's switch is --no-randaugment
        value = not value
    if isinstance(value, bool) or (name == "augment.time_reversal" and not value):
        return "on" if value else "off"
    if value is None:
        return "unset"
    if isinstance(value, float):
        return f"{value:g}"
    return value if isinstance(value, str) else json.dumps(value)


def option_changes(saved: dict[str, Any], options: TrainOptions) -> list[str]:
    """Each option of ``options`` that differs from ``saved`` (a run's ``TrainOptions.to_dict``,
    as JSON stored it) other than the ``RESUMABLE`` ones, as ``--flag NEW (the run: OLD)``; an
    option without a flag of ``vidclass train`` is named by its field."""
    # A run from before multi-label training was single-label; one from before precise BN was a
    # ViViT, which has no BatchNorm, so the option's value made no difference to it. One from
    # before time reversal reversed no clip.
    saved = {"multi_label": False, "precise_bn": options.precise_bn, **saved}
    saved["augment"] = {"time_reversal": "", **saved.get("augment", {})}
    old, new = _flat(saved), _flat(json.loads(json.dumps(options.to_dict())))
    changes = []
    for name in [*new, *(n for n in old if n not in new)]:
        if name in RESUMABLE or old.get(name) == new.get(name):
            continue
        flag = _FLAGS.get(name) or (name if "." in name else "--" + name.replace("_", "-"))
        changes.append(f"{flag} {_shown(name, new.get(name))} (the run: {_shown(name, old.get(name))})")
    return changes


def resume_checkpoint(
    out: Path, optimizer: torch.optim.Optimizer, labels: Sequence[str], options: TrainOptions
) -> tuple[VideoClassifier, dict[str, Any]]:
    """``load_checkpoint``, refused unless the run it continues had these classes and options
    (but for ``RESUMABLE`` ones) and has not trained more epochs than ``options.epochs``."""
    loaded, state = load_checkpoint(out, optimizer)
    if loaded.labels != tuple(labels):
        raise ValueError("the checkpoint was trained on other classes than this dataset")
    changes = option_changes(state["options"], options)
    if changes:
        raise ValueError(
            f"--resume: the run in {out} started with other options: {', '.join(changes)}: resume with "
            "the run's options (only --epochs may change), or train into another folder"
        )
    trained = state["epoch"] + 1
    if options.epochs < trained:
        raise ValueError(
            f"--epochs {options.epochs}: the run in {out} has trained {trained} epochs already: pass --epochs {trained} "
            "or more"
        )
    return loaded, state


def refuse_existing_run(out: Path) -> None:
    """FileExistsError when ``out`` already holds a run (it would be overwritten)."""
    if (out / CHECKPOINT).exists():
        raise FileExistsError(f"{out} already holds a training run: pass --resume to continue it, or another folder")


__all__ = [
    "CHECKPOINT",
    "FINAL",
    "METRICS",
    "RESUMABLE",
    "load_checkpoint",
    "option_changes",
    "refuse_existing_run",
    "resume_checkpoint",
    "save_checkpoint",
]
