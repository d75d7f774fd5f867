"""Read Flax checkpoints (``flax.serialization.to_bytes`` output) with msgpack and numpy alone.

The format: a msgpack map tree. An ndarray leaf is extension type 1 holding a packed
``(shape, dtype name, C-order bytes)``; a numpy scalar is extension type 3 in the same
layout. Arrays over 2**30 bytes are split into ``{"__msgpack_chunked_array__": True,
"shape": {"0": ...}, "chunks": {"0": flat array, ...}}``. No JAX is needed and nothing is
executed: only data types are decoded.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from .common import ConversionError

_EXT_NDARRAY = 1
_EXT_NATIVE_COMPLEX = 2
_EXT_NPSCALAR = 3
_CHUNKED = "__msgpack_chunked_array__"


MAX_DEPTH = 64  # nesting of maps; a train state is a handful of levels deep


def _decode_array(data: bytes) -> np.ndarray:
    import msgpack

    try:
        shape, dtype_name, buffer = msgpack.unpackb(data, raw=False)
    except (ValueError, TypeError, msgpack.exceptions.ExtraData, msgpack.exceptions.FormatError) as exc:
        raise ConversionError(f"malformed array in Flax checkpoint ({type(exc).__name__})") from None
    if isinstance(dtype_name, bytes):
        dtype_name = dtype_name.decode("utf-8", "replace")
    if not (
        isinstance(shape, list)
        and all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in shape)
        and isinstance(dtype_name, str)
        and isinstance(buffer, bytes)
    ):
        raise ConversionError("malformed array in Flax checkpoint: expected (shape, dtype name, bytes)")
    if dtype_name == "bfloat16":  # numpy has no bfloat16: widen the upper 16 bits to float32
        dtype = np.dtype("<u2")
    else:
        try:
            dtype = np.dtype(dtype_name)
        except TypeError:
            raise ConversionError(f"unsupported array dtype {dtype_name[:40]!r} in Flax checkpoint") from None
        if dtype.kind not in "biuf":  # numbers only: no objects, strings or records
            raise ConversionError(f"unsupported array dtype {dtype_name[:40]!r} in Flax checkpoint")
    if math.prod(shape) * dtype.itemsize != len(buffer):
        raise ConversionError(
            f"array of shape {tuple(shape)} and dtype {dtype_name} does not match its {len(buffer)} bytes"
        )
    if dtype_name == "bfloat16":
        halves = np.frombuffer(buffer, dtype="<u2").astype("<u4") << 16
        return halves.view("<f4").reshape(shape)
    return np.frombuffer(buffer, dtype=dtype).reshape(shape).copy()


def _ext_hook(code: int, data: bytes) -> Any:
    if code in (_EXT_NDARRAY, _EXT_NPSCALAR):
        return _decode_array(data)
    if code == _EXT_NATIVE_COMPLEX:
        raise ConversionError("complex numbers are not model parameters")
    raise ConversionError(f"unknown msgpack extension type {code} in Flax checkpoint")


def _unchunk(tree: Any, depth: int = 0) -> Any:
    """The tree with chunked arrays joined; every map key must be a string."""
    if not isinstance(tree, dict):
        return tree
    if depth > MAX_DEPTH:
        raise ConversionError(f"Flax checkpoint maps nested more than {MAX_DEPTH} deep")
    keys = [key for key in tree if not isinstance(key, str)]
    if keys:
        raise ConversionError(f"Flax checkpoint has a non-string map key ({keys[0]!r:.40})")
    if _CHUNKED in tree:
        return _join_chunks(tree)
    return {key: _unchunk(value, depth + 1) for key, value in tree.items()}


def _join_chunks(node: dict[str, Any]) -> np.ndarray:
    """``{"__msgpack_chunked_array__": True, "shape": {"0": n, ...}, "chunks": {"0": array, ...}}``."""
    shape_map, chunk_map = node.get("shape"), node.get("chunks")
    if not (isinstance(shape_map, dict) and isinstance(chunk_map, dict) and chunk_map):
        raise ConversionError(f"malformed {_CHUNKED} in Flax checkpoint: it needs 'shape' and 'chunks' maps")
    try:
        shape = tuple(shape_map[str(i)] for i in range(len(shape_map)))
        chunks = [chunk_map[str(i)] for i in range(len(chunk_map))]
    except KeyError as exc:
        raise ConversionError(f"malformed {_CHUNKED} in Flax checkpoint: no entry {exc.args[0]!r}") from None
    if not all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in shape):
        raise ConversionError(f"malformed {_CHUNKED} in Flax checkpoint: its shape is not a list of sizes")
    if not all(isinstance(c, np.ndarray) and c.ndim == 1 for c in chunks):
        raise ConversionError(f"malformed {_CHUNKED} in Flax checkpoint: its chunks are not flat arrays")
    if sum(c.size for c in chunks) != math.prod(shape) or len({c.dtype for c in chunks}) != 1:
        raise ConversionError(f"malformed {_CHUNKED} in Flax checkpoint: its chunks do not make shape {shape}")
    return np.concatenate(chunks).reshape(shape)


def read_tree(path: str | Path) -> dict[str, Any]:
    """The whole checkpoint as nested dicts of numpy arrays (and plain values)."""
    import msgpack

    path = Path(path)
    try:
        raw = path.read_bytes()
        tree = msgpack.unpackb(raw, ext_hook=_ext_hook, raw=False, strict_map_key=False)
        if not isinstance(tree, dict):
            raise ConversionError("not a Flax checkpoint (top level is not a map)")
        return _unchunk(tree)
    except ConversionError as exc:  # raised while decoding: name the file
        raise ConversionError(f"{path}: {exc}") from None
    except (
        ValueError,
        TypeError,  # a map key that cannot be a dict key (a list)
        msgpack.exceptions.ExtraData,
        msgpack.exceptions.FormatError,
        msgpack.exceptions.StackError,
        OSError,
    ) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConversionError(f"{path}: not a readable Flax msgpack checkpoint ({first})") from None


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
