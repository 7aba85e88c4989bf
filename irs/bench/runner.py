"""Running a bench: one run at a time through the run store, resumable after a kill (see irs.bench)."""

from __future__ import annotations

import logging
import time
from pathlib import Path

from irs import env
from irs.bench.manifest import Manifest, _now
from irs.bench.plan import BenchSpec, _config_key, budget_config, parse_methods, parse_sweep, variants
from irs.bench.report import write_report
from irs.config import RunConfig, validate
from irs.io import check_name

log = logging.getLogger(__name__)


# ---- running ----------------------------------------------------------------------------------------
def _run_one(store, man: Manifest, key: str, cfg: RunConfig, inline: bool) -> str:
    """Make sure the run of `key` is done (create, wait, or resume it); returns its run id."""
    run = start_one(store, man, key, cfg, inline)
    if run is None:
        return man.entry(key)["run_id"]
    if not inline:
        _wait(run)  # (or a live worker from before the bench restarted)
    return end_one(man, key, run)


def start_one(store, man: Manifest, key: str, cfg: RunConfig, inline: bool = False):
    """Create, resume or find the run of `key` and set it going (inline: run it to the end here). None
    when it is done already; else the Run, with an open wall-time span in the manifest."""
    from irs.runs import RunNotFound, resume_run, spawn_worker
    from irs.runs.store import FINISHED, parse_iso

    e = man.entry(key)
    run = None
    if e.get("run_id"):
        try:
            run = store.get(e["run_id"])
        except RunNotFound:
            log.warning("bench: run %s of %s is gone; starting it again", e["run_id"], key)
            e.clear()
    spans = e.setdefault("spans", [])
    if run is not None and spans and spans[-1][1] is None:  # a killed bench left this span open
        st = run.read_status()
        if st["state"] in FINISHED or run.status()["state"] in FINISHED:
            end = parse_iso(st.get("finished") or st.get("heartbeat") or st.get("updated")) or _now()
            spans[-1][1] = max(spans[-1][0], end)
    if run is not None and run.status()["state"] == "done":
        e["state"] = "done"
        man.save()
        return None
    if run is None:
        run = store.create(cfg)
        e.update(run_id=run.id, label=key.rsplit("/", 1)[0], state="created")
    st = run.status()["state"]  # effective: a dead worker's run reads as failed
    if not spans or spans[-1][1] is not None:
        spans.append([_now(), None])
    man.save()
    log.info("bench: %s -> run %s (%s)", key, run.id, st)
    if inline:
        from irs.runs.worker import execute

        execute(run.path, threads=env.threads())
    elif st == "queued" and run.read_status().get("pid") is None:
        spawn_worker(run)  # created, never started
    elif st in ("failed", "cancelled"):
        resume_run(run)  # from its last checkpoint
    return run


def run_all(store, man: Manifest, items, inline: bool = False, parallel: int = 1, session: list | None = None) -> None:
    """Every (key, cfg) of `items` to `done`, up to `parallel` at once, started in order (the run queue's
    limit still applies). A run that ends other than done stops the bench once the runs in flight have
    finished (rerun it to resume). session: the manifest's session span, closed after each run."""

    def saved():
        if session is not None:
            session[1] = _now()
        man.save()

    items = list(items)
    if inline or parallel <= 1:
        for key, cfg in items:
            _run_one(store, man, key, cfg, inline)
            saved()
        return
    from irs.runs.store import FINISHED

    flying: dict[str, object] = {}
    failure = None
    while items or flying:
        while items and len(flying) < parallel and failure is None:
            key, cfg = items.pop(0)
            run = start_one(store, man, key, cfg)
            if run is not None:
                flying[key] = run
        if failure is not None and not flying:
            raise failure
        if not flying:
            continue
        time.sleep(2.0)
        for key, run in list(flying.items()):
            if run.status()["state"] in FINISHED:
                del flying[key]
                try:
                    end_one(man, key, run)
                except RuntimeError as e:
                    failure = failure or e
                saved()
        if failure is not None and not flying:
            raise failure


def end_one(man: Manifest, key: str, run) -> str:
    """Close the run's span and record its state; RuntimeError unless it is done."""
    e = man.entry(key)
    final = run.status()
    e["spans"][-1][1] = _now()
    e["state"] = final["state"]
    man.save()
    if final["state"] != "done":
        raise RuntimeError(
            f"bench: run {run.id} ({key}) ended {final['state']}: {final.get('error')}; "
            f"see {run.log_path}; rerun the bench to resume it"
        )
    return run.id


def _wait(run) -> None:
    from irs.runs import wait_run

    last = {"t": 0.0}

    def show(st):
        if time.monotonic() - last["t"] > 30:
            log.info(
                "bench: %s %s %s step %s/%s",
                run.id,
                st["state"],
                st.get("phase"),
                st.get("step"),
                st.get("total_steps"),
            )
            last["t"] = time.monotonic()

    wait_run(run, show, poll=1.0)


# ---- the bench --------------------------------------------------------------------------------------
def load_base(spec: BenchSpec) -> tuple[RunConfig, str]:
    from irs.domains import get_domain
    from irs.runs import load_config

    base = load_config(spec.config)
    validate(base, [o.name for o in get_domain(base.domain).objectives(base.preset or None)])
    task = check_name(spec.task or base.name, "task name")
    return base, task


def run_bench(spec: BenchSpec) -> dict:
    """Run (or resume) the bench, then write the report. Returns {"md", "csv", "pngs", "rows"}."""
    from irs.runs import RunStore

    base, task = load_base(spec)
    methods = parse_methods(spec.methods)
    T = base.merge.total_steps
    sweep = parse_sweep(spec.sweep_m, T)
    if spec.seeds < 1:
        raise ValueError(f"--seeds {spec.seeds}: need at least 1")
    if spec.algo not in (None, "ppo", "rloo"):
        raise ValueError(f"--algo {spec.algo!r}: use ppo or rloo")
    if spec.K is not None and spec.K < 1:
        raise ValueError(f"--K {spec.K}: need at least 1")
    if spec.parallel < 1:
        raise ValueError(f"--parallel {spec.parallel}: need at least 1")
    seeds = [base.seed + i for i in range(spec.seeds)]
    vs = variants(methods, sweep, base.merge.merge_every, T, spec.null_control)
    bench_dir = Path(spec.bench_dir or Path("runs") / "bench" / task)
    bench_dir.mkdir(parents=True, exist_ok=True)
    store = RunStore(spec.runs_dir or bench_dir / "runs")
    header = {
        "task": task,
        "config": _config_key(base),
        "algo": spec.algo,
        "K": spec.K,  # what a run depends on
        "normalization": base.rl.normalization,
    }
    man = Manifest(bench_dir / "manifest.json", header)
    n_sweep = spec.sweep_seeds if spec.sweep_seeds is not None else spec.seeds
    if not 1 <= n_sweep <= spec.seeds:
        raise ValueError(f"--sweep-seeds {n_sweep}: must be between 1 and --seeds {spec.seeds}")
    # seed-major: every method gets seed 0 before any gets seed 1, so a cut-short bench stays balanced
    plan = [(v, s) for s in seeds for v in vs if not v.sweep or s in seeds[:n_sweep]]
    session = man.start_session(spec.command) if not spec.report_only else [_now(), None]
    try:
        if not spec.report_only:
            items = [(f"{v.label}/{s}", budget_config(base, v, s, task, spec.algo, spec.K)) for v, s in plan]
            run_all(store, man, items, spec.inline, spec.parallel, session)
    finally:
        if not spec.report_only:
            session[1] = _now()
            man.save()
    return write_report(
        spec, base, task, vs, seeds, man, store, bench_dir, session=None if spec.report_only else session
    )
