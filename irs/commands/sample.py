"""`irs sample RUN --n K`: new samples from a run's final policy, optionally re-merged with other λ; a RiC
run is sampled with its desired-score prompt (the run's preference weights, or --weights)."""

from __future__ import annotations

import sys
from pathlib import Path

from irs.commands._common import add_runs_dir, get_run

# --out extension -> export format (scored with the run's oracle objectives, via irs.export) or "txt"
FORMATS = {
    ".csv": "csv",
    ".jsonl": "jsonl",
    ".fasta": "fasta",
    ".fa": "fasta",
    ".fna": "fasta",
    ".sdf": "sdf",
    ".txt": "txt",
}


def add_parser(sub):
    p = sub.add_parser(
        "sample",
        help="sample from a run's final policy (optionally re-merged)",
        description="Sample K candidates from the run's final merged model or, with --lambdas, "
        "from its final experts re-merged with those weights. A RiC run is prompted "
        "with the desired scores of its preference weights (or --weights). Without "
        "--out, print one candidate per line.",
    )
    p.add_argument("run", metavar="RUN", help="run id (see `irs status`)")
    add_runs_dir(p)
    p.add_argument("--n", type=int, required=True, metavar="K", help="number of samples (required)")
    p.add_argument(
        "--lambdas",
        default=None,
        metavar="a,b,c",
        help="merge weights, one per final expert, comma-separated; normalized to sum 1 "
        "(default: the run's final merged model)",
    )
    p.add_argument(
        "--weights",
        default=None,
        metavar="a,b,c",
        help="RiC runs only: preference weights, one per objective, comma-separated (normalized); "
        "the prompt asks for the desired scores they map to (default: the run's weights)",
    )
    p.add_argument(
        "--starting-model",
        action="store_true",
        help="sample the model the run started from (before fine-tuning), with the run's sampling "
        "settings and oracle scale: the baseline for what the fine-tuning changed (default: the final policy)",
    )
    p.add_argument("--seed", type=int, default=0, help="sampling seed (default: 0)")
    p.add_argument(
        "--out",
        default=None,
        metavar="FILE",
        help=f"write to FILE; format by extension: {', '.join(FORMATS)}; csv/jsonl/fasta/sdf are "
        "scored with the run's oracle objectives (default: print to stdout)",
    )
    p.set_defaults(func=run)
    return p


def run(args) -> int:
    from irs import runs

    r = get_run(args)
    fmt = None
    if args.out is not None:
        fmt = FORMATS.get(Path(args.out).suffix.lower())
        if fmt is None:
            raise ValueError(f"--out {args.out!r}: unknown extension; use one of {', '.join(FORMATS)}")
    from irs.config import MAX_SAMPLES

    if not 1 <= args.n <= MAX_SAMPLES:  # before --out is checked or a model is loaded
        raise ValueError(f"--n must be between 1 and {MAX_SAMPLES:,} (memory), got {args.n}")
    if args.out is not None:
        from irs.io import check_output_path

        check_output_path(args.out)  # before sampling: a bad --out fails at once and changes nothing
    if fmt in (None, "txt"):
        texts, _, _ = runs.sample_run(
            r, args.n, args.lambdas, seed=args.seed, weights=args.weights, starting=args.starting_model
        )
        if fmt is None:
            sys.stdout.write("".join(t + "\n" for t in texts))
            return 0
        from irs.io import atomic_write_text

        atomic_write_text(args.out, "".join(t + "\n" for t in texts))
        n = len(texts)
    else:
        from irs.export import export

        df = runs.sample_candidates(
            r, args.n, args.lambdas, seed=args.seed, weights=args.weights, starting=args.starting_model
        )
        n = export(df, fmt, args.out, domain=r.config().domain, run_id=r.id)
    print(f"wrote {n} samples to {args.out}", file=sys.stderr)
    return 0
