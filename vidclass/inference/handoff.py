"""How a worker's reply crosses to the parent: pickled through the pipe, large tensors as memory files.

A decode worker's reply holds a video's views (ViViT-B's 12 views: 231 MB). Pickling that
through the pipe would copy it several times over. Instead each CPU tensor of
``SHM_MIN_BYTES`` or more is written into an anonymous memory file (``memfd_create``), whose
file descriptor crosses the worker's Unix socket after the message (``SCM_RIGHTS``); the
parent maps it as the tensor's storage. One copy, in the worker; none in the parent.

The memory has no name in ``/dev/shm`` or anywhere else: it exists while some process holds
its descriptor or a mapping, and the kernel frees it when the last one goes, whichever process
is killed at whichever moment (a named ``/dev/shm`` block outlives a parent killed between
the worker's creating it and the parent's unlinking it, until reboot). Where
``memfd_create`` is missing (not Linux) tensors are pickled into the message.

The wire format: ``send_bytes`` of a 4-byte count of descriptors and the pickle, then, when the
count is not 0, one ``socket.send_fds`` carrying them.
"""

from __future__ import annotations

import io
import mmap
import os
import pickle
import socket
import sys
from typing import Any

SHM_MIN_BYTES = 1 << 20  # CPU tensors this large travel as memory files
MAX_FDS = 250  # descriptors per reply (Linux passes at most 253 in one message); more tensors are pickled
_COUNT = 4  # bytes of the descriptor count in front of the pickle


class HandoffError(EOFError):
    """The reply was cut short: the worker died between its message and its descriptors."""


def send(conn: Any, obj: Any) -> None:
    """Send ``obj`` over the multiprocessing connection ``conn`` (a worker's end of its socket)."""
    buffer = io.BytesIO()
    buffer.write(b"\0" * _COUNT)
    pickler = _Pickler(buffer, protocol=5)
    try:
        pickler.dump(obj)
        message = buffer.getbuffer()
        message[:_COUNT] = len(pickler.fds).to_bytes(_COUNT, "little")
        del message
        conn.send_bytes(buffer.getbuffer())
        if pickler.fds:
            with socket.fromfd(conn.fileno(), socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                socket.send_fds(sock, [b"F"], pickler.fds)
    finally:
        for fd in pickler.fds:  # the parent holds its own copies now (or nobody needs them)
            os.close(fd)


def recv(conn: Any) -> Any:
    """Receive what ``send`` sent over the other end of ``conn``; ``EOFError`` if it was cut short."""
    message = conn.recv_bytes()
    count = int.from_bytes(message[:_COUNT], "little")
    fds: list[int] = []
    if count:
        with socket.fromfd(conn.fileno(), socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            data, fds, _, _ = socket.recv_fds(sock, 1, count)
        if not data or len(fds) != count:
            for fd in fds:
                os.close(fd)
            raise HandoffError("the reply's memory files did not arrive")
    try:
        return _Unpickler(io.BytesIO(message[_COUNT:]), fds).load()
    finally:
        for fd in fds:  # a mapping keeps the memory; the descriptor is not needed any more
            os.close(fd)


class _Pickler(pickle.Pickler):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fds: list[int] = []

    def persistent_id(self, obj: Any) -> Any:
        torch = sys.modules.get("torch")
        if torch is None or type(obj) is not torch.Tensor or not hasattr(os, "memfd_create"):
            return None
        if obj.device.type != "cpu" or obj.requires_grad or obj.nbytes < SHM_MIN_BYTES or len(self.fds) >= MAX_FDS:
            return None
        source = obj.contiguous().view(-1)
        fd = os.memfd_create("vidclass-reply", os.MFD_CLOEXEC)
        self.fds.append(fd)
        os.ftruncate(fd, source.nbytes)
        with mmap.mmap(fd, source.nbytes) as memory:
            target = torch.frombuffer(memory, dtype=source.dtype, count=source.numel())
            target.copy_(source)
            del target  # the mapping closes only without views on it
        return ("memfd", len(self.fds) - 1, str(source.dtype).removeprefix("torch."), tuple(obj.shape))


class _Unpickler(pickle.Unpickler):
    def __init__(self, file: io.BytesIO, fds: list[int]) -> None:
        super().__init__(file)
        self.fds = fds

    def persistent_load(self, pid: Any) -> Any:
        kind, index, dtype, shape = pid
        if kind != "memfd":
            raise pickle.UnpicklingError(f"unknown persistent id {kind!r}")
        import torch

        count = 1
        for size in shape:
            count *= size
        element = torch.empty((), dtype=getattr(torch, dtype)).element_size()
        memory = mmap.mmap(self.fds[index], count * element)  # unmapped when the tensor is freed
        return torch.frombuffer(memory, dtype=getattr(torch, dtype), count=count).view(shape)


__all__ = ["MAX_FDS", "SHM_MIN_BYTES", "HandoffError", "recv", "send"]
