"""Independent physics oracle for the QM9 objectives α, gap and U0 (evaluation only; paper 5.1 uses PAMNet).

The oracle shares nothing with the training proxies (MolGPT-2 features): it computes physics on 3D
geometries and maps it onto the QM9 (B3LYP/6-31G(2df,p)) scale with calibrations fitted on a sample of the
QM9 training split (`qm9.split()`):

- geometry: RDKit ETKDG v3 + MMFF94, `n_conf` conformers per molecule (paper: 10; default 5, which fits
  the budget of 2,000 MOSES molecules in ≤ 10 min on 2 cores);
- gap: GFN2-xTB (`tblite`) HOMO-LUMO gap on the `n_xtb` lowest-MMFF-energy conformers (default 1),
  Boltzmann-averaged over their xTB energies at 298 K, then `a·x + b`. Why not the plain mean over all
  conformers: one strained MMFF geometry collapses the gap. On 800 QM9 training molecules
  (benchmarks/oracle_conformers.py, docs/results/oracle_conformers.json) the plain mean over 5
  conformers gives r = 0.878 against the QM9 gap, the lowest-MMFF conformer of 5 gives 0.894 for a fifth
  of the xTB cost, and xTB on all 5 with a Boltzmann average 0.894. `n_xtb = n_conf` gives the latter;
- alpha: D4 (`dftd4`) molecular polarizability (sum of atomic ones), averaged over all `n_conf`
  conformers (cheap), then `a·x + b`;
- u0: U0 = Σ_Z n_Z·E_atom(Z) + E_at, where E_atom are B3LYP/6-31G(2df,p) free-atom energies (the QM9
  atomic references for H, C, N, O, F; computed with PySCF for S, Cl, Br, see `ATOM_U0`) and the
  atomization energy E_at is a linear model of the GFN2-xTB atomization energy (lowest xTB energy),
  element counts (H, C, N, O, F) and bond counts by order. U0 is nearly additive, so it is dominated by
  the exactly known atomic term; the model only has to get the ~1 % bonding part right. Molecules with
  elements outside `ATOM_U0` get U0 = NaN (status `u0_elements`); α and gap are still computed.

Failures never raise: invalid SMILES, failed embedding, SCF failure on every conformer, a worker crash or
a per-molecule timeout give NaN and are counted in `QM9Oracle.counts`. Scoring runs in a pool of spawned
worker processes (default 2, OMP_NUM_THREADS=1 each); a molecule that runs past `timeout_s` has its worker
killed and replaced.

Rebuild the calibration (and the MOSES-widened normalization ranges, see `qm9` docstring) with
    python -m irs.domains.molecules.oracle calibrate
which writes `assets/molecules/oracle_calibration.json` and `assets/molecules/norm_stats.json`
(`... oracle ranges` redoes only the second).
"""

from __future__ import annotations

import argparse
import collections
import datetime
import json
import logging
import multiprocessing as mp
import multiprocessing.connection
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from irs.domains.molecules import qm9
from irs.io import atomic_write_json

log = logging.getLogger(__name__)

BOHR_PER_ANGSTROM = 1.0 / 0.52917721067
DEFAULT_N_CONF = 5
DEFAULT_N_XTB = 1
KT_HARTREE = 0.00094418  # k_B·298.15 K, for Boltzmann weights over xTB energies
DEFAULT_TIMEOUT_S = 60.0
DEFAULT_SEED = 0
CALIBRATION_PATH = qm9.ASSETS / "oracle_calibration.json"
CALIBRATION_VERSION = 1

# U0 of the free atoms at B3LYP/6-31G(2df,p), Hartree.
# H, C, N, O, F: the QM9 atomic reference energies (Ramakrishnan et al. 2014, atomref table).
# S, Cl: PySCF 2.14 UKS B3LYP (Gaussian VWN3 variant "b3lypg") / 6-31G(2df,p), ground-state spin, grid 5.
# Br: 6-31G(2df,p) is not defined for Br; UKS B3LYPG/6-31G* = -2573.830945, minus the 6-31G* → (2df,p)
#     lowering measured for Cl (-0.001501). The same recipe reproduces the QM9 values of C, N, O, F within
#     1-4 mHa, which is < 0.001 % of a MOSES molecule's U0. Derivation: scripts/molecules_atom_energies.py.
ATOM_U0 = {
    "H": -0.500273,
    "C": -37.846772,
    "N": -54.583861,
    "O": -75.064579,
    "F": -99.718730,
    "S": -398.103354,
    "Cl": -460.134289,
    "Br": -2573.832446,
}
# Unpaired electrons of the free atoms (for the xTB atomic reference energies).
ATOM_SPIN = {"H": 1, "C": 2, "N": 3, "O": 2, "F": 1, "S": 2, "Cl": 1, "Br": 1}
QM9_ELEMENTS = ("H", "C", "N", "O", "F")
BOND_ORDERS = ("SINGLE", "DOUBLE", "TRIPLE", "AROMATIC")
U0_FEATURES = (
    ("xtb_atomization",)
    + tuple(f"n_{e}" for e in QM9_ELEMENTS)
    + tuple(f"n_{b.lower()}" for b in BOND_ORDERS)
    + ("intercept",)
)
STATUSES = ("ok", "u0_elements", "invalid", "embed_fail", "scf_fail", "timeout", "error")


# ----------------------------------------------------------------------------------------- per molecule


def _gap_from_orbitals(eps: np.ndarray, occ: np.ndarray) -> float:
    """HOMO-LUMO gap by aufbau from the electron count (robust to fractional Fermi-smeared occupations)."""
    eps, occ = np.asarray(eps, dtype=float).reshape(-1), np.asarray(occ, dtype=float).reshape(-1)
    n_el = int(round(float(occ.sum())))
    homo = (n_el + 1) // 2 - 1
    if homo < 0 or homo + 1 >= len(eps):
        return float("nan")
    return float(eps[homo + 1] - eps[homo])


def compute_raw(
    smiles: str, n_conf: int = DEFAULT_N_CONF, seed: int = DEFAULT_SEED, n_xtb: int = DEFAULT_N_XTB
) -> dict:
    """Uncalibrated physics for one molecule; never raises for chemistry problems.

    Embeds `n_conf` conformers; D4 α on all of them; GFN2-xTB on the `n_xtb` lowest-MMFF-energy ones (a
    conformer whose SCF fails is replaced by the next one in MMFF order). Returns a dict with `status`
    (one of STATUSES), `alphas` (D4, bohr³, all conformers), `mmff` (kcal/mol, all conformers), `gaps`
    and `energies` (xTB gap and total energy in Ha, xTB'd conformers only), element counts `elements`
    (with H) and heavy-atom bond counts `bonds`.
    """
    from rdkit import Chem
    from rdkit.Chem import Descriptors

    from irs.domains.molecules.chem import embed_3d, mol_from_smiles

    out = {
        "status": "invalid",
        "gaps": [],
        "alphas": [],
        "energies": [],
        "mmff": [],
        "elements": {},
        "bonds": {},
        "error": "",
    }
    mol2d = mol_from_smiles(smiles)
    if mol2d is None:
        return out
    bonds = collections.Counter(str(b.GetBondType()) for b in mol2d.GetBonds())
    out["bonds"] = {b: int(bonds.get(b, 0)) for b in BOND_ORDERS}
    out["bonds"]["OTHER"] = int(sum(v for k, v in bonds.items() if k not in BOND_ORDERS))
    mol = embed_3d(smiles, n_conf=n_conf, seed=seed)
    if mol is None:
        out["status"] = "embed_fail"
        return out
    out["elements"] = dict(collections.Counter(a.GetSymbol() for a in mol.GetAtoms()))
    numbers = np.array([a.GetAtomicNum() for a in mol.GetAtoms()], dtype=np.int32)
    charge = float(Chem.GetFormalCharge(mol))
    uhf = int(Descriptors.NumRadicalElectrons(mol))

    from dftd4.interface import DispersionModel
    from tblite.interface import Calculator

    positions = []
    for conf in mol.GetConformers():
        pos = np.asarray(conf.GetPositions(), dtype=float) * BOHR_PER_ANGSTROM
        positions.append(pos)
        out["mmff"].append(conf.GetDoubleProp("mmff_energy") if conf.HasProp("mmff_energy") else float("nan"))
        try:
            alpha = float(DispersionModel(numbers, pos, charge=charge).get_properties()["polarizabilities"].sum())
        except Exception as e:  # dftd4 raises on unsupported input
            alpha, out["error"] = float("nan"), f"d4: {e}"
        out["alphas"].append(alpha)
    mmff = np.asarray(out["mmff"], dtype=float)
    order = np.argsort(np.where(np.isfinite(mmff), mmff, np.inf), kind="stable")
    for k in order:
        if len(out["gaps"]) >= n_xtb:
            break
        try:
            calc = Calculator("GFN2-xTB", numbers, positions[k], charge=charge, uhf=uhf)
            calc.set("verbosity", 0)
            res = calc.singlepoint()
            gap = _gap_from_orbitals(res.get("orbital-energies"), res.get("orbital-occupations"))
            energy = float(res.get("energy"))
        except Exception as e:  # tblite raises when the SCF does not converge
            out["error"] = f"xtb: {e}"
            continue
        if np.isfinite(gap) and np.isfinite(energy):
            out["gaps"].append(gap)
            out["energies"].append(energy)
    out["status"] = "ok" if out["gaps"] else "scf_fail"
    return out


def xtb_atom_energies(elements: Sequence[str] = tuple(ATOM_SPIN)) -> dict[str, float]:
    """GFN2-xTB energies of the free atoms (Ha), the reference for the xTB atomization energy."""
    from rdkit import Chem
    from tblite.interface import Calculator

    pt = Chem.GetPeriodicTable()
    out = {}
    for el in elements:
        calc = Calculator("GFN2-xTB", np.array([pt.GetAtomicNumber(el)]), np.zeros((1, 3)), uhf=ATOM_SPIN[el])
        calc.set("verbosity", 0)
        out[el] = float(calc.singlepoint().get("energy"))
    return out


# ------------------------------------------------------------------------------------- worker pool

_THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def _worker(conn, n_conf: int, seed: int, n_xtb: int) -> None:
    for v in _THREAD_VARS:  # before tblite (OpenMP) is first imported in compute_raw
        os.environ[v] = "1"
    from rdkit import RDLogger

    RDLogger.DisableLog("rdApp.*")
    while True:
        try:
            msg = conn.recv()
        except (EOFError, KeyboardInterrupt):
            break
        if msg is None:
            break
        i, smi = msg
        t_cpu = time.process_time()
        try:
            res = compute_raw(smi, n_conf, seed, n_xtb)
        except Exception as e:  # a bug or an unexpected library error: report, keep serving
            res = {"status": "error", "error": repr(e)}
        res["cpu_s"] = time.process_time() - t_cpu  # CPU seconds of this molecule (unaffected by other load)
        conn.send((i, res))
    conn.close()


class _Worker:
    def __init__(self, ctx, args: tuple):
        self.conn, child = ctx.Pipe(duplex=True)
        saved = {v: os.environ.get(v) for v in _THREAD_VARS}
        try:
            for v in _THREAD_VARS:
                os.environ[v] = "1"
            self.proc = ctx.Process(target=_worker, args=(child, *args), daemon=True)
            self.proc.start()
        finally:
            for v, old in saved.items():
                if old is None:
                    os.environ.pop(v, None)
                else:
                    os.environ[v] = old
        child.close()
        self.task: tuple[int, float] | None = None

    def stop(self, kill: bool = False) -> None:
        if not kill:
            try:
                self.conn.send(None)
                self.proc.join(2.0)
            except (OSError, BrokenPipeError):
                pass
        if self.proc.is_alive():
            self.proc.kill()
            self.proc.join(2.0)
        self.conn.close()


def compute_raw_many(
    smiles: Sequence[str],
    n_conf: int = DEFAULT_N_CONF,
    seed: int = DEFAULT_SEED,
    n_workers: int | None = None,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    log_every: int = 0,
    n_xtb: int = DEFAULT_N_XTB,
) -> list[dict]:
    """`compute_raw` over many SMILES with `n_workers` spawned processes and a per-molecule timeout.

    n_workers: default min(2, CPU count); 0 or 1 computes in this process (no timeout guard; for tests
    and tiny batches). A molecule past `timeout_s` gets status "timeout" and its worker is replaced;
    a crashed worker gives status "error". The clock starts when a molecule is handed to a worker, so a
    fresh worker's start-up (imports, 1-3 s) counts towards its first molecule.
    """
    n = len(smiles)
    if n_workers is None:
        n_workers = min(2, os.cpu_count() or 1)
    if n_workers <= 1 or n == 0:
        return [compute_raw(s, n_conf, seed, n_xtb) for s in smiles]
    if timeout_s <= 0:
        raise ValueError(f"timeout_s must be positive, got {timeout_s}")
    ctx = mp.get_context("spawn")  # no fork: the parent may hold OpenMP/torch threads
    wargs = (int(n_conf), int(seed), int(n_xtb))
    results: list[dict | None] = [None] * n
    todo = collections.deque(range(n))
    workers = [_Worker(ctx, wargs) for _ in range(min(n_workers, n))]
    done, t_start = 0, time.time()
    try:
        while done < n:
            for k, w in enumerate(workers):
                if w.task is None and todo:
                    i = todo.popleft()
                    try:
                        w.conn.send((i, smiles[i]))
                        w.task = (i, time.time())
                    except (OSError, BrokenPipeError):
                        todo.appendleft(i)
                        w.stop(kill=True)
                        workers[k] = _Worker(ctx, wargs)
            busy = [w for w in workers if w.task is not None]
            ready = mp.connection.wait([w.conn for w in busy], timeout=0.5)
            for k, w in enumerate(workers):
                if w.task is None:
                    continue
                i, t0 = w.task
                if w.conn in ready:
                    try:
                        j, res = w.conn.recv()
                        results[j] = res
                        w.task = None
                        done += 1
                        if log_every and done % log_every == 0:
                            log.info("oracle: %d/%d molecules, %.0f s", done, n, time.time() - t_start)
                        continue
                    except (EOFError, OSError):
                        results[i] = {"status": "error", "error": "worker died"}
                elif time.time() - t0 > timeout_s:
                    results[i] = {"status": "timeout", "error": f"over {timeout_s} s"}
                elif w.proc.is_alive():
                    continue
                else:
                    results[i] = {"status": "error", "error": f"worker exit code {w.proc.exitcode}"}
                log.warning("oracle: %s for %r", results[i]["status"], smiles[i])
                done += 1
                w.stop(kill=True)
                workers[k] = _Worker(ctx, wargs)
    finally:
        for w in workers:
            w.stop()
    return results  # type: ignore[return-value]


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
            raise FileNotFoundError(
                f"no oracle calibration at {p}; rebuild it with `python -m irs.domains.molecules.oracle calibrate`"
            )
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
        "command": f"python -m irs.domains.molecules.oracle calibrate --n-cal {n_cal} --n-conf {n_conf} "
        f"--n-xtb {n_xtb} --seed {seed}",
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
        "command": f"python -m irs.domains.molecules.oracle ranges --n-moses {n_moses} --seed {seed}",
    }
    atomic_write_json(stats_out, stats)
    log.info("ranges: done in %.0f s; wrote %s", time.time() - t0, stats_out)
    return stats


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


# ---------------------------------------------------------------------------------------------- CLI


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m irs.domains.molecules.oracle",
        description="Rebuild the QM9 oracle calibration and normalization ranges.",
    )
    sub = p.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("calibrate", help="fit on QM9 training molecules; write assets/molecules/*.json")
    c.add_argument("--n-cal", type=int, default=3000, help="QM9 training molecules to fit on (default 3000)")
    c.add_argument("--n-moses", type=int, default=1000, help="MOSES test molecules for the ranges (default 1000)")
    c.add_argument(
        "--n-conf", type=int, default=DEFAULT_N_CONF, help=f"conformers per molecule (default {DEFAULT_N_CONF})"
    )
    c.add_argument(
        "--n-xtb",
        type=int,
        default=DEFAULT_N_XTB,
        help=f"lowest-MMFF conformers that get GFN2-xTB (default {DEFAULT_N_XTB})",
    )
    c.add_argument("--seed", type=int, default=DEFAULT_SEED, help="sampling and embedding seed (default 0)")
    c.add_argument("--workers", type=int, default=None, help="worker processes (default min(2, CPUs))")
    r = sub.add_parser("ranges", help="only remeasure the MOSES normalization ranges with the shipped calibration")
    r.add_argument("--n-moses", type=int, default=1000, help="MOSES test molecules (default 1000)")
    r.add_argument("--seed", type=int, default=DEFAULT_SEED, help="MOSES sample seed (default 0)")
    r.add_argument("--workers", type=int, default=None, help="worker processes (default min(2, CPUs))")
    s = sub.add_parser("score", help="score SMILES given as arguments and print alpha, gap, u0")
    s.add_argument("smiles", nargs="+", help="SMILES strings")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.cmd == "calibrate":
        for name in ("n_cal", "n_moses", "n_conf", "n_xtb"):
            if getattr(args, name) < 1:
                p.error(f"--{name.replace('_', '-')} must be >= 1")
        res = calibrate(args.n_cal, args.n_moses, args.n_conf, args.seed, args.workers, args.n_xtb)
        print(
            json.dumps(
                {
                    "fit_agreement_train_sample": res["calibration"]["fit_agreement_train_sample"],
                    "ranges": res["norm_stats"]["ranges"],
                },
                indent=1,
            )
        )
        return 0
    if args.cmd == "ranges":
        if args.n_moses < 1:
            p.error("--n-moses must be >= 1")
        stats = measure_ranges(Calibration.load(), args.n_moses, args.seed, args.workers)
        print(json.dumps({"ranges": stats["ranges"]}, indent=1))
        return 0
    res = QM9Oracle().score(args.smiles)
    for k, smi in enumerate(args.smiles):
        print(f"{smi}\talpha={res['alpha'][k]:.3f}\tgap={res['gap'][k]:.4f}\tu0={res['u0'][k]:.4f}\t{res['status'][k]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
