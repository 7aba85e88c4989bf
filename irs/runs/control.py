"""Starting, resuming, cancelling and following runs: the verbs the CLI and the app call.

Every start goes through `spawn_worker`: it takes the run's lock, marks the run queued, starts
`python -m irs.runs.worker RUN_DIR` as a detached process (start_new_session=True, so the run survives
the shell or app that started it and a Ctrl-C there never reaches it) and hands the held lock to the
child through an inherited descriptor. The lock is therefore never free between spawner and worker, and
two starts of one run cannot both get a worker.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from irs.runs.store import ACTIVE, FINISHED, Run, RunError, RunLocked, RunStore, now_iso, pid_alive

log = logging.getLogger(__name__)

CANCEL_TIMEOUT = 60.0  # seconds a worker gets to stop by itself after the cancel flag
KILL_GRACE = 10.0  # seconds between SIGTERM and SIGKILL to the worker's process group


def load_config(path: str | os.PathLike):
    """Read and validate a run config against its domain (objective names, weights, model). Raises
    FileNotFoundError / ValueError naming the problem; writes nothing."""
    from irs.config import RunConfig

    return check_config(RunConfig.load(path))


def check_config(cfg):
    """Validate a RunConfig in place against its domain (see load_config) and return it. The IRS_*
    settings a worker would use (irs.env) are checked too, before any run folder exists."""
    from irs import env
    from irs.config import validate

    env.check()
    from irs.domains import get_domain

    domain = get_domain(cfg.domain)
    validate(cfg, [o.name for o in domain.objectives(cfg.preset or None)])
    spec = cfg.model or domain.default_model
    what = f"config field model = {cfg.model!r}" if cfg.model else f"domain {domain.name!r} default model {spec!r}"
    if spec.startswith("tiny:"):
        from irs.rl.policy import TINY

        if spec[5:] not in TINY:
            raise ValueError(
                f"{what}: unknown tiny model; use {', '.join('tiny:' + k for k in TINY)} or a model directory"
            )
    else:
        from irs.model_import import importable
        from irs.paths import resolve

        p = Path(resolve(spec))
        # a packaged default model (text: SmolLM2) is imported by the worker on first use
        if not (p / "config.json").is_file() and not importable(p):
            raise ValueError(f"{what}: not a model directory (no config.json)")
        if cfg.model:
            cfg.model = str(p)  # the run must not depend on the directory it was started from
    return cfg


def as_run(run: Run | str, runs_dir: str | os.PathLike | None = None) -> Run:
    return run if isinstance(run, Run) else RunStore(runs_dir).get(run)


def _worker_env() -> dict:
    env = dict(os.environ)
    root = str(Path(__file__).resolve().parents[2])  # the directory holding the irs package
    env["PYTHONPATH"] = os.pathsep.join([root] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
    return env


def spawn_worker(run: Run) -> subprocess.Popen:
    """Start the detached worker for `run` (queued, failed or cancelled). RunLocked if a worker holds it,
    RunError if the run is done; nothing is written in either case."""
    lock = run.lock().acquire()
    try:
        if run.read_status()["state"] == "done":
            raise RunError(f"run {run.id} is done; nothing to resume")
        nproc = run.config().nproc  # a broken config.toml is refused before anything changes
        run.clear_cancel()
        run.write_status(state="queued", phase="queued", pid=None, error=None, heartbeat=now_iso(), queued_at=now_iso())
        with open(run.log_path, "ab") as logf:
            logf.write(f"--- {now_iso()} starting worker ---\n".encode())
            logf.flush()
            if nproc > 1:
                # torchrun starts the ranks; rank 0 takes the lock itself (torchrun does not pass
                # descriptors on), so the lock is released just before the launch
                cmd = [
                    sys.executable,
                    "-m",
                    "torch.distributed.run",
                    "--standalone",
                    "--nproc_per_node",
                    str(nproc),
                    "-m",
                    "irs.runs.worker",
                    str(run.path),
                ]
                lock.release()
                proc = subprocess.Popen(
                    cmd,
                    stdin=subprocess.PIPE,
                    stdout=logf,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                    env=_worker_env(),
                )
            else:
                proc = subprocess.Popen(
                    [sys.executable, "-m", "irs.runs.worker", str(run.path), "--lock-fd", str(lock.fd), "--wait-stdin"],
                    stdin=subprocess.PIPE,
                    stdout=logf,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                    pass_fds=(lock.fd,),
                    env=_worker_env(),
                )
    except BaseException:
        lock.release()
        raise
    try:  # the worker waits for stdin to close, so this pid is written before it writes anything
        import socket

        run.write_status(pid=proc.pid, host=socket.gethostname(), heartbeat=now_iso())
    finally:
        proc.stdin.close()
        if nproc == 1:
            lock.hand_over()
    run.proc = proc
    log.info("run %s: worker pid %d", run.id, proc.pid)
    return proc


def start_run(config, runs_dir: str | os.PathLike | None = None) -> Run:
    """Create a run from a config (a path or a RunConfig) and start its detached worker."""
    from irs.config import RunConfig

    cfg = check_config(config) if isinstance(config, RunConfig) else load_config(config)
    run = RunStore(runs_dir).create(cfg)
    spawn_worker(run)
    return run


def resume_run(run: Run | str, runs_dir: str | os.PathLike | None = None) -> Run:
    """Continue a failed or cancelled run (or a dead worker's) from its last checkpoint."""
    run = as_run(run, runs_dir)
    st = run.status()
    if st["state"] == "done":
        raise RunError(f"run {run.id} is done; nothing to resume")
    if st["state"] in ACTIVE:
        raise RunLocked(f"run {run.id} is already {st['state']} (pid {st.get('pid')}); nothing to resume")
    spawn_worker(run)
    return run


def _signal_worker(pid: int, sig: int) -> bool:
    """Signal the worker's process group, only if `pid` still leads a group running our worker."""
    try:
        if os.getpgid(pid) != pid:
            return False
        cmd = Path(f"/proc/{pid}/cmdline")
        if cmd.is_file() and b"irs.runs.worker" not in cmd.read_bytes():
            return False
        os.killpg(pid, sig)
        return True
    except (ProcessLookupError, PermissionError, OSError):
        return False


def _lock_free(run: Run) -> bool:
    try:
        with run.lock():
            return True
    except RunLocked:
        return False


def _wait_until(cond: Callable[[], bool], timeout: float, poll: float = 0.2) -> bool:
    end = time.monotonic() + timeout
    while True:
        if cond():
            return True
        if time.monotonic() >= end:
            return False
        time.sleep(poll)


def _hung_worker(run: Run, st: dict) -> int | None:
    """The pid of a worker that is reported failed (no heartbeat: stopped, frozen) yet still alive and
    holding the run's lock, or None."""
    import socket

    pid = st.get("pid")
    if not st.get("stale") or not isinstance(pid, int) or st.get("host") not in (None, socket.gethostname()):
        return None
    if not pid_alive(pid):
        return None
    return None if _lock_free(run) else pid


def _stop_hung_worker(run: Run, pid: int) -> dict:
    """SIGKILL the hung worker's process group (a stopped process cannot act on SIGTERM), wait for the
    lock to free, and mark the run cancelled, so that `irs resume` continues from its last checkpoint."""
    log.warning("run %s: worker pid %d is alive but sends no heartbeat; killing it", run.id, pid)
    _signal_worker(pid, signal.SIGKILL)
    _wait_until(lambda: not pid_alive(pid), KILL_GRACE)
    if run.proc is not None:
        run.proc.poll()
    with run.lock():  # free once the process is gone
        run.write_status(
            state="cancelled",
            phase="cancelled",
            finished=now_iso(),
            error=f"worker pid {pid} hung (no heartbeat) and was killed; "
            f"`irs resume {run.id}` continues from the last checkpoint",
        )
    return run.status()


def cancel_run(
    run: Run | str, runs_dir: str | os.PathLike | None = None, *, timeout: float = CANCEL_TIMEOUT, wait: bool = True
) -> dict:
    """Ask the worker to stop (the cancel flag; it checkpoints and exits cancelled at the next step
    boundary). With wait, give it `timeout` seconds, then SIGTERM its process group, then SIGKILL, and
    mark the run cancelled. A run reported failed whose worker is alive and holds the lock (stopped or
    frozen: no heartbeat) is killed at once and marked cancelled. Returns the run's status at the end."""
    run = as_run(run, runs_dir)
    st = run.status()
    if st["state"] in FINISHED:
        hung = _hung_worker(run, st)
        if hung is not None:
            return _stop_hung_worker(run, hung)
        raise RunError(f"run {run.id} is {st['state']}; nothing to cancel")
    run.request_cancel()
    log.info("run %s: cancel requested", run.id)
    if st.get("pid") is None:  # created but never started: no worker to wait for
        try:
            with run.lock():
                run.write_status(state="cancelled", phase="cancelled", finished=now_iso())
            return run.status()
        except RunLocked:  # a spawner is starting it right now; the worker will see the flag
            pass
    if not wait:
        return run.status()
    if _wait_until(lambda: run.status()["state"] in FINISHED, timeout):
        # the worker writes its last status, then exits: wait for its lock, so a resume can start at once
        _wait_until(lambda: _lock_free(run), KILL_GRACE)
        return run.status()
    pid = run.read_status().get("pid")
    if isinstance(pid, int) and pid_alive(pid):
        log.warning("run %s: worker pid %d did not stop within %.0f s; sending SIGTERM", run.id, pid, timeout)
        _signal_worker(pid, signal.SIGTERM)
        if not _wait_until(lambda: not pid_alive(pid), KILL_GRACE):
            log.warning("run %s: sending SIGKILL to worker pid %d", run.id, pid)
            _signal_worker(pid, signal.SIGKILL)
            _wait_until(lambda: not pid_alive(pid), KILL_GRACE)
    if run.proc is not None:
        run.proc.poll()
    with run.lock():
        if run.read_status()["state"] in ACTIVE:
            run.write_status(
                state="cancelled",
                phase="cancelled",
                finished=now_iso(),
                error=f"worker did not stop within {timeout:.0f} s and was killed; "
                f"`irs resume {run.id}` continues from the last checkpoint",
            )
    return run.status()


def wait_run(run: Run, on_status: Callable[[dict], None] = lambda st: None, poll: float = 0.5) -> dict:
    """Poll until the run is done, failed or cancelled; `on_status` sees every status read."""
    while True:
        if run.proc is not None:
            run.proc.poll()  # reap our own child so that a dead worker is not a zombie
        st = run.status()
        on_status(st)
        if st["state"] in FINISHED:
            return st
        time.sleep(poll)
