"""The comparison harness behind `irs bench` (paper Tables 1-3 and Figure 1, Section 4.2's m trade-off).

`run_bench(spec)` runs every method x seed (x optional merge interval m) through the run store, one run
at a time, under one budget rule; evaluates each run's final candidates (scored by the oracle, as every
run's are); and writes a report: `<out>/<task>.md` (the table, mean ± std over seeds, the budget, wall
times, the verdict against MORLHF and RS), `<out>/<task>_runs.csv` (one row per run: every number the
table is computed from) and `<out>/<task>_<a>_<b>.png` (pairwise reward scatters, Figure 1's layout).

Budget rule (applied by `budget_config`, stated in every report)
----------------------------------------------------------------
Every method gets the same T and the same number of *rewarded samples per step*, N x B (N objectives,
B = rl.batch_size of the config):
- iterative_rs, rewarded_soups: N experts x B samples each; each sample is scored on its expert's one
  objective (N x B proxy evaluations per step).
- morlhf: one policy, batch N x B (minibatch scaled alike); each sample is scored on all N objectives
  for the weighted reward (N^2 x B proxy evaluations per step: MORLHF is not starved of reward
  information).
- ric: T SFT steps of N x B labelled sequences; offline SFT makes no reward query; its optional online
  rounds make ric.online_samples x N each. Every run's actual proxy evaluations are counted (from the
  objectives' counters in its last checkpoint) and reported.
The final policies are compared on K candidates each (n_final_samples, or --K), scored by the oracle.

Resumability: `<bench_dir>/manifest.json` maps each (label, seed) to its run id. A restarted bench reuses
finished runs, waits for runs whose worker is still alive (workers are detached processes, so killing
the bench does not kill them), and resumes failed or cancelled ones from their last checkpoint. Wall
times are the spans the bench spent on each run (closed at the run's last heartbeat when the bench was
killed), so they survive restarts.
"""

from __future__ import annotations

import copy
import json
import logging
import math
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from irs import env
from irs.config import METHODS, RunConfig, validate
from irs.io import atomic_write_bytes, atomic_write_json, atomic_write_text, check_name, json_clean
from irs.paths import portable

log = logging.getLogger(__name__)

MAIN_ORDER = ("iterative_rs", "rewarded_soups", "morlhf", "ric")
NULL = "iterative_rs null"
DISPLAY = {
    "iterative_rs": "IterativeRS",
    "rewarded_soups": "RS",
    "morlhf": "MORLHF",
    "ric": "RiC",
    "pretrained": "pretrained (no fine-tuning)",
    NULL: "IterativeRS, null control (shuffled rewards)",
}
REFERENCE = "pretrained"
# The paper's tables (Pareto-set means), keyed by (domain, preset); preset None matches any preset.
PAPER_TABLES = {
    ("molecules", "qm9"): {
        "title": "The paper's Table 1 (PPO, T = 100, m = 4, batch 128, K = 10,000, PAMNet oracle; its per-objective "
        "rewards exceed 1, ours are clipped to [0, 1], so compare orderings, not levels)",
        "columns": ("alpha", "gap", "u0", "avg reward", "ICV"),
        "rows": {
            "MORLHF": (1.4229, 0.9355, 1.5146, 1.2910, 4.1883),
            "RS": (1.4134, 0.9589, 1.5464, 1.3062, 4.2674),
            "RiC": (0.5955, 0.6795, 0.7544, 0.6765, 3.7538),
            "IterativeRS": (1.5893, 0.9508, 1.6649, 1.4017, 3.5854),
        },
    },
    ("dna", "3cell"): {
        "title": "The paper's Table 2 (PPO, T = 200, m = 8, batch 128, K = 10,000, Malinois MPRA oracle; its third "
        "cell line is SK-N-SH, which has no offline data: ours is GM12878, so compare orderings, not levels)",
        "columns": ("K562", "HepG2", "SK-N-SH", "avg reward", "ICV"),
        "rows": {
            "MORLHF": (0.2724, 0.7096, 0.7183, 0.5667, 3.1356),
            "RS": (0.3057, 0.6808, 0.7131, 0.5666, 3.8235),
            "RiC": (0.4221, 0.6615, 0.6688, 0.5842, 2.4672),
            "IterativeRS": (0.3032, 0.7370, 0.7378, 0.5927, 3.8310),
        },
    },
    ("text", None): {
        "title": "The paper's Table 3 (Llama-3.2-3B-Instruct on Reddit posts, T = 160, m = 40; its three reward "
        "models are not available offline, so our columns differ: compare orderings, not levels)",
        "columns": ("faithful", "summary", "deberta", "avg score", "ICV"),
        "rows": {
            "MORLHF": (0.6530, 0.5778, 0.3857, 0.4525, 4.5500),
            "RS": (0.6732, 0.5807, 0.4296, 0.4732, 4.5870),
            "RiC": (0.6497, 0.5688, 0.3455, 0.4518, 3.9579),
            "IterativeRS": (0.6927, 0.5854, 0.4398, 0.4849, 4.9134),
        },
    },
}


def paper_table(domain: str, preset: str | None) -> dict | None:
    """The paper's table for a task, if it has one (preset None: the domain's default preset)."""
    if preset is None:
        from irs.domains import get_domain

        preset = get_domain(domain).default_preset
    return PAPER_TABLES.get((domain, preset)) or PAPER_TABLES.get((domain, None))


def _config_key(cfg: RunConfig) -> dict:
    """What identifies a bench's base config: the fields that differ from RunConfig's defaults (so a
    later version that adds fields with defaults still resumes the bench), with the model path relative
    to the repository (so a moved checkout does too)."""

    def diff(d, ref):
        out = {}
        for k, v in d.items():
            if isinstance(v, dict) and isinstance(ref.get(k), dict):
                sub = diff(v, ref[k])
                if sub:
                    out[k] = sub
            elif k not in ref or ref[k] != v:
                out[k] = v
        return out

    d = cfg.to_dict()
    d["model"] = portable(d.get("model") or "")
    return diff(d, RunConfig().to_dict())


# ---- what to run ------------------------------------------------------------------------------------
@dataclass
class Variant:
    label: str  # "iterative_rs", "morlhf", ..., or "iterative_rs m=2" for the sweep
    method: str
    m: int | None  # merge interval for iterative_rs (None: the method's own)
    sweep: bool = False  # part of the m sweep only
    null: bool = False  # the null control: rewards shuffled within each batch (rl.null_control)


@dataclass
class BenchSpec:
    config: str | os.PathLike
    methods: list[str] = field(default_factory=lambda: list(MAIN_ORDER))
    seeds: int = 3
    sweep_m: list[str] = field(default_factory=list)  # e.g. ["1", "2", "4", "8", "T"]
    sweep_seeds: int | None = None  # seeds of the sweep-only runs (default: seeds)
    algo: str | None = None  # override rl.algo ("ppo" / "rloo")
    K: int | None = None  # override n_final_samples
    task: str | None = None  # report name (default: the config's name)
    bench_dir: str | os.PathLike | None = None  # default runs/bench/<task>
    runs_dir: str | os.PathLike | None = None  # default <bench_dir>/runs
    out_dir: str | os.PathLike = "docs/results"
    inline: bool = False  # run workers in this process (tests)
    report_only: bool = False  # evaluate and report what is finished; start nothing
    reference: bool = True  # add the pretrained model (no fine-tuning) as a row
    null_control: bool = False  # add IterativeRS with shuffled rewards as a row
    command: str = ""  # the command line, for the report


def parse_methods(text: str | Sequence[str]) -> list[str]:
    items = [m.strip() for m in (text.split(",") if isinstance(text, str) else text) if m.strip()]
    bad = [m for m in items if m not in METHODS]
    if not items or bad:
        raise ValueError(f"--methods {text!r}: use a comma-separated subset of {', '.join(METHODS)}")
    return list(dict.fromkeys(items))


def parse_sweep(text: str | Sequence[str] | None, T: int) -> list[int]:
    """'1,2,4,8,T' -> [1, 2, 4, 8, T] (sorted, unique, each in 1..T)."""
    if not text:
        return []
    items = text.split(",") if isinstance(text, str) else [str(x) for x in text]
    out = []
    for x in (s.strip() for s in items if s.strip()):
        try:
            m = T if x.upper() == "T" else int(x)
        except ValueError:
            raise ValueError(f"--sweep-m {text!r}: give integers or T, e.g. 1,2,4,8,T") from None
        if not 1 <= m <= T:
            raise ValueError(f"--sweep-m {text!r}: m = {m} must be between 1 and T = {T}")
        out.append(m)
    return sorted(set(out))


def variants(methods: Sequence[str], sweep: Sequence[int], base_m: int, T: int, null: bool = False) -> list[Variant]:
    out = [Variant(m, m, base_m if m == "iterative_rs" else None) for m in MAIN_ORDER if m in methods]
    if null:
        out.append(Variant(NULL, "iterative_rs", base_m, null=True))
    for m in sweep:
        if m == base_m and "iterative_rs" in methods:
            continue  # the main IterativeRS run is that point of the sweep
        if m == T and "rewarded_soups" in methods:
            continue  # m = T is Rewarded Soups, run under that name (identical schedule)
        out.append(Variant(f"iterative_rs m={m}", "iterative_rs", m, sweep=True))
    return out


def budget_config(
    base: RunConfig, v: Variant, seed: int, task: str, algo: str | None = None, K: int | None = None
) -> RunConfig:
    """The run config of one (variant, seed) under the budget rule of the module docstring."""
    cfg = copy.deepcopy(base)
    cfg.notes = []
    N, B = len(cfg.objectives), base.rl.batch_size
    cfg.method, cfg.seed = v.method, seed
    cfg.name = f"{task}-{v.label.replace(' ', '').replace('=', '')}-s{seed}"
    if algo:
        cfg.rl.algo = algo
    if K:
        cfg.n_final_samples = K
    if v.method == "iterative_rs" and v.m is not None:
        cfg.merge.merge_every = v.m
    cfg.rl.null_control = cfg.rl.null_control or v.null
    if v.method == "morlhf":
        cfg.rl.batch_size = N * B
        cfg.rl.minibatch_size = N * base.rl.minibatch_size
    if v.method == "ric":
        cfg.ric.batch_size = N * B
    return cfg


def samples_per_step(cfg: RunConfig) -> int:
    N = len(cfg.objectives)
    if cfg.method == "morlhf":
        return cfg.rl.batch_size
    if cfg.method == "ric":
        return cfg.ric.batch_size or cfg.rl.batch_size
    M = cfg.merge.subset_size or N
    return M * cfg.rl.batch_size


# ---- manifest ---------------------------------------------------------------------------------------
def _now() -> float:
    return time.time()


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


class Manifest:
    """<bench_dir>/manifest.json, written atomically after every change."""

    def __init__(self, path: Path, header: dict):
        self.path = path
        if path.is_file():
            self.data = json.loads(path.read_text())
            if self.data.get("header", {}).get("fingerprint") != header["fingerprint"]:
                raise ValueError(
                    f"{path} belongs to a different bench (config, algo or K "
                    f"differ); use another --bench-dir or delete it"
                )
        else:
            self.data = {"header": header, "runs": {}, "sessions": []}

    def save(self) -> None:
        atomic_write_json(self.path, self.data)

    def entry(self, key: str) -> dict:
        return self.data["runs"].setdefault(key, {})


def _spans_total(spans) -> float:
    return float(sum(e - s for s, e in spans if e is not None))


# ---- running ----------------------------------------------------------------------------------------
def _run_one(store, man: Manifest, key: str, cfg: RunConfig, inline: bool) -> str:
    """Make sure the run of `key` is done (create, wait, or resume it); returns its run id."""
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
        return run.id
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
    else:
        if st == "queued" and run.read_status().get("pid") is None:
            spawn_worker(run)  # created, never started
        elif st in ("failed", "cancelled"):
            resume_run(run)  # from its last checkpoint
        _wait(run)  # (or a live worker from before the bench restarted)
    final = run.status()
    spans[-1][1] = _now()
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


# ---- evaluation -------------------------------------------------------------------------------------
def _ric_candidates(run, cfg: RunConfig, cache_dir: Path):
    """RiC's candidates must be sampled with its preference prompt. If the worker's candidates are exactly
    what a prompted sampling with the worker's settings gives, use them; otherwise sample with the prompt
    (same K, seed and settings), score with the oracle and cache the table in the bench folder."""
    import pandas as pd
    import torch

    from irs.algorithms.ric import ric_max_new_tokens, ric_prompt
    from irs.candidates import score_candidates
    from irs.checkpoint import load_model_dir
    from irs.config import bf16_flag
    from irs.domains import get_domain
    from irs.rl.sampler import sample
    from irs.runs import load_candidates, oracle_objectives

    cache = cache_dir / f"{run.id}.parquet"
    if cache.is_file():
        return pd.read_parquet(cache), "bench (prompted)"
    model, tok = load_model_dir(run.final_dir)
    prompt = ric_prompt(model, cfg.weights)
    if prompt is None:
        raise RuntimeError(
            f"run {run.id} has method 'ric' but its final model is not a RiC model: the worker "
            f"did not build it with irs.algorithms.make_trainer"
        )
    domain = get_domain(cfg.domain)
    from irs.prompting import eval_contexts, prompt_texts

    ctx = eval_contexts(domain, cfg.n_final_samples)  # prompt domains: the prefix goes before each document
    r = cfg.rl
    s = sample(
        model.eval(),
        tok,
        cfg.n_final_samples,
        max_new_tokens=ric_max_new_tokens(model, cfg, domain),
        temperature=r.temperature,
        top_k=r.top_k,
        top_p=r.top_p,
        bf16=bf16_flag(r),
        prompt=prompt if ctx is None else prompt_texts(ctx, prompt),
        generator=torch.Generator().manual_seed(cfg.seed),
    )
    df = load_candidates(run)
    if list(df["candidate"]) == list(s.texts):
        return df, "worker"
    log.info(
        "bench: run %s: the worker's candidates were not sampled with the RiC prompt; sampling %d with "
        "prompt %s and scoring them with the oracle",
        run.id,
        len(s.texts),
        prompt,
    )
    df = score_candidates(s.texts, domain, oracle_objectives(domain, cfg), set_name="final", contexts=ctx)
    cache_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(cache, df.to_parquet(index=False))
    return df, "bench (prompted)"


def reference_eval(base: RunConfig, seed: int, cache_dir: Path) -> dict:
    """The starting point every method fine-tunes: K samples of the base model (run seed, run sampling
    settings), scored by the oracle. Not a run and not in the verdict: it shows what the methods added."""
    import pandas as pd
    import torch

    from irs.candidates import score_candidates
    from irs.config import bf16_flag
    from irs.domains import get_domain
    from irs.rl.policy import starting_model
    from irs.rl.sampler import sample
    from irs.runs import oracle_objectives

    cfg = _validated(copy.deepcopy(base))
    domain = get_domain(cfg.domain)
    cache = cache_dir / f"{REFERENCE}-s{seed}.parquet"
    if cache.is_file():
        df = pd.read_parquet(cache)
    else:
        model, tok = starting_model(cfg, domain, seed)
        from irs.prompting import eval_contexts, prompt_texts

        r = cfg.rl
        ctx = eval_contexts(domain, cfg.n_final_samples)  # prompt domains: the test documents, as the worker
        s = sample(
            model.eval(),
            tok,
            cfg.n_final_samples,
            max_new_tokens=r.max_new_tokens or domain.max_new_tokens,
            temperature=r.temperature,
            top_k=r.top_k,
            top_p=r.top_p,
            bf16=bf16_flag(r),
            generator=torch.Generator().manual_seed(seed),
            prompt=prompt_texts(ctx),
        )
        df = score_candidates(s.texts, domain, oracle_objectives(domain, cfg), set_name="pretrained", contexts=ctx)
        cache_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(cache, df.to_parquet(index=False))
    return _table_eval(df, "bench (base model)", proxy_queries=0, train_s=0.0)


def _table_eval(df, source: str, proxy_queries, train_s) -> dict:
    from irs.candidates import evaluate_table, objective_names

    names = objective_names(df)
    ev = evaluate_table(df, names)
    valid = df["valid"].to_numpy(bool)
    uniq = valid & ~df["duplicate"].to_numpy(bool)
    R = df[[f"reward_{n}" for n in names]].to_numpy(np.float64)[uniq]
    R = R[np.isfinite(R).all(1)]
    ev["valid_frac"] = float(valid.mean()) if len(df) else math.nan
    ev["all_avg_reward"] = float(R.mean()) if len(R) else math.nan
    ev["proxy_queries"] = proxy_queries
    ev["train_s"] = train_s
    ev["candidates_from"] = source
    return ev


def _validated(cfg: RunConfig) -> RunConfig:
    """A run's config with its objectives filled in (a config may leave them to the preset)."""
    from irs.domains import get_domain

    return validate(cfg, [o.name for o in get_domain(cfg.domain).objectives(cfg.preset or None)])


def _proxy_queries(run) -> int | None:
    """Proxy evaluations the run made (objective counters in its last checkpoint)."""
    ck = run.latest_checkpoint()
    if ck is None:
        return None
    st = json.loads((run.checkpoints_dir / ck["dir"] / "state.json").read_text())
    counts = st.get("objective_counts")
    return int(sum(n for n, _ in counts)) if counts else 0


def evaluate_run_row(run, cfg: RunConfig, cache_dir: Path) -> tuple[dict, object]:
    """(numbers of one run, its candidate table)."""
    from irs.runs import load_candidates

    cfg = _validated(cfg)
    if cfg.method == "ric":
        df, source = _ric_candidates(run, cfg, cache_dir)
    else:
        df, source = load_candidates(run), "worker"
    steps = [r for r in run.metrics() if r.get("type") == "step"]
    ev = _table_eval(df, source, _proxy_queries(run), float(sum(r.get("seconds") or 0.0 for r in steps)))
    return ev, df


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
    header["fingerprint"] = json.dumps(header, sort_keys=True, default=str)
    man = Manifest(bench_dir / "manifest.json", header)
    n_sweep = spec.sweep_seeds if spec.sweep_seeds is not None else spec.seeds
    if not 1 <= n_sweep <= spec.seeds:
        raise ValueError(f"--sweep-seeds {n_sweep}: must be between 1 and --seeds {spec.seeds}")
    # seed-major: every method gets seed 0 before any gets seed 1, so a cut-short bench stays balanced
    plan = [(v, s) for s in seeds for v in vs if not v.sweep or s in seeds[:n_sweep]]
    session = [_now(), None]
    if not spec.report_only:
        man.data["sessions"].append(session)
        cmds = man.data.setdefault("commands", [])
        if spec.command and spec.command not in cmds:
            cmds.append(spec.command)
        man.save()
    try:
        for v, s in plan:
            key = f"{v.label}/{s}"
            cfg = budget_config(base, v, s, task, spec.algo, spec.K)
            if spec.report_only:
                continue
            _run_one(store, man, key, cfg, spec.inline)
            session[1] = _now()
            man.save()
    finally:
        if not spec.report_only:
            session[1] = _now()
            man.save()
    return write_report(
        spec, base, task, vs, seeds, man, store, bench_dir, session=None if spec.report_only else session
    )


# ---- the report -------------------------------------------------------------------------------------
def _fmt(m: float, s: float | None = None, d: int = 4) -> str:
    if m is None or (isinstance(m, float) and math.isnan(m)):
        return "n/a"
    return f"{m:.{d}f}" if s is None else f"{m:.{d}f} ± {s:.{d}f}"


def _stats(xs) -> tuple[float, float]:
    a = np.asarray([x for x in xs if x is not None], dtype=np.float64)
    if a.size == 0:
        return math.nan, math.nan
    return float(a.mean()), float(a.std(ddof=1)) if a.size > 1 else 0.0


def write_report(
    spec: BenchSpec,
    base: RunConfig,
    task: str,
    vs: list[Variant],
    seeds: list[int],
    man: Manifest,
    store,
    bench_dir: Path,
    session: list | None = None,
) -> dict:
    import pandas as pd

    from irs.evaluation import aggregate_seeds

    rows = []
    cache_dir = bench_dir / "candidates"
    if spec.reference:
        vs = vs + [Variant(REFERENCE, REFERENCE, None)]
    for v in vs:
        for s in seeds:
            key = f"{v.label}/{s}"
            e = man.data["runs"].get(key, {})
            if v.method == REFERENCE:
                if e.get("eval") is None:
                    e.update(state="reference", eval=json_clean(reference_eval(base, s, cache_dir)), spans=[])
                    man.data["runs"][key] = e
                    man.save()
                rows.append(_row(task, v, base, s, "", e["eval"], 0.0, reference=True))
                continue
            if e.get("state") != "done":
                continue
            run = store.get(e["run_id"])
            cfg = _validated(run.config())
            if e.get("eval") is None:
                ev, _ = evaluate_run_row(run, cfg, cache_dir)
                e["eval"] = json_clean(ev)
                man.save()
            rows.append(_row(task, v, cfg, s, run.id, e["eval"], _spans_total(e.get("spans", []))))
    if session is not None:  # the bench session's time includes the evaluation above
        session[1] = _now()
        man.save()
    out = Path(spec.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    df_rows = pd.DataFrame(rows)
    csv_path = out / f"{task}_runs.csv"
    atomic_write_text(csv_path, df_rows.to_csv(index=False, float_format="%.6g"))
    names = [c[len("pareto_reward_") :] for c in df_rows.columns if c.startswith("pareto_reward_")] if rows else []
    agg = {}  # mean ± std over seeds of every figure, by irs.evaluation.aggregate_seeds
    for v in vs:
        evs = [
            _nan_for_none(man.data["runs"][f"{v.label}/{s}"]["eval"])
            for s in seeds
            if man.data["runs"].get(f"{v.label}/{s}", {}).get("eval")
        ]
        if evs:
            agg[v.label] = aggregate_seeds(evs)
    atomic_write_json(bench_dir / "aggregate.json", json_clean(agg))
    pngs = _scatter_pngs(store, man, vs, seeds[0], names, out, task, bench_dir) if rows else []
    md = _markdown(spec, base, task, vs, seeds, df_rows, names, man, pngs, csv_path, agg)
    md_path = out / f"{task}.md"
    atomic_write_text(md_path, md)
    return {"md": md_path, "csv": csv_path, "pngs": pngs, "rows": rows, "aggregate": agg}


def _row(
    task: str, v: Variant, cfg: RunConfig, seed: int, run_id: str, ev: dict, wall_s: float, reference: bool = False
) -> dict:
    """One CSV row: the run's settings and every number of its evaluation."""
    ric = v.method == "ric"
    row = {
        "task": task,
        "label": v.label,
        "method": v.method,
        "algo": "" if reference or ric else cfg.rl.algo,
        "m": (cfg.effective_merge_every if v.method in ("iterative_rs", "rewarded_soups") else ""),
        "seed": seed,
        "run_id": run_id,
        "T": 0 if reference else cfg.merge.total_steps,
        "batch_per_policy": 0 if reference else (cfg.ric.batch_size or cfg.rl.batch_size) if ric else cfg.rl.batch_size,
        "samples_per_step": 0 if reference else samples_per_step(cfg),
        "K": cfg.n_final_samples,
        "lr": 0 if reference else (cfg.ric.lr or cfg.rl.lr) if ric else cfg.rl.lr,
    }
    for k in ("n_candidates", "n_valid", "n_unique", "n_scored", "n_pareto"):
        row[k] = ev[k]
    # the run's objectives first, then evaluation-only metrics (the text domain's ROUGE-L)
    order = [n for n in cfg.objective_names if n in ev["pareto_means"]]
    order += [n for n in ev["pareto_means"] if n not in order]
    for n in order:
        row[f"pareto_reward_{n}"] = ev["pareto_means"][n]
    for n in order:
        row[f"pareto_raw_{n}"] = ev["pareto_raw_means"][n]
    for k in (
        "avg_reward",
        "icv",
        "hypervolume",
        "valid_frac",
        "all_avg_reward",
        "proxy_queries",
        "train_s",
        "candidates_from",
    ):
        row[k] = ev.get(k)
    row["wall_s"] = round(wall_s, 1)
    return row


def _nan_for_none(ev: dict) -> dict:
    """An evaluation read back from JSON (NaN stored as null), with null numbers as NaN again."""
    out = {}
    for k, v in ev.items():
        if isinstance(v, dict):
            out[k] = {kk: (math.nan if vv is None else vv) for kk, vv in v.items()}
        elif v is None and k in ("icv", "avg_reward", "valid_frac", "all_avg_reward", "hypervolume", "proxy_queries"):
            out[k] = math.nan
        else:
            out[k] = v
    return out


def _scatter_pngs(store, man, vs, seed, names, out: Path, task: str, bench_dir: Path) -> list[Path]:
    """One PNG per objective pair: every valid unique candidate of each main method (seed `seed`) in
    reward space, its Pareto set drawn larger (Figure 1's view)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import pandas as pd

    tables = {}
    for v in vs:
        if v.sweep:
            continue
        e = man.data["runs"].get(f"{v.label}/{seed}", {})
        if v.method == REFERENCE:
            cache = bench_dir / "candidates" / f"{REFERENCE}-s{seed}.parquet"
            if cache.is_file():
                tables[v.label] = pd.read_parquet(cache)
            continue
        if e.get("state") != "done":
            continue
        run = store.get(e["run_id"])
        cache = bench_dir / "candidates" / f"{run.id}.parquet"
        tables[v.label] = pd.read_parquet(cache if cache.is_file() else run.candidates_path)
    colors = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00")
    paths = []
    for i in range(len(names)):
        for j in range(i + 1, len(names)):
            a, b = names[i], names[j]
            fig, ax = plt.subplots(figsize=(5.2, 4.4), dpi=110)
            for k, (label, df) in enumerate(tables.items()):
                ok = df["valid"].to_numpy(bool) & ~df["duplicate"].to_numpy(bool)
                x, y = df[f"reward_{a}"].to_numpy(float), df[f"reward_{b}"].to_numpy(float)
                ok &= np.isfinite(x) & np.isfinite(y)
                par = ok & df["pareto"].to_numpy(bool)
                c = "#7B8794" if label == REFERENCE else colors[k % len(colors)]
                ax.scatter(x[ok & ~par], y[ok & ~par], s=7, alpha=0.25, color=c, linewidths=0)
                ax.scatter(
                    x[par],
                    y[par],
                    s=26,
                    alpha=0.95,
                    color=c,
                    edgecolors="black",
                    linewidths=0.4,
                    label=f"{DISPLAY.get(label, label)} (Pareto {int(par.sum())})",
                )
            ax.set_xlabel(f"reward {a}")
            ax.set_ylabel(f"reward {b}")
            lo = {"x": 1.0, "y": 1.0}
            for df in tables.values():  # zoom to where the candidates are (rewards live in [0, 1])
                for ax_name, col in (("x", f"reward_{a}"), ("y", f"reward_{b}")):
                    v = df[col].to_numpy(float)
                    v = v[np.isfinite(v)]
                    if len(v):
                        lo[ax_name] = min(lo[ax_name], float(np.quantile(v, 0.01)))
            ax.set_xlim(max(-0.02, lo["x"] - 0.05), 1.02)
            ax.set_ylim(max(-0.02, lo["y"] - 0.05), 1.02)
            ax.set_title(f"{task}: {a} vs {b} (seed {seed})", fontsize=10)
            ax.legend(fontsize=7, loc="lower left", framealpha=0.85)
            ax.grid(alpha=0.3)
            fig.tight_layout()
            p = out / f"{task}_{a}_{b}.png"
            tmp = out / f".{p.name}.tmp.png"
            fig.savefig(tmp)
            plt.close(fig)
            os.replace(tmp, p)
            paths.append(p)
    return paths


def _markdown(spec, base: RunConfig, task, vs, seeds, df, names, man, pngs, csv_path, aggs) -> str:
    N = len(base.objectives)
    B, T = base.rl.batch_size, base.merge.total_steps
    algo = spec.algo or base.rl.algo
    K = spec.K or base.n_final_samples
    L = []
    L.append(f"# Does IterativeRS win? Task `{task}`\n")
    made = [c for c in man.data.get("commands", []) if c != spec.command]
    L.append(
        f"Generated by `{spec.command or 'irs bench ' + str(spec.config)}` ({_iso(_now())})"
        + (f"; the runs were made by {', '.join(f'`{c}`' for c in made)}" if made else "")
        + f". Raw per-seed numbers: [`{csv_path.name}`]({csv_path.name}); the table below is "
        f"their mean ± sample std over {len(seeds)} seed(s) {seeds}.\n"
    )
    L.append("## Setup\n")
    L.append(
        f"- domain `{base.domain}`, preset `{base.preset or 'default'}`, model `{portable(base.model) if base.model else 'domain default'}`; "
        f"objectives {', '.join(f'`{n}` (w={w:.3g})' for n, w in zip(base.objective_names, base.weights))}"
    )
    L.append(
        f"- T = {T} steps, B = {B}, update rule `{algo}`, lr {base.rl.lr:g}, β = {base.rl.beta:g}, "
        f"PPO epochs {base.rl.ppo_epochs}; IterativeRS m = {base.merge.merge_every}; K = {K} candidates "
        f"per run, scored by the domain's oracle"
    )
    L.append(
        f"- RiC: p = {base.ric.p:g}, {base.ric.n_bins} score levels, lr {base.ric.lr or base.rl.lr:g}, "
        f"{base.ric.online_rounds} online round(s), labelled examples {base.ric.max_examples or 'all'}"
    )
    L.append("")
    L.append("## Budget rule\n")
    L.append(
        f"Same T = {T} and the same number of rewarded samples per step, N x B = {N} x {B} = {N * B}: "
        f"IterativeRS and RS train N = {N} experts on B = {B} samples each (each sample scored on its "
        f"expert's objective); MORLHF trains one policy on batches of N x B = {N * B} (each sample scored on "
        f"all N objectives, so it makes N times more proxy evaluations); RiC takes T SFT steps on N x B = {N * B} "
        f"labelled sequences (no reward query offline; online rounds, if any, are counted). The measured "
        f"proxy evaluations per run are in the table below.\n"
    )
    if df.empty:
        L.append("No run has finished yet.\n")
        return "\n".join(L)

    def agg(label, col):
        """(mean, std) over seeds: evaluation figures from aggregate_seeds, run facts from the CSV rows."""
        a = aggs.get(label)
        if a is not None:
            if col.startswith("pareto_reward_"):
                n = col[len("pareto_reward_") :]
                return a["mean"]["pareto_means"][n], a["std"]["pareto_means"][n]
            if col in a["mean"] and col != "proxy_queries":
                return a["mean"][col], a["std"][col]
        return _stats(df.loc[df["label"] == label, col].tolist())

    main = [v for v in vs if not v.sweep and (df["label"] == v.label).any()]
    L.append("## Result (Pareto set of each run's K candidates; rewards in [0, 1])\n")
    head = (
        ["method"]
        + names
        + [
            "avg reward",
            "ICV",
            "hypervolume",
            "|Pareto|",
            "valid",
            "mean reward (all valid)",
            "proxy evals / run",
            "wall s / run",
        ]
    )
    L.append("| " + " | ".join(head) + " |")
    L.append("|" + "---|" * len(head))
    for v in main:
        cells = [
            DISPLAY.get(v.label, v.label) + (f" (m={base.merge.merge_every})" if v.label == "iterative_rs" else "")
        ]
        cells += [_fmt(*agg(v.label, f"pareto_reward_{n}")) for n in names]
        cells += [
            _fmt(*agg(v.label, "avg_reward")),
            _fmt(*agg(v.label, "icv"), d=3),
            _fmt(*agg(v.label, "hypervolume")),
            _fmt(*agg(v.label, "n_pareto"), d=1),
            _fmt(*agg(v.label, "valid_frac"), d=3),
            _fmt(*agg(v.label, "all_avg_reward")),
            _fmt(agg(v.label, "proxy_queries")[0], d=0),
            _fmt(*agg(v.label, "wall_s"), d=0),
        ]
        L.append("| " + " | ".join(cells) + " |")
    L.append("")
    if any(v.method == REFERENCE for v in main):
        L.append(
            "`pretrained`: K samples of the base model itself, the point every method starts from (not a "
            "competitor; it shows what fine-tuning added). `valid` is the share of valid candidates; `mean "
            "reward (all valid)` averages the equal-weight reward over every valid unique candidate, not only "
            "the Pareto set. ICV (eq. 16) explodes when a Pareto sample has nearly equal rewards; read it "
            "with its spread.\n"
        )
    paper = paper_table(base.domain, base.preset)
    if paper:
        L.append(paper["title"] + ":\n")
        L.append("| method | " + " | ".join(paper["columns"]) + " |")
        L.append("|---" * (len(paper["columns"]) + 1) + "|")
        for k, vals in paper["rows"].items():
            L.append(f"| {k} | " + " | ".join(f"{x:.4f}" for x in vals) + " |")
        L.append("")
    L.append("## Verdict (computed from the CSV)\n")
    L += _lift_lines(df)
    L += _verdict(df, seeds)
    sweep_rows = [v for v in vs if v.method in ("iterative_rs", "rewarded_soups") and (df["label"] == v.label).any()]
    if any(v.sweep for v in vs):
        L.append("## Merge interval m (Section 4.2: m = 1 is MORLHF-like, m = T is Rewarded Soups)\n")
        L.append("| m | seeds | avg reward | ICV | hypervolume | mean reward (all valid) | wall s / run |")
        L.append("|---|---|---|---|---|---|---|")

        def m_of(v):
            return T if v.method == "rewarded_soups" else v.m

        for v in sorted(sweep_rows, key=m_of):
            mm = m_of(v)
            L.append(
                f"| {mm if mm != T else f'{T} (= T, RS)'} | {int((df['label'] == v.label).sum())} | "
                f"{_fmt(*agg(v.label, 'avg_reward'))} | "
                f"{_fmt(*agg(v.label, 'icv'), d=3)} | {_fmt(*agg(v.label, 'hypervolume'))} | "
                f"{_fmt(*agg(v.label, 'all_avg_reward'))} | {_fmt(*agg(v.label, 'wall_s'), d=0)} |"
            )
        L.append("")
    L.append("## Wall time\n")
    sessions = man.data.get("sessions", [])
    runs_df = df[df["method"] != REFERENCE]
    total_runs = float(runs_df["wall_s"].sum())
    L.append(
        f"- whole comparison: {total_runs / 60:.1f} min of run time over {len(runs_df)} runs "
        f"({_spans_total(sessions) / 60:.1f} min of bench sessions, {len(sessions)} session(s), "
        f"evaluation included in sessions since this report format), one run at a time on this machine; "
        f"a run's time covers its training and the oracle scoring of its K candidates"
    )
    for v in vs:
        sub = df[df["label"] == v.label]
        if len(sub) and v.method != REFERENCE:
            L.append(
                f"- {DISPLAY.get(v.label, v.label)}: {sub['wall_s'].sum() / 60:.1f} min in total, "
                f"{sub['wall_s'].mean():.0f} s per run (training steps alone {sub['train_s'].mean():.0f} s)"
            )
    L.append("")
    if pngs:
        L.append(f"## Figures (seed {seeds[0]}; every valid unique candidate, Pareto set drawn larger)\n")
        for p in pngs:
            L.append(f"![{p.stem}]({p.name})")
        L.append("")
    return "\n".join(L)


def _lift_lines(df) -> list[str]:
    """Each fine-tuned variant against the pretrained row of the same seed (the mean reward over all valid
    candidates): the lift, paired over seeds; the null control says how much of it needs no information."""
    ref = df[df["label"] == REFERENCE].set_index("seed")
    if ref.empty:
        return []
    out = []
    for label in ("iterative_rs", NULL, "morlhf", "rewarded_soups", "ric"):
        d = df[df["label"] == label].set_index("seed")
        common = sorted(set(d.index) & set(ref.index))
        if not common:
            continue
        lift = np.array([d.loc[s, "all_avg_reward"] - ref.loc[s, "all_avg_reward"] for s in common], dtype=float)
        sd = float(np.std(lift, ddof=1)) if len(lift) > 1 else 0.0
        out.append(
            f"- {DISPLAY.get(label, label)} over the pretrained model (mean reward of all valid candidates): "
            f"{lift.mean():+.4f} ± {sd:.4f} (seed std), per seed {', '.join(f'{x:+.4f}' for x in lift)}."
        )
    out.append("")
    return out


def _verdict(df, seeds) -> list[str]:
    """IterativeRS against MORLHF and RS on the average reward of the Pareto set: per-seed differences."""
    out = []
    if not (df["label"] == "iterative_rs").any():
        return ["IterativeRS was not part of this bench.\n"]
    irs = df[df["label"] == "iterative_rs"].set_index("seed")
    for other in ("morlhf", "rewarded_soups", "ric"):
        o = df[df["label"] == other].set_index("seed")
        common = sorted(set(irs.index) & set(o.index))
        if not common:
            continue
        for metric, name in (
            ("avg_reward", "average reward of the Pareto set"),
            ("all_avg_reward", "mean reward of all valid candidates"),
        ):
            d = np.array([irs.loc[s, metric] - o.loc[s, metric] for s in common], dtype=float)
            wins = int((d > 0).sum())
            m, sd = float(np.nanmean(d)), float(np.nanstd(d, ddof=1)) if len(d) > 1 else 0.0
            base = float(np.nanmean([o.loc[s, metric] for s in common]))
            rel = 100 * m / base if base else math.nan
            if m > 0 and wins == len(common):
                word = "higher than"
            elif m > 0:
                word = "higher on average than (not on every seed)"
            else:
                word = "not higher than"
            out.append(
                f"- {name[0].upper() + name[1:]}: IterativeRS is {word} {DISPLAY[other]}: paired difference "
                f"{m:+.4f} ± {sd:.4f} ({rel:+.1f} % of {DISPLAY[other]}), IterativeRS higher on {wins} of "
                f"{len(common)} seed(s)."
            )
    out.append("")
    return out
