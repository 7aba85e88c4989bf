"""`irs export RUN --format FMT`: write a run's candidates (or its Pareto set) as CSV, SDF, FASTA or JSONL."""

from __future__ import annotations

import sys

from irs.commands._common import add_runs_dir, get_run

FORMATS = ("csv", "sdf", "fasta", "jsonl")


def add_parser(sub):
    p = sub.add_parser(
        "export",
        help="export a run's candidates as csv or jsonl (any domain), sdf (molecules) or fasta (DNA, toy)",
        description="Write candidates.parquet as CSV (a `candidate` column and one column per "
        "objective, named as the objective, plus reward_<name> columns), SDF "
        "(molecules, 3D conformers), FASTA (sequences) or JSONL.",
    )
    p.add_argument("run", metavar="RUN", help="run id (see `irs status`)")
    add_runs_dir(p)
    p.add_argument(
        "--format",
        required=True,
        choices=FORMATS,
        help="output format (required): csv and jsonl for every domain (jsonl: one JSON object per "
        "candidate, NaN as null), sdf for molecules, fasta for DNA and toy strings (scores in "
        "the headers)",
    )
    p.add_argument(
        "--pareto",
        action="store_true",
        help="only the Pareto set: one front over all candidate sets, each candidate once (default: all)",
    )
    p.add_argument(
        "--set",
        default=None,
        metavar="NAME",
        help="only this candidate set ('final', or a set added in the workbench such as a re-merge; "
        "default: every set)",
    )
    p.add_argument(
        "--out",
        default=None,
        metavar="FILE",
        help="output file, overwritten atomically (default: ./<run>_<pareto|all>.<format>)",
    )
    p.set_defaults(func=run)
    return p


def run(args) -> int:
    from irs.export import export
    from irs.io import check_output_path
    from irs.runs.sets import load_table

    r = get_run(args)
    cfg = r.config()
    out = args.out or f"{r.id}_{'pareto' if args.pareto else 'all'}.{args.format}"
    check_output_path(out)
    units = None
    if args.format == "sdf":  # unit_<name> tags
        from irs.domains import get_domain
        from irs.runs import oracle_objectives

        units = {o.name: o.unit for o in oracle_objectives(get_domain(cfg.domain), cfg)}
    df = load_table(r.path)
    if args.set is not None:
        sets = list(dict.fromkeys(df["set"]))
        if args.set not in sets:
            raise ValueError(f"--set {args.set!r}: run {r.id} has the sets {sets}")
        df = df[df["set"] == args.set]
    n = export(df, args.format, out, domain=cfg.domain, run_id=r.id, pareto_only=args.pareto, units=units)
    print(f"wrote {n} candidates to {out}", file=sys.stderr)
    print(out)
    return 0
