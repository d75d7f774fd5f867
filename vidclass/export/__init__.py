"""A model as a self-describing ONNX file: ``export_onnx`` (``vidclass export``), ``read_onnx_card``;
``OnnxRuntimeModel`` runs one in onnxruntime (``--runtime onnxruntime``)."""

from __future__ import annotations

from .onnx_file import (
    EXPORT_EXTRA,
    INPUT_NAME,
    OPSET,
    OUTPUT_NAME,
    ExportError,
    check_output,
    export_onnx,
    read_onnx_card,
    require_export_packages,
)
from .runtime import OnnxRuntimeModel

__all__ = [
    "EXPORT_EXTRA",
    "INPUT_NAME",
    "OPSET",
    "OUTPUT_NAME",
    "OnnxRuntimeModel",
    "ExportError",
    "check_output",
    "export_onnx",
    "read_onnx_card",
    "require_export_packages",
]
