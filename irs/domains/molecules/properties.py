"""What a medicinal chemist reads off a list of molecules, with RDKit: descriptors and rule flags, structural
alerts, substructure and similarity search, scaffolds, and a run's diagnostics against its starting model
and the pretraining set. Used by the workbench (Explore) and by `irs export` (SD tags); never imports
streamlit.

- `descriptors(smiles)`: MW, TPSA, HBD, HBA, rotatable bonds, heavy atoms, formal charge, rings, aromatic
  rings, Lipinski (at most one violation of MW ≤ 500, logP ≤ 5, HBD ≤ 5, HBA ≤ 10) and Veber (rotatable
  bonds ≤ 10 and TPSA ≤ 140) flags, and the number of unspecified stereocentres (a conformer would
  silently pick one). `alerts(smiles)`: PAINS and Brenk alert names (RDKit's FilterCatalog).
- `query_mask(smiles, query)`: substructure search; the query is SMARTS, else SMILES (so `c1ccncc1`
  finds every pyridine however the molecule is written). `QueryError` when neither parses.
- `similarity(smiles, reference)`: Tanimoto on Morgan fingerprints (radius 2, 2048 bits).
- `scaffold_counts(smiles)`: Bemis-Murcko scaffolds with their counts.
- `diagnostics(smiles, base=..., train=...)`: validity, uniqueness, novelty, internal diversity, scaffold
  count and alert rates, for a run's candidates and, side by side, its starting model's samples.
- `nearest_neighbours(smiles, reference)`: the most similar reference molecule of each query molecule.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import numpy as np
import pandas as pd

from irs.domains.molecules.chem import mol_from_smiles

FP_RADIUS, FP_BITS = 2, 2048
DESCRIPTOR_COLUMNS = (
    "MW",
    "TPSA",
    "HBD",
    "HBA",
    "rot_bonds",
    "heavy_atoms",
    "charge",
    "rings",
    "arom_rings",
    "lipinski",
    "veber",
    "unspec_stereo",
)


class QueryError(ValueError):
    """A substructure query or reference molecule that RDKit cannot parse."""


@functools.cache
def _catalog(name: str):
    from rdkit.Chem.FilterCatalog import FilterCatalog, FilterCatalogParams

    params = FilterCatalogParams()
    params.AddCatalog(getattr(FilterCatalogParams.FilterCatalogs, name))
    return FilterCatalog(params)


def _alerts(mol, name: str) -> str:
    """'; '-joined descriptions of the catalogue's matches ('' when none)."""
    return "; ".join(dict.fromkeys(m.GetDescription() for m in _catalog(name).GetMatches(mol)))


def _row(smiles: str | None) -> dict:
    from rdkit.Chem import Crippen, Descriptors, FindMolChiralCenters, Lipinski, rdMolDescriptors

    mol = mol_from_smiles(smiles) if isinstance(smiles, str) else None
    if mol is None:
        return {c: np.nan for c in DESCRIPTOR_COLUMNS}
    mw, logp = Descriptors.MolWt(mol), Crippen.MolLogP(mol)
    hbd, hba = Lipinski.NumHDonors(mol), Lipinski.NumHAcceptors(mol)
    rot, tpsa = rdMolDescriptors.CalcNumRotatableBonds(mol), rdMolDescriptors.CalcTPSA(mol)
    violations = (mw > 500) + (logp > 5) + (hbd > 5) + (hba > 10)
    centres = FindMolChiralCenters(mol, includeUnassigned=True, useLegacyImplementation=False)
    return {
        "MW": mw,
        "TPSA": tpsa,
        "HBD": hbd,
        "HBA": hba,
        "rot_bonds": rot,
        "heavy_atoms": mol.GetNumHeavyAtoms(),
        "charge": sum(a.GetFormalCharge() for a in mol.GetAtoms()),
        "rings": rdMolDescriptors.CalcNumRings(mol),
        "arom_rings": rdMolDescriptors.CalcNumAromaticRings(mol),
        "lipinski": bool(violations <= 1),
        "veber": bool(rot <= 10 and tpsa <= 140),
        "unspec_stereo": sum(1 for _, tag in centres if tag == "?"),
    }


@functools.lru_cache(maxsize=200_000)
def _row_cached(smiles: str) -> tuple:
    r = _row(smiles)
    return tuple(r[c] for c in DESCRIPTOR_COLUMNS)


@functools.lru_cache(maxsize=200_000)
def _alerts_cached(smiles: str) -> tuple[str | None, str | None]:
    mol = mol_from_smiles(smiles)
    return (None, None) if mol is None else (_alerts(mol, "PAINS"), _alerts(mol, "BRENK"))


def descriptors(smiles: Sequence[str | None]) -> pd.DataFrame:
    """One row per SMILES (NaN for invalid ones), columns DESCRIPTOR_COLUMNS; cached per SMILES (about
    1 ms a new molecule)."""
    rows = [_row_cached(s) if isinstance(s, str) else tuple(np.nan for _ in DESCRIPTOR_COLUMNS) for s in smiles]
    df = pd.DataFrame(rows, columns=list(DESCRIPTOR_COLUMNS))
    for c in ("lipinski", "veber"):
        df[c] = df[c].astype("boolean")
    return df


def alerts(smiles: Sequence[str | None]) -> pd.DataFrame:
    """Columns pains, brenk: '; '-joined names of the molecule's PAINS (A/B/C) and Brenk structural-alert
    matches ('' when none, None when invalid). Slower than descriptors (about 3 ms a new molecule)."""
    rows = [_alerts_cached(s) if isinstance(s, str) else (None, None) for s in smiles]
    return pd.DataFrame(rows, columns=["pains", "brenk"], dtype=object)


def parse_query(query: str):
    """A query molecule from SMARTS, else SMILES. QueryError when neither parses."""
    from rdkit import Chem, RDLogger

    q = (query or "").strip()
    if not q:
        raise QueryError("the query is empty")
    RDLogger.DisableLog("rdApp.*")
    try:
        mol = Chem.MolFromSmarts(q)
        if mol is None:
            mol = Chem.MolFromSmiles(q)
    finally:
        RDLogger.EnableLog("rdApp.*")
    if mol is None:
        raise QueryError(f"{q!r} is neither SMARTS nor SMILES that RDKit can parse")
    return mol


def query_mask(smiles: Sequence[str | None], query: str) -> np.ndarray:
    """True where the molecule contains the query substructure (SMARTS or SMILES); False when invalid."""
    patt = parse_query(query)
    out = np.zeros(len(smiles), dtype=bool)
    for i, s in enumerate(smiles):
        mol = mol_from_smiles(s) if isinstance(s, str) else None
        out[i] = mol is not None and mol.HasSubstructMatch(patt)
    return out


def _fp(mol):
    return _generator().GetFingerprint(mol)


@functools.cache
def _generator():
    from rdkit.Chem import rdFingerprintGenerator

    return rdFingerprintGenerator.GetMorganGenerator(radius=FP_RADIUS, fpSize=FP_BITS)


def fingerprints(smiles: Sequence[str | None]) -> list:
    """Morgan bit vectors (None for invalid SMILES)."""
    out = []
    for s in smiles:
        mol = mol_from_smiles(s) if isinstance(s, str) else None
        out.append(None if mol is None else _fp(mol))
    return out


def similarity(smiles: Sequence[str | None], reference: str) -> np.ndarray:
    """Tanimoto similarity of each molecule to `reference` (a SMILES); NaN for invalid molecules.
    QueryError when the reference does not parse."""
    from rdkit import DataStructs

    ref = mol_from_smiles(reference.strip()) if isinstance(reference, str) and reference.strip() else None
    if ref is None:
        raise QueryError(f"reference {reference!r} is not a SMILES RDKit can parse")
    fr = _fp(ref)
    return np.array([np.nan if f is None else DataStructs.TanimotoSimilarity(fr, f) for f in fingerprints(smiles)])


def scaffold_counts(smiles: Sequence[str | None]) -> pd.DataFrame:
    """Bemis-Murcko scaffolds of the valid molecules: columns scaffold ('' for acyclic), count, first
    (position of its first molecule), most frequent first."""
    from irs.domains.molecules import murcko_scaffold

    keys = [murcko_scaffold(s) if isinstance(s, str) and mol_from_smiles(s) is not None else None for s in smiles]
    first: dict[str, int] = {}
    counts: dict[str, int] = {}
    for i, k in enumerate(keys):
        if k is None:
            continue
        first.setdefault(k, i)
        counts[k] = counts.get(k, 0) + 1
    df = pd.DataFrame({"scaffold": list(counts), "count": list(counts.values()), "first": [first[k] for k in counts]})
    return df.sort_values(["count", "first"], ascending=[False, True], kind="stable").reset_index(drop=True)


def internal_diversity(smiles: Sequence[str | None], max_n: int = 2000, seed: int = 0) -> float:
    """MOSES IntDiv1: 1 - mean pairwise Tanimoto over distinct valid molecules (a seeded subsample of
    max_n when there are more); NaN with fewer than two."""
    from rdkit import DataStructs

    fps = [f for f in fingerprints(list(dict.fromkeys(s for s in smiles if isinstance(s, str)))) if f is not None]
    if len(fps) > max_n:
        idx = np.random.default_rng(seed).choice(len(fps), max_n, replace=False)
        fps = [fps[i] for i in idx]
    if len(fps) < 2:
        return float("nan")
    total = sum(sum(DataStructs.BulkTanimotoSimilarity(f, fps)) for f in fps)
    return float(1.0 - total / (len(fps) ** 2))


def nearest_neighbours(smiles: Sequence[str | None], reference: Sequence[str], reference_fps=None) -> pd.DataFrame:
    """For each molecule, its most similar molecule of `reference` (Tanimoto, Morgan): columns neighbour,
    similarity (None / NaN for invalid molecules). `reference_fps` (fingerprints(reference)) saves
    recomputing them."""
    from rdkit import DataStructs

    ref_fps = reference_fps if reference_fps is not None else fingerprints(reference)
    keep = [i for i, f in enumerate(ref_fps) if f is not None]
    ref_fps = [ref_fps[i] for i in keep]
    out_n, out_s = [], []
    for f in fingerprints(smiles):
        if f is None or not ref_fps:
            out_n.append(None)
            out_s.append(np.nan)
            continue
        sims = np.asarray(DataStructs.BulkTanimotoSimilarity(f, ref_fps))
        j = int(sims.argmax())
        out_n.append(reference[keep[j]])
        out_s.append(float(sims[j]))
    return pd.DataFrame({"neighbour": out_n, "similarity": out_s})


def diagnostics(smiles: Sequence[str], train: set[str] | None = None) -> dict:
    """A sample's health: n, validity, uniqueness (distinct among valid), novelty (distinct valid not in
    `train`, a set of canonical training SMILES; NaN without one), IntDiv1, scaffolds (distinct
    Bemis-Murcko scaffolds per distinct molecule) and the share of distinct molecules with a PAINS or a
    Brenk alert."""
    from irs.domains.molecules.chem import canonicalize

    canon = [canonicalize(s) if isinstance(s, str) else None for s in smiles]
    valid = [c for c in canon if c is not None]
    distinct = list(dict.fromkeys(valid))
    d = alerts(distinct)
    n_scaf = len(scaffold_counts(distinct))
    return {
        "n": len(canon),
        "validity": len(valid) / len(canon) if canon else float("nan"),
        "uniqueness": len(distinct) / len(valid) if valid else float("nan"),
        "novelty": (sum(c not in train for c in distinct) / len(distinct))
        if train is not None and distinct
        else float("nan"),
        "int_div": internal_diversity(distinct),
        "scaffolds_per_molecule": n_scaf / len(distinct) if distinct else float("nan"),
        "pains_rate": float((d["pains"].fillna("") != "").mean()) if len(d) else float("nan"),
        "brenk_rate": float((d["brenk"].fillna("") != "").mean()) if len(d) else float("nan"),
    }
