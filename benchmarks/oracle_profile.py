"""Where the molecules oracle spends its time, and what the cheaper recipes would change.

    .venv/bin/python benchmarks/oracle_profile.py [--n 100] [--seed 7] [--out docs/results/oracle_profile.json]

One process, one thread (as in the oracle's workers), on `--n` MOSES test molecules. The reference is
the oracle's own recipe: ETKDG v3 with 5 conformers, MMFF94 to convergence (maxIters 500), D4 α on every
conformer (mean), GFN2-xTB on the lowest-MMFF one. Each variant changes one stage and reports its
milliseconds per molecule per stage and what it does to the oracle's raw outputs against the reference
on the same molecules: the largest |Δα| (bohr³, mean over conformers), |Δgap| (Ha) and |ΔE_xTB| (Ha),
and the fraction of molecules whose xTB conformer changes. The oracle's calibrated gap has a spread of
about 0.011 Ha over MOSES molecules, so a change of 1e-3 Ha is not "unchanged to the printed digit".

Variants: `mmff_pre{k}` optimizes every conformer for k iterations and only the lowest on to convergence;
`mmff_tol` loosens MMFF's force tolerance 10x; `prune0.5` drops ETKDG conformers within 0.5 Å RMSD of an
earlier one; `n_conf3` embeds 3 conformers; `xtb_acc3` and `xtb_eeq` loosen the SCC thresholds 3x or
start from the EEQ guess.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")  # as in the oracle's worker processes

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

VARIANTS = {
    "reference": {},
    "mmff_pre100": {"pre": 100},
    "mmff_tol": {"force_tol": 1e-3},
    "prune0.5": {"prune": 0.5},
    "n_conf3": {"n_conf": 3},
    "xtb_acc3": {"accuracy": 3.0},
    "xtb_eeq": {"guess": 1},
}
STAGES = ("etkdg", "mmff", "d4", "xtb")


def one(smiles: str, v: dict, t: dict) -> tuple[float, float, float, int]:
    """(α mean, gap, E_xTB, xTB conformer index) with stage times added to `t`."""
    from dftd4.interface import DispersionModel
    from rdkit import Chem
    from rdkit.Chem import AllChem
    from tblite.interface import Calculator

    from irs.domains.molecules.chem import mol_from_smiles
    from irs.domains.molecules.oracle import DEFAULT_N_CONF
    from irs.domains.molecules.oracle.physics import BOHR_PER_ANGSTROM, _gap_from_orbitals

    mol = Chem.AddHs(mol_from_smiles(smiles))
    p = AllChem.ETKDGv3()
    p.randomSeed, p.enableSequentialRandomSeeds, p.numThreads, p.timeout = 0, True, 1, 30
    p.pruneRmsThresh = v.get("prune", -1.0)
    t0 = time.perf_counter()
    AllChem.EmbedMultipleConfs(mol, numConfs=v.get("n_conf", DEFAULT_N_CONF), params=p)
    t1 = time.perf_counter()
    props = AllChem.MMFFGetMoleculeProperties(mol)
    ffs = [AllChem.MMFFGetMoleculeForceField(mol, props, confId=c.GetId()) for c in mol.GetConformers()]
    if "pre" in v:
        for ff in ffs:
            ff.Minimize(maxIts=v["pre"])
        energies = [ff.CalcEnergy() for ff in ffs]
        best = int(np.argmin(energies))
        ffs[best].Minimize(maxIts=500)
    else:
        for ff in ffs:
            ff.Minimize(maxIts=500, forceTol=v.get("force_tol", 1e-4))
        best = int(np.argmin([ff.CalcEnergy() for ff in ffs]))
    t2 = time.perf_counter()
    nums = np.array([a.GetAtomicNum() for a in mol.GetAtoms()], dtype=np.int32)
    pos = [np.asarray(c.GetPositions()) * BOHR_PER_ANGSTROM for c in mol.GetConformers()]
    alpha = float(np.mean([DispersionModel(nums, x).get_properties()["polarizabilities"].sum() for x in pos]))
    t3 = time.perf_counter()
    calc = Calculator("GFN2-xTB", nums, pos[best])
    calc.set("verbosity", 0)
    calc.set("accuracy", v.get("accuracy", 1.0))
    calc.set("guess", v.get("guess", 0))
    res = calc.singlepoint()
    t4 = time.perf_counter()
    for k, dt in zip(STAGES, (t1 - t0, t2 - t1, t3 - t2, t4 - t3)):
        t[k] += dt
    gap = _gap_from_orbitals(res.get("orbital-energies"), res.get("orbital-occupations"))
    return alpha, gap, float(res.get("energy")), best


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=100, help="MOSES test molecules (default 100)")
    ap.add_argument("--seed", type=int, default=7, help="MOSES sample seed (default 7)")
    ap.add_argument("--out", default=str(ROOT / "docs/results/oracle_profile.json"))
    args = ap.parse_args(argv)
    from rdkit import RDLogger

    from irs.domains.molecules.oracle.calibration import moses_sample
    from irs.io import atomic_write_json

    RDLogger.DisableLog("rdApp.*")
    smiles = moses_sample(args.n, args.seed)
    load = os.getloadavg()[0]
    rows, ref = {}, None
    for name, v in VARIANTS.items():
        t = dict.fromkeys(STAGES, 0.0)
        vals = np.array([one(s, v, t) for s in smiles])
        row = {k: round(1000 * t[k] / len(smiles), 1) for k in STAGES}
        row["total"] = round(sum(row.values()), 1)
        if ref is None:
            ref = vals
        else:
            d = np.abs(vals[:, :3] - ref[:, :3])
            row["max_abs_d_alpha"] = float(d[:, 0].max())
            row["max_abs_d_gap"] = float(d[:, 1].max())
            row["max_abs_d_energy"] = float(d[:, 2].max())
            row["frac_xtb_conformer_changed"] = float(np.mean(vals[:, 3] != ref[:, 3]))
            row["time_vs_reference"] = round(row["total"] / rows["reference"]["total"], 3)
        rows[name] = row
        extra = "".join(
            f"  {k} {row[k]:.2g}"
            for k in ("max_abs_d_alpha", "max_abs_d_gap", "frac_xtb_conformer_changed")
            if k in row
        )
        print(f"{name:12s} " + " ".join(f"{k} {row[k]:6.1f}" for k in (*STAGES, "total")) + extra, flush=True)
    out = {
        "command": "python benchmarks/oracle_profile.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "n_molecules": len(smiles),
        "sample": f"MOSES test split, seed {args.seed}",
        "loadavg_before": round(load, 2),
        "ms_per_molecule_one_thread": rows,
    }
    atomic_write_json(args.out, out)
    print(f"load average before {load:.1f}; wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
