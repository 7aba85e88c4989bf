"""Derive the free-atom B3LYP energies used by the QM9 oracle's U0 model for S, Cl and Br.

QM9 gives atomic references only for H, C, N, O, F (B3LYP/6-31G(2df,p)). MOSES molecules also hold S, Cl
and Br, so irs/domains/molecules/oracle.py (ATOM_U0) needs theirs at the same level. This script computes
them with PySCF (UKS, Gaussian's B3LYP with VWN3 = "b3lypg", ground-state spin) and prints them next to the
QM9 values for H-F as a check of the recipe (it reproduces them within 1-4 mHa). 6-31G(2df,p) is not
defined for Br, so Br uses 6-31G* plus the 6-31G* → 6-31G(2df,p) shift measured for Cl.

PySCF is not a runtime dependency; install it aside to rerun (a few seconds of compute):
    pip install --target /tmp/pyscf_pkg pyscf
    OMP_NUM_THREADS=1 PYTHONPATH=/tmp/pyscf_pkg .venv/bin/python scripts/molecules_atom_energies.py
"""

from __future__ import annotations

from pyscf import dft, gto, lib

SPIN = {"H": 1, "C": 2, "N": 3, "O": 2, "F": 1, "S": 2, "Cl": 1, "Br": 1}
QM9 = {"H": -0.500273, "C": -37.846772, "N": -54.583861, "O": -75.064579, "F": -99.718730}


def atom_energy(el: str, basis: str) -> float:
    mol = gto.M(atom=f"{el} 0 0 0", basis=basis, spin=SPIN[el], verbose=0)
    mf = dft.UKS(mol)
    mf.xc, mf.conv_tol, mf.grids.level = "b3lypg", 1e-10, 5
    e = mf.kernel()
    if not mf.converged:
        raise RuntimeError(f"SCF of {el}/{basis} did not converge")
    return float(e)


def main() -> None:
    lib.num_threads(1)
    for el in ("H", "C", "N", "O", "F", "S", "Cl"):
        e = atom_energy(el, "6-31g(2df,p)")
        ref = f"  QM9 {QM9[el]:.6f}  diff {e - QM9[el]:+.6f}" if el in QM9 else ""
        print(f"{el:<2} B3LYP/6-31G(2df,p) {e:.6f}{ref}")
    shift = atom_energy("Cl", "6-31g(2df,p)") - atom_energy("Cl", "6-31g*")
    br = atom_energy("Br", "6-31g*")
    print(f"Br B3LYP/6-31G* {br:.6f} + Cl shift {shift:+.6f} = {br + shift:.6f}")


if __name__ == "__main__":
    main()
