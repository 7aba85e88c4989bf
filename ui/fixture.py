"""Synthetic finished runs for the workbench's tests, screenshots and benchmarks.

`make_run(root, ...)` writes a run directory in the run store's layout (config.toml, status.json,
metrics.jsonl, candidates.parquet) without training: the candidates are real SMILES from the MOSES test
split (plus a few invalid strings), scored by irs.candidates.score_candidates with the molecules domain's
instant "druglike" preset; the metrics are smooth made-up curves with merges every m steps. It stands in
for the shipped demo run until that exists, and lets a benchmark build a 10,000-candidate run.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from irs.io import atomic_write_bytes, atomic_write_json, check_name

INVALID = ["C1CC", "c1ccccc", "CC(C)(C)(C)(C)C", "", "N#N#N"]


def _metrics(names: list[str], T: int, m: int, seed: int) -> list[dict]:
    rng = np.random.default_rng(seed)
    recs = []
    for t in range(1, T + 1):
        for k, n in enumerate(names):
            base = 0.35 + 0.4 * (1 - math.exp(-t / (4 + 2 * k)))
            recs.append(
                {
                    "type": "step",
                    "step": t,
                    "expert": n,
                    "reward": round(base + 0.03 * rng.normal(), 5),
                    "kl": round(0.02 * t * (1 + 0.3 * k) + 0.005 * rng.normal(), 5),
                    "length": round(30 + 2 * rng.normal(), 3),
                    "valid": round(0.9 + 0.02 * rng.normal(), 4),
                }
            )
        if t % m == 0 or t == T:
            recs.append(
                {"type": "merge", "step": t, "subset": names, "lambdas": [1 / len(names)] * len(names), "final": t == T}
            )
    return recs


def _new_run(
    root, run_id: str, domain_name: str, preset: str | None, method: str, n: int, T: int, m: int, seed: int = 0
):
    """(path, domain, objectives, cfg): a fresh run folder with its config.toml (equal weights)."""
    from irs.config import ObjectiveSpec, RunConfig
    from irs.domains import get_domain

    check_name(run_id, "run id")
    path = Path(root) / run_id
    path.mkdir(parents=True, exist_ok=False)
    domain = get_domain(domain_name)
    objs = domain.objectives(preset)
    names = [o.name for o in objs]
    cfg = RunConfig(
        name=run_id.split("-")[0],
        domain=domain_name,
        preset=preset or "",
        method=method,
        seed=seed,
        objectives=[ObjectiveSpec(nm, 1 / len(names)) for nm in names],
        n_final_samples=n,
    )
    cfg.merge.total_steps, cfg.merge.merge_every = T, m
    cfg.save(path / "config.toml")
    return path, domain, objs, cfg


def make_run(
    root: str | Path,
    run_id: str = "demo-druglike-20250101-000000-0000",
    n: int = 300,
    *,
    method: str = "iterative_rs",
    seed: int = 0,
    T: int = 12,
    m: int = 4,
    offset: int = 0,
    state: str = "done",
    error: str | None = None,
) -> Path:
    """Write a finished molecules/druglike run with `n` candidates under root/run_id; returns its path.
    `offset` picks a different slice of MOSES (e.g. per seed), so runs differ."""
    from irs.candidates import score_candidates
    from irs.domains.molecules.moses import moses_smiles

    path, domain, objs, cfg = _new_run(root, run_id, "molecules", "druglike", method, n, T, m, seed)
    names = [o.name for o in objs]
    smiles = moses_smiles("test")[offset : offset + max(0, n - len(INVALID))]
    texts = (smiles + INVALID)[:n]
    rng = np.random.default_rng(seed)
    texts = [texts[i] for i in rng.permutation(len(texts))]
    df = score_candidates(texts, domain, objs, set_name="final")
    if state == "done":
        atomic_write_bytes(path / "candidates.parquet", df.to_parquet(index=False))
    steps = T if state == "done" else max(1, T // 2)
    with open(path / "metrics.jsonl", "w") as f:
        for r in _metrics(names, steps, m, seed):
            f.write(json.dumps(r) + "\n")
    t = "2025-01-01T00:00:00.000Z"
    if state in ("queued", "running"):  # a live-looking worker: a fresh heartbeat and no pid to check
        from irs.runs.store import now_iso

        t = now_iso()
    atomic_write_json(
        path / "status.json",
        {
            "run_id": run_id,
            "name": cfg.name,
            "method": method,
            "domain": "molecules",
            "state": state,
            "phase": state,
            "step": steps,
            "total_steps": T,
            "pid": None,
            "host": None,
            "heartbeat": t,
            "created": t,
            "updated": t,
            "started": t,
            "finished": t,
            "error": error,
            "notes": ["synthetic run for tests: candidates are MOSES test molecules, metrics are made up"],
            "last_checkpoint": None,
        },
    )
    return path


def _write_status(path: Path, run_id: str, cfg, domain: str, method: str, T: int, note: str) -> None:
    t = "2025-01-01T00:00:00.000Z"
    atomic_write_json(
        path / "status.json",
        {
            "run_id": run_id,
            "name": cfg.name,
            "method": method,
            "domain": domain,
            "state": "done",
            "phase": "done",
            "step": T,
            "total_steps": T,
            "pid": None,
            "host": None,
            "heartbeat": t,
            "created": t,
            "updated": t,
            "started": t,
            "finished": t,
            "error": None,
            "notes": [note],
            "last_checkpoint": None,
        },
    )


def make_dna_run(
    root: str | Path,
    run_id: str = "dna-motifs-20250101-000000-0000",
    n: int = 80,
    *,
    method: str = "iterative_rs",
    T: int = 6,
    m: int = 2,
) -> Path:
    """A finished DNA run whose candidates are real validation-split DHS sites (chr1) plus two invalid
    strings, scored with the exact "motifs" preset (JASPAR best hits and GC; no model needed)."""
    from irs.candidates import score_candidates
    from irs.domains.dna import data

    path, domain, objs, cfg = _new_run(root, run_id, "dna", "motifs", method, n, T, m)
    names = [o.name for o in objs]
    texts = data.sequences("val")[: max(0, n - 2)] + ["ACGT" * 10, "NNNN" * 50]
    df = score_candidates(texts[:n], domain, objs, set_name="final")
    atomic_write_bytes(path / "candidates.parquet", df.to_parquet(index=False))
    with open(path / "metrics.jsonl", "w") as f:
        for r in _metrics(names, T, m, 0):
            f.write(json.dumps(r) + "\n")
    _write_status(path, run_id, cfg, "dna", method, T, "synthetic DNA run for tests: validation-split DHS sites")
    return path


def make_text_table_run(root: str | Path, run_id: str = "summaries-20250101-000000-0000", n: int = 12) -> Path:
    """A finished run whose candidate table has a text domain's extra columns (prompt_id, source,
    reference; `candidate` = the generated summary), scored with the toy domain's exact objectives, so
    that the workbench's text views can be tested before (and independently of) a text domain."""
    from irs.candidates import score_candidates
    from irs.config import ObjectiveSpec, RunConfig
    from irs.domains import get_domain

    check_name(run_id, "run id")
    path = Path(root) / run_id
    path.mkdir(parents=True, exist_ok=False)
    domain = get_domain("toy")
    objs = domain.objectives(None)
    names = [o.name for o in objs]
    cfg = RunConfig(
        name=run_id.split("-")[0],
        domain="toy",
        objectives=[ObjectiveSpec(nm, 1 / len(names)) for nm in names],
        n_final_samples=n,
    )
    cfg.save(path / "config.toml")
    rng = np.random.default_rng(0)
    summaries = ["".join(rng.choice(list("abc"), size=int(rng.integers(3, 12)))) for _ in range(n)]
    df = score_candidates(summaries, domain, objs, set_name="final")
    df.insert(1, "prompt_id", [f"doc{i % 4}" for i in range(n)])
    df.insert(2, "source", [f"Source <b>article</b> {i % 4}: " + "long text & more words " * 12 for i in range(n)])
    df.insert(3, "reference", [f"Reference summary {i % 4} <i>ok</i>" for i in range(n)])
    atomic_write_bytes(path / "candidates.parquet", df.to_parquet(index=False))
    with open(path / "metrics.jsonl", "w") as f:
        for r in _metrics(names, 4, 2, 0):
            f.write(json.dumps(r) + "\n")
    _write_status(path, run_id, cfg, "toy", "iterative_rs", 4, "synthetic text-table run for tests")
    return path
