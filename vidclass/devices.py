"""Which torch device a process computes on: resolved from ``--device``, and per process under
``torchrun``.

Below every layer that runs a model (inference, evaluation, training): it imports only torch.
"""

from __future__ import annotations

import torch


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``"auto"`` picks CUDA when it is available, else the CPU; ValueError if unusable."""
    if isinstance(device, torch.device):
        resolved = device
    elif device == "auto":
        resolved = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    else:
        try:
            resolved = torch.device(device)
        except (RuntimeError, TypeError) as exc:
            raise ValueError(f"unknown device {device!r}") from exc
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("CUDA is not available on this machine")
    return resolved


def local_device(device: str | torch.device, local_rank: int) -> torch.device:
    """The device of the process with ``local_rank`` on this machine, one of several.

    The CPU when ``device`` is the CPU (or ``"auto"`` without CUDA). On CUDA, an explicit index
    (``cuda:1``) is kept; otherwise each process takes GPU ``local_rank`` modulo the number of
    GPUs. The modulo lets ``--nproc_per_node`` exceed the GPUs this process can see (several
    processes then share one, or ``CUDA_VISIBLE_DEVICES`` narrowed the view to fewer GPUs than
    the launcher counted) instead of failing on a GPU index that does not exist.
    ValueError when CUDA is asked for and absent.
    """
    wanted = torch.device(device) if not isinstance(device, str) or device != "auto" else None
    use_cuda = torch.cuda.is_available() if wanted is None else wanted.type == "cuda"
    if not use_cuda:
        return torch.device("cpu")
    if not torch.cuda.is_available():
        raise ValueError("CUDA is not available on this machine")
    index = wanted.index if wanted is not None and wanted.index is not None else local_rank
    return torch.device("cuda", index % torch.cuda.device_count())


__all__ = ["local_device", "resolve_device"]
