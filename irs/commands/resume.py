"""`irs resume RUN`: continue a failed or cancelled run from its last checkpoint."""

from __future__ import annotations

import sys

from irs.commands._common import add_runs_dir, follow, get_run


def add_parser(sub):
    p = sub.add_parser(
        "resume",
        help="continue a failed or cancelled run from its last checkpoint",
        description="Start a new worker for RUN, which continues from the last checkpoint. "
        "Refused for a run that is done or still has a worker.",
    )
    p.add_argument("run", metavar="RUN", help="run id (see `irs status`)")
    add_runs_dir(p)
    p.add_argument("--detach", action="store_true", help="return right after starting (default: wait)")
    p.set_defaults(func=run)
    return p


def run(args) -> int:
    from irs.runs import resume_run

    r = resume_run(get_run(args))
    print(f"resumed run {r.id} (worker pid {getattr(r.proc, 'pid', '?')}; log {r.log_path})", file=sys.stderr)
    if args.detach:
        print(r.id)
        return 0
    return follow(r)
