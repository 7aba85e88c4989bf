"""Candidate tables: weighted scores, top k, the run's sets, export bytes (the same writer as `irs export`)."""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from ui.logic.design import normalize_weights

log = logging.getLogger(__name__)


# ---- candidate tables -----------------------------------------------------------------------------
def weighted_score(df: pd.DataFrame, names: Sequence[str], weights: Sequence[float]) -> np.ndarray:
    """Σ w_i · reward_i with the weights normalized; NaN where any reward is missing (invalid rows)."""
    w = normalize_weights(weights)
    if w is None:
        raise ValueError(f"weights {list(weights)} must be finite, >= 0 and not all zero")
    if len(w) != len(names):
        raise ValueError(f"{len(w)} weights for {len(names)} objectives")
    R = df[[f"reward_{n}" for n in names]].to_numpy(dtype=np.float64)
    return R @ np.asarray(w)


def top_k_ids(df: pd.DataFrame, score: np.ndarray, k: int) -> list[int]:
    """Row ids of the k best valid, non-duplicate rows by score (ties keep table order)."""
    ok = np.isfinite(score) & df["valid"].to_numpy(dtype=bool) & ~df["duplicate"].to_numpy(dtype=bool)
    idx = np.flatnonzero(ok)
    order = idx[np.argsort(-score[idx], kind="stable")][: max(0, int(k))]
    return [int(df.index[i]) for i in order]


def export_bytes(
    df: pd.DataFrame,
    fmt: str,
    *,
    domain: str,
    run_id: str,
    rows: Sequence[int] | None = None,
    pareto_only: bool = False,
    units: Mapping[str, str] | None = None,
) -> bytes:
    """The bytes `irs export` would write for these rows (irs.export.export into a temporary file)."""
    from irs.export import export

    with tempfile.TemporaryDirectory(prefix="irs-export-") as d:
        p = Path(d) / f"export.{fmt}"
        export(
            df,
            fmt,
            p,
            domain=domain,
            run_id=run_id,
            pareto_only=pareto_only,
            rows=None if rows is None else [int(r) for r in rows],
            units=units,
        )
        return p.read_bytes()


EXPORT_MIME = {
    "csv": "text/csv",
    "jsonl": "application/x-ndjson",
    "sdf": "chemical/x-mdl-sdfile",
    "fasta": "text/x-fasta",
}
