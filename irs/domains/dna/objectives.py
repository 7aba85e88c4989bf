"""Interpretable DNA objectives: the best hit of a JASPAR motif (bits) and GC content in a window."""

from __future__ import annotations

import numpy as np

from irs.domains.dna.motifs import best_hits, get_motif, objective_name


def motif_objective(motif_name: str, canonicalize=None):
    """Objective: the best log-odds hit of `motif_name` on either strand (bits), maximized.
    Normalized with lo = 0 bits (no better than background) and hi = the motif's maximum score."""
    from irs.objectives import Objective

    m = get_motif(motif_name)

    def score(cands):
        seqs = [canonicalize(c) if canonicalize else c for c in cands]
        return best_hits([s if isinstance(s, str) else "" for s in seqs], m)["score"]

    return Objective(
        objective_name(m.name),
        score,
        lo=0.0,
        hi=m.max_score,
        goal="max",
        unit="bits",
        description=f"best log-odds hit of JASPAR {m.matrix_id} {m.name} (consensus {m.consensus}), "
        f"either strand; max {m.max_score:.1f} bits",
    )


def gc_objective(
    start: int = 0,
    end: int = 200,
    target: tuple[float, float] = (0.40, 0.60),
    canonicalize=None,
    name: str | None = None,
):
    """Objective: GC fraction of positions [start, end) (0-based, end exclusive), kept inside the
    `target` window of GC fractions (reward 1 inside, falling linearly to 0 at 0 and 1)."""
    from irs.objectives import Objective

    if not (0 <= start < end):
        raise ValueError(f"need 0 <= start < end, got start={start}, end={end}")

    def score(cands):
        out = np.full(len(cands), np.nan)
        for i, c in enumerate(cands):
            s = canonicalize(c) if canonicalize else c
            if isinstance(s, str) and len(s) >= end:
                w = s[start:end]
                out[i] = (w.count("G") + w.count("C")) / len(w)
        return out

    whole = start == 0 and end == 200
    return Objective(
        name or ("gc" if whole else f"gc_{start}_{end}"),
        score,
        lo=0.0,
        hi=1.0,
        goal="target",
        target=tuple(target),
        unit="fraction",
        description=f"GC content of positions {start}-{end}, target {target[0]:.2f}-{target[1]:.2f}",
    )
