"""vidclass benchmarks: ratios measured side by side in one process (``make bench``).

Sections (see BENCHMARKS.md for the figures and what they mean):

a. vidclass ViViT Model 1 against ``transformers`` ``VivitForVideoClassification`` with the
   same weights (converted with ``vidclass.checkpoints.convert.huggingface``) and the same
   input, at fp32 and bf16 autocast; the contenders run interleaved, repeat after repeat.
b. MFU: analytic FLOPs per view / time, against a large matmul of the same dtype timed in
   this process.
c. Models 2-4 and TokenLearner: wall-time ratio against Model 1 at equal input, next to the
   analytic FLOP ratio.
d. Precision agreement: bf16 against fp32 predictions over the 4x3 views of ``vidclass
   synth`` clips, with the bundled model (random weights under ``--quick``).
i. bf16 attention and int8 (``attention.py``): the attention kernels side by side, ViViT-B in
   each precision mode (fp32, bf16 with SDPA's or vidclass's tiled attention, int8 dynamic
   quantisation) with its MFU, and their agreement with fp32 on the bundled model.
e-h. The whole pipeline (``pipeline.py``): ``vidclass predict`` end to end against the model
   alone, decoding against ``ffmpeg`` and PyAV, scaling with video length, start-up. Their
   clips and model files are generated once and cached under ``--build`` (``clips.py``).

``--quick`` uses the tiny configuration (16x112x112, 192-d, 6 layers) and fewer repeats,
for smoke runs (e-h on small, short clips, one round); the full run uses ViViT-B/16x2
(32x224x224), batch 1, one view per forward. ``--sections`` runs a subset (e.g. ``efgh``).
Timings are printed; ``--write FILE`` also writes the Markdown report.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import functools
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attention
import pipeline
import torch
from common import interleave, machine, matmul_gflops, publish, ratio_median

from vidclass.models import ViViT, ViViTConfig, view_gflops

PRECISION_DTYPES = {"fp32": None, "bf16": torch.bfloat16}


# --- helpers ----------------------------------------------------------------------------------


def autocast(precision: str) -> Any:
    dtype = PRECISION_DTYPES[precision]
    return contextlib.nullcontext() if dtype is None else torch.autocast("cpu", dtype=dtype)


# --- configurations ---------------------------------------------------------------------------


def base_config(quick: bool) -> ViViTConfig:
    from vidclass.models import get_entry

    return get_entry("vivit-tiny" if quick else "vivit-b-16x2").config


def hf_model(cfg: ViViTConfig, seed: int) -> Any:
    from transformers import VivitConfig, VivitForVideoClassification

    hf_cfg = VivitConfig(
        image_size=cfg.image_size,
        num_frames=cfg.num_frames,
        tubelet_size=list(cfg.tubelet),
        hidden_size=cfg.hidden_size,
        num_hidden_layers=cfg.num_layers,
        num_attention_heads=cfg.num_heads,
        intermediate_size=cfg.mlp_dim,
        hidden_act="gelu_fast",
        layer_norm_eps=1e-6,
        qkv_bias=True,
        num_labels=cfg.num_classes,
        attn_implementation="sdpa",
    )
    torch.manual_seed(seed)
    return VivitForVideoClassification(hf_cfg).eval()


def ours_from_hf(hf: Any) -> ViViT:
    """Our Model 1 with ``hf``'s weights, through the on-disk format (``save_pretrained``)."""
    from vidclass.checkpoints.convert.huggingface import config_from_hf, convert_state_dict, read_weights

    with tempfile.TemporaryDirectory(prefix="vidclass-hf-") as folder:
        hf.save_pretrained(folder)
        cfg = config_from_hf(json.loads((Path(folder) / "config.json").read_text()))
        tensors = read_weights(Path(folder))
    model = ViViT(cfg).eval()
    model.load_state_dict(convert_state_dict(tensors, cfg))
    return model


# --- a + b: against transformers, MFU ---------------------------------------------------------


def bench_transformers(quick: bool, repeats: int, seed: int) -> dict[str, Any]:
    hf = hf_model(base_config(quick), seed)
    ours = ours_from_hf(hf)
    cfg = ours.config
    torch.manual_seed(seed + 1)
    x = torch.randn(1, 3, cfg.num_frames, cfg.image_size, cfg.image_size)
    x_hf = x.permute(0, 2, 1, 3, 4).contiguous()  # transformers wants (B, T, C, H, W)
    outputs: dict[str, torch.Tensor] = {}

    def run(name: str, precision: str) -> Callable[[], None]:
        def go() -> None:
            with torch.inference_mode(), autocast(precision):
                out = ours(x) if name.startswith("vidclass") else hf(pixel_values=x_hf).logits
            outputs[f"{name}"] = out.float()

        return go

    contenders = {
        "vidclass fp32": run("vidclass fp32", "fp32"),
        "transformers fp32": run("transformers fp32", "fp32"),
        "vidclass bf16": run("vidclass bf16", "bf16"),
        "transformers bf16": run("transformers bf16", "bf16"),
    }
    times = interleave(contenders, repeats)
    gflops = view_gflops(cfg)
    diff = lambda a, b: float((outputs[a] - outputs[b]).abs().max())  # noqa: E731
    sdiff = lambda a, b: float(  # noqa: E731
        (torch.softmax(outputs[a], -1) - torch.softmax(outputs[b], -1)).abs().max()
    )
    return {
        "config": "vivit-tiny" if quick else "vivit-b-16x2 (Model 1)",
        "input": [1, 3, cfg.num_frames, cfg.image_size, cfg.image_size],
        "gflops_per_view": gflops,
        "repeats": repeats,
        "seconds": {k: statistics.median(v) for k, v in times.items()},
        "all_seconds": times,
        "ratios": {
            "fp32: transformers / vidclass": ratio_median(times["transformers fp32"], times["vidclass fp32"]),
            "bf16: transformers / vidclass": ratio_median(times["transformers bf16"], times["vidclass bf16"]),
            "transformers fp32 / vidclass bf16": ratio_median(times["transformers fp32"], times["vidclass bf16"]),
            "vidclass fp32 / vidclass bf16": ratio_median(times["vidclass fp32"], times["vidclass bf16"]),
        },
        "max_logit_diff": {
            "vidclass vs transformers, fp32": diff("vidclass fp32", "transformers fp32"),
            "vidclass vs transformers, bf16": diff("vidclass bf16", "transformers bf16"),
            "vidclass bf16 vs vidclass fp32": diff("vidclass bf16", "vidclass fp32"),
        },
        "max_softmax_diff": {"vidclass bf16 vs vidclass fp32": sdiff("vidclass bf16", "vidclass fp32")},
        "top1_same": {
            "vidclass bf16 vs fp32": bool(
                outputs["vidclass bf16"].argmax(-1).eq(outputs["vidclass fp32"].argmax(-1)).all()
            )
        },
    }


def bench_mfu(model_results: dict[str, Any], n: int, repeats: int) -> dict[str, Any]:
    gflops = model_results["gflops_per_view"]
    out: dict[str, Any] = {"matmul_n": n}
    for precision, dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16)):
        peak = matmul_gflops(dtype, n, repeats)
        achieved = gflops / model_results["seconds"][f"vidclass {precision}"]
        out[precision] = {"matmul_gflops": peak, "model_gflops": achieved, "mfu": achieved / peak}
    return out


# --- c: variants and TokenLearner -------------------------------------------------------------


def bench_variants(quick: bool, repeats: int, seed: int, precision: str) -> dict[str, Any]:
    from vidclass.models import get_entry

    prefix = "vivit-tiny" if quick else "vivit-b-16x2"
    names = [prefix, f"{prefix}-fe", f"{prefix}-fsa", f"{prefix}-fdp", f"{prefix}-tl8at{3 if quick else 6}"]
    models: dict[str, ViViT] = {}
    for name in names:
        torch.manual_seed(seed)
        models[name] = ViViT(get_entry(name).config).eval()
    cfg = get_entry(prefix).config
    torch.manual_seed(seed + 1)
    x = torch.randn(1, 3, cfg.num_frames, cfg.image_size, cfg.image_size)

    def run(model: ViViT) -> Callable[[], None]:
        def go() -> None:
            with torch.inference_mode(), autocast(precision):
                model(x)

        return go

    times = interleave({name: run(m) for name, m in models.items()}, repeats)
    base_flops = view_gflops(get_entry(prefix).config)
    rows = []
    for name in names:
        flops = view_gflops(get_entry(name).config)
        time_ratio = ratio_median(times[name], times[prefix])
        flop_ratio = flops / base_flops
        rows.append(
            {
                "model": name,
                "gflops": flops,
                "seconds": statistics.median(times[name]),
                "time_ratio": time_ratio,
                "flop_ratio": flop_ratio,
                "time_over_flop": time_ratio / flop_ratio,
            }
        )
    return {"precision": precision, "repeats": repeats, "input": [1, 3, cfg.num_frames, cfg.image_size], "rows": rows}


# --- d: precision agreement -------------------------------------------------------------------


def bench_agreement(quick: bool, seed: int, paths: list[str]) -> dict[str, Any]:
    classifier, name = agreement_model(quick, seed)
    return measure_agreement(classifier, name, paths, "cpu", "bf16")


def agreement_videos(folder: str | Path, per_class: int, seed: int, workers: int = 1) -> list[str]:
    """``per_class`` ``vidclass synth`` videos (up to 4 s) of each class, written to ``folder``."""
    from vidclass.synth import generate

    generate(folder, per_class=per_class, seed=seed, max_seconds=4.0, workers=workers)
    return sorted(str(p) for p in Path(folder).rglob("*.mp4"))


def agreement_model(quick: bool, seed: int) -> tuple[Any, str]:
    """The bundled model (trained on synth's classes: peaked, meaningful softmaxes), or a
    random-weight one when ``quick`` or none is bundled; and how the results name it."""
    import vidclass
    from vidclass.checkpoints.sources import default_model
    from vidclass.synth import CLASSES

    bundled = None if quick else default_model()
    if bundled:
        classifier = vidclass.load_model(bundled)
        return classifier, f"{classifier.name} (the bundled model, {Path(bundled).name})"
    name = "vivit-micro" if quick else "vivit-tiny"
    return vidclass.create_model(name, labels=list(CLASSES), seed=seed), f"{name} (random weights, seed {seed})"


def measure_agreement(
    classifier: Any, name: str, paths: list[str], device: str, precision: str, candidate: Any = None
) -> dict[str, Any]:
    """``precision`` (bf16 or fp16) against fp32 on ``device``, over every view of ``paths``:
    top-1 agreement per view and per video (views aggregated), the largest softmax differences.
    ``candidate`` (another classifier, e.g. quantised) runs at ``precision`` in place of ``classifier``."""
    from vidclass.inference import Predictor
    from vidclass.scores import aggregate
    from vidclass.video import load_views

    fp32 = Predictor(classifier, device=device, precision="fp32")
    low = Predictor(candidate if candidate is not None else classifier, device=device, precision=precision)
    agree = 0
    max_view = 0.0
    max_video = 0.0
    max_top = 0.0
    view_agree = views_total = 0
    for path in paths:
        views, _, _ = load_views(path, fp32.preprocessing, fp32.protocol)
        a, b = fp32.logits(views).float().cpu(), low.logits(views).float().cpu()
        pa, pb = torch.softmax(a, -1), torch.softmax(b, -1)
        max_view = max(max_view, float((pa - pb).abs().max()))
        view_agree += int(pa.argmax(-1).eq(pb.argmax(-1)).sum())
        views_total += int(views.shape[0])
        va, vb = aggregate(a, fp32.protocol.aggregate), aggregate(b, fp32.protocol.aggregate)
        max_video = max(max_video, float((va - vb).abs().max()))
        max_top = max(max_top, float(va.max()))
        agree += int(va.argmax() == vb.argmax())
    return {
        "model": name,
        "device": device,
        "precision": precision,
        "videos": len(paths),
        "views": views_total,
        "top1_agreement_videos": agree / len(paths),
        "top1_agreement_views": view_agree / views_total,
        "max_softmax_diff_video": max_video,
        "max_softmax_diff_view": max_view,
        "max_top1_probability": max_top,
        "classes": len(classifier.labels),
    }


# --- i: attention kernels, precision modes, int8 -----------------------------------------------


def bench_attention(quick: bool, repeats: int, seed: int, paths: list[str]) -> dict[str, Any]:
    """Section i: the kernels, the precision modes, and bf16 with SDPA's attention and int8
    against fp32 on ``paths`` (section d's videos), measured as in section d."""
    out = {
        "kernels": attention.bench_kernels(quick, repeats, seed),
        "modes": attention.bench_modes(quick, repeats, seed, attention.matmul_peaks(512 if quick else 2048)),
    }
    classifier, name = agreement_model(quick, seed)
    with attention.kernel("sdpa"):
        sdpa_bf16 = measure_agreement(classifier, name, paths, "cpu", "bf16")
    int8 = dataclasses.replace(classifier, model=attention.quantized(classifier.model))
    out["agreement"] = {
        "bf16, SDPA attention": sdpa_bf16,
        "int8": measure_agreement(classifier, name, paths, "cpu", "fp32", int8),
    }
    return out


# --- report -----------------------------------------------------------------------------------


def markdown(results: dict[str, Any], command: str) -> str:
    m = results["machine"]
    lines = [
        "## Results",
        "",
        f"Command: `{command}` ({results['total_seconds']:.0f} s in all, {results['date']}).",
        "",
        f"Machine: {m['cpu']}, {m['logical_cpus']} logical CPUs, torch {m['torch']} on {m['torch_threads']} threads, "
        f"transformers {m['transformers']}, Python {m['python']}; AVX-512 BF16: {m['avx512_bf16']}, "
        f"AMX-BF16: {m['amx_bf16']}. Shared and noisy: compare ratios, not absolute times.",
        "",
    ]
    if "transformers" in results:
        lines += markdown_ab(results["transformers"], results["mfu"])
    if "variants" in results:
        lines += markdown_c(results["variants"])
    if "agreement" in results:
        lines += markdown_d(results["agreement"])
    lines += pipeline.markdown(results)
    if "attention" in results:
        lines += attention.markdown(results["attention"])
    return "\n".join(lines)


def markdown_ab(a: dict[str, Any], b: dict[str, Any]) -> list[str]:
    return [
        f"### a. Model forward against transformers ({a['config']}, input {a['input']}, "
        f"median of {a['repeats']} interleaved rounds)",
        "",
        "| contender | s / view (median) |",
        "|---|---|",
        *[f"| {k} | {v:.3f} |" for k, v in a["seconds"].items()],
        "",
        "| ratio (median of per-round ratios) | value |",
        "|---|---|",
        *[f"| {k} | {v:.2f}x |" for k, v in a["ratios"].items()],
        "",
        "| numerics | value |",
        "|---|---|",
        *[f"| max logit diff, {k} | {v:.2e} |" for k, v in a["max_logit_diff"].items()],
        *[f"| max softmax diff, {k} | {v:.2e} |" for k, v in a["max_softmax_diff"].items()],
        "",
        f"### b. MFU (analytic {a['gflops_per_view']:.1f} GFLOP per view / median time, "
        f"against a {b['matmul_n']}x{b['matmul_n']} matmul of the same dtype)",
        "",
        "| dtype | matmul GFLOP/s | model GFLOP/s | MFU |",
        "|---|---|---|---|",
        *[
            f"| {p} | {b[p]['matmul_gflops']:.0f} | {b[p]['model_gflops']:.0f} | {100 * b[p]['mfu']:.0f} % |"
            for p in ("fp32", "bf16")
        ],
        "",
    ]


def markdown_c(c: dict[str, Any]) -> list[str]:
    return [
        f"### c. Variants and TokenLearner against Model 1 ({c['precision']}, input {c['input']}, "
        f"median of {c['repeats']} interleaved rounds)",
        "",
        "| model | GFLOP/view | s / view | time ratio | FLOP ratio | time ratio / FLOP ratio |",
        "|---|---|---|---|---|---|",
        *[
            f"| {r['model']} | {r['gflops']:.1f} | {r['seconds']:.3f} | {r['time_ratio']:.2f} | "
            f"{r['flop_ratio']:.2f} | {r['time_over_flop']:.2f} |"
            for r in c["rows"]
        ],
        "",
    ]


def markdown_d(d: dict[str, Any]) -> list[str]:
    return [
        f"### d. bf16 against fp32 predictions ({d['model']}, {d['videos']} `vidclass synth` videos, "
        f"{d['views']} views, {d['classes']} classes)",
        "",
        "| measure | value |",
        "|---|---|",
        f"| top-1 agreement, per video (4x3 views aggregated) | {100 * d['top1_agreement_videos']:.1f} % |",
        f"| top-1 agreement, per view | {100 * d['top1_agreement_views']:.2f} % |",
        f"| max softmax diff, per video | {d['max_softmax_diff_video']:.2e} |",
        f"| max softmax diff, per view | {d['max_softmax_diff_view']:.2e} |",
        f"| highest top-1 probability seen (fp32) | {d['max_top1_probability']:.3f} |",
        "",
    ]


SECTIONS = "abcdefghi"
BEGIN = "<!-- benchmarks/bench.py results: begin (generated, edits here are overwritten) -->"
END = "<!-- benchmarks/bench.py results: end -->"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny config, few repeats: a smoke run")
    parser.add_argument("--repeats", type=int, help="timed rounds per comparison (default 3; quick 2)")
    parser.add_argument("--per-class", type=int, help="synth videos per class for the agreement (default 4)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--build", default="build", metavar="DIR", help="where generated clips and model files are cached (build)"
    )
    parser.add_argument(
        "--sections", default=SECTIONS, metavar="LETTERS", help=f"run only these sections (default {SECTIONS})"
    )
    parser.add_argument("--json", metavar="FILE", help="write the raw results as JSON")
    parser.add_argument(
        "--write", metavar="FILE", help="write the Markdown report into FILE, between its bench.py markers"
    )
    args = parser.parse_args(argv)
    unknown = set(args.sections) - set(SECTIONS)
    if unknown:
        parser.error(f"unknown sections {''.join(sorted(unknown))}; choose from {SECTIONS}")
    repeats = args.repeats or (2 if args.quick else 3)
    per_class = args.per_class or (1 if args.quick else 4)
    plan = pipeline.QUICK if args.quick else pipeline.FULL
    build = Path(args.build)
    started = time.perf_counter()
    results: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "quick": args.quick,
        "machine": machine(),
    }
    print(json.dumps(results["machine"]), flush=True)

    def section(letter: str, key: str, run: Callable[[], Any]) -> None:
        if letter in args.sections:
            t0 = time.perf_counter()
            results[key] = run()
            printable = {k: v for k, v in results[key].items() if not k.startswith("all_")}
            print(f"{letter} ({time.perf_counter() - t0:.0f} s):", json.dumps(printable, default=str), flush=True)

    section("a", "transformers", lambda: bench_transformers(args.quick, repeats, args.seed))
    if "transformers" in results:
        section(
            "b", "mfu", lambda: bench_mfu(results["transformers"], 512 if args.quick else 2048, 3 if args.quick else 5)
        )
    section("c", "variants", lambda: bench_variants(args.quick, repeats, args.seed, "fp32"))
    videos = tempfile.TemporaryDirectory(prefix="vidclass-bench-")  # sections d and i share their videos
    paths = functools.cache(lambda: agreement_videos(videos.name, per_class, args.seed))
    section("d", "agreement", lambda: bench_agreement(args.quick, args.seed, paths()))
    section("e", "end_to_end", lambda: pipeline.bench_end_to_end(plan, build, args.seed))
    section("f", "decode", lambda: pipeline.bench_decode(plan, build, args.seed))
    section("g", "scaling", lambda: pipeline.bench_scaling(plan, build, args.seed))
    section("h", "startup", lambda: pipeline.bench_startup(plan, results.get("scaling")))
    section("i", "attention", lambda: bench_attention(args.quick, repeats, args.seed, paths()))
    videos.cleanup()
    results["total_seconds"] = time.perf_counter() - started
    command = "python benchmarks/bench.py " + " ".join(argv if argv is not None else sys.argv[1:])
    report = markdown(results, command.strip())
    publish(results, report, args.json, args.write, BEGIN, END)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
