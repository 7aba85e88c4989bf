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
worker processes (pebble; default 2, OMP_NUM_THREADS=1 each); a molecule that runs past `timeout_s` has its
worker killed and replaced.

Rebuild the calibration (and the MOSES-widened normalization ranges, see `qm9` docstring) with
    irs oracle calibrate
which writes `assets/molecules/oracle_calibration.json` and `assets/molecules/norm_stats.json`
(`irs oracle ranges` redoes only the second).
"""

from __future__ import annotations

from irs.domains.molecules.oracle.calibration import (  # noqa: F401
    Calibration,
    agreement,
    calibrate,
    fit_calibration,
    measure_ranges,
    moses_sample,
    raw_table,
)
from irs.domains.molecules.oracle.physics import (  # noqa: F401
    ATOM_SPIN,
    ATOM_U0,
    BOHR_PER_ANGSTROM,
    BOND_ORDERS,
    CALIBRATION_PATH,
    CALIBRATION_VERSION,
    DEFAULT_N_CONF,
    DEFAULT_N_XTB,
    DEFAULT_SEED,
    DEFAULT_TIMEOUT_S,
    KT_HARTREE,
    QM9_ELEMENTS,
    STATUSES,
    U0_FEATURES,
    compute_raw,
    xtb_atom_energies,
)
from irs.domains.molecules.oracle.pool import compute_raw_many  # noqa: F401
from irs.domains.molecules.oracle.scoring import QM9Oracle, oracle_objectives  # noqa: F401
