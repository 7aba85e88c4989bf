"""`irs cancel RUN`: stop a run at the next step boundary (checkpointed, so it can be resumed)."""

from __future__ import annotations

from irs.commands._common import add_runs_dir, get_run


def add_parser(sub):
    p = sub.add_parser(
        "cancel",
        help="cancel a queued or running run",
        description="Set the run's cancel flag; the worker checkpoints and exits at the next "
        "step boundary. If it has not stopped after --timeout seconds, its process "
        "group gets SIGTERM, then SIGKILL.",
    )
    p.add_argument("run", metavar="RUN", help="run id (see `irs status`)")
    add_runs_dir(p)
    p.add_argument(
        "--timeout",
        type=float,
        default=60.0,
        help="seconds to wait for the worker to stop by itself before signalling it (default: 60)",
    )
    p.add_argument("--no-wait", action="store_true", help="only set the flag and return (default: wait, then signal)")
    p.set_defaults(func=run)
    return p


def run(args) -> int:
    from irs.runs import cancel_run

    if args.timeout < 0:
        raise ValueError(f"--timeout must be >= 0, got {args.timeout}")
    st = cancel_run(get_run(args), timeout=args.timeout, wait=not args.no_wait)
    ck = st.get("last_checkpoint") or "none"
    print(f"{st['run_id']}: {st['state']} at step {st.get('step')}/{st.get('total_steps')} (last checkpoint: {ck})")
    return 0
