"""The oracle's calibration onto the QM9 scale (fitted on QM9 training molecules) and the MOSES-widened normalization ranges."""

from __future__ import annotations

import collections
import datetime
import json
import logging
import os
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from irs.domains.molecules import qm9
from irs.domains.molecules.oracle.physics import (
    ATOM_U0,
    BOND_ORDERS,
    CALIBRATION_PATH,
    CALIBRATION_VERSION,
    DEFAULT_N_CONF,
    DEFAULT_N_XTB,
    DEFAULT_SEED,
    KT_HARTREE,
    QM9_ELEMENTS,
    U0_FEATURES,
    xtb_atom_energies,
)
from irs.domains.molecules.oracle.pool import compute_raw_many
from irs.io import atomic_write_json

log = logging.getLogger(__name__)

# ------------------------------------------------------------------------------------- calibration


def _agg(values, how: str, energies=None) -> float:
    """Combine per-conformer values: "mean", "median" or "boltzmann" (weights exp(-ΔE/kT), 298.15 K)."""
    v = np.asarray(values, dtype=float)
    if how == "boltzmann":
        e = np.asarray(energies, dtype=float)
        ok = np.isfinite(v) & np.isfinite(e)
        if not ok.any():
            return float("nan")
        w = np.exp(-(e[ok] - e[ok].min()) / KT_HARTREE)
        return float((w * v[ok]).sum() / w.sum())
    v = v[np.isfinite(v)]
    if v.size == 0:
        return float("nan")
    return float(np.median(v) if how == "median" else v.mean())


def raw_table(raws: Sequence[dict], atom_xtb: dict[str, float], gap_agg: str = "boltzmann"):
    """Per-molecule features from `compute_raw` outputs: alpha_d4, gap_xtb, and the U0 design matrix.

    Returns (alpha_x, gap_x, X_u0, u0_atoms, status) where X_u0 rows are NaN when U0 is undefined
    (non-ok status or elements outside ATOM_U0) and u0_atoms = Σ n_Z·E_atom(Z).
    """
    m = len(raws)
    alpha_x, gap_x = np.full(m, np.nan), np.full(m, np.nan)
    X = np.full((m, len(U0_FEATURES)), np.nan)
    atoms = np.full(m, np.nan)
    status = []
    for k, r in enumerate(raws):
        st = r.get("status", "error")
        if st in ("ok", "scf_fail"):
            alpha_x[k] = _agg(r["alphas"], "mean")
            gap_x[k] = _agg(r["gaps"], gap_agg, r["energies"])
        els = r.get("elements", {})
        energies = np.asarray(r.get("energies", []), dtype=float)
        if st == "ok" and set(els) <= set(ATOM_U0) and np.isfinite(energies).any():
            e_min = float(np.nanmin(energies))
            atoms[k] = sum(n * ATOM_U0[e] for e, n in els.items())
            x_at = e_min - sum(n * atom_xtb[e] for e, n in els.items())
            bonds = r.get("bonds", {})
            X[k] = [x_at] + [els.get(e, 0) for e in QM9_ELEMENTS] + [bonds.get(b, 0) for b in BOND_ORDERS] + [1.0]
        elif st == "ok" and not set(els) <= set(ATOM_U0):
            st = "u0_elements"
        status.append(st)
    return alpha_x, gap_x, X, atoms, status


def _linfit(x: np.ndarray, y: np.ndarray) -> dict:
    ok = np.isfinite(x) & np.isfinite(y)
    a, b = np.polyfit(x[ok], y[ok], 1)
    return {"a": float(a), "b": float(b), "n": int(ok.sum())}


def agreement(pred: np.ndarray, true: np.ndarray) -> dict:
    """Pearson r and MAE over the rows where both are finite, with the counts."""
    pred, true = np.asarray(pred, dtype=float), np.asarray(true, dtype=float)
    ok = np.isfinite(pred) & np.isfinite(true)
    if ok.sum() < 3:
        return {"r": float("nan"), "mae": float("nan"), "n": int(ok.sum()), "n_nan": int((~ok).sum())}
    return {
        "r": float(np.corrcoef(pred[ok], true[ok])[0, 1]),
        "mae": float(np.abs(pred[ok] - true[ok]).mean()),
        "n": int(ok.sum()),
        "n_nan": int((~ok).sum()),
    }


class Calibration:
    """The fitted maps from raw physics to the QM9 scale, loaded from / saved to JSON."""

    def __init__(self, data: dict):
        for key in ("alpha", "gap", "u0", "atom_energy_xtb", "n_conf", "n_xtb", "gap_aggregate"):
            if key not in data:
                raise ValueError(f"oracle calibration lacks field {key!r}")
        if list(data["u0"]["features"]) != list(U0_FEATURES):
            raise ValueError(f"oracle calibration U0 features {data['u0']['features']} != {list(U0_FEATURES)}")
        self.data = data

    @classmethod
    def load(cls, path: str | os.PathLike = CALIBRATION_PATH) -> Calibration:
        p = Path(path)
        if not p.is_file():
            raise FileNotFoundError(f"no oracle calibration at {p}; rebuild it with `irs oracle calibrate`")
        return cls(json.loads(p.read_text()))

    @property
    def n_conf(self) -> int:
        return int(self.data["n_conf"])

    @property
    def n_xtb(self) -> int:
        return int(self.data["n_xtb"])

    def predict(self, raws: Sequence[dict]) -> dict[str, np.ndarray]:
        """Calibrated alpha (bohr³), gap (Ha), u0 (Ha) and a status list for `compute_raw` outputs."""
        d = self.data
        alpha_x, gap_x, X, atoms, status = raw_table(raws, d["atom_energy_xtb"], d["gap_aggregate"])
        alpha = d["alpha"]["a"] * alpha_x + d["alpha"]["b"]
        gap = d["gap"]["a"] * gap_x + d["gap"]["b"]
        u0 = atoms + X @ np.asarray(d["u0"]["coef"], dtype=float)
        return {"alpha": alpha, "gap": gap, "u0": u0, "status": status}


def fit_calibration(
    raws: Sequence[dict],
    labels,
    atom_xtb: dict[str, float],
    n_conf: int,
    n_xtb: int,
    seed: int,
    gap_agg: str = "boltzmann",
) -> dict:
    """Fit the α, gap and U0 maps on QM9 molecules (`labels`: DataFrame with alpha, gap, u0)."""
    alpha_x, gap_x, X, atoms, _ = raw_table(raws, atom_xtb, gap_agg)
    y_at = labels["u0"].to_numpy(float) - atoms
    ok = np.isfinite(X).all(1) & np.isfinite(y_at)
    coef, *_ = np.linalg.lstsq(X[ok], y_at[ok], rcond=None)
    return {
        "version": CALIBRATION_VERSION,
        "alpha": _linfit(alpha_x, labels["alpha"].to_numpy(float)),
        "gap": _linfit(gap_x, labels["gap"].to_numpy(float)),
        "u0": {
            "features": list(U0_FEATURES),
            "coef": [float(c) for c in coef],
            "n": int(ok.sum()),
            "target": "U0 - sum_Z n_Z*atom_u0[Z] (minus the atomization energy), Ha",
        },
        "atom_u0": dict(ATOM_U0),
        "atom_energy_xtb": dict(atom_xtb),
        "n_conf": int(n_conf),
        "n_xtb": int(n_xtb),
        "seed": int(seed),
        "gap_aggregate": gap_agg,
        "alpha_aggregate": "mean",
        "energy_aggregate": "min over the xTB conformers",
    }


def moses_sample(n: int, seed: int, split: str = "test") -> list[str]:
    """A fixed random sample of MOSES SMILES (pandas `sample(n, random_state=seed)` over the file order)."""
    import pandas as pd

    from irs.domains.molecules.moses import moses_smiles

    return pd.Series(moses_smiles(split)).sample(n=n, random_state=seed).tolist()


def calibrate(
    n_cal: int = 3000,
    n_moses: int = 1000,
    n_conf: int = DEFAULT_N_CONF,
    seed: int = DEFAULT_SEED,
    n_workers: int | None = None,
    n_xtb: int = DEFAULT_N_XTB,
    out: str | os.PathLike = CALIBRATION_PATH,
    stats_out: str | os.PathLike = qm9.NORM_STATS_PATH,
) -> dict:
    """Fit the oracle on `n_cal` QM9 training molecules, write it, then `measure_ranges` on MOSES."""
    t0 = time.time()
    train = qm9.split(seed=qm9.SPLIT_SEED)["train"]
    sample = train.sample(n=min(n_cal, len(train)), random_state=seed)
    log.info("calibrate: xTB/D4 on %d QM9 training molecules, %d conformers each", len(sample), n_conf)
    raws = compute_raw_many(sample["smiles"].tolist(), n_conf, seed, n_workers, log_every=500, n_xtb=n_xtb)
    atom_xtb = xtb_atom_energies()
    cal = fit_calibration(raws, sample, atom_xtb, n_conf, n_xtb, seed)
    pred = Calibration(cal).predict(raws)
    cal["fit_agreement_train_sample"] = {k: agreement(pred[k], sample[k].to_numpy(float)) for k in qm9.OBJECTIVES}
    cal["status_counts_train_sample"] = dict(collections.Counter(pred["status"]))
    now = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    cal["provenance"] = {
        "created": now,
        "command": f"irs oracle calibrate --n-cal {n_cal} --n-conf {n_conf} --n-xtb {n_xtb} --seed {seed}",
        "qm9": f"training split (seed {qm9.SPLIT_SEED}), random sample of {len(sample)}",
        "seconds": round(time.time() - t0, 1),
        "geometry": "RDKit ETKDGv3 + MMFF94, coordinates in bohr",
        "gap": "GFN2-xTB (tblite) HOMO-LUMO gap on the n_xtb lowest-MMFF conformers, Boltzmann-averaged",
        "alpha": "D4 (dftd4) molecular polarizability, mean over conformers",
        "u0": "atomic B3LYP references + linear atomization model",
    }
    atomic_write_json(out, cal)
    log.info("calibrate: fit done in %.0f s; wrote %s", time.time() - t0, out)
    stats = measure_ranges(Calibration(cal), n_moses, seed, n_workers, stats_out)
    return {"calibration": cal, "norm_stats": stats}


def measure_ranges(
    cal: Calibration,
    n_moses: int = 1000,
    seed: int = DEFAULT_SEED,
    n_workers: int | None = None,
    stats_out: str | os.PathLike = qm9.NORM_STATS_PATH,
) -> dict:
    """Score `n_moses` MOSES test molecules with the calibrated oracle and write the normalization ranges
    (rule in the qm9 module docstring: QM9 p1/p99 widened to MOSES p5/p95 for α and U0)."""
    t0 = time.time()
    log.info("ranges: oracle on %d MOSES test molecules", n_moses)
    smiles = moses_sample(n_moses, seed)
    raws = compute_raw_many(smiles, cal.n_conf, seed, n_workers, log_every=250, n_xtb=cal.n_xtb)
    pred = cal.predict(raws)
    has = {el: float(np.mean([el in r.get("elements", {}) for r in raws])) for el in ("S", "Cl", "Br", "F")}
    q = qm9.qm9_percentiles()
    moses_pct = {k: tuple(float(x) for x in np.nanpercentile(pred[k], qm9.MOSES_PERCENTILES)) for k in qm9.OBJECTIVES}
    ranges = qm9.combine_ranges(q, moses_pct)
    outside, clipped = {}, {}
    for k in qm9.OBJECTIVES:
        v = pred[k][np.isfinite(pred[k])]
        outside[k] = float(np.mean((v < q[k][0]) | (v > q[k][1])))
        clipped[k] = float(np.mean((v <= ranges[k][0]) | (v >= ranges[k][1])))
    now = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    stats = {
        "provisional": False,
        "rule": "alpha: lo=QM9-train p1, hi=max(QM9-train p99, MOSES-oracle p95); u0: lo=min(QM9-train p1, "
        "MOSES-oracle p5), hi=QM9-train p99; gap: QM9-train p1/p99 (see irs/domains/molecules/qm9.py)",
        "ranges": {k: {"lo": v[0], "hi": v[1]} for k, v in ranges.items()},
        "qm9_train_percentiles_1_99": {k: list(v) for k, v in q.items()},
        "moses_oracle_percentiles_5_95": {k: list(v) for k, v in moses_pct.items()},
        "moses_oracle_percentiles_1_50_99": {
            k: [float(x) for x in np.nanpercentile(pred[k], [1, 50, 99])] for k in qm9.OBJECTIVES
        },
        "moses_fraction_outside_qm9_range": outside,
        "moses_fraction_clipped_with_ranges": clipped,
        "moses_status_counts": dict(collections.Counter(pred["status"])),
        "moses_fraction_containing": has,
        "moses_sample": {"split": "test", "n": n_moses, "seed": seed},
        "oracle": {
            "n_conf": cal.n_conf,
            "n_xtb": cal.n_xtb,
            "calibration_created": cal.data.get("provenance", {}).get("created"),
        },
        "created": now,
        "seconds": round(time.time() - t0, 1),
        "command": f"irs oracle ranges --n-moses {n_moses} --seed {seed}",
    }
    atomic_write_json(stats_out, stats)
    log.info("ranges: done in %.0f s; wrote %s", time.time() - t0, stats_out)
    return stats
