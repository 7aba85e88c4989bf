"""Scoring many molecules in a pool of spawned processes (pebble), with a per-molecule timeout."""

from __future__ import annotations

import logging
import multiprocessing as mp
import os
import time
from collections.abc import Sequence
from concurrent.futures import TimeoutError as FutureTimeout

from irs.domains.molecules.oracle.physics import (
    DEFAULT_N_CONF,
    DEFAULT_N_XTB,
    DEFAULT_SEED,
    DEFAULT_TIMEOUT_S,
    compute_raw,
)

log = logging.getLogger(__name__)

_THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def _init_worker() -> None:
    for v in _THREAD_VARS:  # before tblite (OpenMP) is first imported in compute_raw
        os.environ[v] = "1"
    from rdkit import RDLogger

    RDLogger.DisableLog("rdApp.*")


def _score_one(smiles: str, n_conf: int, seed: int, n_xtb: int) -> dict:
    t_cpu = time.process_time()
    try:
        res = compute_raw(smiles, n_conf, seed, n_xtb)
    except Exception as e:  # a bug or an unexpected library error: report, keep serving
        res = {"status": "error", "error": repr(e)}
    res["cpu_s"] = time.process_time() - t_cpu  # CPU seconds of this molecule (unaffected by other load)
    return res


def compute_raw_many(
    smiles: Sequence[str],
    n_conf: int = DEFAULT_N_CONF,
    seed: int = DEFAULT_SEED,
    n_workers: int | None = None,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    log_every: int = 0,
    n_xtb: int = DEFAULT_N_XTB,
) -> list[dict]:
    """`compute_raw` over many SMILES with `n_workers` spawned processes (pebble.ProcessPool) and a
    per-molecule timeout.

    n_workers: default the run's cores (`irs.env.cores()`: IRS_THREADS, else every core); 0 computes in
    this process (no timeout guard; for tests and tiny batches). A molecule past `timeout_s` gets status "timeout" and pebble replaces its worker;
    a crashed worker gives status "error". The clock starts when a worker takes the molecule, so a fresh
    worker's start-up (imports, 1-3 s) counts towards its first molecule.
    """
    from pebble import ProcessExpired, ProcessPool

    n = len(smiles)
    if n_workers is None:
        from irs import env

        n_workers = env.cores()
    if n_workers < 0:
        raise ValueError(f"n_workers must be >= 0, got {n_workers}")
    if n_workers == 0 or n == 0:
        return [compute_raw(s, n_conf, seed, n_xtb) for s in smiles]
    if timeout_s <= 0:
        raise ValueError(f"timeout_s must be positive, got {timeout_s}")
    results: list[dict] = []
    t_start = time.time()
    # spawn, not fork: the parent may hold OpenMP/torch threads
    with ProcessPool(max_workers=min(n_workers, n), initializer=_init_worker, context=mp.get_context("spawn")) as pool:
        futures = [
            pool.schedule(_score_one, args=(s, int(n_conf), int(seed), int(n_xtb)), timeout=timeout_s) for s in smiles
        ]
        for i, f in enumerate(futures):
            try:
                res = f.result()
            except FutureTimeout:
                res = {"status": "timeout", "error": f"over {timeout_s} s"}
            except ProcessExpired as e:
                res = {"status": "error", "error": f"worker exit code {e.exitcode}"}
            except Exception as e:  # pickling or pool failures: one molecule's error, not the batch's
                res = {"status": "error", "error": repr(e)}
            if res["status"] in ("timeout", "error"):
                log.warning("oracle: %s for %r", res["status"], smiles[i])
            results.append(res)
            if log_every and (i + 1) % log_every == 0:
                log.info("oracle: %d/%d molecules, %.0f s", i + 1, n, time.time() - t_start)
    return results
