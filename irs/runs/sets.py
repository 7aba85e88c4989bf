"""Candidate sets of a run: candidates.parquet ("final"), then the sets added later (re-merges, the
starting model) under <run>/sets/NNN-<slug>.parquet. The workbench adds them, and `irs export` and the
workbench read them through the same functions.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pandas as pd

from irs.io import atomic_write_bytes, check_name, safe_join
from irs.runs.results import load_candidates
from irs.runs.store import Run

log = logging.getLogger(__name__)

SETS_DIR = "sets"


def sets_files(run_path: Path) -> list[Path]:
    d = Path(run_path) / SETS_DIR
    if not d.is_dir():
        return []
    return sorted(p for p in d.glob("*.parquet") if not p.name.startswith("."))


def table_stamp(run_path: Path) -> tuple:
    """(name, mtime_ns, size) of every file the candidate table is read from: the cache key."""
    files = [Path(run_path) / "candidates.parquet", *sets_files(run_path)]
    return tuple((f.name, f.stat().st_mtime_ns, f.stat().st_size) for f in files if f.is_file())


def load_table(run_path: Path) -> pd.DataFrame:
    """The run's candidates (load_candidates) followed by the sets added from the workbench,
    merged with irs.candidates.merge_tables(scope="set"): each set keeps its own Pareto front, and row ids
    (the index) are stable because sets are only ever appended."""
    from irs.candidates import merge_tables

    base = load_candidates(Run(run_path))
    extras = []
    for f in sets_files(run_path):
        try:
            extras.append(pd.read_parquet(f))
        except Exception as e:  # a damaged extra set must not hide the run's own candidates
            log.warning("skipping unreadable candidate set %s: %s", f, e)
    extras = [e for e in extras if list(e.columns) == list(base.columns)]
    return merge_tables([base, *extras], scope="set") if extras else base.reset_index(drop=True)


def add_candidate_set(run_path: Path, df: pd.DataFrame) -> str:
    """Store a scored candidate table as a new set of the run (<run>/sets/NNN-<slug>.parquet, atomic).
    A set name that already exists gets ' #2', ' #3', ... Returns the set name used."""
    run_path = Path(run_path)
    existing = set()
    for f in sets_files(run_path):
        try:
            existing |= set(pd.read_parquet(f, columns=["set"])["set"])
        except Exception:
            pass
    name = str(df["set"].iloc[0]) if len(df) else "set"
    base, k = name, 2
    while name in existing or name == "final":
        name, k = f"{base} #{k}", k + 1
    df = df.copy()
    df["set"] = name
    n = len(sets_files(run_path)) + 1
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-.")[:60] or "set"
    fname = check_name(f"{n:03d}-{slug}.parquet", "candidate set file")
    atomic_write_bytes(safe_join(run_path, SETS_DIR, fname), df.to_parquet(index=False))
    return name
