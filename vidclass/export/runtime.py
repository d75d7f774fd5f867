"""``OnnxRuntimeModel``: a classifier's network as onnxruntime runs it, for ``--runtime onnxruntime``.

The model is exported (``export_onnx``) into a temporary folder when this is built, so that an
export failure is an ``ExportError`` before the first video; the session is created on the first
call, with as many intra-op threads as torch uses then (eval shares the cores out among the
videos it runs at once before the first call), and the file is deleted once it is loaded.
Calls may come from several threads at once (onnxruntime's ``run`` is thread-safe).
"""

from __future__ import annotations

import tempfile
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..checkpoints import VideoClassifier
from .onnx_file import INPUT_NAME, ExportError, export_onnx, require_export_packages

if TYPE_CHECKING:
    import torch

_RUNTIME_PACKAGES = ("onnxruntime",)


class OnnxRuntimeModel:
    """Callable like the network: float (B, 3, T, H, W) on the CPU -> float32 logits (B, K)."""

    def __init__(self, classifier: VideoClassifier) -> None:
        require_export_packages(_RUNTIME_PACKAGES)
        self._folder = tempfile.TemporaryDirectory(prefix="vidclass-onnx-")
        self._path: Path | None = export_onnx(classifier, Path(self._folder.name) / "model.onnx")
        self._session: Any = None
        self._lock = threading.Lock()

    def _load(self) -> Any:
        with self._lock:
            if self._session is None:
                import onnxruntime
                import torch

                assert self._path is not None
                options = onnxruntime.SessionOptions()
                options.intra_op_num_threads = torch.get_num_threads()
                options.log_severity_level = 3  # errors only: its warnings are not vidclass's to show
                try:
                    self._session = onnxruntime.InferenceSession(
                        str(self._path), options, providers=["CPUExecutionProvider"]
                    )
                except Exception as exc:  # onnxruntime's own error types
                    raise ExportError(f"onnxruntime cannot load the exported model ({type(exc).__name__})") from exc
                finally:
                    self._folder.cleanup()
                    self._path = None
            return self._session

    def __call__(self, video: torch.Tensor) -> torch.Tensor:
        import torch

        session = self._load()
        (logits,) = session.run(None, {INPUT_NAME: video.detach().float().cpu().contiguous().numpy()})
        return torch.from_numpy(logits)
