"""The run worker: executes one run directory to the end, resumably (DESIGN.md §4 data flow).

    python -m irs.runs.worker RUN_DIR

is the detached process that `irs run` / `irs resume` / the app start (irs.runs.control.spawn_worker,
with start_new_session=True and stdout/stderr appended to RUN_DIR/log.txt). `execute(run_dir)` does the
same work in the calling process.

What it does, in order:
1. Take the run's lock (or adopt the one its spawner handed over); a second worker fails fast.
2. Queue: state queued, phase waiting, until a slot of the run queue is free (irs.runs.queue; a cancel
   while waiting ends it cancelled). Then state running. A heartbeat beats every few seconds from a
   background thread throughout.
3. Build the Trainer from config.toml; if checkpoints/latest exists, load it (exact state: experts,
   optimizers, value heads, schedule, RNG) and cut metrics.jsonl back to what that checkpoint had seen.
4. Train. At every step boundary: status step, metrics flushed, and a checkpoint after each merge (or
   every IRS_CHECKPOINT_MINUTES, default 10, so m = T runs are resumable too); the last two are kept.
   The cancel flag is checked at every step boundary: checkpoint, state cancelled, exit.
5. Save the final merged model (final/) and the final experts (experts/), sample K = n_final_samples
   candidates from π_ρT, score them with the domain's oracle objectives and write candidates.parquet
   (irs.runs.final; checkpoints: irs.runs.checkpoints). State done.
Environment: IRS_THREADS sets torch's CPU threads (default: torch's choice); IRS_CHECKPOINT_MINUTES as above;
IRS_HEARTBEAT_INTERVAL / IRS_HEARTBEAT_TIMEOUT (irs.runs.store).

An exception marks the run failed with its message (the traceback goes to log.txt). SIGTERM stops the
worker where it is: state cancelled if a cancel was requested, else failed; resume continues from the
last checkpoint.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import signal
import socket
import sys
import threading
import time
from pathlib import Path

from irs import env
from irs.io import atomic_write_json, json_clean
from irs.runs.checkpoints import Checkpointer, load_checkpoint
from irs.runs.final import FinalSamplingCancelled, save_final, write_candidates
from irs.runs.queue import wait_for_slot
from irs.runs.store import FINISHED, Run, RunError, heartbeat_interval, now_iso

log = logging.getLogger(__name__)


class WorkerTerminated(BaseException):
    """Raised in the main thread by the SIGTERM handler (a BaseException, so no `except Exception`
    in the training code swallows it)."""


def _on_sigterm(signum, frame):
    raise WorkerTerminated(f"terminated by signal {signum}")


class _Status:
    """The worker's status writer: one lock between the main thread and the heartbeat thread."""

    def __init__(self, run: Run):
        self.run = run
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def set(self, **fields) -> None:
        with self._lock:
            self.run.write_status(heartbeat=now_iso(), **fields)

    def start_heartbeat(self) -> None:
        def beat():
            while not self._stop.wait(heartbeat_interval()):
                try:
                    self.set()
                except Exception:  # a full disk must not kill the run; the next beat retries
                    log.exception("heartbeat write failed")

        self._thread = threading.Thread(target=beat, name="irs-heartbeat", daemon=True)
        self._thread.start()

    def stop_heartbeat(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def finish(self, state: str, **fields) -> None:
        """Final write: the heartbeat stops first, so nothing overwrites the final state."""
        self.stop_heartbeat()
        self.set(state=state, phase=state, finished=now_iso(), **fields)


def _clean_temporaries(run: Run) -> None:
    """Remove what a killed worker may have left half-written: hidden *.tmp files and directories."""
    for d in (run.path, run.checkpoints_dir):
        if not d.is_dir():
            continue
        for p in d.iterdir():
            if p.name.startswith(".") and (".tmp" in p.name or ".old" in p.name):
                shutil.rmtree(p) if p.is_dir() else p.unlink(missing_ok=True)


class _Follower:
    """Status and metrics stand-in for ranks > 0 of a distributed run: rank 0 alone writes them."""

    def set(self, **fields) -> None:
        pass

    def write(self, rec: dict) -> None:
        pass

    offset = 0

    def close(self) -> None:
        pass


class _Metrics:
    """metrics.jsonl, appended one flushed line per record; `offset` is where a checkpoint stands."""

    def __init__(self, path: Path, offset: int):
        if path.is_file() and path.stat().st_size > offset:
            with open(path, "r+b") as f:  # drop records after the checkpoint we resume from
                f.truncate(offset)
        self.f = open(path, "a", encoding="utf-8")

    def write(self, rec: dict) -> None:
        self.f.write(json.dumps(json_clean(rec), allow_nan=False) + "\n")
        self.f.flush()

    @property
    def offset(self) -> int:
        self.f.flush()
        return self.f.tell()

    def close(self) -> None:
        self.f.close()


PRECISION_FILE = "precision.json"  # rl.bf16 = "auto": the measured choice, kept so a resume computes alike


def _resolve_precision(run: Run, cfg, comm, leader: bool, notes: list[str]):
    """rl.bf16 = "auto" decided by a measurement on this machine (irs.rl.sampler.measure_bf16) rather than a
    CPU flag, once per run: the choice is written to precision.json and read back on resume, so a resumed
    run computes in the precision it started with; every rank takes rank 0's. IRS_BF16 overrides it."""
    if cfg.rl.bf16 != "auto" or os.environ.get("IRS_BF16", "").strip():
        return cfg
    f = run.path / PRECISION_FILE
    choice = False
    if leader:
        if f.is_file():
            rec = json.loads(f.read_text())
        else:
            from irs.algorithms.setup import run_device
            from irs.domains import get_domain
            from irs.rl.policy import starting_model
            from irs.rl.sampler import measure_bf16

            domain = get_domain(cfg.domain)
            model, _ = starting_model(cfg, domain)
            # the shape of the run's own training batches (capped), where the precision pays or costs
            batch = max(2, min(cfg.rl.batch_size, 64))
            length = 1 + (cfg.rl.max_new_tokens or domain.max_new_tokens)
            try:
                rec = {**measure_bf16(model, run_device(comm), batch=batch, length=length), "batch": batch}
            except Exception as e:  # the measurement must never stop a run: fp32 is always correct
                log.warning("bf16 measurement failed (%s); training in fp32", e)
                rec = {"bf16": False, "fp32_ms": None, "bf16_ms": None, "error": repr(e)}
            atomic_write_json(f, rec)
        choice = bool(rec["bf16"])
        msg = (
            f"rl.bf16 = auto: {'bf16' if choice else 'fp32'} (one training pass {rec['fp32_ms']} ms in fp32, "
            f"{rec['bf16_ms']} ms in bf16 on this machine)"
        )
        log.info("%s", msg)
        notes.append(msg)
    choice = comm.agree(choice)
    cfg.rl.bf16 = "on" if choice else "off"
    return cfg


def _train_and_finish(run: Run, status, comm=None) -> str:
    """Train, save and sample. In a distributed run every rank runs this; ranks > 0 get a _Follower for
    status (and metrics) and skip the writes, and every decision that changes the sequence of
    collectives (cancel, checkpoint now) is rank 0's, broadcast with comm.agree."""
    cfg = run.config()
    status.set(phase="building")
    from irs.algorithms import make_trainer  # torch and transformers: the slow part of starting
    from irs.algorithms.distributed import LocalComm

    precision_notes: list[str] = []
    cfg = _resolve_precision(run, cfg, comm or LocalComm(), comm is None or comm.rank == 0, precision_notes)
    from irs.objectives.budget import LOG_FILE

    tr = make_trainer(cfg, comm=comm, oracle_log=run.path / LOG_FILE)
    comm = tr.comm
    leader = comm.rank == 0
    if leader and tr.calibration:  # the run's reward scale, for the app and evaluation
        from irs.runs.results import CALIBRATION_FILE

        atomic_write_json(run.path / CALIBRATION_FILE, tr.calibration)
    notes = list(dict.fromkeys(list(run.read_status().get("notes") or []) + list(tr.cfg.notes) + precision_notes))
    ck = load_checkpoint(run, tr, notes)
    metrics = _Metrics(run.metrics_path, ck["metrics_offset"] if ck else 0) if leader else _Follower()
    try:
        # rank 0 writes metrics.jsonl; the other ranks' expert-step records reach it at each step boundary
        pending: list[dict] = []
        tr.on_record = (
            metrics.write if leader else (lambda rec: pending.append(rec) if rec.get("type") == "step" else None)
        )
        ckpt = Checkpointer(run, tr, metrics, status, tr.schedule.t)

        def budget_fields() -> dict:  # the calls used so far, for `irs status` and the Runs page
            b = getattr(tr, "budget", None)
            return b.state() if b is not None else {}

        status.set(phase="training", step=tr.schedule.t, total_steps=tr.schedule.T, notes=notes, **budget_fields())

        def collect_followers():  # a collective: every rank calls it at the same points
            if comm.world > 1:
                got = comm.gather_objects(list(pending))
                pending.clear()
                for recs in (got or [])[1:]:
                    for rec in recs:
                        metrics.write(rec)

        def after_step():
            collect_followers()
            status.set(step=tr.schedule.t, **budget_fields())
            if comm.agree(leader and ckpt.due()):
                ckpt.save()

        tr.run(should_stop=lambda: comm.agree(leader and run.cancel_requested()), after_step=after_step)
        collect_followers()  # the last step's records (run() calls no after_step after it)
        status.set(step=tr.schedule.t, total_steps=tr.schedule.T, **budget_fields())
        ckpt.save()  # the final step (run() returns without an after_step for it) or the cancel point
        if comm.agree(leader and (not tr.done or run.cancel_requested())):
            log.info("cancelled at step %d of %d", tr.schedule.t, tr.schedule.T)
            return "cancelled"
        status.set(phase="saving")
        if not leader:
            tr.final_expert_states()  # the gather is a collective: take part, write nothing
            # a gloo send returns before the peer has the data: a rank that left now could close its
            # connections under a transfer still in flight (the receiver then aborted under load)
            comm.barrier()
            return "done"
        save_final(run, tr)
        comm.barrier()  # the other ranks wait here for the gather to be complete everywhere
        if run.cancel_requested():
            return "cancelled"
        try:
            n = write_candidates(run, tr, status, run.cancel_requested)
        except FinalSamplingCancelled as e:
            log.info("%s; `irs resume %s` continues from there", e, run.id)
            return "cancelled"
        log.info("wrote %d candidates", n)
        status.set(**budget_fields())
        return "done"
    finally:
        metrics.close()


def _set_threads(threads: int | None) -> None:
    if threads:
        import torch

        torch.set_num_threads(threads)


def execute(run_dir: str | os.PathLike, lock_fd: int | None = None, threads: int | None = None, comm=None) -> str:
    """Run (or resume) the run in `run_dir` in this process; returns the final state.
    threads: torch CPU threads to use (default: $IRS_THREADS, else leave torch's setting alone).

    Raises RunLocked if another worker holds the run, RunError if the run is already done; in both cases
    nothing is written. Any other error ends as state failed (returned, not raised)."""
    if threads is None:
        threads = env.threads()  # like the detached worker: same threads, same floats
    run = Run(run_dir)
    lock = run.lock(lock_fd).acquire()
    status = _Status(run)
    try:
        if run.read_status()["state"] == "done":
            raise RunError(f"run {run.id} is done; nothing to resume")
        _clean_temporaries(run)
        # in a distributed run the recorded pid is torchrun's (our parent), the leader of the process group
        # that spawn_worker started and cancel signals; the ranks run in sessions of their own and die with
        # it (_die_with_parent)
        pid = os.getppid() if comm is not None and comm.world > 1 else os.getpid()
        before = run.read_status()
        queued_at = (
            before.get("queued_at") if before.get("state") == "queued" and before.get("queued_at") else now_iso()
        )
        status.set(
            state="queued",
            phase="waiting",
            pid=pid,
            host=socket.gethostname(),
            queued_at=queued_at,
            finished=None,
            error=None,
        )
        status.start_heartbeat()
        slot = None
        try:
            slot = wait_for_slot(run, status.set, run.cancel_requested)
            if slot is None:  # cancelled while waiting: nothing was trained
                log.info("run %s: cancelled while queued", run.id)
                status.finish("cancelled", error=None)
                return "cancelled"
            status.set(state="running", phase="starting", started=now_iso(), queue_position=None, slot=slot.index)
            log.info("worker pid %d running %s (slot %d)", os.getpid(), run.path, slot.index)
            _set_threads(threads)
            state = _train_and_finish(run, status, comm)
            status.finish(state, error=None)
        except WorkerTerminated as e:
            state = "cancelled" if run.cancel_requested() else "failed"
            log.warning("%s; state %s", e, state)
            status.finish(state, error=f"worker {e}; `irs resume {run.id}` continues from the last checkpoint")
        except Exception as e:
            log.exception("run %s failed", run.id)
            state = "failed"
            status.finish(state, error=f"{type(e).__name__}: {e}")
        finally:
            if slot is not None:
                slot.release()
        log.info("run %s: %s", run.id, state)
        return state
    finally:
        status.stop_heartbeat()
        lock.release()


def _die_with_parent() -> None:
    """torchrun starts each rank in a session of its own, so a signal to torchrun's process group (irs
    cancel, a SIGKILL of the run) never reaches the ranks, which then trained on as orphans. Ask Linux to
    SIGKILL this rank when its parent dies (prctl PR_SET_PDEATHSIG), and leave if it is already gone."""
    import ctypes

    parent = os.getppid()
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, int(signal.SIGKILL))  # 1 = PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        log.warning("cannot tie this rank's life to torchrun's (no prctl); a killed run may leave ranks running")
    if os.getppid() != parent or parent == 1:
        sys.exit(1)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m irs.runs.worker", description="Execute one run directory.")
    ap.add_argument("run_dir", help="the run directory")
    ap.add_argument(
        "--lock-fd",
        type=int,
        default=None,
        help="descriptor of the run's lock, already held, inherited from the spawner (default: take it)",
    )
    ap.add_argument(
        "--wait-stdin",
        action="store_true",
        help="wait for stdin to close before starting (the spawner records our pid first; default: off)",
    )
    args = ap.parse_args(argv)
    if args.wait_stdin:
        sys.stdin.read()
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    threads = env.threads()  # torch CPU threads (default: torch's own choice)
    signal.signal(signal.SIGTERM, _on_sigterm)
    from irs.algorithms.distributed import init_from_env

    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        _die_with_parent()
    comm = init_from_env()  # torchrun sets WORLD_SIZE; otherwise a single process
    try:
        if comm.rank != 0:
            run = Run(args.run_dir)
            while run.read_status().get("state") == "queued":  # rank 0 waits for a slot in the run queue
                time.sleep(0.5)
            if run.read_status().get("state") in FINISHED:  # cancelled while queued
                return 0
            _set_threads(threads)
            _train_and_finish(run, _Follower(), comm)
            return 0
        try:
            state = execute(args.run_dir, args.lock_fd, threads, comm)
        except RunError as e:  # locked, or already done: nothing was written
            log.error("%s", e)
            return 3
        return 0 if state in ("done", "cancelled") else 1
    finally:
        _close_process_group()


def _close_process_group() -> None:
    """Release the torch.distributed process group before exit: left to the interpreter's teardown, gloo's
    threads could abort a rank that finished first ("terminate called without an active exception")."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        try:
            dist.destroy_process_group()
        except Exception:  # leaving anyway
            log.debug("destroy_process_group failed", exc_info=True)


if __name__ == "__main__":
    sys.exit(main())
