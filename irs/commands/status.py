"""`irs status [RUN]`: list runs, or show one run's status."""

from __future__ import annotations

from irs.commands._common import add_runs_dir, get_run, print_json, store

FIELDS = (
    "run_id",
    "state",
    "phase",
    "queue_position",
    "step",
    "total_steps",
    "sampled",
    "scored",
    "method",
    "domain",
    "name",
    "pid",
    "host",
    "created",
    "started",
    "heartbeat",
    "finished",
    "last_checkpoint",
    "error",
    "notes",
)


def add_parser(sub):
    p = sub.add_parser(
        "status",
        help="list runs or show one",
        description="Without RUN, list every run in the runs folder; with RUN, show its status. "
        "A run whose worker died is shown as failed, with how to resume it.",
    )
    p.add_argument("run", metavar="RUN", nargs="?", default=None, help="run id (default: list all runs)")
    add_runs_dir(p)
    p.add_argument("--json", action="store_true", help="print JSON: one object for RUN, or a list (default: text)")
    p.set_defaults(func=run)
    return p


def _safe_status(r) -> dict:
    from irs.runs import RunError

    try:
        return {**r.status(), "run_id": r.id}
    except RunError as e:
        return {"run_id": r.id, "state": "unreadable", "error": str(e)}


def run(args) -> int:
    if args.run is not None:
        r = get_run(args)
        st = {**r.status(), "run_id": r.id, "dir": str(r.path)}
        if args.json:
            print_json(st)
        else:
            for k in FIELDS + ("dir",):
                if st.get(k) not in (None, [], ""):
                    print(f"{k:16s} {st[k]}")
            from irs.objectives.budget import budget_text

            if budget_text(st):
                print(f"{'budget':16s} {budget_text(st)}")
            from irs.runs import run_calibration

            cal = run_calibration(r)
            for scale in ("train", "eval") if cal else ():
                for name, c in cal[scale].items():
                    src = (
                        f"starting model's 5-95 %: {c['q_lo']:.4g} .. {c['q_hi']:.4g}"
                        if c.get("q_lo") is not None
                        else c.get("fallback", "data statistics")
                    )
                    print(
                        f"{'scale ' + scale:16s} {name}: raw {c['lo']:.4g} -> reward 0, {c['hi']:.4g} -> reward 1 ({src})"
                    )
        return 0
    sts = [_safe_status(r) for r in store(args).list()]
    if args.json:
        print_json(sts)
        return 0
    if not sts:
        print(f"no runs in {store(args).root}")
        return 0
    from irs.runs.queue import queue_summary

    q = queue_summary(store(args))
    waiting = {r: i for i, r in enumerate(q["waiting"], 1)}
    w = max(len(s["run_id"]) for s in sts)
    print(f"{'RUN':{w}s}  {'STATE':11s}  {'STEP':>9s}  {'METHOD':14s}  {'DOMAIN':9s}  UPDATED")
    for s in sts:
        step = f"{s.get('step', '?')}/{s.get('total_steps', '?')}"
        state = f"queued #{waiting[s['run_id']]}" if s["run_id"] in waiting and s["state"] == "queued" else s["state"]
        print(
            f"{s['run_id']:{w}s}  {state:11s}  {step:>9s}  {str(s.get('method', '')):14s}  "
            f"{str(s.get('domain', '')):9s}  {s.get('updated', '')}"
        )
    print(
        f"queue: {q['running']} training of at most {q['max_runs']} at once ({q['source']}), "
        f"{len(q['waiting'])} waiting (`irs queue`)"
    )
    return 0
