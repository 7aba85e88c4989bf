"""QM9 labels for the molecules domain (paper Section 5.1): loading, the 80/10/10 split, goals, normalization.

Data: `qm9pack` ships QM9 (130,831 molecules) as `qm9pack/data/qm9_part*.csv`; we read those files with
pandas (the package's `get_data()` is broken and is never called). Columns kept, renamed:
`smiles`, `alpha` (isotropic polarizability, bohr³), `homo`, `lumo`, `gap` (Ha), `u0` (internal energy at
0 K, Ha), plus `index` (QM9 id).

Objectives (paper 5.1): maximize α, keep the HOMO-LUMO gap moderate (target the middle of the normalized
range, window (0.5, 0.5)), minimize U0. See `QM9_GOALS`.

Normalization (`norm_stats`), the decision and why
--------------------------------------------------
The policy is MolGPT-2, pretrained on MOSES, whose molecules (molecular weight 250-350 by the set's
construction) are two to three times larger than QM9's (at most 9 heavy atoms).
α and U0 are extensive (they grow with size), so the α and U0 of generated molecules lie far outside
the QM9 label range: with lo/hi taken from QM9 alone, nearly every generated molecule would clip to
α = 1 and U0 = 1 (best), and the rewards would carry no signal. (The paper's Table 1 reports per-objective
rewards of 1.4-1.7, i.e. their generated molecules were beyond the QM9 range too; our Objective clips to
[0, 1], so we must widen the range instead.)

We keep the objectives extensive and in their physical units (the paper's definitions, and what a chemist
reads in the explorer) and set each range to cover both populations:

- alpha (max): lo = 1st percentile of the QM9 training split; hi = 95th percentile of the oracle's α on a
  fixed sample of 1,000 MOSES test molecules.
- u0 (min): lo = 5th percentile of the oracle's U0 on that MOSES sample (most negative); hi = 99th
  percentile of the QM9 training split.
- gap (target 0.5): lo/hi = 1st/99th percentiles of the QM9 training split. Gap is intensive and the MOSES
  sample's oracle gaps lie inside that range, so no widening is needed (measured, see the stats file).

Why p5/p95 on the MOSES side: U0 has a bromine tail. 3.6 % of MOSES molecules hold Br, whose free-atom
energy alone is -2574 Ha, so MOSES p1 of U0 is about -3550 Ha against a median of about -1140 Ha; a range
down to p1 would squeeze every bromine-free molecule into a quarter of [0, 1]. With p5, the ~5 % extreme
molecules (mostly brominated) clip at the best U0 reward and the rest spread over most of the range.
Measured (norm_stats.json, `moses_fraction_outside_qm9_range`): 100 % of the MOSES sample's α and U0 lie
outside the QM9 p1-p99 range, 0 % of its gaps.

Percentiles rather than min/max keep one outlier from squeezing everyone else into a corner. The MOSES
percentiles come from `irs oracle calibrate`, which writes them with
provenance to `assets/molecules/norm_stats.json`; `norm_stats()` reads that file, and recomputes only the
QM9 part when asked to (`from_file=False`). The alternative, per-heavy-atom (intensive) α and U0, was
rejected: minimizing U0 per heavy atom rewards swapping carbon for halogens and sulfur only, and it
changes the paper's objectives.
"""

from __future__ import annotations

import json
import logging
from functools import lru_cache

import numpy as np
import pandas as pd

from irs import paths

log = logging.getLogger(__name__)

OBJECTIVES = ("alpha", "gap", "u0")
QM9_GOALS: dict[str, tuple[str, tuple[float, float] | None]] = {
    "alpha": ("max", None),
    "gap": ("target", (0.5, 0.5)),
    "u0": ("min", None),
}
UNITS = {"alpha": "bohr³", "gap": "Ha", "u0": "Ha", "homo": "Ha", "lumo": "Ha"}
DESCRIPTIONS = {
    "alpha": "isotropic polarizability α (maximize)",
    "gap": "HOMO-LUMO gap (moderate: middle of the normalized range)",
    "u0": "internal energy at 0 K, U0 (minimize)",
}
SPLIT_SEED = 0
SPLIT_FRACTIONS = (0.8, 0.1, 0.1)
PERCENTILES = (1.0, 99.0)
MOSES_PERCENTILES = (5.0, 95.0)

_COLUMNS = {
    "Index": "index",
    "SMILES": "smiles",
    "Polarizability_bohr3": "alpha",
    "HOMO_au": "homo",
    "LUMO_au": "lumo",
    "HOMO_LUMO_gap_au": "gap",
    "InternalEnergy_0K_au": "u0",
}

ASSETS = paths.ASSETS / "molecules"
NORM_STATS_PATH = ASSETS / "norm_stats.json"


def data_files() -> list[str]:
    """Paths of the QM9 CSV parts inside the installed `qm9pack` (found without importing it)."""
    from irs.paths import package_data

    d = package_data("qm9pack", "data", install="pip install qm9pack==1.0.3")
    files = sorted(str(p) for p in d.glob("qm9_part*.csv"))
    if not files:
        raise FileNotFoundError(f"no qm9_part*.csv files under {d}")
    return files


@lru_cache(maxsize=1)
def _load_cached() -> pd.DataFrame:
    parts = [pd.read_csv(f, usecols=list(_COLUMNS)) for f in data_files()]
    df = pd.concat(parts, ignore_index=True).rename(columns=_COLUMNS)
    df = df.sort_values("index", kind="stable").reset_index(drop=True)
    if len(df) == 0 or df[list(OBJECTIVES)].isna().any().any():
        raise ValueError("QM9 data files are empty or hold missing labels")
    return df


def load() -> pd.DataFrame:
    """All of QM9 (130,831 rows) sorted by QM9 id: index, smiles, alpha, homo, lumo, gap, u0. ~2 s."""
    return _load_cached().copy()


def split_indices(n: int, seed: int = SPLIT_SEED, fractions=SPLIT_FRACTIONS) -> dict[str, np.ndarray]:
    """Deterministic disjoint row positions for train/val/test (a seeded permutation, then cut)."""
    if n <= 0:
        raise ValueError(f"n must be positive, got {n}")
    perm = np.random.default_rng(seed).permutation(n)
    n_train = int(round(fractions[0] * n))
    n_val = int(round(fractions[1] * n))
    return {
        "train": np.sort(perm[:n_train]),
        "val": np.sort(perm[n_train : n_train + n_val]),
        "test": np.sort(perm[n_train + n_val :]),
    }


def split(seed: int = SPLIT_SEED) -> dict[str, pd.DataFrame]:
    """The 80/10/10 split of the paper (Appendix B.1), deterministic for a given seed (default 0).

    Returns {"train", "val", "test"} DataFrames (row index = position in `load()`). The proxy heads, the
    oracle calibration and the normalization statistics all use this split.
    """
    df = _load_cached()
    return {k: df.iloc[v].copy() for k, v in split_indices(len(df), seed).items()}


def qm9_percentiles(seed: int = SPLIT_SEED) -> dict[str, tuple[float, float]]:
    """1st/99th percentiles of each objective's label on the training split."""
    tr = split(seed)["train"]
    return {k: tuple(float(x) for x in np.percentile(tr[k].to_numpy(), PERCENTILES)) for k in OBJECTIVES}


def combine_ranges(
    qm9: dict[str, tuple[float, float]], moses: dict[str, tuple[float, float]] | None
) -> dict[str, tuple[float, float]]:
    """The normalization rule of the module docstring: widen α upwards and U0 downwards to MOSES.

    `qm9`: QM9-train (p1, p99) per objective; `moses`: MOSES-oracle (p5, p95) per objective.
    """
    out = dict(qm9)
    if moses:
        out["alpha"] = (qm9["alpha"][0], max(qm9["alpha"][1], moses["alpha"][1]))
        out["u0"] = (min(qm9["u0"][0], moses["u0"][0]), qm9["u0"][1])
    return out


def norm_stats(from_file: bool = True) -> dict[str, tuple[float, float]]:
    """Per-objective (lo, hi) raw values that map to normalized 0 and 1; see the module docstring.

    Reads `assets/molecules/norm_stats.json` (written by the oracle's `calibrate` command). With
    `from_file=False` or without that file, returns the QM9-training-split percentiles only (no MOSES
    widening) and logs a warning.
    """
    if from_file and NORM_STATS_PATH.is_file():
        data = json.loads(NORM_STATS_PATH.read_text())
        return {k: (float(data["ranges"][k]["lo"]), float(data["ranges"][k]["hi"])) for k in OBJECTIVES}
    if from_file:
        log.warning(
            "%s missing; using QM9-only ranges (alpha/u0 of MOSES-size molecules will saturate)", NORM_STATS_PATH
        )
    return qm9_percentiles()
