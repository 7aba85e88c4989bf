"""What `irs bench` runs: the paper's tables, the variants of methods, seeds and m, the budget rule."""

from __future__ import annotations

import copy
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, field

from irs.config import METHODS, RunConfig
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
    parallel: int = 1  # runs kept in flight at once (the run queue's limit still applies)
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
