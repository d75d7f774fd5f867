"""Several processes on one evaluation, started by ``torchrun``.

``torchrun --nproc_per_node N -m vidclass eval ...`` sets ``RANK``, ``WORLD_SIZE``,
``LOCAL_RANK`` and the rendezvous address; ``Group.from_env`` then joins the process group:
NCCL when the processes run on GPUs (one GPU per local rank), gloo on CPUs.

Rank 0 plans the evaluation and ``broadcast``s the plan; every rank evaluates its share, and
ranks other than 0 ``send`` each finished record to rank 0 at once over a gloo channel (a
second process group, so that it works the same under NCCL). Rank 0 receives them on a
background thread (``receive``) while it evaluates its own share, and writes every record as
it arrives: a process killed at any moment loses only the videos in flight.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import os
import threading
from collections.abc import Callable
from typing import Any

import torch

_LENGTH_TAG = 1
_PAYLOAD_TAG = 2
_DONE = -1
TIMEOUT = datetime.timedelta(hours=2)


def launched() -> bool:
    """Whether this process is one of several started by torchrun (or another launcher)."""
    try:
        return int(os.environ.get("WORLD_SIZE", "1")) > 1
    except ValueError:
        return False


def env_rank() -> int:
    try:
        return int(os.environ.get("RANK", "0"))
    except ValueError:
        return 0


class Group:
    """This process's place among the evaluation's processes."""

    def __init__(self, rank: int, world: int, local_rank: int, device: torch.device, backend: str, owned: bool) -> None:
        self.rank = rank
        self.world = world
        self.local_rank = local_rank
        self.device = device
        self.backend = backend
        self.owned = owned  # we initialised the default group, so we tear it down
        self.channel: Any = None
        self._send_lock = threading.Lock()

    @property
    def main(self) -> bool:
        return self.rank == 0

    @classmethod
    def from_env(cls, device: str | torch.device = "auto") -> Group:
        """Join the process group that torchrun set up (``launched()`` must be true)."""
        import torch.distributed as dist

        local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        wanted = torch.device(device) if not isinstance(device, str) or device != "auto" else None
        use_cuda = torch.cuda.is_available() if wanted is None else wanted.type == "cuda"
        if use_cuda:
            if not torch.cuda.is_available():
                raise ValueError("CUDA is not available on this machine")
            index = wanted.index if wanted is not None and wanted.index is not None else local_rank
            resolved = torch.device("cuda", index % torch.cuda.device_count())
            torch.cuda.set_device(resolved)
        else:
            resolved = torch.device("cpu")
        owned = not dist.is_initialized()
        if owned:
            backend = "nccl" if use_cuda else "gloo"
            kwargs: dict[str, Any] = {"backend": backend, "timeout": TIMEOUT}
            if backend == "nccl":
                kwargs["device_id"] = resolved
            dist.init_process_group(**kwargs)
        group = cls(
            rank=dist.get_rank(),
            world=dist.get_world_size(),
            local_rank=local_rank,
            device=resolved,
            backend=dist.get_backend(),
            owned=owned,
        )
        group.channel = dist.new_group(backend="gloo", timeout=TIMEOUT)
        return group

    # ----------------------------------------------------------------- collectives

    def broadcast(self, obj: Any) -> Any:
        """Rank 0's ``obj`` on every rank."""
        import torch.distributed as dist

        box = [obj if self.main else None]
        dist.broadcast_object_list(box, src=0)  # the default group: NCCL on GPUs, gloo on CPUs
        return box[0]

    def barrier(self) -> None:
        import torch.distributed as dist

        dist.barrier()

    # ----------------------------------------------------------------- records to rank 0

    def send(self, record: dict[str, Any] | None) -> None:
        """Send one record to rank 0 (None: this rank has no more)."""
        import torch.distributed as dist

        with self._send_lock:
            if record is None:
                dist.send(torch.tensor([_DONE], dtype=torch.int64), dst=0, group=self.channel, tag=_LENGTH_TAG)
                return
            data = json.dumps(record, ensure_ascii=True).encode("ascii")
            payload = torch.frombuffer(bytearray(data), dtype=torch.uint8)
            dist.send(torch.tensor([len(data)], dtype=torch.int64), dst=0, group=self.channel, tag=_LENGTH_TAG)
            dist.send(payload, dst=0, group=self.channel, tag=_PAYLOAD_TAG)

    def receive(self, handle: Callable[[dict[str, Any]], None]) -> threading.Thread:
        """On rank 0: a started thread that passes every other rank's records to ``handle``
        until each has said it is done. An exception in ``handle`` stops it; ``join`` re-raises
        nothing, so check ``thread.error``."""
        import torch.distributed as dist

        def run() -> None:
            pending = self.world - 1
            length = torch.zeros(1, dtype=torch.int64)
            try:
                while pending:
                    source = dist.recv(length, src=None, group=self.channel, tag=_LENGTH_TAG)
                    size = int(length.item())
                    if size == _DONE:
                        pending -= 1
                        continue
                    payload = torch.empty(size, dtype=torch.uint8)
                    dist.recv(payload, src=source, group=self.channel, tag=_PAYLOAD_TAG)
                    handle(json.loads(payload.numpy().tobytes().decode("ascii")))
            except BaseException as exc:  # noqa: BLE001 - handed to the main thread
                thread.error = exc  # type: ignore[attr-defined]

        thread = threading.Thread(target=run, name="vidclass-eval-receiver", daemon=True)
        thread.error = None  # type: ignore[attr-defined]
        thread.start()
        return thread

    def close(self) -> None:
        import torch.distributed as dist

        with contextlib.suppress(Exception):
            if self.channel is not None:
                dist.destroy_process_group(self.channel)
        if self.owned:
            with contextlib.suppress(Exception):
                dist.destroy_process_group()


__all__ = ["Group", "env_rank", "launched"]
