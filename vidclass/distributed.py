"""Several processes on one job, started by ``torchrun``: evaluation and training share it.

``torchrun --nproc_per_node N -m vidclass eval|train ...`` sets ``RANK``, ``WORLD_SIZE``,
``LOCAL_RANK`` and the rendezvous address. ``TorchrunEnv.read`` reads them (the one place that
does); ``Group.from_env`` then joins the process group: NCCL when the processes run on GPUs
(each on ``vidclass.devices.local_device``: its local rank modulo the GPU count), gloo on CPUs.
``Group.solo`` stands for a single process, so callers need no ``if distributed`` around the
collectives: ``all_sum``, ``broadcast`` and ``barrier`` are then no-ops. ``close`` tears down
what ``from_env`` set up.

Evaluation: rank 0 plans the evaluation and ``broadcast``s the plan; every rank evaluates its
share, and ranks other than 0 ``send`` each finished record to rank 0 at once over a gloo
channel (a second process group, so that it works the same under NCCL). Rank 0 receives them
on a background thread (``receive``) while it evaluates its own share, and writes every record
as it arrives: a process killed at any moment loses only the videos in flight.

Training: each rank trains on its share; ``all_sum`` adds the epoch's counters across ranks.

This layer imports only torch and the standard library.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from vidclass.devices import local_device

_LENGTH_TAG = 1
_PAYLOAD_TAG = 2
_DONE = -1
TIMEOUT = datetime.timedelta(hours=2)


def _env_int(name: str, default: int) -> int:
    try:
        return int(os.environ.get(name, str(default)))
    except ValueError:
        return default


@dataclass(frozen=True)
class TorchrunEnv:
    """What torchrun (or another launcher) told this process: its rank among all processes,
    how many there are, and its rank on this machine. A value that is not a number reads as
    the single-process default."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @classmethod
    def read(cls) -> TorchrunEnv:
        return cls(_env_int("RANK", 0), _env_int("WORLD_SIZE", 1), _env_int("LOCAL_RANK", 0))

    @property
    def launched(self) -> bool:
        return self.world > 1


def launched() -> bool:
    """Whether this process is one of several started by torchrun (or another launcher)."""
    return TorchrunEnv.read().launched


def env_rank() -> int:
    return TorchrunEnv.read().rank


class Group:
    """This process's place among the job's processes (``Group()``: the only one, on the CPU)."""

    def __init__(
        self,
        rank: int = 0,
        world: int = 1,
        local_rank: int = 0,
        device: torch.device | None = None,
        backend: str | None = None,
        owned: bool = False,
    ) -> None:
        self.rank = rank
        self.world = world
        self.local_rank = local_rank
        self.device = device if device is not None else torch.device("cpu")
        self.backend = backend
        self.owned = owned  # we initialised the default group, so we tear it down
        self.channel: Any = None
        self._send_lock = threading.Lock()

    @property
    def main(self) -> bool:
        return self.rank == 0

    @classmethod
    def solo(cls, device: torch.device) -> Group:
        """A single process on ``device``: no process group, the collectives are no-ops."""
        return cls(device=device)

    @classmethod
    def from_env(cls, device: str | torch.device = "auto", *, channel: bool = True) -> Group:
        """Join the process group that torchrun set up (``launched()`` must be true).

        ``channel``: also open the gloo channel that ``send`` and ``receive`` use (every rank
        must pass the same value: opening it is collective)."""
        import torch.distributed as dist

        local_rank = TorchrunEnv.read().local_rank
        resolved = local_device(device, local_rank)
        if resolved.type == "cuda":
            torch.cuda.set_device(resolved)
        owned = not dist.is_initialized()
        if owned:
            backend = "nccl" if resolved.type == "cuda" else "gloo"
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
        if channel:
            group.channel = dist.new_group(backend="gloo", timeout=TIMEOUT)
        return group

    # ----------------------------------------------------------------- collectives

    def broadcast(self, obj: Any) -> Any:
        """Rank 0's ``obj`` on every rank."""
        if self.world == 1:
            return obj
        import torch.distributed as dist

        box = [obj if self.main else None]
        dist.broadcast_object_list(box, src=0)  # the default group: NCCL on GPUs, gloo on CPUs
        return box[0]

    def barrier(self) -> None:
        if self.world == 1:
            return
        import torch.distributed as dist

        dist.barrier()

    def all_sum(self, values: list[float]) -> list[float]:
        """``values`` summed element-wise over every rank (in float64), on every rank."""
        if self.world == 1:
            return values
        import torch.distributed as dist

        # NCCL reduces only CUDA tensors; gloo, CPU ones.
        where = self.device if self.backend == "nccl" else torch.device("cpu")
        tensor = torch.tensor(values, dtype=torch.float64, device=where)
        dist.all_reduce(tensor)
        return tensor.tolist()

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

    def receive(self, handle: Callable[[dict[str, Any]], None]) -> Receiver:
        """On rank 0: a started thread that passes every other rank's records to ``handle``
        until each has said it is done (``Receiver.wait`` re-raises what stopped it)."""
        receiver = Receiver(self, handle)
        receiver.start()
        return receiver

    def close(self) -> None:
        import torch.distributed as dist

        with contextlib.suppress(Exception):
            if self.channel is not None:
                dist.destroy_process_group(self.channel)
        if self.owned:
            with contextlib.suppress(Exception):
                dist.destroy_process_group()


class Receiver(threading.Thread):
    """Rank 0's thread that hands the other ranks' records to ``handle`` (see ``Group.receive``).

    An exception in ``handle`` or in the transport stops it and is kept in ``error``."""

    def __init__(self, group: Group, handle: Callable[[dict[str, Any]], None]) -> None:
        super().__init__(name="vidclass-eval-receiver", daemon=True)
        self.group = group
        self.handle = handle
        self.error: BaseException | None = None

    def run(self) -> None:
        import torch.distributed as dist

        pending = self.group.world - 1
        length = torch.zeros(1, dtype=torch.int64)
        try:
            while pending:
                source = dist.recv(length, src=None, group=self.group.channel, tag=_LENGTH_TAG)
                size = int(length.item())
                if size == _DONE:
                    pending -= 1
                    continue
                payload = torch.empty(size, dtype=torch.uint8)
                dist.recv(payload, src=source, group=self.group.channel, tag=_PAYLOAD_TAG)
                self.handle(json.loads(payload.numpy().tobytes().decode("ascii")))
        except BaseException as exc:  # noqa: BLE001 - handed to the main thread by wait()
            self.error = exc

    def wait(self) -> None:
        """Until every other rank is done; re-raise what stopped the thread, if anything did."""
        while self.is_alive():
            self.join(0.2)  # in short steps, so that Ctrl-C reaches the main thread
        if self.error is not None:
            raise self.error


__all__ = ["TIMEOUT", "Group", "Receiver", "TorchrunEnv", "env_rank", "launched"]
