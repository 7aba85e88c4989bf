"""Drug-likeness preset for the molecules domain: QED (max), SA score (min), Crippen logP in a window.

Instant RDKit descriptors, so the preset suits a fast interactive demo. Each objective is usable both
for training (reward) and evaluation (it is its own oracle; no separate model).

- qed: quantitative estimate of drug-likeness (Bickerton 2012), raw in [0, 1]; lo 0, hi 1; maximize.
- sa: synthetic accessibility score (Ertl & Schuffenhauer 2009) from RDKit Contrib `SA_Score/sascorer.py`
  (loaded by file path), raw in [1, 10] (1 = easy); lo 1, hi 10; minimize.
- logp: Crippen logP; lo -2, hi 6 (covers ~99 % of MOSES); target the raw window [1, 3], i.e. the
  normalized window ((1+2)/8, (3+2)/8) = (0.375, 0.625). Reward 1 inside, falling linearly to 0 at
  logP -2 and 6.
Invalid SMILES (see chem.canonicalize) score NaN.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Callable, Sequence
from functools import lru_cache

import numpy as np

from irs.objectives import Objective

LOGP_LO, LOGP_HI = -2.0, 6.0
LOGP_WINDOW = (1.0, 3.0)


@lru_cache(maxsize=1)
def _sascorer():
    from rdkit.Chem import RDConfig

    path = os.path.join(RDConfig.RDContribDir, "SA_Score", "sascorer.py")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"RDKit Contrib SA_Score not found at {path}")
    spec = importlib.util.spec_from_file_location("irs_sascorer", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _descriptor(fn: Callable) -> Callable[[Sequence[str]], np.ndarray]:
    def score(smiles: Sequence[str]) -> np.ndarray:
        from irs.domains.molecules.chem import mol_from_smiles

        out = np.full(len(smiles), np.nan)
        for i, s in enumerate(smiles):
            mol = mol_from_smiles(s)
            if mol is not None:
                try:
                    out[i] = float(fn(mol))
                except Exception:  # a descriptor failing on odd chemistry scores NaN, never crashes
                    pass
        return out

    return score


def qed(mol) -> float:
    from rdkit.Chem import QED

    return QED.qed(mol)


def sa(mol) -> float:
    return _sascorer().calculateScore(mol)


def logp(mol) -> float:
    from rdkit.Chem import Crippen

    return Crippen.MolLogP(mol)


def logp_window_normalized() -> tuple[float, float]:
    span = LOGP_HI - LOGP_LO
    return ((LOGP_WINDOW[0] - LOGP_LO) / span, (LOGP_WINDOW[1] - LOGP_LO) / span)


def druglike_objectives() -> list[Objective]:
    return [
        Objective(
            "qed",
            _descriptor(qed),
            0.0,
            1.0,
            "max",
            description="drug-likeness QED (maximize)",
            unit="",
            bounds=(0.0, 1.0),
        ),
        Objective(
            "sa",
            _descriptor(sa),
            1.0,
            10.0,
            "min",
            description="synthetic accessibility score, 1 easy to 10 hard (minimize)",
            unit="",
            bounds=(1.0, 10.0),
        ),
        Objective(
            "logp",
            _descriptor(logp),
            LOGP_LO,
            LOGP_HI,
            "target",
            target=logp_window_normalized(),
            description=f"Crippen logP in the window {LOGP_WINDOW[0]:g}-{LOGP_WINDOW[1]:g}",
            unit="",
        ),
    ]
