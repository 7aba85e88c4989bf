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
    p.add_argument("config", metavar="CONFIG.toml", help="base run configuration: task, model, T, B, m, ...")
    p.add_argument(
        "--methods",
        default="iterative_rs,morlhf,rewarded_soups,ric",
        help="comma-separated methods (default: iterative_rs,morlhf,rewarded_soups,ric)",
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
        report_only=args.report_only,
        reference=not args.no_reference,
        null_control=args.null_control,
        command="irs " + " ".join(shlex.quote(a) for a in sys.argv[1:]),
    )
    res = run_bench(spec)
    print(
        f"wrote {res['md']}, {res['csv']} and {len(res['pngs'])} figure(s) ({len(res['rows'])} runs)", file=sys.stderr
    )
    print(res["md"])
    return 0
