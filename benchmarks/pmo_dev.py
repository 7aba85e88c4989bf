"""Choose PMO settings without looking at PMO: AUC top-10 under the same 10,000-call budget on guacamol
tasks that are not among PMO's 20 (irs.domains.molecules.pmo.DEV_TASKS), on a development seed (100)
that the PMO bench (seeds 0, 1, 2) never uses.

    IRS_THREADS=1 .venv/bin/python benchmarks/pmo_dev.py        # resumable; ~10 min per run on one core

The grid below was written before any run: the project's RL defaults (examples/bench-pmo.toml) and
three departures towards REINVENT's faster learning (a larger learning rate; then less KL and T = 1).
Each setting runs IterativeRS on each development task; the summary goes to
docs/results/pmo_dev.json with the setting of the best mean AUC.
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from irs.bench.pmo import PMOSpec, run_pmo  # noqa: E402
from irs.config import RunConfig  # noqa: E402
from irs.domains.molecules import pmo  # noqa: E402
from irs.io import atomic_write_json  # noqa: E402

SEED = 100
TASKS = ("aripiprazole_similarity", "pioglitazone_mpo")
GRID = {
    "default": {},
    "lr1e-4": {"lr": 1e-4},
    "lr3e-4": {"lr": 3e-4},
    "lr3e-4_beta0.01_T1": {"lr": 3e-4, "beta": 0.01, "temperature": 1.0},
}


def main() -> int:
    if any(t in pmo.TASKS for t in TASKS):
        raise SystemExit("a development task must not be one of PMO's 20")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    out = ROOT / "runs" / "bench" / "pmo-dev"
    out.mkdir(parents=True, exist_ok=True)
    base = RunConfig.load(ROOT / "examples" / "bench-pmo.toml")
    results: dict = {"seed": SEED, "tasks": list(TASKS), "budget": base.oracle_budget, "settings": {}}
    for task in TASKS:  # every setting on the first task before the second: a cut-short sweep still compares
        for name, rl in GRID.items():
            cfg = RunConfig.from_dict(base.to_dict())
            cfg.seed = SEED
            for k, v in rl.items():
                setattr(cfg.rl, k, v)
            path = out / f"{name}.toml"
            cfg.save(path)
            spec = PMOSpec(
                config=str(path),
                tasks=(task,),
                methods=("iterative_rs",),
                seeds=1,
                bench_dir=str(out / name),
                out_dir=str(out / name / "report"),
                report="pmo-dev",
                command="benchmarks/pmo_dev.py",
            )
            res = run_pmo(spec)
            row = next(r for r in res["rows"] if r["task"] == task)
            entry = results["settings"].setdefault(name, {"rl": rl, "auc_top10": {}})
            entry["auc_top10"][task] = round(row["auc_top10"], 4)
            entry["seconds"] = entry.get("seconds", 0) + row["seconds"]
            done = [s for s in results["settings"].values() if len(s["auc_top10"]) == len(TASKS)]
            for s in results["settings"].values():
                s["mean"] = round(sum(s["auc_top10"].values()) / len(s["auc_top10"]), 4)
            if done:
                results["chosen"] = max(
                    (n for n, s in results["settings"].items() if len(s["auc_top10"]) == len(TASKS)),
                    key=lambda n: results["settings"][n]["mean"],
                )
            atomic_write_json(ROOT / "docs" / "results" / "pmo_dev.json", results)
            print(json.dumps({name: entry}), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
