"""QM9Oracle (α, gap, U0 for a list of SMILES, calibrated) and the oracle objectives of the qm9 preset."""

from __future__ import annotations

import collections
import logging
import os
from collections.abc import Sequence

import numpy as np

from irs.domains.molecules import qm9
from irs.domains.molecules.oracle.calibration import Calibration
from irs.domains.molecules.oracle.physics import CALIBRATION_PATH, DEFAULT_SEED, DEFAULT_TIMEOUT_S
from irs.domains.molecules.oracle.pool import compute_raw_many

log = logging.getLogger(__name__)

# ------------------------------------------------------------------------------------------ scoring


class QM9Oracle:
    """Scores SMILES with the calibrated oracle; results are cached by canonical SMILES.

    `score(smiles)` returns {"alpha", "gap", "u0": float arrays (NaN on failure), "status": list}.
    `counts` accumulates statuses over unique molecules scored (invalid SMILES count per call);
    `cpu_seconds` the worker CPU time spent.
    """

    def __init__(
        self,
        calibration: Calibration | str | os.PathLike | None = None,
        n_conf: int | None = None,
        seed: int = DEFAULT_SEED,
        n_workers: int | None = None,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        n_xtb: int | None = None,
    ):
        self.cal = (
            calibration if isinstance(calibration, Calibration) else Calibration.load(calibration or CALIBRATION_PATH)
        )
        self.n_conf = int(n_conf if n_conf is not None else self.cal.n_conf)
        self.n_xtb = int(n_xtb if n_xtb is not None else self.cal.n_xtb)
        if self.n_conf < 1 or self.n_xtb < 1:
            raise ValueError(f"n_conf and n_xtb must be >= 1, got n_conf={self.n_conf}, n_xtb={self.n_xtb}")
        self.seed, self.n_workers, self.timeout_s = seed, n_workers, timeout_s
        self._cache: dict[str, tuple[float, float, float, str]] = {}
        self.counts: collections.Counter = collections.Counter()
        self.cpu_seconds = 0.0  # summed worker CPU time over computed molecules (pool mode only)

    def score(self, smiles: Sequence[str]) -> dict:
        from irs.domains.molecules.chem import canonicalize

        canon = [canonicalize(s) for s in smiles]
        todo = sorted({c for c in canon if c is not None and c not in self._cache})
        if todo:
            raws = compute_raw_many(todo, self.n_conf, self.seed, self.n_workers, self.timeout_s, n_xtb=self.n_xtb)
            pred = self.cal.predict(raws)
            self.cpu_seconds += float(sum(r.get("cpu_s", 0.0) for r in raws))
            for k, c in enumerate(todo):
                self._cache[c] = (pred["alpha"][k], pred["gap"][k], pred["u0"][k], pred["status"][k])
                self.counts[pred["status"][k]] += 1
        self.counts["invalid"] += sum(c is None for c in canon)
        rows = [self._cache[c] if c is not None else (np.nan, np.nan, np.nan, "invalid") for c in canon]
        return {
            "alpha": np.array([r[0] for r in rows], dtype=float),
            "gap": np.array([r[1] for r in rows], dtype=float),
            "u0": np.array([r[2] for r in rows], dtype=float),
            "status": [r[3] for r in rows],
        }


def oracle_objectives(oracle: QM9Oracle | None = None, **kwargs) -> list:
    """The evaluation objectives alpha, gap, u0 (same names, goals and ranges as the proxies).

    The three objectives share one `QM9Oracle`, so a candidate list is computed once and the other two
    objectives read the cache. Invalid or failed candidates score NaN (`invalid_reward` NaN).
    """
    from irs.objectives import Objective

    oracle = oracle or QM9Oracle(**kwargs)
    stats = qm9.norm_stats()

    def scorer(name):
        def f(cands):
            return oracle.score(cands)[name]

        f.oracle = oracle
        return f

    objs = []
    for name in qm9.OBJECTIVES:
        goal, target = qm9.QM9_GOALS[name]
        lo, hi = stats[name]
        objs.append(
            Objective(
                name,
                scorer(name),
                lo,
                hi,
                goal,
                target=target,
                description=f"{qm9.DESCRIPTIONS[name]}; oracle: xTB/D4 physics calibrated on QM9",
                unit=qm9.UNITS[name],
                invalid_reward=float("nan"),
            )
        )
    return objs
