"""torch's intra-op thread count, set for a block of code and restored (the setting is process-wide).

Small-tensor loops (the sampler's token steps, a merge's per-parameter ops) are dominated by the
fork-join of every op across threads; on 2 cores one thread is as fast or faster, and much steadier
when the cores are shared or OpenMP threads sleep between ops (OMP_WAIT_POLICY=PASSIVE).
"""

from __future__ import annotations

import contextlib
import os

import torch


def busy_cpu() -> bool:
    """True when more threads want to run than this process has cores (1-minute load average)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    try:
        return os.getloadavg()[0] > cores
    except OSError:
        return False


@contextlib.contextmanager
def intra_op_threads(threads: int):
    n = torch.get_num_threads()
    if threads == n:
        yield
        return
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(n)
