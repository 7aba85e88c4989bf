"""How far MolGPT-2's prior is from PMO's targets (docs/pmo.md, "Why MolGPT-2 starts behind"): what its
vocabulary lacks, the size of what it samples, and the size of each similarity target.

    .venv/bin/python benchmarks/pmo_prior.py [CALL_LOG.csv]   # writes docs/results/pmo_prior.json

CALL_LOG: the oracle_calls.csv of a null-control run (default: the committed QED null control's log,
docs/results/pmo/qed-null-0.csv.gz); its first 3,000 molecules stand for what the prior samples.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from irs.domains.molecules import pmo  # noqa: E402
from irs.io import atomic_write_json  # noqa: E402
from irs.tokenizer import VocabTokenizer  # noqa: E402


def main(argv: list[str]) -> int:
    from rdkit import Chem

    log = Path(argv[0]) if argv else ROOT / "docs" / "results" / "pmo" / "qed-null-0.csv.gz"
    tok = VocabTokenizer.load(ROOT / "assets" / "molecules" / "molgpt2")
    vocab = set(tok.vocab)
    heavy = np.array([Chem.MolFromSmiles(s).GetNumHeavyAtoms() for s in pmo.read_call_log(log)[0][:3000]])
    tanimoto = pmo.guacamol("common_scoring_functions").TanimotoScoringFunction
    targets = {}
    for t in pmo.TASKS:
        for name, fn in pmo.components(t):
            if isinstance(fn, tanimoto):
                smi = Chem.MolToSmiles(Chem.MolFromSmiles(fn.target))
                toks = tok.tokenize(smi)
                targets[f"{t}/{name}"] = {
                    "heavy_atoms": Chem.MolFromSmiles(smi).GetNumHeavyAtoms(),
                    "tokens": len(toks),
                    "tokens_not_in_vocab": sorted({x for x in toks if x not in vocab}),
                }
    out = {
        "vocab_size": len(tok.vocab),
        "in_vocab": {k: k in vocab for k in ("P", "[C@H]", "[C@@H]", "[N+]")},
        "max_generated_tokens": 63,
        "samples": {
            "log": str(log.relative_to(ROOT) if log.is_relative_to(ROOT) else log),
            "n": int(len(heavy)),
            "heavy_atoms_mean": round(float(heavy.mean()), 1),
            "heavy_atoms_p95": int(np.percentile(heavy, 95)),
            "heavy_atoms_max": int(heavy.max()),
        },
        "targets": targets,
    }
    atomic_write_json(ROOT / "docs" / "results" / "pmo_prior.json", out)
    print(out["samples"], out["in_vocab"])
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
