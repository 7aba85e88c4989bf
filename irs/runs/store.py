"""The run store: one directory per run under a runs folder, with its status, liveness, cancel flag and lock.

This is the one run store; the CLI, the worker, the app and the benchmarks all use it. A run directory
(DESIGN.md §4) holds:

    config.toml         the validated run config
    status.json         state, step / total_steps, pid, host, heartbeat, error, ... (atomic JSON)
    metrics.jsonl       one JSON record per line (step and merge records), appended by the worker
    checkpoints/        step_<t>/ trainer states (the last two are kept) and `latest`, a JSON pointer
    final/              the merged policy π_ρT (a model directory, irs.checkpoint)
    experts/            expert_<i>.safetensors and experts.json: the final experts, for re-merging
    candidates.parquet  the K final candidates scored by the oracle (irs.candidates)
    log.txt             the worker's log
    cancel              flag file: present = cancel requested (checked by the worker between steps)
    lock                flock held by the worker for its whole life: one worker per run

Who writes status.json: only the holder of the lock (the worker, or `start`/`resume`/`cancel` while they
hold it), plus `create` before anyone can hold it. Readers never write; a dead worker is *reported* as
failed (`Run.status()`), and the file keeps what the worker last wrote.
"""

from __future__ import annotations

import errno
import fcntl
import json
import logging
import os
import re
import secrets
import shutil
import socket
import time
from datetime import datetime, timezone
from pathlib import Path

from irs.io import atomic_write_json, check_name, safe_join

log = logging.getLogger(__name__)

STATES = ("queued", "running", "done", "failed", "cancelled")
ACTIVE = ("queued", "running")
FINISHED = ("done", "failed", "cancelled")
# A live worker beats every HEARTBEAT_INTERVAL s; a run whose heartbeat is older than HEARTBEAT_TIMEOUT s
# counts as dead. Both can be overridden by environment variables (tests use short values).
HEARTBEAT_INTERVAL = 5.0
HEARTBEAT_TIMEOUT = 60.0
KEEP_CHECKPOINTS = 2


class RunError(ValueError):
    """A run exists but cannot do what was asked (already done, already running, corrupt, ...)."""


class RunNotFound(RunError):
    """No run with that id under the runs folder."""


class RunLocked(RunError):
    """Another worker holds the run's lock."""


def default_runs_dir() -> Path:
    """The runs folder: $IRS_RUNS_DIR, else ./runs."""
    return Path(os.environ.get("IRS_RUNS_DIR") or "runs")


def heartbeat_interval() -> float:
    return float(os.environ.get("IRS_HEARTBEAT_INTERVAL", HEARTBEAT_INTERVAL))


def heartbeat_timeout() -> float:
    return float(os.environ.get("IRS_HEARTBEAT_TIMEOUT", HEARTBEAT_TIMEOUT))


def now_iso() -> str:
    """UTC time as ISO 8601 with milliseconds and a Z, e.g. 2025-01-31T12:00:00.123Z."""
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_iso(s: str | None) -> float | None:
    """Seconds since the epoch for a time written by now_iso (None if missing or unparseable)."""
    if not s:
        return None
    try:
        return datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp()
    except (TypeError, ValueError):
        return None


def pid_alive(pid: int) -> bool:
    """Whether process `pid` exists on this host and is not a zombie."""
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    try:  # an exited but unreaped child still answers kill(0); /proc tells us it is a zombie
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def new_run_id(name: str) -> str:
    """<name>-<UTC yyyymmdd-hhmmss>-<4 hex>: sortable by creation time, unique, a safe file name."""
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", name or "")
    slug = re.sub(r"\.{2,}", ".", slug).strip("-._")[:48].rstrip("-._") or "run"
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    return check_name(f"{slug}-{stamp}-{secrets.token_hex(2)}", "run id")


# ---- liveness -----------------------------------------------------------------------------------
def effective_status(st: dict, now: float | None = None, timeout: float | None = None) -> dict:
    """The status as it should be reported: a queued/running run whose worker is gone (its pid is dead
    on this host, or its heartbeat is older than `timeout` seconds) is reported as failed."""
    if st.get("state") not in ACTIVE:
        return st
    now = time.time() if now is None else now
    timeout = heartbeat_timeout() if timeout is None else timeout
    hb = st.get("heartbeat") or st.get("updated") or st.get("created")
    age = now - (parse_iso(hb) or 0.0)
    pid = st.get("pid")
    same_host = st.get("host") in (None, socket.gethostname())
    dead_pid = pid is not None and same_host and not pid_alive(pid)
    if not dead_pid and age <= timeout:
        return st
    resume = f"run `irs resume {st.get('run_id', 'RUN')}`"
    if pid is None:
        error = f"no worker started (queued since {hb}); {resume}"
    else:
        why = f"pid {pid} is gone" if dead_pid else f"heartbeat is {age:.0f} s old (timeout {timeout:.0f} s)"
        error = f"worker died (no heartbeat since {hb}; {why}); {resume}"
    out = dict(st)
    out.update(state="failed", stale=True, stale_state=st.get("state"), error=error)
    return out


# ---- the lock -----------------------------------------------------------------------------------
class RunLock:
    """An exclusive flock on <run>/lock. `fd` adopts a descriptor inherited from the process that
    spawned this worker (the lock travels with the open file description, so it is never free in
    between). Release by `release()` or process exit."""

    def __init__(self, run: Run, fd: int | None = None):
        self.run, self.fd = run, fd

    def acquire(self) -> RunLock:
        fd = self.fd if self.fd is not None else os.open(self.run.lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            if self.fd is None:
                os.close(fd)
            if e.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise
            holder = self.run.lock_path.read_text().strip() if self.run.lock_path.is_file() else "?"
            raise RunLocked(
                f"run {self.run.id} already has a worker (lock {self.run.lock_path} is held by "
                f"pid {holder or '?'}); see `irs status {self.run.id}`"
            ) from None
        self.fd = fd
        self._write_pid(os.getpid())
        return self

    def _write_pid(self, pid: int) -> None:
        os.ftruncate(self.fd, 0)
        os.pwrite(self.fd, f"{pid}\n".encode(), 0)

    def hand_over(self) -> None:
        """Close our descriptor without unlocking: a child that inherited it keeps the lock."""
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None

    def release(self) -> None:
        if self.fd is not None:
            try:
                fcntl.flock(self.fd, fcntl.LOCK_UN)
            finally:
                os.close(self.fd)
                self.fd = None

    def __enter__(self):
        return self.acquire()

    def __exit__(self, *exc):
        self.release()


# ---- one run ------------------------------------------------------------------------------------
class Run:
    """A run directory. Paths, status (raw and effective), config, checkpoints, flags and the lock."""

    def __init__(self, path: str | os.PathLike, run_id: str | None = None):
        self.path = Path(path).resolve()
        self.id = check_name(run_id or self.path.name, "run id")
        self.proc = None  # the subprocess.Popen of a worker this process spawned, if any

    def __repr__(self) -> str:
        return f"Run({self.id!r})"

    # paths
    config_path = property(lambda self: self.path / "config.toml")
    status_path = property(lambda self: self.path / "status.json")
    metrics_path = property(lambda self: self.path / "metrics.jsonl")
    log_path = property(lambda self: self.path / "log.txt")
    checkpoints_dir = property(lambda self: self.path / "checkpoints")
    final_dir = property(lambda self: self.path / "final")
    experts_dir = property(lambda self: self.path / "experts")
    candidates_path = property(lambda self: self.path / "candidates.parquet")
    cancel_path = property(lambda self: self.path / "cancel")
    lock_path = property(lambda self: self.path / "lock")

    # status
    def read_status(self) -> dict:
        """status.json as written (no liveness check). RunError if missing or unreadable."""
        try:
            st = json.loads(self.status_path.read_text())
        except FileNotFoundError:
            raise RunError(f"run {self.id}: {self.status_path} is missing; the run directory is corrupt") from None
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            raise RunError(f"run {self.id}: status.json is unreadable ({e})") from None
        if not isinstance(st, dict) or st.get("state") not in STATES:
            raise RunError(f"run {self.id}: status.json has no valid state (got {st!r:.200})")
        for k in ("step", "total_steps", "pid"):  # numbers the control verbs compute with
            v = st.get(k)
            if v is not None and (not isinstance(v, int) or isinstance(v, bool)):
                raise RunError(f"run {self.id}: status.json field {k} = {v!r} is not an integer")
        return st

    def status(self) -> dict:
        """The status to report: a dead worker's run shows as failed, with how to resume."""
        return effective_status(self.read_status())

    def write_status(self, **fields) -> dict:
        """Update status.json atomically. Only the lock holder (or `create`) may call this."""
        try:
            st = self.read_status()
        except RunError:
            st = {}
        st.update(fields)
        st["updated"] = now_iso()
        atomic_write_json(self.status_path, st)
        return st

    # config and outputs
    def config(self):
        from irs.config import RunConfig

        try:
            return RunConfig.load(self.config_path)
        except (ValueError, FileNotFoundError) as e:
            raise RunError(f"run {self.id}: {e}") from None

    def latest_checkpoint(self) -> dict | None:
        """{"step", "dir", "metrics_offset", ...} from checkpoints/latest, or None before the first."""
        p = self.checkpoints_dir / "latest"
        if not p.is_file():
            return None
        try:
            ck = json.loads(p.read_text())
            check_name(ck["dir"], "checkpoint directory")
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise RunError(f"run {self.id}: checkpoint pointer {p} is unreadable ({e})") from None
        if not (self.checkpoints_dir / ck["dir"]).is_dir():
            raise RunError(f"run {self.id}: checkpoint {ck['dir']} named by {p} is missing")
        return ck

    def metrics(self) -> list[dict]:
        """All metrics records. A torn last line (worker killed mid-write) is skipped."""
        if not self.metrics_path.is_file():
            return []
        out = []
        lines = self.metrics_path.read_text(errors="replace").splitlines()
        for i, line in enumerate(lines):
            if not line.strip():
                continue
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                if i != len(lines) - 1:
                    log.warning("run %s: skipping unreadable metrics line %d", self.id, i + 1)
        return out

    # flags and lock
    def cancel_requested(self) -> bool:
        return self.cancel_path.exists()

    def request_cancel(self) -> None:
        """Create the cancel flag (creating an empty file is atomic)."""
        fd = os.open(self.cancel_path, os.O_WRONLY | os.O_CREAT, 0o644)
        os.close(fd)

    def clear_cancel(self) -> None:
        self.cancel_path.unlink(missing_ok=True)

    def lock(self, fd: int | None = None) -> RunLock:
        """The run's lock (not yet acquired): `with run.lock(): ...` or `.acquire()`."""
        return RunLock(self, fd)


# ---- the store ----------------------------------------------------------------------------------
class RunStore:
    """Runs under one folder (default: $IRS_RUNS_DIR or ./runs). Ids cannot escape the folder."""

    def __init__(self, root: str | os.PathLike | None = None):
        self.root = Path(root if root is not None else default_runs_dir()).resolve()

    def __repr__(self) -> str:
        return f"RunStore({str(self.root)!r})"

    def create(self, cfg, notes: list[str] | None = None) -> Run:
        """Make a new run directory for a validated RunConfig (config.toml, status queued); return it.
        The directory appears complete or not at all (built under a hidden name, then renamed)."""
        self.root.mkdir(parents=True, exist_ok=True)
        for _ in range(10):
            run_id = new_run_id(cfg.name)
            final = safe_join(self.root, run_id)
            if not final.exists():
                break
        else:
            raise RunError(f"could not find a free run id under {self.root}")
        tmp = safe_join(self.root, f".creating-{run_id}")
        tmp.mkdir()
        try:
            cfg.save(tmp / "config.toml")
            t = now_iso()
            st = {
                "run_id": run_id,
                "name": cfg.name,
                "method": cfg.method,
                "domain": cfg.domain,
                "state": "queued",
                "phase": "queued",
                "step": 0,
                "total_steps": cfg.merge.total_steps,
                "pid": None,
                "host": None,
                "heartbeat": None,
                "created": t,
                "updated": t,
                "started": None,
                "finished": None,
                "error": None,
                "notes": list(notes if notes is not None else cfg.notes),
                "last_checkpoint": None,
            }
            atomic_write_json(tmp / "status.json", st)
            os.rename(tmp, final)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        log.info("created run %s in %s", run_id, self.root)
        return Run(final, run_id)

    def get(self, run_id: str) -> Run:
        """The run `run_id`. ValueError for an unsafe id, RunNotFound for an unknown one."""
        check_name(run_id, "run id")
        if (self.root / run_id).is_symlink():
            raise RunNotFound(f"{run_id!r} in {self.root} is a symlink, not a run folder")
        p = safe_join(self.root, run_id)
        if not p.is_dir() or not (p / "status.json").is_file():
            raise RunNotFound(f"unknown run {run_id!r} in {self.root} (list runs with `irs status`)")
        return Run(p, run_id)

    def list(self) -> list[Run]:
        """Every run directory, oldest first (ids start with the name, so sort by creation time)."""
        if not self.root.is_dir():
            return []
        runs = []
        for p in self.root.iterdir():
            # runs are real folders: a symlink (perhaps to a folder elsewhere) is not listed or read
            if p.name.startswith(".") or p.is_symlink() or not p.is_dir() or not (p / "status.json").is_file():
                continue
            try:
                runs.append(Run(p, p.name))
            except ValueError:
                continue
        return sorted(runs, key=lambda r: (r.id.rsplit("-", 3)[-3:], r.id))

    def delete(self, run_id: str) -> None:
        """Remove a run directory; refused while a worker holds its lock."""
        run = self.get(run_id)
        with run.lock():
            shutil.rmtree(run.path)
