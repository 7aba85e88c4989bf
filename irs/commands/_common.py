"""Helpers shared by the run subcommands: the --runs-dir flag, following a run, JSON output."""

from __future__ import annotations

import json
import sys
import time

from irs.io import json_clean

RUNS_DIR_HELP = "folder holding the runs (default: $IRS_RUNS_DIR, else ./runs)"


def add_runs_dir(p) -> None:
    p.add_argument("--runs-dir", default=None, metavar="DIR", help=RUNS_DIR_HELP)


def store(args):
    from irs.runs import RunStore

    return RunStore(args.runs_dir)


def get_run(args):
    return store(args).get(args.run)


def print_json(obj) -> None:

    print(json.dumps(json_clean(obj), indent=1, sort_keys=True, allow_nan=False))


def follow(run) -> int:
    """Wait for `run` with a progress bar on stderr; the run id goes to stdout as the last line.
    Ctrl-C stops following, not the run (the worker is in its own session). Exit status: 0 done,
    1 failed or cancelled, 130 interrupted."""
    from tqdm import tqdm

    from irs.runs import wait_run

    bar = tqdm(
        total=None,
        desc=run.id,
        unit="step",
        file=sys.stderr,
        dynamic_ncols=True,
        disable=None if sys.stderr.isatty() else True,
    )
    last = {"line": None, "time": 0.0}

    def show(st):
        if st.get("total_steps") and bar.total != st["total_steps"]:
            bar.total = st["total_steps"]
        step = st.get("step") or 0
        if step != bar.n:
            bar.update(step - bar.n)
        bar.set_postfix_str(f"{st['state']}: {st.get('phase') or ''}")
        line = f"{run.id}: {st['state']} {st.get('phase') or ''} step {st.get('step')}/{st.get('total_steps')}"
        if bar.disable and line != last["line"] and time.monotonic() - last["time"] > 5:
            print(line, file=sys.stderr, flush=True)
            last.update(line=line, time=time.monotonic())

    try:
        st = wait_run(run, show)
    except KeyboardInterrupt:
        bar.close()
        print(f"\nstopped following; the run continues. `irs status {run.id}`, `irs cancel {run.id}`", file=sys.stderr)
        print(run.id)
        return 130
    bar.close()
    if st["state"] == "done":
        print(f"run {run.id} done: {run.path}", file=sys.stderr)
        code = 0
    else:
        print(f"run {run.id} {st['state']}: {st.get('error') or ''} (log: {run.log_path})", file=sys.stderr)
        code = 1
    print(run.id)
    return code
