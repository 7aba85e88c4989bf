"""Scale-out: experts as ranks of torch.distributed, one rank (or several experts per rank) each.

Experts are independent between merges (local SGD / federated averaging), so a merge is the only
communication: every rank sums λ_i θ_i over its own experts of S, and an all-reduce (SUM) of those
partial merges gives ρ on every rank. gloo on CPU, NCCL on GPU. Launch with torchrun:

    torchrun --nproc_per_node 3 -m irs.runs.worker RUN_DIR        # one machine, 3 ranks
    torchrun --nnodes 2 --nproc_per_node 4 --rdzv_endpoint HOST:29500 -m irs.runs.worker RUN_DIR

Every rank runs the same schedule (same seed, same subset draws); expert k lives on rank k % world.
"""

from __future__ import annotations

import os

import torch
import torch.distributed as dist


class LocalComm:
    """The single-process case: every expert is local, reductions are identities."""

    world, rank = 1, 0

    def owner(self, k: int) -> int:
        return 0

    def allreduce_(self, tensors) -> None:
        return None

    def broadcast_(self, tensors, src: int) -> None:
        return None

    def barrier(self) -> None:
        return None

    def agree(self, flag: bool) -> bool:
        return bool(flag)

    def gather_objects(self, obj) -> list:
        return [obj]


class TorchDistComm:
    """torch.distributed with one flattened buffer per collective (few large messages).

    exact=True (default) sums the ranks' partial merges in rank order after an all-gather, so the
    result is bit-identical to one process summing the same experts in order (one expert per rank):
    sampling then follows the same trajectory, which a plain ring all-reduce (order varies per
    chunk) cannot promise. It costs world x the merged size in transient memory; exact=False uses
    dist.all_reduce instead.
    """

    def __init__(self, exact: bool = True):
        if not dist.is_initialized():
            raise RuntimeError("torch.distributed is not initialized; launch with torchrun")
        self.world, self.rank = dist.get_world_size(), dist.get_rank()
        self.exact = exact

    def owner(self, k: int) -> int:
        return k % self.world

    def _flat(self, tensors):
        return torch.cat([t.reshape(-1).float() for t in tensors])

    def _unflat(self, flat, tensors):
        o = 0
        for t in tensors:
            n = t.numel()
            t.copy_(flat[o : o + n].view_as(t))
            o += n

    def allreduce_(self, tensors) -> None:
        tensors = list(tensors)
        if not tensors:
            return
        flat = self._flat(tensors)
        if self.exact:
            parts = [torch.empty_like(flat) for _ in range(self.world)]
            dist.all_gather(parts, flat)
            flat = torch.zeros_like(flat)
            for p in parts:  # rank order, like the single-process sum
                flat += p
        else:
            dist.all_reduce(flat, op=dist.ReduceOp.SUM)
        self._unflat(flat, tensors)

    def broadcast_(self, tensors, src: int) -> None:
        tensors = list(tensors)
        flat = self._flat(tensors)
        dist.broadcast(flat, src=src)
        self._unflat(flat, tensors)

    def barrier(self) -> None:
        dist.barrier()

    def agree(self, flag: bool) -> bool:
        """Rank 0's decision (cancel, checkpoint now), the same on every rank: ranks that decided
        differently would wait in different collectives and hang."""
        t = torch.tensor([1.0 if flag else 0.0], device=self._device())
        dist.broadcast(t, src=0)
        return bool(t.item())

    def gather_objects(self, obj) -> list | None:
        """Every rank's picklable `obj` on rank 0, in rank order (None elsewhere). Small control data only
        (metrics records), never tensors or weights."""
        out = [None] * dist.get_world_size() if self.rank == 0 else None
        dist.gather_object(obj, out, dst=0)
        return out

    def _device(self):
        return (
            torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else torch.device("cpu")
        )


def init_from_env():
    """A TorchDistComm when launched by torchrun (WORLD_SIZE > 1), else LocalComm."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return LocalComm()
    if not dist.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        dist.init_process_group(backend=backend)
        if backend == "nccl":
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    return TorchDistComm()
