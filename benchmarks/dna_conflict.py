"""How much do the three DNA objectives conflict, and what does a merge give back? Two figures behind
docs/learning-signal.md ("DNA"):

1. the oracle over 20,000 real training-split sites: the correlation of its K562, HepG2 and GM12878
   probabilities, and how high their mean ever gets (the ceiling of an equal-weight objective on real DNA);
2. for finished IterativeRS runs: each expert's own proxy reward on its batch at the first and the last
   step of every merge round (the gain of a round, and what the next round starts from after the merge).

    .venv/bin/python benchmarks/dna_conflict.py [RUN_DIR ...] [--out docs/results/dna_conflict.json]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from irs.io import atomic_write_json  # noqa: E402


def oracle_conflict(n: int = 20_000) -> dict:
    from irs.domains.dna import data
    from irs.domains.dna.oracle import load_oracle

    oracle = load_oracle()
    cells = ["K562", "HepG2", "GM12878"]
    P = oracle.predict(data.sequences("train")[:n])[:, [oracle.index(c) for c in cells]]
    mean = P.mean(1)
    return {
        "n_sites": len(P),
        "cells": cells,
        "correlation": np.corrcoef(P.T).round(3).tolist(),
        "mean_of_three": {"mean": float(mean.mean()), "p95": float(np.quantile(mean, 0.95)), "max": float(mean.max())},
    }


def merge_rounds(run_dir: Path) -> dict:
    """Per expert: [(round, reward at its first step, reward at its last step)] from metrics.jsonl."""
    import tomllib

    cfg = tomllib.loads((run_dir / "config.toml").read_text())
    m = cfg["merge"]["merge_every"]
    steps = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines() if x.strip()]
    steps = [r for r in steps if r.get("type") == "step"]
    out = {}
    for e in sorted({r["expert"] for r in steps}):
        rs = {r["step"]: r[f"r_{e}"] for r in steps if r["expert"] == e and f"r_{e}" in r}
        rounds = [(k, rs.get(k * m + 1), rs.get((k + 1) * m)) for k in range(max(rs) // m)]
        gains = [b - a for _, a, b in rounds if a is not None and b is not None]
        starts = [a for _, a, _ in rounds if a is not None]
        out[e] = {
            "rounds": rounds,
            "mean_gain_within_round": float(np.mean(gains)),
            "first_round_start": starts[0],
            "last_round_start": starts[-1],
        }
    return {"run": run_dir.name, "merge_every": m, "experts": out}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("runs", nargs="*", help="finished DNA IterativeRS run folders")
    p.add_argument("--out", default=None, help="result JSON (default: print only)")
    a = p.parse_args(argv)
    res = {"command": "python benchmarks/dna_conflict.py " + " ".join(a.runs), "oracle": oracle_conflict()}
    print(json.dumps(res["oracle"], indent=1))
    res["runs"] = [merge_rounds(Path(r)) for r in a.runs]
    for r in res["runs"]:
        for e, v in r["experts"].items():
            print(
                f"{r['run']}: {e}: a round's own-reward gain {v['mean_gain_within_round']:+.3f} on average; "
                f"rounds start at {v['first_round_start']:.3f} (first) ... {v['last_round_start']:.3f} (last)"
            )
    if a.out:
        atomic_write_json(Path(a.out), res)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
