"""`irs bench --suite pmo`: the PMO benchmark's 20 RDKit tasks × methods × seeds under a budget of oracle
calls, resumable after a kill, reported as PMO reports (AUC top-10 from each run's call log alone).

Methods (each under the same base config, examples/bench-pmo.toml, fixed before any result was seen):
- iterative_rs: preset pmo:<task>, one expert per component, merged every m steps;
- morlhf:       preset pmo:<task>, one policy on the weighted sum of the components;
- rl_score:     preset pmo:<task>:score, plain RL (one policy) on the task's own score;
- null:         iterative_rs with each batch's rewards shuffled (rl.null_control): the same samples,
                updates and calls with no information in the reward. What it reaches is what sampling
                MolGPT-2 (and drifting) finds by itself; a method is worth its cost only above it.
A task that is a single component (rediscovery, similarity, QED) gives the first three the same reward
and the same random streams, so the same run: it runs once, as iterative_rs, and the report says so.

Order is seed-major, then task (PMO's order), then method, so a bench cut short compares every method on
its first tasks. Each run is a normal run in the bench's run store (`irs status` shows it).
"""

from __future__ import annotations

import copy
import gzip
import logging
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from irs.bench.manifest import Manifest, _now, _spans_total
from irs.bench.plan import _config_key
from irs.bench.runner import run_all
from irs.config import RunConfig
from irs.domains.molecules import pmo
from irs.io import atomic_write_json, atomic_write_text

log = logging.getLogger(__name__)

METHODS = ("iterative_rs", "null", "morlhf", "rl_score")
DISPLAY = {
    "iterative_rs": "IterativeRS",
    "null": "null control (IterativeRS, shuffled rewards)",
    "morlhf": "MORLHF",
    "rl_score": "RL on the score",
}
SAME_AS_IRS = ("morlhf", "rl_score")  # on a single-component task
ORDER = tuple(pmo.PUBLISHED["REINVENT"])  # the (PMO's) order: QED first


@dataclass
class PMOSpec:
    config: str = "examples/bench-pmo.toml"
    tasks: tuple[str, ...] = ORDER
    methods: tuple[str, ...] = METHODS
    seeds: int = 3
    bench_dir: str | None = None
    out_dir: str = "docs/results"
    report_only: bool = False
    inline: bool = False
    report: str = "pmo"  # OUT/<report>.md, .json and the call logs under OUT/<report>/
    parallel: int = 1  # runs kept in flight (the run queue's limit still applies: `irs queue`)
    command: str = ""


def single_component(task: str) -> bool:
    return len(pmo.components(task)) == 1


def shared_method(task: str, method: str) -> str:
    """The method whose run stands for `method` on `task`: single-component tasks share IterativeRS's."""
    return "iterative_rs" if single_component(task) and method in SAME_AS_IRS else method


def run_key(task: str, method: str, seed: int) -> str:
    """The manifest key of a run; single-component tasks share one run across the methods."""
    return f"{task}/{shared_method(task, method)}/{seed}"


def task_config(base: RunConfig, task: str, method: str, seed: int) -> RunConfig:
    cfg = copy.deepcopy(base)
    cfg.preset = f"pmo:{task}:score" if method == "rl_score" else f"pmo:{task}"
    cfg.method = {"rl_score": "morlhf", "null": "iterative_rs"}.get(method, method)
    cfg.rl.null_control = method == "null"
    cfg.seed = seed
    cfg.objectives = []  # every component, equal weights (the tasks' own weights are equal)
    cfg.notes = []  # the base config's own notes (validated against the domain's default preset) do not apply
    cfg.name = f"pmo-{task}-{method}-{seed}".replace("_", "-")
    return cfg


def check_spec(spec: PMOSpec) -> None:
    for t in spec.tasks:
        if t not in pmo.ALL_TASKS:
            raise pmo.unknown_task(t)
    for m in spec.methods:
        if m not in METHODS:
            raise ValueError(f"unknown PMO method {m!r}; known: {', '.join(METHODS)}")
    if spec.seeds < 1:
        raise ValueError(f"--seeds {spec.seeds}: need at least 1")
    if spec.parallel < 1:
        raise ValueError(f"--parallel {spec.parallel}: need at least 1")


def plan(spec: PMOSpec, base: RunConfig) -> list[tuple[str, str, int]]:
    """(task, method, seed) of every distinct run, seed-major, then task, then method."""
    out, seen = [], set()
    for s in range(base.seed, base.seed + spec.seeds):
        for t in spec.tasks:
            for m in spec.methods:
                k = run_key(t, m, s)
                if k not in seen:
                    seen.add(k)
                    out.append((t, m, s))
    return out


def run_pmo(spec: PMOSpec) -> dict:
    """Run (or resume) the suite, then write the report; returns {"md", "json", "rows"}."""
    from irs.runs import RunStore, load_config

    check_spec(spec)
    base = load_config(spec.config)
    if not base.oracle_budget:
        raise ValueError(f"{spec.config}: a PMO bench needs oracle_budget (PMO: 10000)")
    bench_dir = Path(spec.bench_dir or Path("runs") / "bench" / "pmo")
    bench_dir.mkdir(parents=True, exist_ok=True)
    store = RunStore(bench_dir / "runs")
    man = Manifest(bench_dir / "manifest.json", {"suite": "pmo", "config": _config_key(base)})
    if not spec.report_only:
        session = man.start_session(spec.command)
        try:
            _run_plan(spec, base, store, man, session)
        finally:
            session[1] = _now()
            man.save()
    return write_report(spec, base, man, store)


def _run_plan(spec: PMOSpec, base: RunConfig, store, man: Manifest, session: list) -> None:
    """Every planned run to `done`, up to spec.parallel at once, started in plan order; a run whose call
    log is archived under the report (same base config) is not run again."""
    done = archived(spec, base)
    items = [(run_key(t, m, s), task_config(base, t, m, s)) for t, m, s in plan(spec, base)]
    items = [(k, c) for k, c in items if k not in done or man.data["runs"].get(k, {}).get("state") == "done"]
    run_all(store, man, items, spec.inline, spec.parallel, session)


def _committed(spec: PMOSpec, base: RunConfig) -> dict:
    """The committed report (OUT/<report>.json) when it was made from this base config, else {}."""
    js = Path(spec.out_dir) / f"{spec.report}.json"
    if not js.exists():
        return {}
    import json

    try:
        data = json.loads(js.read_text())
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
    except ValueError as e:  # json.JSONDecodeError included; nothing is written or rerun
        raise ValueError(
            f"{js} is damaged ({e}): restore it (git checkout -- {js}) or move it away to rerun every task"
        ) from None
    if data.get("config_key") != _config_key(base):
        log.info("%s was made from another base config: its runs are not reused", js)
        return {}
    return data


def archived(spec: PMOSpec, base: RunConfig) -> dict[str, dict]:
    """Rows of the committed report by run key, when it was made from this base config and its call log
    is there: the record that outlives the run store (runs/ is not committed, so a later session or
    machine continues the bench from them instead of rerunning it)."""
    out = {}
    for r in _committed(spec, base).get("rows", []):
        path = Path(spec.out_dir) / spec.report / f"{r['task']}-{r['method']}-{r['seed']}.csv.gz"
        if path.exists():
            out[run_key(r["task"], r["method"], r["seed"])] = {**r, "log": str(path)}
    return out


# ---- the report ----------------------------------------------------------------------------------------
def collect(spec: PMOSpec, base: RunConfig, man: Manifest, store) -> list[dict]:
    """One row per finished run: task, method, seed, AUC top-10 (from its call log), calls, wall time."""
    from irs.objectives.budget import LOG_FILE
    from irs.runs import RunNotFound

    rows = []
    done = archived(spec, base)
    for t, m, s in plan(spec, base):
        e = man.data["runs"].get(run_key(t, m, s), {})
        if e.get("state") != "done":
            if run_key(t, m, s) in done:  # finished in an earlier run store: its committed call log
                a = done[run_key(t, m, s)]
                _, scores = pmo.read_call_log(a["log"])
                rows.append(
                    {
                        **a,
                        "method": m,
                        "auc_top10": pmo.top_auc(scores, base.oracle_budget),
                        "top10": float(np.mean(np.sort(scores)[::-1][:10])) if len(scores) else 0.0,
                        "calls": int(len(scores)),
                    }
                )
            continue
        try:
            run = store.get(e["run_id"])
        except RunNotFound:
            continue
        path = run.path / LOG_FILE
        _, scores = pmo.read_call_log(path)
        rows.append(
            {
                "task": t,
                "method": m,
                "seed": s,
                "auc_top10": pmo.top_auc(scores, base.oracle_budget),
                "top10": float(np.mean(np.sort(scores)[::-1][:10])) if len(scores) else 0.0,
                "calls": int(len(scores)),
                "seconds": round(_spans_total(e.get("spans", [])), 1),
                "run_id": run.id,
                "log": str(path),
            }
        )
    return rows


def _mean_std(v: list[float]) -> tuple[float, float]:
    return float(np.mean(v)), float(np.std(v, ddof=1)) if len(v) > 1 else 0.0


def seed_sums(rows: list[dict], tasks, methods) -> dict[int, dict[str, float]]:
    """Each method's AUC sum over `tasks`, per seed, for the seeds whose every run finished."""
    auc = {(r["task"], r["method"], r["seed"]): r["auc_top10"] for r in rows}
    out = {}
    for s in sorted({r["seed"] for r in rows}):
        keys = {m: [(t, shared_method(t, m), s) for t in tasks] for m in methods}
        if all(k in auc for ks in keys.values() for k in ks):
            out[s] = {m: sum(auc[k] for k in ks) for m, ks in keys.items()}
    return out


def seed_sums_line(by_seed: dict[int, dict[str, float]]) -> str:
    """The report's line on the sums per seed and, over two or more seeds, their standard error."""
    short = {m: DISPLAY[m].split(" (")[0] for m in next(iter(by_seed.values()))}
    per = "; ".join(f"seed {s}: " + ", ".join(f"{short[m]} {v:.2f}" for m, v in d.items()) for s, d in by_seed.items())
    line = f"Sums per seed, over the seeds whose every run finished: {per}."
    if len(by_seed) > 1:
        a = np.array([list(d.values()) for d in by_seed.values()])
        se = a.std(axis=0, ddof=1) / np.sqrt(len(a))
        line += f" Mean ± standard error over those {len(a)} seeds: "
        line += ", ".join(f"{n} {mu:.2f} ± {e:.2f}" for n, mu, e in zip(short.values(), a.mean(axis=0), se)) + "."
    return line


def write_report(spec: PMOSpec, base: RunConfig, man: Manifest, store) -> dict:
    rows = collect(spec, base, man, store)
    out = Path(spec.out_dir)
    logs = out / spec.report
    logs.mkdir(parents=True, exist_ok=True)
    for r in rows:  # the call logs the figures come from, compressed
        dst = logs / f"{r['task']}-{r['method']}-{r['seed']}.csv.gz"
        if Path(r["log"]).resolve() == dst.resolve():  # archived already
            continue
        with open(r["log"], "rb") as f, open(dst.with_suffix(".tmp"), "wb") as raw:
            with gzip.GzipFile(dst.stem, "wb", fileobj=raw, mtime=0) as g:  # mtime 0: same log, same bytes
                shutil.copyfileobj(f, g)
        dst.with_suffix(".tmp").replace(dst)
        r["log"] = str(dst)
    by = {}
    for r in rows:
        by.setdefault((r["task"], r["method"]), []).append(r)
    commands = list(_committed(spec, base).get("commands") or [])  # earlier run stores', then this one's
    commands += [c for c in man.data.get("commands") or [] if c not in commands]
    lines = [
        "# PMO benchmark: AUC top-10 under 10,000 oracle calls",
        "",
        f"Budget {base.oracle_budget:,} calls per run; AUC top-10 from each run's `oracle_calls.csv` alone "
        f"(`irs.domains.molecules.pmo.top_auc`, PMO's definition); mean ± std over the seeds that finished "
        f"(n in brackets). Base config `{spec.config}`; settings fixed before any result (docs/pmo.md).",
        "",
        "| task | "
        + " | ".join(DISPLAY[m] for m in spec.methods)
        + " | "
        + " | ".join(f"{k} (published)" for k in pmo.PUBLISHED)
        + " | wall s / run |",
        "|---|" + "---|" * (len(spec.methods) + len(pmo.PUBLISHED) + 1),
    ]
    means: dict[tuple[str, str], float] = {}
    for t in spec.tasks:
        cells, secs = [], []
        for m in spec.methods:
            rs = by.get((t, shared_method(t, m)), [])
            if not rs:
                cells.append("—")
                continue
            mu, sd = _mean_std([r["auc_top10"] for r in rs])
            means[(t, m)] = mu
            secs += [r["seconds"] for r in rs]
            same = " ¹" if shared_method(t, m) != m else ""
            spread = f" ± {sd:.3f}" if len(rs) > 1 else ""
            cells.append(f"{mu:.3f}{spread} ({len(rs)}){same}")
        wall = f"{np.mean(secs):.0f}" if secs else "—"
        refs = [f"{pub[t]:.3f}" if t in pub else "— (not a PMO task)" for pub in pmo.PUBLISHED.values()]
        lines.append(f"| {t} | " + " | ".join(cells + refs) + f" | {wall} |")
    # sums only over tasks every method has: a partial bench compares like with like
    common = [t for t in spec.tasks if all((t, m) in means for m in spec.methods)]
    sums = {m: sum(means[(t, m)] for t in common) for m in spec.methods}
    ref_sums = [sum(pub.get(t, float("nan")) for t in common) for pub in pmo.PUBLISHED.values()]
    label = "sum" if len(common) == len(pmo.TASKS) else f"sum over the {len(common)} tasks every method has"
    lines.append(f"| **{label}** | " + " | ".join(f"**{v:.2f}**" for v in [*sums.values(), *ref_sums]) + " | |")
    by_seed = seed_sums(rows, spec.tasks, spec.methods)
    if by_seed:
        lines += ["", seed_sums_line(by_seed)]
    lines += [
        "",
        "¹ A single-component task gives IterativeRS, MORLHF and RL on the score the same reward and random "
        "streams: one run, shown in each of their columns.",
        "",
        "Published sums over these 20 tasks: "
        + ", ".join(f"{k} {v:.2f}" for k, v in pmo.PUBLISHED_SUMS.items())
        + " (Gao et al. 2022).",
        "",
        "Command: `" + ("`, then `".join(commands or [spec.command or "irs bench --suite pmo"])) + "`",
        "",
    ]
    md = out / f"{spec.report}.md"
    atomic_write_text(md, "\n".join(lines))
    js = out / f"{spec.report}.json"
    atomic_write_json(
        js,
        {
            "budget": base.oracle_budget,
            "config": spec.config,
            "config_key": _config_key(base),
            "commands": commands,
            "rows": rows,
            "common_tasks": common,
            "sums": sums,
            "seed_sums": {str(k): v for k, v in by_seed.items()},
        },
    )
    return {"md": str(md), "json": str(js), "rows": rows}
