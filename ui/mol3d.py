"""Offline molecule views: the py3Dmol 3D viewer with the vendored 3Dmol.js inlined (no CDN), and the
RDKit 2D SVG depiction. No Streamlit here; pages pass the HTML to st.iframe.

py3Dmol's HTML loads 3Dmol.js from a CDN only when the global `$3Dmolpromise` is undefined. We put the
vendored library (assets/3dmol/3Dmol-min.js, npm package `3dmol`, BSD-3-Clause, see LICENSE next to it)
in a <script> ahead of it and define `$3Dmolpromise`, so nothing is fetched; the CDN address is also
replaced, so the page holds no external URL at all.
"""

from __future__ import annotations

import functools
import re

from ui.logic import REPO

JS_PATH = REPO / "assets" / "3dmol" / "3Dmol-min.js"
NO_CDN = "data:,"  # given to py3Dmol as the script URL; never loaded because $3Dmolpromise is defined


@functools.lru_cache(maxsize=1)
def vendored_js() -> str:
    if not JS_PATH.is_file():
        raise FileNotFoundError(f"vendored 3Dmol.js missing: {JS_PATH} (see assets/3dmol/README.md)")
    js = JS_PATH.read_text(encoding="utf-8")
    if "</script" in js.lower():  # would end the inline <script> early
        raise ValueError(f"{JS_PATH} contains '</script'; it cannot be inlined")
    return js


def molblock_3d(smiles: str, seed: int = 0) -> str | None:
    """MDL mol block of one MMFF-optimized conformer (with hydrogens), or None if embedding fails."""
    from rdkit import Chem

    from irs.domains.molecules.chem import embed_3d

    mol = embed_3d(smiles, n_conf=1, seed=seed, timeout_s=10)
    return None if mol is None else Chem.MolToMolBlock(mol)


def viewer_html(molblock: str, width: int = 420, height: int = 340, style: str = "stick") -> str:
    """A complete HTML page with a 3Dmol.js viewer of `molblock`; no network access needed."""
    import py3Dmol

    view = py3Dmol.view(width=width, height=height, js=NO_CDN)
    view.addModel(molblock, "sdf")
    if style == "sphere":
        view.setStyle({"sphere": {"scale": 0.3}, "stick": {"radius": 0.15}})
    else:
        view.setStyle({"stick": {"radius": 0.18}})
    view.setBackgroundColor("white")
    view.zoomTo()
    body = view._make_html()
    body = body.replace(NO_CDN, "")
    if re.search(r"https?://", body):  # the viewer HTML must not point anywhere
        body = re.sub(r"https?://[^'\"\s]*", "", body)
    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'>"
        "<style>html,body{margin:0;padding:0;background:#fff;overflow:hidden}</style>"
        f"<script>{vendored_js()}</script>"
        "<script>var $3Dmolpromise = Promise.resolve();</script>"
        f"</head><body>{body}</body></html>"
    )


def svg_2d(smiles: str, size: tuple[int, int] = (260, 200)) -> str | None:
    """RDKit 2D depiction as SVG text, or None for an invalid SMILES."""
    from irs.domains.molecules.chem import mol_block_svg

    return mol_block_svg(smiles, size)
