"""The IRS_* environment settings that change how runs compute, parsed and checked in one place.

`check()` runs before anything is written (`irs` commands, `start_run`), so a bad value is a clear error
(exit 2) instead of a failed run folder. IRS_MAX_RUNS is checked by irs.runs.queue, IRS_BF16 by
irs.rl.sampler.bf16_supported.
"""

from __future__ import annotations

import os

DEVICES = ("auto", "cpu", "cuda")


def threads() -> int | None:
    """IRS_THREADS: torch CPU threads per process; None when unset (torch's own choice)."""
    v = os.environ.get("IRS_THREADS", "").strip()
    if not v:
        return None
    if not v.isdigit() or int(v) < 1:
        raise ValueError(
            f"IRS_THREADS must be a whole number of threads >= 1, not {v!r} (unset it for torch's default)"
        )
    return int(v)


def cores() -> int:
    """The cores one run may use: IRS_THREADS when set, else the cores this process may run on."""
    n = threads()
    if n is not None:
        return n
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def device() -> str:
    """IRS_DEVICE: auto (CUDA when available), cpu or cuda."""
    v = os.environ.get("IRS_DEVICE", "auto").strip().lower() or "auto"
    if v not in DEVICES:
        raise ValueError(f"IRS_DEVICE={v!r}: use auto, cpu or cuda")
    if v == "cuda":
        import torch

        if not torch.cuda.is_available():
            raise ValueError(
                "IRS_DEVICE=cuda, but torch sees no CUDA device on this machine "
                "(unset IRS_DEVICE or use IRS_DEVICE=cpu)"
            )
    return v


def check() -> None:
    """Every setting above, plus IRS_BF16 and IRS_MAX_RUNS: ValueError naming the first bad one."""
    threads()
    device()
    from irs.rl.sampler import bf16_supported

    bf16_supported()
    if os.environ.get("IRS_MAX_RUNS"):
        from irs.runs.queue import max_runs

        max_runs(".")
