"""X3D's CPU speed levers one by one (issue 18): where the forward's time goes, and what each lever buys.

``--profile``: one forward of one view (X3D-M: 3x16x256x256) timed by module kind through
forward hooks (1x1x1 convs, the SE gates' 1x1x1 convs, depthwise 3x3x3 convs, BatchNorm, ReLU,
Swish, SE as a whole), for the model as it is and as the ``Predictor`` runs it on the CPU
(``vidclass.models.x3d_fast.inference_network``), fp32 and bf16 autocast; and the dtypes the
convs get under bf16 autocast.

Otherwise, the levers side by side on a batch of ``--batch`` views (the ``Predictor``'s default
4), each contender once a round in a shuffled order, after a warm-up round, in
``torch.inference_mode`` as the ``Predictor`` runs: the model as it is (``base``); channels-last
(``CL``: parameters and input in ``torch.channels_last_3d``); BatchNorms folded into the convs
(``fold``); both; both with ``x3d_fast.lean_activations`` (SiLU, ReLU in place): the adopted path
(``adopted``); the adopted path with the depthwise convs run in fp32 under bf16 autocast
(``dw-fp32``), with the weights stored in bf16 (``w16``), and ``torch.compile``d (``compile``,
also of ``base``; its compile time is reported). Figures: seconds per view (median), and each
contender's speed-up over ``base`` of its dtype as the median of the per-round ratios with the
smallest and largest; and the largest logit difference from ``base`` in fp32, over the largest
logit (BatchNorm statistics perturbed so that folding is not the identity; logits scaled to
order 1). Results go to stdout as Markdown; ``--json FILE`` writes every measurement.

    .venv/bin/python benchmarks/x3d_levers.py --profile
    .venv/bin/python benchmarks/x3d_levers.py --rounds 12 --json build/x3d-levers.json
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import json
import random
import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from typing import Any

import torch
from common import load, machine
from torch import nn

import vidclass
from vidclass.models.x3d import Swish
from vidclass.models.x3d_fast import MEMORY_FORMAT, ChannelsLast, fold_batch_norms, inference_network

CPU = torch.device("cpu")


def bf16() -> Any:
    return torch.autocast("cpu", dtype=torch.bfloat16, cache_enabled=False)


CONTEXTS: dict[str, Callable[[], Any]] = {"fp32": contextlib.nullcontext, "bf16": bf16}


def model(name: str) -> tuple[nn.Module, torch.Tensor]:
    """A random X3D with perturbed BatchNorm statistics and logits of order 1, in eval mode, and
    a random view of its input (batch 1)."""
    classifier = vidclass.create_model(name, labels=[f"c{i}" for i in range(400)], seed=0)
    net, prep = classifier.model, classifier.preprocessing
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, nn.BatchNorm3d):
                n = m.num_features
                m.running_mean.copy_(torch.randn(n, generator=g) * 0.2)
                m.running_var.copy_(torch.rand(n, generator=g) + 0.5)
                m.weight.copy_(torch.rand(n, generator=g) + 0.5)
                m.bias.copy_(torch.randn(n, generator=g) * 0.2)
        net.head.proj.weight.mul_(50)
        view = torch.randn(1, 3, prep.num_frames, prep.crop_size, prep.crop_size, generator=g)
    return net.eval(), view


class Fp32Conv(nn.Module):
    """A conv run in fp32 under autocast, its output cast back to the input's dtype."""

    def __init__(self, conv: nn.Module) -> None:
        super().__init__()
        self.conv = conv

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with torch.autocast("cpu", enabled=False):
            return self.conv(x.float()).to(x.dtype)


def channels_last(net: nn.Module) -> nn.Module:
    net = copy.deepcopy(net)
    for m in net.modules():
        if isinstance(m, nn.Conv3d):
            m.to(memory_format=MEMORY_FORMAT)
    return ChannelsLast(net)


def depthwise_fp32(wrapped: nn.Module) -> nn.Module:
    wrapped = copy.deepcopy(wrapped)
    for m in list(wrapped.modules()):
        for name, child in m.named_children():
            if isinstance(child, nn.Conv3d) and child.groups > 1:
                setattr(m, name, Fp32Conv(child))
    return wrapped


def bf16_weights(wrapped: nn.Module) -> nn.Module:
    wrapped = copy.deepcopy(wrapped)
    for m in wrapped.modules():
        if isinstance(m, nn.Conv3d | nn.Linear):
            m.to(torch.bfloat16)
    return wrapped


def contenders(base: nn.Module, dtypes: list[str], compile_: bool) -> dict[str, tuple[str, nn.Module | Any]]:
    """name -> (dtype, module)."""
    adopted = inference_network(base, CPU)
    out: dict[str, tuple[str, Any]] = {}
    for dtype in dtypes:
        out[f"{dtype} base"] = (dtype, base)
        out[f"{dtype} CL"] = (dtype, channels_last(base))
        out[f"{dtype} fold"] = (dtype, fold_batch_norms(base))
        out[f"{dtype} fold+CL"] = (dtype, channels_last(fold_batch_norms(base)))
        out[f"{dtype} adopted"] = (dtype, adopted)
    if "bf16" in dtypes:
        out["bf16 adopted+dw-fp32"] = ("bf16", depthwise_fp32(adopted))
        out["bf16 adopted+w16"] = ("bf16", bf16_weights(adopted))
    if compile_:
        for dtype in dtypes:
            out[f"{dtype} compile base"] = (dtype, torch.compile(base, dynamic=False))
            out[f"{dtype} compile adopted"] = (dtype, torch.compile(copy.deepcopy(adopted), dynamic=False))
    return out


def call(module: Any, dtype: str, x: torch.Tensor) -> torch.Tensor:
    with torch.inference_mode(), CONTEXTS[dtype]():
        return module(x).float()


def levers(args: argparse.Namespace) -> dict[str, Any]:
    base, view = model(args.model)
    x = view.expand(args.batch, -1, -1, -1, -1).contiguous()
    entries = contenders(base, args.dtypes.split(","), args.compile)
    compile_s: dict[str, float] = {}
    with torch.inference_mode():
        want = base(x).float()
    scale = float(want.abs().max())
    diff: dict[str, float] = {}
    for name, (dtype, module) in entries.items():
        started = time.perf_counter()
        got = call(module, dtype, x)  # the warm-up; compiles the compiled ones
        if "compile" in name:
            compile_s[name] = time.perf_counter() - started
            print(f"{name}: compiled in {compile_s[name]:.0f} s", file=sys.stderr, flush=True)
        diff[name] = float((got - want).abs().max()) / scale
    times: dict[str, list[float]] = {name: [] for name in entries}
    loads = []
    order = list(entries)
    shuffle = random.Random(0)
    for index in range(args.rounds):
        shuffle.shuffle(order)
        for name in order:
            dtype, module = entries[name]
            started = time.perf_counter()
            call(module, dtype, x)
            times[name].append((time.perf_counter() - started) / args.batch)
        loads.append(load()[0] if load() else float("nan"))
        print(f"round {index + 1}, load {loads[-1]:.2f}", file=sys.stderr, flush=True)
    rows = {}
    for name, (dtype, _) in entries.items():
        each = [b / t for b, t in zip(times[f"{dtype} base"], times[name], strict=True)]
        rows[name] = {
            "seconds_per_view": statistics.median(times[name]),
            "speedup": statistics.median(each),
            "speedup_min": min(each),
            "speedup_max": max(each),
            "max_logit_diff_over_max_logit": diff[name],
            "compile_seconds": compile_s.get(name),
            "all_seconds_per_view": times[name],
        }
    return {"rows": rows, "loads": loads, "logit_scale": scale}


KINDS = ("conv 1x1x1", "conv 1x1x1 (SE gates)", "conv depthwise", "conv stem", "BatchNorm", "ReLU", "Swish", "SE")


def kind(name: str, m: nn.Module) -> str | None:
    if isinstance(m, nn.Conv3d):
        if m.groups > 1:
            return "conv depthwise"
        if m.kernel_size == (1, 1, 1):
            return "conv 1x1x1 (SE gates)" if ".block." in name else "conv 1x1x1"
        return "conv stem"
    if isinstance(m, nn.BatchNorm3d):
        return "BatchNorm"
    if isinstance(m, nn.ReLU):
        return "ReLU"
    if isinstance(m, Swish | nn.SiLU):
        return "Swish"
    return "SE" if type(m).__name__ == "SqueezeExcitation" else None


def split(module: nn.Module, dtype: str, x: torch.Tensor, repeats: int) -> dict[str, float]:
    """Seconds per forward by module kind (SE includes its own convs and ReLU), and in all."""
    spent: dict[str, float] = defaultdict(float)
    started: dict[str, float] = {}
    handles = []
    for name, m in module.named_modules():
        k = kind(name, m)
        if k is None:
            continue

        def pre(_m: nn.Module, _a: Any, name: str = name) -> None:
            started[name] = time.perf_counter()

        def post(_m: nn.Module, _a: Any, _o: Any, name: str = name, k: str = k) -> None:
            spent[k] += time.perf_counter() - started[name]

        handles += [m.register_forward_pre_hook(pre), m.register_forward_hook(post)]
    call(module, dtype, x)
    spent.clear()
    begun = time.perf_counter()
    for _ in range(repeats):
        call(module, dtype, x)
    total = time.perf_counter() - begun
    for h in handles:
        h.remove()
    return {"total": total / repeats, **{k: v / repeats for k, v in spent.items()}}


def profile(args: argparse.Namespace) -> str:
    base, x = model(args.model)
    adopted = inference_network(base, CPU)
    seen: dict[str, str] = {}

    def dtypes(m: nn.Module, a: tuple[torch.Tensor, ...], out: torch.Tensor) -> None:
        assert isinstance(m, nn.Conv3d)
        k = "depthwise" if m.groups > 1 else "1x1x1" if m.kernel_size == (1, 1, 1) else "stem"
        seen.setdefault(k, f"{k}: input {a[0].dtype}, output {out.dtype}")

    handles = [m.register_forward_hook(dtypes) for m in base.modules() if isinstance(m, nn.Conv3d)]
    call(base, "bf16", x)
    for h in handles:
        h.remove()
    lines = [
        f"One view {list(x.shape[1:])}, {args.model}, {args.repeats} forwards each; seconds per forward (share).",
        "",
        "| dtype | model | total s | " + " | ".join(KINDS) + " |",
        "|---|---|---|" + "---|" * len(KINDS),
    ]
    for dtype in args.dtypes.split(","):
        for label, module in (("as it is", base), ("adopted", adopted)):
            s = split(module, dtype, x, args.repeats)
            cells = [f"{s[k]:.3f} ({100 * s[k] / s['total']:.0f} %)" if k in s else "-" for k in KINDS]
            lines.append(f"| {dtype} | {label} | {s['total']:.3f} | " + " | ".join(cells) + " |")
    lines += ["", "Under bf16 autocast: " + "; ".join(seen.values()) + "."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="x3d-m")
    parser.add_argument("--batch", type=int, default=4, help="views a forward (default 4)")
    parser.add_argument("--rounds", type=int, default=12, help="timed rounds after the warm-up (default 12)")
    parser.add_argument("--dtypes", default="bf16,fp32")
    parser.add_argument("--compile", action="store_true", help="add torch.compile contenders")
    parser.add_argument("--profile", action="store_true", help="the time split by module kind instead")
    parser.add_argument("--repeats", type=int, default=3, help="--profile: forwards timed (default 3)")
    parser.add_argument("--json", metavar="FILE")
    args = parser.parse_args(argv)
    before = load()
    if args.profile:
        print(profile(args))
        print(f"\nLoad average {before} before, {load()} after; {machine()['cpu']}, torch {torch.__version__}.")
        return 0
    results = levers(args)
    lines = [
        f"{args.model}, batch {args.batch}, {args.rounds} rounds (shuffled order), load average {before} before,",
        f"{load()} after (1-min load {min(results['loads']):.2f}-{max(results['loads']):.2f} at round ends).",
        "",
        "| contender | s / view (median) | speed-up over base of its dtype (min-max) | max logit diff / max logit | compile s |",
        "|---|---|---|---|---|",
    ]
    for name, r in results["rows"].items():
        comp = f"{r['compile_seconds']:.0f}" if r["compile_seconds"] is not None else "-"
        lines.append(
            f"| {name} | {r['seconds_per_view']:.3f} | {r['speedup']:.2f}x ({r['speedup_min']:.2f}-{r['speedup_max']:.2f}) "
            f"| {r['max_logit_diff_over_max_logit']:.1e} | {comp} |"
        )
    print("\n".join(lines))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump({"machine": machine(), "args": vars(args), **results}, handle, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
