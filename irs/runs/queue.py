"""The run queue: at most `max_runs` workers train at once; the others wait in the order they were queued.

No daemon: every worker queues itself. It is started at once (state queued, phase "waiting", with a
heartbeat), then takes one of the runs folder's slots, `.slots/slot-<i>.lock` for i < max_runs, with a
non-blocking flock, but only when no run queued before it is still waiting for one. The kernel frees a
slot when its worker exits, however it exits, so a killed worker never keeps a slot. A cancel while
waiting ends the run cancelled (nothing trained, nothing to lose).

max_runs: $IRS_MAX_RUNS, else `irs queue --max-runs N` (runs folder's queue.json), else what the machine
allows: one run per `threads` cores (IRS_THREADS, default all cores: a run trains on every core) and one
per RUN_MEMORY_GB of available memory, at least one.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from collections.abc import Callable
from pathlib import Path

from irs.io import atomic_write_json

SLOTS_DIR = ".slots"
QUEUE_FILE = "queue.json"
RUN_MEMORY_GB = 1.5  # a molecules run peaked at about 0.75 GB; twice that leaves room for sampling and scoring
MAX_RUNS_LIMIT = 64
POLL_S = 1.0


def _available_gb() -> float | None:
    try:
        for line in open("/proc/meminfo"):
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) / 2**20
    except OSError:
        pass
    return None


def default_max_runs() -> int:
    """What the machine allows: cores per run (IRS_THREADS, else every core) and RUN_MEMORY_GB per run."""
    from irs import env

    cores = os.cpu_count() or 1
    threads = env.threads() or cores
    n = cores // threads
    mem = _available_gb()
    if mem is not None:
        n = min(n, int(mem // RUN_MEMORY_GB))
    return max(1, n)


def _check_max_runs(value, where: str) -> int:
    text = str(value).strip()
    if (
        isinstance(value, bool)
        or not (isinstance(value, int) or text.isdigit())
        or not 1 <= int(text) <= MAX_RUNS_LIMIT
    ):
        raise ValueError(f"{where} must be a whole number between 1 and {MAX_RUNS_LIMIT}, not {value!r}")
    return int(text)


def max_runs(runs_dir: str | os.PathLike) -> tuple[int, str]:
    """(how many runs may train at once, where that number comes from)."""
    env = os.environ.get("IRS_MAX_RUNS")
    if env:
        return _check_max_runs(env, "IRS_MAX_RUNS"), "IRS_MAX_RUNS"
    f = Path(runs_dir) / QUEUE_FILE
    if f.is_file():
        try:
            return _check_max_runs(json.loads(f.read_text())["max_runs"], f"{f} max_runs"), str(f)
        except (OSError, ValueError, KeyError, TypeError):
            pass  # a damaged setting falls back to the machine's default (`irs queue` names it)
    return default_max_runs(), "this machine's cores and memory"


def set_max_runs(runs_dir: str | os.PathLike, n) -> int:
    n = _check_max_runs(n, "--max-runs")
    Path(runs_dir).mkdir(parents=True, exist_ok=True)
    atomic_write_json(Path(runs_dir) / QUEUE_FILE, {"max_runs": n})
    return n


class Slot:
    """A held slot: the open, flocked file. Released when closed or when the process ends."""

    def __init__(self, fd: int, index: int):
        self.fd, self.index = fd, index

    def release(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


def try_slot(runs_dir: str | os.PathLike, n: int) -> Slot | None:
    d = Path(runs_dir) / SLOTS_DIR
    d.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        fd = os.open(d / f"slot-{i}.lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return Slot(fd, i)
        except BlockingIOError:
            os.close(fd)
    return None


def slots_in_use(runs_dir: str | os.PathLike) -> int:
    """Slots held by live workers (any index, also above a lowered max_runs)."""
    d = Path(runs_dir) / SLOTS_DIR
    used = 0
    for p in d.glob("slot-*.lock") if d.is_dir() else ():
        fd = os.open(p, os.O_RDWR)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            fcntl.flock(fd, fcntl.LOCK_UN)
        except BlockingIOError:
            used += 1
        finally:
            os.close(fd)
    return used


def waiting_runs(store) -> list:
    """Runs whose live worker waits (or is about to wait) for a slot, first queued first (then by id)."""
    out = []
    for run in store.list():
        try:
            st = run.status()
        except ValueError:  # an unreadable status.json is no live worker
            continue
        if st.get("state") == "queued" and st.get("pid") is not None and not st.get("stale"):
            out.append((str(st.get("queued_at") or ""), run.id, run))
    return [r for _, _, r in sorted(out, key=lambda x: (x[0], x[1]))]


def wait_for_slot(
    run, set_status: Callable[..., None], should_stop: Callable[[], bool], poll: float = POLL_S
) -> Slot | None:
    """Block until `run` may train: returns its Slot, or None when `should_stop()` (a cancel) came first.
    `set_status(**fields)` records the queue position while waiting."""
    from irs.runs.store import RunStore

    store = RunStore(run.path.parent)
    last = None
    while True:
        if should_stop():
            return None
        n, _ = max_runs(store.root)
        ahead = [r.id for r in waiting_runs(store)]
        pos = ahead.index(run.id) if run.id in ahead else 0
        free = max(0, n - slots_in_use(store.root))
        if pos < free:  # the runs queued before this one take the free slots first
            slot = try_slot(store.root, n)
            if slot is not None:
                return slot
        if (pos, n) != last:
            set_status(queue_position=pos + 1, max_runs=n)
            last = (pos, n)
        time.sleep(poll)


def queue_summary(store) -> dict:
    """What `irs queue`, `irs status` and the Runs page show: the limit, slots in use, the waiting runs."""
    n, source = max_runs(store.root)
    return {
        "max_runs": n,
        "source": source,
        "running": slots_in_use(store.root),
        "waiting": [r.id for r in waiting_runs(store)],
    }
