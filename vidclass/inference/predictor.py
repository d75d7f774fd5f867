"""``Predictor``: run one video classifier over the multi-view test protocol.

The predictor only runs the model and scores: its ``DecodeQueue`` hands it each video's views
(decoded in this process or in worker processes, see ``vidclass.inference.decode_queue``), it
runs them through the model in batches cut across consecutive videos
(``vidclass.inference.batching``) and combines each video's per-view logits into one
probability vector (``vidclass.scores.aggregate``). Bad input never raises: a file that cannot
be decoded, or whose logits are not finite, becomes a ``Prediction`` whose ``error`` holds a
one-line message, so a batch run always completes.

Every setting comes in one ``RunOptions`` record (or the keywords that build one). As with any
``multiprocessing`` code, a script that uses ``workers`` needs an ``if __name__ == "__main__":``
guard: worker processes import the main script.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Iterator
from typing import Any

import torch

from vidclass.checkpoints import VideoClassifier
from vidclass.devices import resolve_device
from vidclass.inference.batching import batch_views
from vidclass.inference.compiling import compile_model
from vidclass.inference.decode_queue import Decoded, DecodeQueue
from vidclass.inference.options import OptionsError, RunOptions
from vidclass.models import family_of
from vidclass.precision import autocast, resolve_precision
from vidclass.protocol import Preprocessing, ViewProtocol
from vidclass.scores import NonFiniteScores, Prediction, aggregate, positive_labels, top_labels


class Predictor:
    """Classify videos with one model, over the model's multi-view protocol.

    ``options`` (a ``RunOptions``, or the keywords that build one) says how: its ``clips``,
    ``crops`` and ``aggregate`` override the model file's ``ViewProtocol`` when set;
    preprocessing always comes from the model file. The model is moved to the device and put
    in eval mode (this changes ``classifier.model`` in place), and runs as its family runs it
    on that device (``Family.inference``): an X3D on the CPU runs a copy with its BatchNorms
    folded into its convs, channels-last (``vidclass.models.x3d_fast``: the same logits up to
    float rounding; ``classifier.model`` is left as it is). ``self.precision`` is the mode
    that runs (``auto`` resolved, see ``vidclass.precision``); logits are cast to
    float32 before aggregation whatever the mode.

    ``batch_size`` views go through the model at a time; ``predict_many`` cuts the batches
    across videos. With ``compile``, the model runs through ``torch.compile`` (static shapes):
    it is compiled here, before the first video, on one batch of ``batch_size`` views, and a
    run's short last batch is padded to that size so nothing recompiles
    (``vidclass.inference.compiling``); ``CompileError`` if it cannot be compiled.
    ``self.compile_seconds`` says how long compiling took. With ``runtime="onnxruntime"`` the
    model is exported to ONNX here and onnxruntime runs it (``vidclass.export.OnnxRuntimeModel``;
    ``ExportError`` if it cannot be exported).
    """

    def __init__(self, classifier: VideoClassifier, options: RunOptions | None = None, **changes: Any) -> None:
        self.options = options = RunOptions.build(options, **changes)
        self.classifier = classifier
        onnx = options.runtime == "onnxruntime"  # the CPU, in fp32 (RunOptions allows nothing else)
        self.device = resolve_device("cpu" if onnx else options.device)
        self.precision = "fp32" if onnx else resolve_precision(options.precision, self.device)
        self.batch_size = options.batch_size
        self.top_k = options.top_k
        self.labels: tuple[str, ...] = tuple(classifier.labels)
        self.preprocessing: Preprocessing = classifier.preprocessing
        self.multi_label = classifier.multi_label
        self.threshold = float(options.threshold)
        self.protocol: ViewProtocol = classifier.protocol.override(
            clips=options.clips, crops=options.crops, aggregate=options.aggregate
        )
        try:
            self.protocol.aggregate.check(self.multi_label)
        except ValueError as exc:
            raise OptionsError(f"{exc} (--aggregate)") from None
        self.model: torch.nn.Module = classifier.model.to(self.device).eval()
        self.runtime = options.runtime
        self.compile = options.compile
        self.compile_seconds: float | None = None
        # what ``forward`` calls: the model as its family runs it on this device, its compiled form,
        # or onnxruntime's
        self._module: Any
        if onnx:
            from vidclass.export import OnnxRuntimeModel

            self._module = OnnxRuntimeModel(classifier)
        else:
            self._module = family_of(classifier.config).inference(self.model, self.device)
        self.queue = DecodeQueue(self.preprocessing, self.protocol, options)
        if self.compile:
            prep = self.preprocessing
            example = torch.zeros(self.batch_size, 3, prep.num_frames, prep.crop_size, prep.crop_size)

            def warm_up(compiled: Any) -> None:
                self._module = compiled
                self.forward(example)

            self._module, self.compile_seconds = compile_model(self._module, warm_up)

    @property
    def decoder(self) -> str:
        return self.options.decoder

    @property
    def workers(self) -> int:
        return self.options.workers

    @property
    def timeout(self) -> float | None:
        return self.options.timeout

    def prefetch(self, paths: Iterable[str | os.PathLike[str]]) -> None:
        """Start decoding ``paths`` in the workers now (see ``DecodeQueue.prefetch``)."""
        self.queue.prefetch(paths)

    def close(self) -> None:
        """End the decode worker processes; the next prediction restarts them."""
        self.queue.close()

    def __enter__(self) -> Predictor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def describe(self) -> dict[str, Any]:
        """What this predictor runs, JSON-ready (the header of ``--format json``)."""
        return {
            "name": self.classifier.name,
            "source": str(getattr(self.classifier, "source", "")),
            "num_labels": len(self.labels),
            "labels": list(self.labels),
            "device": str(self.device),
            "precision": self.precision,
            "batch_size": self.batch_size,
            "compile": self.compile,
            "runtime": self.runtime,
            "top_k": self.top_k,
            "multi_label": self.multi_label,
            "threshold": self.threshold if self.multi_label else None,
            "preprocessing": self.preprocessing.to_dict(),
            "protocol": self.protocol.to_dict(),
            "decoder": self.decoder,
            "workers": self.workers,
            "timeout": self.timeout,
        }

    def forward(self, batch: torch.Tensor) -> torch.Tensor:
        """One batch ``(B, 3, T, H, W)`` through the model -> float32 logits (B, K)."""
        with torch.inference_mode(), autocast(self.precision, self.device):
            logits: torch.Tensor = self._module(batch.to(self.device, non_blocking=True))
            return logits.float()

    def logits(self, views: torch.Tensor) -> torch.Tensor:
        """Run ``(V, 3, T, H, W)`` views through the model, ``batch_size`` at a time -> (V, K)."""
        ((_, logits, _),) = batch_views([(None, views)], self.forward, self.batch_size, pad=self.compile)
        if logits is None:  # batch_views returns None only for a video given no views
            raise ValueError("no views to run")
        return logits

    def predict(self, path: str | os.PathLike[str]) -> Prediction:
        """Classify one video; decoding failures become an error ``Prediction``, never raise.

        With workers, a decode started by ``prefetch`` is picked up, else one is started now.
        """
        decoded = self.queue.decoded([path], read_ahead=False)
        ((video, logits, model_seconds),) = batch_views(decoded, self.forward, self.batch_size, pad=self.compile)
        return self._prediction(video, logits, model_seconds)

    def predict_many(self, paths: Iterable[str | os.PathLike[str]]) -> Iterator[Prediction]:
        """``predict`` each path in order, yielding as soon as each video is done.

        The views of consecutive videos share batches of ``batch_size`` views, so a video's
        result waits for later videos only as far as the batch it shares with them. With
        workers, up to ``workers`` videos ahead are decoding while the model runs.
        """
        decoded = self.queue.decoded(paths, read_ahead=True)
        for video, logits, model_seconds in batch_views(decoded, self.forward, self.batch_size, pad=self.compile):
            yield self._prediction(video, logits, model_seconds)

    def _prediction(self, video: Decoded, logits: torch.Tensor | None, model_seconds: float) -> Prediction:
        if logits is None:
            return Prediction(
                path=video.path,
                error=video.error,
                seconds=video.seconds,
                class_names=self.labels,
                multi_label=self.multi_label,
            )
        started = time.perf_counter()
        try:
            probs = aggregate(logits, self.protocol.aggregate, self.multi_label).cpu()
        except NonFiniteScores as exc:  # never "ok" with NaN scores: this video fails
            seconds = video.seconds + model_seconds + (time.perf_counter() - started)
            return Prediction(
                path=video.path, error=str(exc), seconds=seconds, class_names=self.labels, multi_label=self.multi_label
            )
        info = video.info
        return Prediction(
            path=video.path,
            labels=top_labels(probs, self.labels, self.top_k),
            scores=tuple(probs.tolist()),
            views=int(logits.shape[0]),
            clips=len(video.plan.clips),
            crops=len(video.plan.crops),
            frames=int(info.num_frames),
            fps=float(info.fps),
            duration=float(info.duration),
            width=int(info.width),
            height=int(info.height),
            # decode (in a worker or here) + this video's share of its batches + aggregation
            seconds=video.seconds + model_seconds + (time.perf_counter() - started),
            class_names=self.labels,
            decoder=getattr(info, "decoder", None),
            multi_label=self.multi_label,
            positives=positive_labels(probs, self.labels, self.threshold) if self.multi_label else None,
        )


__all__ = ["Predictor", "resolve_device"]
