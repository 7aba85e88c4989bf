"""Where the molecules oracle spends its time, per molecule: ETKDG embedding, MMFF optimization, D4 and
GFN2-xTB, with the oracle's own settings (5 conformers, MMFF maxIters 500, xTB on the lowest-MMFF one),
in one process on one thread. The first step of issue "Speed close to the machine's limit" (oracle):
measure before attacking.

    .venv/bin/python benchmarks/oracle_profile.py [--n 40] [--seed 0]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")  # as in the oracle's worker processes

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=40, help="MOSES test molecules (default 40)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    from dftd4.interface import DispersionModel
    from rdkit import Chem
    from rdkit.Chem import AllChem
    from tblite.interface import Calculator

    from irs.domains.molecules.chem import mol_from_smiles
    from irs.domains.molecules.oracle import DEFAULT_N_CONF
    from irs.domains.molecules.oracle.calibration import moses_sample
    from irs.domains.molecules.oracle.physics import BOHR_PER_ANGSTROM

    smiles = moses_sample(args.n, args.seed)
    t = dict(etkdg=0.0, mmff=0.0, d4=0.0, xtb=0.0)
    for s in smiles:
        mol = Chem.AddHs(mol_from_smiles(s))
        p = AllChem.ETKDGv3()
        p.randomSeed, p.enableSequentialRandomSeeds, p.numThreads, p.timeout = 0, True, 1, 30
        t0 = time.perf_counter()
        AllChem.EmbedMultipleConfs(mol, numConfs=DEFAULT_N_CONF, params=p)
        t1 = time.perf_counter()
        res = AllChem.MMFFOptimizeMoleculeConfs(mol, numThreads=1, maxIters=500)
        t2 = time.perf_counter()
        nums = np.array([a.GetAtomicNum() for a in mol.GetAtoms()], dtype=np.int32)
        pos = [np.asarray(c.GetPositions()) * BOHR_PER_ANGSTROM for c in mol.GetConformers()]
        for x in pos:
            DispersionModel(nums, x).get_properties()
        t3 = time.perf_counter()
        calc = Calculator("GFN2-xTB", nums, pos[int(np.argmin([e for _, e in res]))])
        calc.set("verbosity", 0)
        calc.singlepoint()
        t4 = time.perf_counter()
        for k, dt in zip(t, (t1 - t0, t2 - t1, t3 - t2, t4 - t3)):
            t[k] += dt
    total = sum(t.values())
    print(f"{len(smiles)} MOSES molecules, load average {os.getloadavg()[0]:.1f}; seconds per molecule:")
    for k, v in t.items():
        print(f"  {k:6s} {v / len(smiles):.4f}  ({100 * v / total:.0f} %)")
    print(f"  total  {total / len(smiles):.4f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
