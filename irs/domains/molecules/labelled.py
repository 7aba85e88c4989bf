"""RiC's labelled data for the molecules domain (Domain.labelled_data).

qm9: the QM9 training split (`qm9.split()`), canonical SMILES, with the DFT labels (α, gap, U0) sent through
the objectives' own normalization and goal transform: the data RiC is trained on in the paper. druglike:
MOSES training SMILES scored exactly with RDKit (QED, SA, logP).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from irs.domains.base import exact_rewards
from irs.objectives import Objective


def labelled_data(preset: str | None, objectives: Sequence[Objective], n: int, seed: int):
    from irs.domains.molecules.chem import canonicalize

    preset = preset or "qm9"
    rng = np.random.default_rng([seed, 4242])
    if preset == "qm9":
        from irs.domains.molecules import qm9

        df = qm9.split()["train"]
        missing = [o.name for o in objectives if o.name not in df.columns]
        if missing:
            raise ValueError(f"RiC labelled data: QM9 has no label for objective(s) {missing}")
        if n and n < len(df):
            df = df.iloc[np.sort(rng.choice(len(df), size=n, replace=False))]
        canon = [canonicalize(s) for s in df["smiles"]]
        ok = np.array([c is not None for c in canon])
        texts = [c for c in canon if c is not None]
        R = np.column_stack([o.transform(df[o.name].to_numpy(np.float64)[ok]) for o in objectives])
        return texts, R
    if preset == "druglike":
        from irs.domains.molecules.moses import moses_train

        pool = moses_train()
        idx = np.sort(rng.choice(len(pool), size=min(n or 20000, len(pool)), replace=False))
        canon = [canonicalize(pool[i]) for i in idx]
        texts = [c for c in canon if c is not None]
        return texts, exact_rewards(objectives, texts)
    raise ValueError(f"RiC has no labelled data for molecules preset {preset!r}")
