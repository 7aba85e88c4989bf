"""`irs queue`: how many runs may train at once, which run, and who waits (irs.runs.queue)."""

from __future__ import annotations

from irs.commands._common import add_runs_dir, print_json, store


def add_parser(sub):
    p = sub.add_parser(
        "queue",
        help="show the run queue, or set how many runs train at once",
        description="Runs beyond the limit wait (state queued) and start in the order they were "
        "queued as others finish. The limit is $IRS_MAX_RUNS if set, else the runs "
        "folder's setting (--max-runs), else what the machine's cores and memory allow.",
    )
    add_runs_dir(p)
    p.add_argument(
        "--max-runs",
        default=None,
        metavar="N",
        help="store N (1-64) as this runs folder's limit; waiting runs see it within a second (default: show only)",
    )
    p.add_argument("--json", action="store_true", help="print JSON (default: text)")
    p.set_defaults(func=run)
    return p


def run(args) -> int:
    from irs.runs.queue import queue_summary, set_max_runs

    s = store(args)
    if args.max_runs is not None:
        set_max_runs(s.root, args.max_runs)
    q = queue_summary(s)
    if args.json:
        print_json(q)
        return 0
    print(f"max runs   {q['max_runs']} (from {q['source']})")
    print(f"training   {q['running']}")
    print(f"waiting    {len(q['waiting'])}" + "".join(f"\n  {i}. {r}" for i, r in enumerate(q["waiting"], 1)))
    return 0
