"""`irs bench CONFIG`: run several methods and seeds under one budget and report who wins (irs/bench/)."""

from __future__ import annotations

import shlex
import sys


def add_parser(sub):
    p = sub.add_parser(
        "bench",
        help="compare IterativeRS, MORLHF, RS and RiC on a task (paper Tables 1-3)",
        description="Run every method x seed (x optional merge interval m) through the run store, "
        "one run at a time, under one budget (same T, same rewarded samples per step: "
        "see irs/bench/); score each run's K candidates with the oracle; write "
        "OUT/<task>.md (table, mean ± std over seeds, verdict, wall times), "
        "OUT/<task>_runs.csv (per-seed numbers) and pairwise scatter PNGs. "
        "Resumable: rerun the same command after a kill.",
    )
    p.add_argument(
        "config",
        metavar="CONFIG.toml",
        nargs="?",
        default=None,
        help="base run configuration: task, model, T, B, m, ... (with --suite pmo: default examples/bench-pmo.toml)",
    )
    p.add_argument(
        "--suite",
        choices=("paper", "pmo"),
        default="paper",
        help="'paper': methods x seeds on CONFIG's task (default); 'pmo': the PMO benchmark's 20 RDKit tasks "
        "under CONFIG's oracle_budget, AUC top-10 from each run's call log (irs/bench/pmo.py)",
    )
    p.add_argument(
        "--tasks",
        default="",
        metavar="LIST",
        help="--suite pmo: comma-separated PMO tasks (default: all 20)",
    )
    p.add_argument(
        "--parallel",
        type=int,
        default=1,
        metavar="N",
        help="runs kept in flight at once, started in plan order; the run queue's limit still applies "
        "(`irs queue --max-runs N`, or IRS_MAX_RUNS) (default: 1)",
    )
    p.add_argument(
        "--methods",
        default=None,
        help="comma-separated methods (default: iterative_rs,morlhf,rewarded_soups,ric; "
        "--suite pmo: iterative_rs,null,morlhf,rl_score)",
    )
    p.add_argument("--seeds", type=int, default=3, help="seeds per method: the config's seed, +1, ... (default: 3)")
    p.add_argument(
        "--sweep-m",
        default="",
        metavar="LIST",
        help="also run IterativeRS with these merge intervals, e.g. 1,2,4,8,T (default: none)",
    )
    p.add_argument(
        "--sweep-seeds",
        type=int,
        default=None,
        metavar="N",
        help="seeds for the sweep-only runs, the first N of --seeds (default: all of them)",
    )
    p.add_argument(
        "--algo",
        choices=("ppo", "rloo"),
        default=None,
        help="update rule for the RL methods (default: the config's rl.algo)",
    )
    p.add_argument(
        "--K",
        type=int,
        default=None,
        help="candidates sampled and scored per run (default: the config's n_final_samples)",
    )
    p.add_argument("--task", default=None, help="report name: OUT/<task>.md (default: the config's name)")
    p.add_argument("--out", default="docs/results", metavar="DIR", help="report folder (default: docs/results)")
    p.add_argument(
        "--bench-dir", default=None, metavar="DIR", help="manifest and RiC candidate cache (default: runs/bench/<task>)"
    )
    p.add_argument(
        "--runs-dir", default=None, metavar="DIR", help="run store of the bench's runs (default: <bench-dir>/runs)"
    )
    p.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch CPU threads per worker, sets IRS_THREADS unless already set (default: 1)",
    )
    p.add_argument(
        "--inline",
        action="store_true",
        help="run each worker inside this process instead of a detached one (default: detached)",
    )
    p.add_argument(
        "--no-reference",
        action="store_true",
        help="leave out the pretrained-model row (K samples of the base model; default: include it)",
    )
    p.add_argument(
        "--null-control",
        action="store_true",
        help="also run IterativeRS with each batch's rewards shuffled (an information-free control; default: off)",
    )
    p.add_argument(
        "--report-only",
        action="store_true",
        help="start nothing; evaluate the finished runs and rewrite the report (default: run)",
    )
    p.set_defaults(func=run)
    return p


def run(args) -> int:
    import os

    from irs.bench import BenchSpec, parse_methods, run_bench

    os.environ.setdefault("IRS_THREADS", str(args.threads))
    command = "irs " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    if args.suite == "pmo":
        return _run_pmo(args, command)
    if args.config is None:
        print("irs bench: error: give CONFIG.toml (or --suite pmo)", file=sys.stderr)
        return 2
    if args.methods is None:
        args.methods = "iterative_rs,morlhf,rewarded_soups,ric"
    spec = BenchSpec(
        config=args.config,
        methods=parse_methods(args.methods),
        seeds=args.seeds,
        sweep_m=args.sweep_m,
        sweep_seeds=args.sweep_seeds,
        algo=args.algo,
        K=args.K,
        task=args.task,
        bench_dir=args.bench_dir,
        runs_dir=args.runs_dir,
        out_dir=args.out,
        inline=args.inline,
        parallel=args.parallel,
        report_only=args.report_only,
        reference=not args.no_reference,
        null_control=args.null_control,
        command=command,
    )
    res = run_bench(spec)
    print(
        f"wrote {res['md']}, {res['csv']} and {len(res['pngs'])} figure(s) ({len(res['rows'])} runs)", file=sys.stderr
    )
    print(res["md"])
    return 0


def _run_pmo(args, command: str) -> int:
    from irs.bench.pmo import METHODS, ORDER, PMOSpec, run_pmo

    split = lambda text: tuple(x.strip() for x in text.split(",") if x.strip())  # noqa: E731
    spec = PMOSpec(
        config=args.config or "examples/bench-pmo.toml",
        tasks=split(args.tasks) or ORDER,
        methods=split(args.methods or "") or METHODS,
        seeds=args.seeds,
        bench_dir=args.bench_dir,
        out_dir=args.out,
        report_only=args.report_only,
        inline=args.inline,
        parallel=args.parallel,
        command=command,
    )
    res = run_pmo(spec)
    print(f"wrote {res['md']} and {res['json']} ({len(res['rows'])} runs)", file=sys.stderr)
    print(res["md"])
    return 0
