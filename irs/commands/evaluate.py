"""`irs evaluate RUN`: the paper's evaluation (Section 5) of a run's final candidates."""

from __future__ import annotations

from irs.commands._common import add_runs_dir, get_run, print_json


def add_parser(sub):
    p = sub.add_parser(
        "evaluate",
        help="evaluate a run's candidates: Pareto set, means, ICV, hypervolume",
        description="Evaluate candidates.parquet: counts, the Pareto set's mean reward per "
        "objective (and mean raw score), average reward, ICV (eq. 16) and hypervolume.",
    )
    p.add_argument("run", metavar="RUN", help="run id (see `irs status`)")
    add_runs_dir(p)
    p.add_argument("--json", action="store_true", help="print one JSON object, NaN as null (default: text)")
    p.set_defaults(func=run)
    return p


def run(args) -> int:
    from irs.runs import evaluate_run

    ev = evaluate_run(get_run(args))
    if args.json:
        print_json(ev)
        return 0
    print(f"run            {ev['run_id']}")
    for k in ("n_candidates", "n_valid", "n_unique", "n_scored", "n_pareto"):
        print(f"{k:14s} {ev[k]}")
    print("Pareto-set means (reward in [0, 1] / raw score):")
    for name, v in ev["pareto_means"].items():
        print(f"  {name:20s} {v:.4f} / {ev['pareto_raw_means'][name]:.4g}")
    print(f"avg_reward     {ev['avg_reward']:.4f}")
    print(f"icv            {ev['icv']:.4f}")
    print(f"hypervolume    {ev['hypervolume']:.4f}")
    return 0
