"""`irs run CONFIG.toml`: create a run and start its worker; wait with a progress bar or --detach."""

from __future__ import annotations

import sys

from irs.commands._common import add_runs_dir, follow


def add_parser(sub):
    p = sub.add_parser(
        "run",
        help="start a run from a TOML config",
        description="Create a run directory from CONFIG and start its worker as a detached "
        "process. Without --detach, show progress and wait; Ctrl-C stops "
        "waiting but not the run. The run id is the last line of stdout.",
    )
    p.add_argument("config", metavar="CONFIG.toml", help="run configuration (see examples/)")
    add_runs_dir(p)
    p.add_argument("--detach", action="store_true", help="return right after starting (default: wait)")
    p.add_argument(
        "--nproc",
        type=int,
        default=None,
        help="torch.distributed ranks via torchrun, one expert per rank (default: the config's nproc, 1)",
    )
    p.set_defaults(func=run)
    return p


def run(args) -> int:
    from irs.runs import load_config, start_run

    cfg = load_config(args.config)
    if args.nproc is not None:
        if args.nproc < 1:
            raise ValueError(f"--nproc must be >= 1, got {args.nproc}")
        cfg.nproc = args.nproc
    r = start_run(cfg, args.runs_dir)
    print(
        f"started run {r.id} in {r.path} (worker pid {getattr(r.proc, 'pid', '?')}; log {r.log_path})", file=sys.stderr
    )
    if args.detach:
        print(r.id)
        return 0
    return follow(r)
