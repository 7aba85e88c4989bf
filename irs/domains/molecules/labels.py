"""Oracle labels for molecules the QM9 proxies never saw: MOSES molecules and MolGPT-2's own samples.

The QM9 proxies were fit on QM9 alone (at most 9 heavy atoms of C, N, O, F); the policy generates
drug-sized MOSES-like molecules, with S, Cl and Br, where the oracle's α and U0 are far outside QM9's
range. Training the heads on oracle labels of such molecules as well is what makes them track the
oracle where the policy samples (issue: fine-tuning that moves the oracle).

    python -m irs.domains.molecules.labels --n-moses 2000 --n-generated 1000 [--workers 1]

writes `assets/molecules/oracle_labels.parquet` (canonical SMILES, source, alpha, gap, u0, status),
chunk by chunk and atomically, so an interrupted labelling resumes where it stopped and an existing table
is extended, not redone. Every molecule is scored by the same oracle as evaluation (irs.domains.molecules
.oracle.QM9Oracle); failures keep their status and NaN labels.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

from irs.io import atomic_write_bytes
from irs.paths import ROOT

log = logging.getLogger(__name__)

LABELS_PATH = ROOT / "assets" / "molecules" / "oracle_labels.parquet"
COLUMNS = ("smiles", "source", "alpha", "gap", "u0", "status")


def load_labels(path: str | Path = LABELS_PATH):
    """The label table (empty with the right columns when there is none)."""
    import pandas as pd

    p = Path(path)
    if not p.is_file():
        return pd.DataFrame({c: pd.Series(dtype=float if c in ("alpha", "gap", "u0") else str) for c in COLUMNS})
    return pd.read_parquet(p)


def generated_smiles(n: int, seed: int = 0, temperature: float = 0.7, model: str = "assets/molecules/molgpt2"):
    """n distinct valid canonical SMILES sampled from MolGPT-2 (the RL sampler's temperature)."""
    import torch

    from irs.checkpoint import load_model_dir
    from irs.domains.molecules.chem import canonicalize
    from irs.paths import resolve
    from irs.rl.sampler import sample

    m, tok = load_model_dir(resolve(model))
    g = torch.Generator().manual_seed(seed)
    out: dict[str, None] = {}
    while len(out) < n:
        s = sample(m.eval(), tok, 1024, max_new_tokens=m.config.n_positions - 1, temperature=temperature, generator=g)
        for t in s.texts:
            c = canonicalize(t)
            if c is not None:
                out.setdefault(c)
    return list(out)[:n]


def extend_labels(
    todo: list[tuple[str, str]], path: str | Path = LABELS_PATH, workers: int | None = 1, chunk: int = 100
) -> int:
    """Score (smiles, source) pairs not yet in the table with the oracle, appending chunk by chunk."""
    import pandas as pd

    from irs.domains.molecules.chem import canonicalize
    from irs.domains.molecules.oracle import QM9Oracle

    df = load_labels(path)
    have = set(df["smiles"])
    rows = []
    for smi, src in todo:
        c = canonicalize(smi)
        if c is not None and c not in have:
            have.add(c)
            rows.append((c, src))
    oracle = QM9Oracle(n_workers=workers)
    t0 = time.time()
    for i in range(0, len(rows), chunk):
        part = rows[i : i + chunk]
        res = oracle.score([c for c, _ in part])
        new = pd.DataFrame(
            {
                "smiles": [c for c, _ in part],
                "source": [s for _, s in part],
                "alpha": res["alpha"],
                "gap": res["gap"],
                "u0": res["u0"],
                "status": res["status"],
            }
        )
        df = pd.concat([df, new], ignore_index=True)
        atomic_write_bytes(path, df.to_parquet(index=False))
        log.info("labelled %d / %d new molecules (%.0f s)", i + len(part), len(rows), time.time() - t0)
    return len(rows)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m irs.domains.molecules.labels", description=__doc__.splitlines()[0])
    p.add_argument("--n-moses", type=int, default=2000, help="MOSES train molecules to label (default: 2000)")
    p.add_argument("--n-generated", type=int, default=1000, help="MolGPT-2 samples (T = 0.7) to label (default: 1000)")
    p.add_argument("--seed", type=int, default=0, help="MOSES sample and sampling seed (default: 0)")
    p.add_argument("--workers", type=int, default=1, help="oracle worker processes (default: 1)")
    p.add_argument(
        "--out", default=str(LABELS_PATH), help="label table (default: assets/molecules/oracle_labels.parquet)"
    )
    a = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from irs.domains.molecules.oracle import moses_sample

    moses = [(s, "moses") for s in moses_sample(a.n_moses, a.seed, split="train")]
    gen = [(s, "molgpt2") for s in generated_smiles(a.n_generated, a.seed)]
    # interleaved, so that a labelling cut short still holds both sources in proportion
    todo = [x for pair in zip(moses, gen) for x in pair] + moses[len(gen) :] + gen[len(moses) :]
    n = extend_labels(todo, a.out, a.workers)
    df = load_labels(a.out)
    print(
        f"{a.out}: {len(df)} molecules ({n} new); sources {df['source'].value_counts().to_dict()}; "
        f"ok {(df['status'] == 'ok').sum()}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
