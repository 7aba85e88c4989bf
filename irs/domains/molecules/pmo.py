"""The Practical Molecular Optimization benchmark's RDKit tasks (PMO; Gao et al., NeurIPS 2022), from
guacamol's own definitions.

PMO scores its tasks with PyTDC's oracles, which re-implement guacamol's goal-directed benchmarks. The
scoring functions here are guacamol 0.5.5's, taken whole: the v2 suite's benchmarks by name, and QED and
C7H8N2O2 from its "trivial" suite (docs/pmo.md lists the mapping). Nothing is re-typed.

guacamol 0.5.5 does not import on today's SciPy (`from scipy import histogram`, removed in SciPy 1.12) or
without `fcd` (its Fréchet benchmark, unused here, imports it at module level). `_guacamol()` puts
`numpy.histogram` where guacamol looks for it, once, before the first import; `fcd` comes from PyPI.

Each task is multi-objective by construction: an MPO task is a mean (geometric or arithmetic) of
components, each a similarity, a descriptor or a SMARTS match with its modifier. The preset
"pmo:<task>" trains on the components (one IterativeRS expert each); "pmo:<task>:score" trains on the
task's aggregate alone (plain RL). Both are evaluated on the components and `pmo_score`, the aggregate
PMO scores. Invalid molecules score NaN (guacamol's -1 "corrupt" score is not a reward).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import numpy as np

from irs.objectives import Objective

SCORE = "pmo_score"  # the task's aggregate, what PMO's AUC top-10 is computed on

# PMO task name -> guacamol benchmark name (goal_directed_suite_v2, else the trivial suite)
TASKS = {
    "albuterol_similarity": "Albuterol similarity",
    "amlodipine_mpo": "Amlodipine MPO",
    "celecoxib_rediscovery": "Celecoxib rediscovery",
    "deco_hop": "Deco Hop",
    "fexofenadine_mpo": "Fexofenadine MPO",
    "isomers_c7h8n2o2": "C7H8N2O2",
    "isomers_c9h10n2o2pf2cl": "C9H10N2O2PF2Cl",
    "median1": "Median molecules 1",
    "median2": "Median molecules 2",
    "mestranol_similarity": "Mestranol similarity",
    "osimertinib_mpo": "Osimertinib MPO",
    "perindopril_mpo": "Perindopril MPO",
    "qed": "QED",
    "ranolazine_mpo": "Ranolazine MPO",
    "scaffold_hop": "Scaffold Hop",
    "sitagliptin_mpo": "Sitagliptin MPO",
    "thiothixene_rediscovery": "Thiothixene rediscovery",
    "troglitazone_rediscovery": "Troglitazone rediscovery",
    "valsartan_smarts": "Valsartan SMARTS",
    "zaleplon_mpo": "Zaleplon MPO",
}

# guacamol tasks outside PMO's 20, for choosing settings without looking at PMO (benchmarks/pmo_dev.py);
# presets "pmo:<task>" exist for them too, but the PMO suite never runs or reports them
DEV_TASKS = {
    "aripiprazole_similarity": "Aripiprazole similarity",
    "pioglitazone_mpo": "Pioglitazone MPO",
    "isomers_c11h24": "C11H24",
}
ALL_TASKS = {**TASKS, **DEV_TASKS}

# Published AUC top-10 (PMO, Gao et al. 2022; mean over 5 seeds, 10,000 calls), as the issue quotes them
PUBLISHED = {
    "REINVENT": {
        "qed": 0.941,
        "albuterol_similarity": 0.882,
        "amlodipine_mpo": 0.635,
        "celecoxib_rediscovery": 0.713,
        "deco_hop": 0.666,
        "fexofenadine_mpo": 0.784,
        "isomers_c7h8n2o2": 0.852,
        "isomers_c9h10n2o2pf2cl": 0.642,
        "median1": 0.356,
        "median2": 0.276,
        "mestranol_similarity": 0.618,
        "osimertinib_mpo": 0.837,
        "perindopril_mpo": 0.537,
        "ranolazine_mpo": 0.760,
        "scaffold_hop": 0.560,
        "sitagliptin_mpo": 0.021,
        "thiothixene_rediscovery": 0.534,
        "troglitazone_rediscovery": 0.441,
        "valsartan_smarts": 0.178,
        "zaleplon_mpo": 0.358,
    },
    # PMO's table of AUC top-10 (Gao et al. 2022); these 20 sum to the 11.44 of PUBLISHED_SUMS. Both
    # methods' 40 values match PMO's leaderboard pages (pmo-benchmark.github.io, <task>/index.md; docs/pmo.md)
    "Graph GA": {
        "qed": 0.940,
        "albuterol_similarity": 0.838,
        "amlodipine_mpo": 0.661,
        "celecoxib_rediscovery": 0.630,
        "deco_hop": 0.619,
        "fexofenadine_mpo": 0.760,
        "isomers_c7h8n2o2": 0.862,
        "isomers_c9h10n2o2pf2cl": 0.719,
        "median1": 0.294,
        "median2": 0.273,
        "mestranol_similarity": 0.579,
        "osimertinib_mpo": 0.831,
        "perindopril_mpo": 0.538,
        "ranolazine_mpo": 0.728,
        "scaffold_hop": 0.517,
        "sitagliptin_mpo": 0.433,
        "thiothixene_rediscovery": 0.479,
        "troglitazone_rediscovery": 0.390,
        "valsartan_smarts": 0.000,
        "zaleplon_mpo": 0.346,
    },
}
PUBLISHED_SUMS = {"REINVENT": 11.59, "Graph GA": 11.44, "GP BO": 10.81}  # over these 20 tasks


def unknown_task(task: str) -> ValueError:
    return ValueError(
        f"unknown PMO task {task!r}; known tasks: {', '.join(sorted(TASKS))} "
        f"(development tasks, not PMO's: {', '.join(sorted(DEV_TASKS))})"
    )


@functools.lru_cache(maxsize=1)
def _guacamol():
    """guacamol's benchmark suites, imported behind the SciPy shim (module docstring)."""
    import scipy

    if not hasattr(scipy, "histogram"):
        scipy.histogram = np.histogram
    from guacamol import benchmark_suites

    return benchmark_suites


def guacamol(module: str):
    """A guacamol module (e.g. "common_scoring_functions"), imported behind the shim."""
    import importlib

    _guacamol()
    return importlib.import_module(f"guacamol.{module}")


@functools.cache
def benchmark(task: str):
    """guacamol's GoalDirectedBenchmark behind a PMO (or development) task."""
    if task not in ALL_TASKS:
        raise unknown_task(task)
    suites = _guacamol()
    by_name = {b.name: b for b in suites.goal_directed_suite_v2()}
    by_name.update({b.name: b for b in suites.goal_directed_suite_trivial() if b.name not in by_name})
    return by_name[ALL_TASKS[task]]


def _component_name(fn) -> str:
    csf = guacamol("common_scoring_functions")
    IsomerScoringFunction, RdkitScoringFunction = csf.IsomerScoringFunction, csf.RdkitScoringFunction
    SMARTSScoringFunction, TanimotoScoringFunction = csf.SMARTSScoringFunction, csf.TanimotoScoringFunction

    if isinstance(fn, TanimotoScoringFunction):
        return "similarity"
    if isinstance(fn, SMARTSScoringFunction):
        return "smarts"
    if isinstance(fn, IsomerScoringFunction):
        return "formula"
    if isinstance(fn, RdkitScoringFunction):
        d = fn.descriptor
        if hasattr(d, "element"):  # guacamol's AtomCounter
            return f"n_{d.element}"
        return {"num_atoms": "n_atoms", "logP": "logp"}.get(d.__name__, d.__name__)
    return type(fn).__name__.lower()


def components(task: str) -> list[tuple[str, object]]:
    """(name, guacamol ScoringFunction) of each component of the task, in the task's order; a task that
    is not a mean of parts (rediscovery, similarity, QED) is its own single component."""
    obj = benchmark(task).objective
    parts = list(getattr(obj, "scoring_functions", None) or [obj])
    names = [_component_name(f) for f in parts]
    out, seen = [], {}
    for n, f in zip(names, parts):
        if names.count(n) > 1:
            seen[n] = seen.get(n, 0) + 1
            n = f"{n}_{seen[n]}"
        out.append((n, f))
    return out


def _scorer(fn):
    """A guacamol ScoringFunction as a batch scorer on canonical SMILES: its modified score in [0, 1],
    NaN for an invalid molecule (guacamol's corrupt score) or a failure."""

    def score(smiles: Sequence[str]) -> np.ndarray:
        out = np.full(len(smiles), np.nan)
        for i, s in enumerate(smiles):
            if not s:
                continue
            try:
                v = float(fn.score(s))
            except Exception:  # odd chemistry scores NaN, never crashes a run
                continue
            if v >= 0:
                out[i] = v
        return out

    return score


def _objective(name: str, fn, what: str) -> Objective:
    return Objective(name, _scorer(fn), 0.0, 1.0, "max", description=what, bounds=(0.0, 1.0))


def task_objectives(task: str) -> list[Objective]:
    """The task's components, each an objective in [0, 1] (preset 'pmo:<task>')."""
    label = ALL_TASKS.get(task) or ""
    return [_objective(n, f, f"{label}: component {n}") for n, f in components(task)]


def score_objective(task: str) -> Objective:
    """The task's aggregate, PMO's score (preset 'pmo:<task>:score')."""
    return _objective(SCORE, benchmark(task).objective, f"{ALL_TASKS[task]}: the task's own score (PMO)")


def oracle_objectives(task: str) -> list[Objective]:
    """What a PMO run is evaluated on: every component and the aggregate."""
    return task_objectives(task) + [score_objective(task)]


def presets() -> dict:
    """Preset name -> factory, for the molecules domain: 'pmo:<task>' and 'pmo:<task>:score'."""
    out = {}
    for t in ALL_TASKS:
        out[f"pmo:{t}"] = functools.partial(task_objectives, t)
        out[f"pmo:{t}:score"] = lambda t=t: [score_objective(t)]
    return out


def oracles() -> dict:
    out = {}
    for t in ALL_TASKS:
        out[f"pmo:{t}"] = out[f"pmo:{t}:score"] = functools.partial(oracle_objectives, t)
    return out


def task_of(preset: str | None) -> str | None:
    """The PMO task of a preset name ('pmo:median1:score' -> 'median1'), None for other presets;
    ValueError listing the tasks for 'pmo:<unknown>'."""
    if not preset or not preset.startswith("pmo:"):
        return None
    task = preset.split(":")[1]
    if task not in ALL_TASKS:
        raise unknown_task(task)
    return task


# ---- PMO's metric -------------------------------------------------------------------------------------
def top_auc(scores: Sequence[float], budget: int, top_n: int = 10, freq_log: int = 100, finish: bool = True) -> float:
    """PMO's AUC top-n (`top_auc` of its optimizer.py): `scores` are the budgeted calls' scores in call
    order. The mean of the best `top_n` so far is taken every `freq_log` calls and integrated with
    trapezoids from 0 at call 0; a run that stopped early (`finish`) carries its last value to the
    budget. Divided by the budget: a value in [0, 1]."""
    s = np.asarray(scores, dtype=np.float64)
    if budget < 1:
        raise ValueError(f"budget {budget}: must be >= 1")
    n = len(s)
    if n == 0:
        return 0.0
    total, prev, called = 0.0, 0.0, 0
    for idx in range(freq_log, min(n, budget), freq_log):
        now = float(np.mean(np.sort(s[:idx])[::-1][:top_n]))
        total += freq_log * (now + prev) / 2
        prev, called = now, idx
    now = float(np.mean(np.sort(s)[::-1][:top_n]))
    total += (n - called) * (now + prev) / 2
    if finish and n < budget:
        total += (budget - n) * now
    return total / budget


def read_call_log(path) -> tuple[list[str], np.ndarray]:
    """(smiles, scores) of an oracle_calls.csv (irs.objectives.budget), checked: ValueError names a row
    whose call number is out of sequence or whose score is not a number in [0, 1]."""
    from irs.objectives.budget import read_log

    rows = read_log(path)
    return [r[1] for r in rows], np.asarray([r[2] for r in rows], dtype=np.float64)


def auc_from_log(path, budget: int, top_n: int = 10) -> float:
    """AUC top-n of a run from its call log alone."""
    _, scores = read_call_log(path)
    return top_auc(scores, budget, top_n=top_n)
