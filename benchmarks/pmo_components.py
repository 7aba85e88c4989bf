"""How each method of the PMO bench moves a task's components per oracle call, from the committed call
logs alone (docs/results/pmo/): every logged molecule is scored by each component of the task
(guacamol's own scoring functions, `irs.domains.molecules.pmo.components`), and the means are reported
over windows of calls. It tests one explanation of IterativeRS's place in the PMO table: with K
components, a merge of K experts each trained m steps on one component moves the model, to first order,
as far as m steps on their mean (what MORLHF takes), but costs K times the oracle calls.

    .venv/bin/python benchmarks/pmo_components.py [--tasks isomers_c9h10n2o2pf2cl,...] [--seed 0] [--window 1000]

Writes docs/results/pmo_components.json and prints one table per task.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from irs.bench.pmo import single_component  # noqa: E402
from irs.domains.molecules import pmo  # noqa: E402
from irs.io import atomic_write_json  # noqa: E402

LOGS = ROOT / "docs" / "results" / "pmo"
METHODS = ("iterative_rs", "null", "morlhf", "rl_score")
DEFAULT_TASKS = "isomers_c9h10n2o2pf2cl,isomers_c7h8n2o2,osimertinib_mpo,amlodipine_mpo"


def windows(n: int, width: int) -> list[tuple[int, int]]:
    """The first, middle and last `width` calls of a log of n calls (fewer when the log is short)."""
    if n <= width:
        return [(0, n)]
    mid = (n - width) // 2
    return sorted({(0, width), (mid, mid + width), (n - width, n)})


def component_means(smiles: list[str], parts) -> dict[str, float]:
    out = {}
    for name, fn in parts:
        v = pmo._scorer(fn)(smiles)
        out[name] = float(np.nanmean(v)) if np.isfinite(v).any() else float("nan")
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tasks", default=DEFAULT_TASKS)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--window", type=int, default=1000)
    ap.add_argument("--out", default=str(ROOT / "docs" / "results" / "pmo_components.json"))
    args = ap.parse_args(argv)
    res = {"window": args.window, "seed": args.seed, "tasks": {}}
    for task in args.tasks.split(","):
        parts = pmo.components(task)
        rows = {}
        for m in METHODS:
            log = LOGS / f"{task}-{m}-{args.seed}.csv.gz"
            if not log.exists() and m in ("morlhf", "rl_score") and single_component(task):
                log = LOGS / f"{task}-iterative_rs-{args.seed}.csv.gz"  # one run stands for the three
            if not log.exists():
                continue
            smiles, scores = pmo.read_call_log(log)
            rows[m] = {
                "calls": len(smiles),
                "windows": [
                    {"calls": [a + 1, b], "score": float(np.mean(scores[a:b])), **component_means(smiles[a:b], parts)}
                    for a, b in windows(len(smiles), args.window)
                ],
            }
        res["tasks"][task] = {"components": [n for n, _ in parts], "methods": rows}
        print(f"\n{task} (K = {len(parts)} components), mean over each window of calls")
        names = [n for n, _ in parts]
        print("| method | calls | score | " + " | ".join(names) + " |")
        print("|---|---|---|" + "---|" * len(names))
        for m, r in rows.items():
            for w in r["windows"]:
                cells = " | ".join(f"{w[n]:.3f}" for n in names)
                print(f"| {m} | {w['calls'][0]}-{w['calls'][1]} | {w['score']:.3f} | {cells} |")
    atomic_write_json(args.out, res)
    print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
