"""RDKit helpers for the molecules domain: canonical SMILES, 3D conformers, 2D SVG, SDF export/import.

Validity rule (`canonicalize`): a candidate is valid when RDKit parses and sanitizes it and it is a single
connected molecule. Empty strings, unparsable SMILES and multi-fragment SMILES ("CCO.Cl", salts,
mixtures) are invalid (None): the objectives score one molecule, and MOSES, the pretraining corpus,
holds single-fragment molecules only. The canonical form is RDKit's canonical isomeric SMILES.
RDKit's own error messages are silenced; invalid input is reported by returning None.
"""

from __future__ import annotations

import io
import logging
import math
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

from rdkit import Chem, RDLogger
from rdkit.Chem import AllChem

from irs.io import atomic_write_text

RDLogger.DisableLog("rdApp.*")
log = logging.getLogger(__name__)

SDF_SMILES_TAG = "SMILES"
SDF_RUN_TAG = "run_id"
SDF_PARETO_TAG = "pareto"


def mol_from_smiles(smiles: str | None) -> Chem.Mol | None:
    """Parse a single-fragment SMILES into a sanitized RDKit Mol, or None (see the module docstring)."""
    if not isinstance(smiles, str):
        return None
    s = smiles.strip()
    if not s or "." in s:
        return None
    mol = Chem.MolFromSmiles(s)
    if mol is None or mol.GetNumAtoms() == 0:
        return None
    if len(Chem.GetMolFrags(mol)) != 1:
        return None
    return mol


def canonicalize(smiles: str | None) -> str | None:
    """RDKit canonical isomeric SMILES of a valid single-fragment molecule; None when invalid."""
    mol = mol_from_smiles(smiles)
    return None if mol is None else Chem.MolToSmiles(mol)


def canonicalize_many(smiles: Iterable[str | None]) -> list[str | None]:
    return [canonicalize(s) for s in smiles]


def embed_3d(
    smiles: str, n_conf: int = 1, seed: int = 0, mmff_iters: int = 500, timeout_s: int = 30
) -> Chem.Mol | None:
    """Molecule with explicit hydrogens and up to `n_conf` 3D conformers (ETKDG v3, then MMFF94).

    Each conformer carries its MMFF energy (kcal/mol) as the double property `mmff_energy` (NaN when
    MMFF has no parameters for the molecule; such conformers keep their ETKDG geometry). ETKDG gives up
    after `timeout_s` seconds. Returns None for an invalid SMILES or when no conformer embeds, so callers
    count a failure instead of crashing. Coordinates are in Ångström.
    """
    if n_conf < 1:
        raise ValueError(f"n_conf must be >= 1, got {n_conf}")
    mol = mol_from_smiles(smiles)
    if mol is None:
        return None
    mol = Chem.AddHs(mol)
    params = AllChem.ETKDGv3()
    params.randomSeed = int(seed)
    # Conformer k uses seed + k. Without this, RDKit 2026.09 with randomSeed=0 embeds n identical copies.
    params.enableSequentialRandomSeeds = True
    params.numThreads = 1
    params.timeout = int(timeout_s)
    try:
        cids = list(AllChem.EmbedMultipleConfs(mol, numConfs=int(n_conf), params=params))
        if not cids:
            params.useRandomCoords = True  # the documented fallback for hard-to-embed ring systems
            cids = list(AllChem.EmbedMultipleConfs(mol, numConfs=int(n_conf), params=params))
        if not cids:
            return None
        energies = [float("nan")] * len(cids)
        if AllChem.MMFFHasAllMoleculeParams(mol):
            res = AllChem.MMFFOptimizeMoleculeConfs(mol, numThreads=1, maxIters=int(mmff_iters))
            energies = [float(e) for _, e in res]
        for conf, e in zip(mol.GetConformers(), energies):
            conf.SetDoubleProp("mmff_energy", e)
    except Exception as e:  # RDKit raises assorted RuntimeErrors/ValueErrors on odd chemistry
        log.debug("embedding failed for %r: %s", smiles, e)
        return None
    return mol


def mol_block_svg(smiles: str, size: tuple[int, int] | int = (300, 220)) -> str | None:
    """2D depiction of a SMILES as an SVG string (offline, RDKit); None when the SMILES is invalid."""
    from rdkit.Chem.Draw import rdMolDraw2D

    w, h = (size, size) if isinstance(size, int) else size
    if w <= 0 or h <= 0:
        raise ValueError(f"size must be positive, got {size}")
    mol = mol_from_smiles(smiles)
    if mol is None:
        return None
    drawer = rdMolDraw2D.MolDraw2DSVG(int(w), int(h))
    rdMolDraw2D.PrepareAndDrawMolecule(drawer, mol)
    drawer.FinishDrawing()
    return drawer.GetDrawingText()


def _tag_value(v) -> str:
    """SD tag text: floats in repr (round-trips exactly), NaN/None as 'nan', bools as 'True'/'False'."""
    if v is None:
        return "nan"
    if isinstance(v, bool):
        return str(v)
    if isinstance(v, float):  # includes np.float64
        return "nan" if math.isnan(v) else repr(float(v))
    try:
        import numpy as np

        if isinstance(v, np.bool_):
            return str(bool(v))
        if isinstance(v, np.floating):
            return "nan" if np.isnan(v) else repr(float(v))
        if isinstance(v, np.integer):
            return str(int(v))
    except ImportError:  # pragma: no cover
        pass
    s = str(v)
    if "\n" in s:
        raise ValueError(f"SD tag values must be one line, got {s!r}")
    return s


def _unspecified_stereocentres(smiles: str) -> int:
    mol = mol_from_smiles(smiles)
    if mol is None:
        return 0
    centres = Chem.FindMolChiralCenters(mol, includeUnassigned=True, useLegacyImplementation=False)
    return sum(1 for _, tag in centres if tag == "?")


def write_sdf(rows: Sequence[dict], path: str | os.PathLike, run_id: str, seed: int = 0) -> dict:
    """Write one SD record per molecule with a 3D conformer and every row value as an SD tag.

    Each row needs `canonical` (a valid SMILES); every other key becomes a tag (raw and normalized
    objective scores, `pareto`, ...). Tags `SMILES` and `run_id` are always written. Rows whose SMILES
    is invalid are skipped; rows whose 3D embedding fails are written with 2D coordinates and the tag
    `coords=2D`, so no molecule is lost. Every record has `unspecified_stereocentres` (a count), and
    `stereo_note` when it is not 0: the conformer then fixes a configuration the SMILES left open. The
    file is written atomically. Returns counts.
    """
    if not isinstance(run_id, str) or not run_id or "\n" in run_id:
        raise ValueError(f"run_id must be a non-empty one-line string, got {run_id!r}")
    blocks, n_skipped, n_2d = [], 0, 0
    for i, row in enumerate(rows):
        if "canonical" not in row:
            raise ValueError(f"row {i} has no 'canonical' field")
        smi = row["canonical"]
        mol = embed_3d(smi, n_conf=1, seed=seed) if isinstance(smi, str) else None
        coords = "3D"
        if mol is None:
            mol = mol_from_smiles(smi)
            if mol is None:
                n_skipped += 1
                continue
            AllChem.Compute2DCoords(mol)
            coords, n_2d = "2D", n_2d + 1
        unspecified = _unspecified_stereocentres(smi)
        mol.SetProp("_Name", str(row.get("name", smi)))
        mol.SetProp(SDF_SMILES_TAG, smi)
        mol.SetProp(SDF_RUN_TAG, run_id)
        mol.SetProp("coords", coords)
        # a SMILES that leaves a stereocentre open gets one configuration from the embedding: say so
        mol.SetProp("unspecified_stereocentres", str(unspecified))
        if unspecified:
            mol.SetProp(
                "stereo_note",
                f"{unspecified} stereocentre(s) unspecified in the SMILES; the conformer's configuration is arbitrary",
            )
        for k, v in row.items():
            if k in ("canonical", "name"):
                continue
            if not isinstance(k, str) or not k or any(c in k for c in "<>\n"):
                raise ValueError(f"invalid SD tag name {k!r}")
            mol.SetProp(k, _tag_value(v))
        blocks.append(mol)
    buf = io.StringIO()
    writer = Chem.SDWriter(buf)
    for mol in blocks:
        writer.write(mol)
    writer.close()
    atomic_write_text(path, buf.getvalue())
    return {"written": len(blocks), "skipped_invalid": n_skipped, "coords_2d": n_2d}


def _parse_tag(s: str):
    if s in ("True", "False"):
        return s == "True"
    try:
        return int(s)
    except ValueError:
        pass
    try:
        return float(s)  # 'nan' -> NaN
    except ValueError:
        return s


TEXT_TAGS = (SDF_SMILES_TAG, SDF_RUN_TAG, "candidate", "canonical", "set", "coords")


def read_sdf(path: str | os.PathLike, text_tags: Sequence[str] = TEXT_TAGS) -> list[dict]:
    """Read an SDF written by `write_sdf` (or any SDF) into dicts of tags, plus `mol` (RDKit Mol, Hs kept).

    Tags in `text_tags` stay strings; other numeric tags come back as int/float ('nan' as NaN),
    'True'/'False' as bool, the rest as str. Raises ValueError when a record does not parse, so a corrupt
    file never reads back short.
    """
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"no SDF file at {p}")
    out = []
    for i, mol in enumerate(Chem.SDMolSupplier(str(p), removeHs=False, sanitize=True)):
        if mol is None:
            raise ValueError(f"{p}: record {i} does not parse")
        row = {
            k: (mol.GetProp(k) if k in text_tags else _parse_tag(mol.GetProp(k)))
            for k in mol.GetPropNames(includePrivate=False, includeComputed=False)
        }
        row["mol"] = mol
        out.append(row)
    return out
