"""Model sources that live on a server, fetched to a local path: a Hugging Face hub id (with the
optional ``huggingface_hub``, into its own cache) and a pytorchvideo checkpoint name
(``pytorchvideo:x3d_m``, with the standard library, into vidclass's cache). ``sources`` converts
what they give as it converts a local path. Every failure is one ``ConversionError`` line that
says how to do without the network: download the files elsewhere and pass their path.

A pytorchvideo name (``x3d_xs``, ``x3d_s``, ``x3d_m``, ``x3d_l``) is the file pytorchvideo's hub
loads for that model (``pytorchvideo/models/hub/x3d.py``: ``{DEFAULT_URL}/X3D_M.pyth``);
``$VIDCLASS_PYTORCHVIDEO_URL`` replaces the base URL (a mirror, or a ``file://`` folder). The
file is written to a temporary file beside its target and renamed into place only once complete
and checked, so an interrupted or refused download leaves no file that looks complete. Refused:
an HTTP error, an unreachable server, one silent for ``TIMEOUT`` seconds, a body over
``MAX_BYTES`` (by its Content-Length, or as it arrives), a body shorter than its Content-Length,
and a body that is no PyTorch file (an error page served as 200).
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import logging
import os
import tempfile
import urllib.error
import urllib.request
from pathlib import Path
from typing import BinaryIO

from .convert.common import ConversionError, sniff_format

log = logging.getLogger(__name__)

PYTORCHVIDEO_PREFIX = "pytorchvideo:"
PYTORCHVIDEO_URL_ENV = "VIDCLASS_PYTORCHVIDEO_URL"
DEFAULT_URL = "https://dl.fbaipublicfiles.com/pytorchvideo/model_zoo/kinetics"
PYTORCHVIDEO_CHECKPOINTS = {  # the hub's name -> (its file, the X3D variant)
    "x3d_xs": ("X3D_XS.pyth", "x3d-xs"),
    "x3d_s": ("X3D_S.pyth", "x3d-s"),
    "x3d_m": ("X3D_M.pyth", "x3d-m"),
    "x3d_l": ("X3D_L.pyth", "x3d-l"),
}
MAX_BYTES = 256 * 2**20  # the real files: ~30 MB (XS, S, M), ~50 MB (L)
TIMEOUT = 60.0  # seconds the server may take to answer or to send the next bytes
CHUNK = 2**20


def download_hub(repo_id: str) -> Path:
    """A local snapshot of a hub repository (config and weights only)."""
    repo_id = repo_id.removeprefix("hf:")
    try:
        from huggingface_hub import snapshot_download
    except ImportError:
        raise ConversionError(
            f"{repo_id!r} looks like a Hugging Face hub id, but huggingface_hub is not installed "
            "(pip install 'vidclass[hub]'); or download the model and pass its local directory"
        ) from None
    try:
        return Path(snapshot_download(repo_id, allow_patterns=["config.json", "*.safetensors", "*.bin"]))
    except Exception as exc:  # noqa: BLE001 - network, auth and not-found errors all end here
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConversionError(
            f"cannot download {repo_id!r} from the Hugging Face hub ({first}); offline, download it elsewhere and "
            "pass the local directory (with config.json and model.safetensors or pytorch_model.bin)"
        ) from None


def is_pytorchvideo_name(spec: str | os.PathLike[str]) -> bool:
    """Whether ``spec`` names a published pytorchvideo checkpoint (``pytorchvideo:...``), which is
    never taken for a path (``./pytorchvideo:x3d_m`` is the file)."""
    return isinstance(spec, str) and spec.startswith(PYTORCHVIDEO_PREFIX)


def pytorchvideo_checkpoint(spec: str) -> tuple[str, str]:
    """(the hub's file name, the X3D variant) of ``spec``; else one line listing the names."""
    found = PYTORCHVIDEO_CHECKPOINTS.get(spec.removeprefix(PYTORCHVIDEO_PREFIX))
    if found is None:
        known = ", ".join(PYTORCHVIDEO_PREFIX + name for name in PYTORCHVIDEO_CHECKPOINTS)
        raise ConversionError(f"{spec}: no such pytorchvideo checkpoint; known: {known}")
    return found


def pytorchvideo_url(spec: str) -> str:
    """Where ``spec``'s file is: ``$VIDCLASS_PYTORCHVIDEO_URL`` (else pytorchvideo's) / the file."""
    base = os.environ.get(PYTORCHVIDEO_URL_ENV) or DEFAULT_URL
    return f"{base.rstrip('/')}/{pytorchvideo_checkpoint(spec)[0]}"


def download_pytorchvideo(spec: str, cache: Path) -> Path:
    """``spec``'s file under ``cache`` (in a folder keyed by its URL), downloaded the first time."""
    url = pytorchvideo_url(spec)
    folder = cache / "pytorchvideo" / hashlib.sha256(url.encode()).hexdigest()[:16]
    target = folder / pytorchvideo_checkpoint(spec)[0]
    if target.is_file():  # only a complete, checked download is ever given this name
        return target
    log.info("downloading %s into %s", url, target)
    remedy = (
        f"download it elsewhere and pass the file's path ({target.name}), or set ${PYTORCHVIDEO_URL_ENV} to a mirror"
    )
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, partial = tempfile.mkstemp(dir=folder, prefix=f".{target.name}.", suffix=".partial")
    except OSError as exc:
        raise ConversionError(f"{spec}: cannot write into the cache {folder} ({exc.strerror or exc})") from None
    try:
        with os.fdopen(fd, "wb") as out:
            _fetch(url, out, f"cannot download {spec} from {url}", remedy)
        kind = sniff_format(partial)
        if kind != "pytorch":
            raise ConversionError(f"cannot use {spec}: {url} sent a {kind} file, not a PyTorch checkpoint; {remedy}")
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(partial, 0o666 & ~umask)  # an ordinary file's mode; mkstemp leaves it 0600
        os.replace(partial, target)
    except BaseException:  # a refused download, or Ctrl-C: nothing stays behind
        with contextlib.suppress(OSError):
            os.unlink(partial)
            folder.rmdir()  # when it holds nothing else
        raise
    return target


def _fetch(url: str, out: BinaryIO, failed: str, remedy: str) -> None:
    """``url``'s body into ``out``, at most ``MAX_BYTES``; else ``ConversionError``: ``failed (why)``."""
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT) as response:  # noqa: S310 - pytorchvideo's or the user's
            length = (response.headers.get("Content-Length") or "").strip()
            expected = int(length) if length.isdigit() else None
            if expected is not None and expected > MAX_BYTES:
                raise ConversionError(
                    f"{failed} ({expected} bytes, over the {MAX_BYTES}-byte limit): refused; {remedy}"
                )
            received = 0
            while chunk := response.read(CHUNK):
                received += len(chunk)
                if received > MAX_BYTES:
                    raise ConversionError(f"{failed} (over the {MAX_BYTES}-byte limit): refused; {remedy}")
                out.write(chunk)
    except ConversionError:
        raise
    except urllib.error.HTTPError as exc:
        raise ConversionError(f"{failed} (HTTP {exc.code}); {remedy}") from None
    except urllib.error.URLError as exc:  # refused, unknown host, offline, an unknown URL scheme
        raise ConversionError(f"{failed} ({_reason(exc.reason)}); {remedy}") from None
    except (OSError, http.client.HTTPException, ValueError) as exc:  # a timeout, a reset, a malformed URL
        raise ConversionError(f"{failed} ({_reason(exc)}); {remedy}") from None
    if expected is not None and received != expected:
        raise ConversionError(f"{failed} (the connection ended after {received} of {expected} bytes); {remedy}")


def _reason(exc: object) -> str:
    return " ".join(str(exc).split())[:200] or type(exc).__name__


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(CHUNK):
            digest.update(block)
    return digest.hexdigest()


__all__ = [
    "MAX_BYTES",
    "PYTORCHVIDEO_CHECKPOINTS",
    "PYTORCHVIDEO_URL_ENV",
    "download_hub",
    "download_pytorchvideo",
    "is_pytorchvideo_name",
    "pytorchvideo_checkpoint",
    "pytorchvideo_url",
    "sha256_of",
]
