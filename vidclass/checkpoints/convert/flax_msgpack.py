"""Read Flax checkpoints (``flax.serialization.to_bytes`` output) with msgpack and numpy alone.

The format: a msgpack map tree. An ndarray leaf is extension type 1 holding a packed
``(shape, dtype name, C-order bytes)``; a numpy scalar is extension type 3 in the same
layout. Arrays over 2**30 bytes are split into ``{"__msgpack_chunked_array__": True,
"shape": {"0": ...}, "chunks": {"0": flat array, ...}}``. No JAX is needed and nothing is
executed: only data types are decoded.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from .common import ConversionError

_EXT_NDARRAY = 1
_EXT_NATIVE_COMPLEX = 2
_EXT_NPSCALAR = 3
_CHUNKED = "__msgpack_chunked_array__"


def _decode_array(data: bytes) -> np.ndarray:
    import msgpack

    shape, dtype_name, buffer = msgpack.unpackb(data, raw=False)
    if isinstance(dtype_name, bytes):
        dtype_name = dtype_name.decode()
    if dtype_name == "bfloat16":  # numpy has no bfloat16: widen the upper 16 bits to float32
        halves = np.frombuffer(buffer, dtype="<u2").astype("<u4") << 16
        return halves.view("<f4").reshape(shape)
    try:
        dtype = np.dtype(dtype_name)
    except TypeError:
        raise ConversionError(f"unsupported array dtype {dtype_name!r} in Flax checkpoint") from None
    return np.frombuffer(buffer, dtype=dtype).reshape(shape).copy()


def _ext_hook(code: int, data: bytes) -> Any:
    if code in (_EXT_NDARRAY, _EXT_NPSCALAR):
        return _decode_array(data)
    if code == _EXT_NATIVE_COMPLEX:
        raise ConversionError("complex numbers are not model parameters")
    raise ConversionError(f"unknown msgpack extension type {code} in Flax checkpoint")


def _unchunk(tree: Any) -> Any:
    if not isinstance(tree, dict):
        return tree
    if _CHUNKED in tree:
        shape = tuple(tree["shape"][str(i)] for i in range(len(tree["shape"])))
        chunks = [tree["chunks"][str(i)] for i in range(len(tree["chunks"]))]
        return np.concatenate(chunks).reshape(shape)
    return {key: _unchunk(value) for key, value in tree.items()}


def read_tree(path: str | Path) -> dict[str, Any]:
    """The whole checkpoint as nested dicts of numpy arrays (and plain values)."""
    import msgpack

    path = Path(path)
    try:
        raw = path.read_bytes()
        tree = msgpack.unpackb(raw, ext_hook=_ext_hook, raw=False, strict_map_key=False)
    except ConversionError:
        raise
    except (
        ValueError,
        msgpack.exceptions.ExtraData,
        msgpack.exceptions.FormatError,
        msgpack.exceptions.StackError,
        OSError,
    ) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConversionError(f"{path}: not a readable Flax msgpack checkpoint ({first})") from None
    if not isinstance(tree, dict):
        raise ConversionError(f"{path}: not a Flax checkpoint (top level is not a map)")
    return _unchunk(tree)


def flatten(tree: dict[str, Any], prefix: str = "") -> dict[str, np.ndarray]:
    """``{"a": {"b": arr}}`` -> ``{"a/b": arr}``; non-array leaves are dropped."""
    flat: dict[str, np.ndarray] = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, name + "/"))
        elif isinstance(value, np.ndarray):
            flat[name] = value
    return flat


def model_params(tree: dict[str, Any], origin: str) -> dict[str, np.ndarray]:
    """The model parameters of a scenic train state: ``optimizer/target``, ``params`` or the root."""
    for path in (("optimizer", "target"), ("params",), ("target",)):
        node: Any = tree
        for key in path:
            node = node.get(key) if isinstance(node, dict) else None
        if isinstance(node, dict) and node:
            inner = node.get("params")
            return flatten(inner if isinstance(inner, dict) else node)
    if "embedding" in tree or "Transformer" in tree or "SpatialTransformer" in tree:
        return flatten(tree)
    raise ConversionError(f"{origin}: no model parameters (looked under optimizer/target, params and the root)")
