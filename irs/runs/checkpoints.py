"""A run's checkpoints: checkpoints/step_<t>/ (Trainer.save) with its own pointer.json, the `latest` pointer,
and loading them back (falling back to an older checkpoint when the newest is damaged; refusing an edited config)."""

from __future__ import annotations

import json
import logging
import os
import shutil
import time

from irs.io import atomic_write_json
from irs.runs.store import KEEP_CHECKPOINTS, Run, RunError, now_iso

log = logging.getLogger(__name__)

POINTER_FILE = "pointer.json"  # inside checkpoints/step_<t>/: the `latest` pointer as it was for that step


def _changed_fields(a: dict, b: dict, prefix: str = "") -> list[str]:
    """Dotted names of the fields whose values differ between two config dicts."""
    out = []
    for k in sorted(set(a) | set(b)):
        x, y = a.get(k), b.get(k)
        if isinstance(x, dict) and isinstance(y, dict):
            out += _changed_fields(x, y, f"{prefix}{k}.")
        elif x != y:
            out.append(f"{prefix}{k}: {x!r} -> {y!r}")
    return out


def load_checkpoint(run: Run, tr, notes: list[str]) -> dict | None:
    """Load checkpoints/latest into `tr`; when its weights are damaged (irs.checkpoint.WeightsError), the
    previous checkpoint that loads, with a note in the status. None before the first checkpoint."""
    from irs.checkpoint import WeightsError

    ck = run.latest_checkpoint()
    if ck is None:
        return None
    saved, now = ck.get("config"), run.config().to_dict()
    if saved is not None and saved != now:
        changed = _changed_fields(saved, now)
        raise RunError(
            f"run {run.id}: config.toml was edited after its last checkpoint ({', '.join(changed[:8])}); "
            "a resumed run must continue the run it started as: restore the file, or start a new run "
            "with the new config"
        )
    older = sorted(
        (int(p.name[5:]), p)
        for p in run.checkpoints_dir.glob("step_*")
        if p.is_dir() and p.name[5:].isdigit() and int(p.name[5:]) < ck["step"]
    )
    candidates = [ck] + [
        json.loads((p / POINTER_FILE).read_text()) for _, p in reversed(older) if (p / POINTER_FILE).is_file()
    ]
    for k, c in enumerate(candidates):
        try:
            log.info("resuming from %s (step %d)", c["dir"], c["step"])
            tr.load(run.checkpoints_dir / c["dir"])
        except WeightsError as e:
            log.warning("checkpoint %s is damaged: %s", c["dir"], e)
            notes.append(f"checkpoint {c['dir']} was damaged ({e}); resumed from an older one")
            continue
        if k:
            atomic_write_json(run.checkpoints_dir / "latest", c)
        return c
    raise RunError(
        f"run {run.id}: every checkpoint is damaged ({', '.join(c['dir'] for c in candidates)}); the run cannot resume"
    )


class Checkpointer:
    """checkpoints/step_<t>/ (Trainer.save, atomic) + checkpoints/latest (atomic JSON pointer)."""

    def __init__(self, run: Run, tr, metrics, status, step: int):
        self.run, self.tr, self.metrics, self.status = run, tr, metrics, status
        self.last_step = step
        self.last_time = time.monotonic()
        self.every_s = 60.0 * float(os.environ.get("IRS_CHECKPOINT_MINUTES", 10))

    def due(self) -> bool:
        s = self.tr.schedule
        merged = s.t % s.m == 0 or s.done
        return merged or time.monotonic() - self.last_time > self.every_s

    def save(self) -> None:
        t = self.tr.schedule.t
        if t == self.last_step:
            return
        name = f"step_{t}"
        self.tr.save(self.run.checkpoints_dir / name)  # every rank (a collective in distributed runs)
        self.last_step, self.last_time = t, time.monotonic()
        if self.tr.comm.rank != 0:
            return
        pointer = {
            "step": t,
            "dir": name,
            "metrics_offset": self.metrics.offset,
            "time": now_iso(),
            "config": self.run.config().to_dict(),
        }  # resume refuses a config edited since
        # each checkpoint keeps its own pointer, so resume can fall back to it if a newer one is damaged
        atomic_write_json(self.run.checkpoints_dir / name / POINTER_FILE, pointer)
        atomic_write_json(self.run.checkpoints_dir / "latest", pointer)
        steps = sorted(
            (int(p.name[5:]), p) for p in self.run.checkpoints_dir.glob("step_*") if p.is_dir() and p.name[5:].isdigit()
        )
        for _, p in steps[:-KEEP_CHECKPOINTS]:
            if p.name != name:
                shutil.rmtree(p, ignore_errors=True)
        self.status.set(last_checkpoint=f"checkpoints/{name}")
        log.info("checkpoint at step %d", t)
