"""An oracle budget, counted as PMO counts it (Gao et al. 2022): one call per new valid molecule.

A run with `oracle_budget = B` scores every candidate through one OracleBudget: every expert's batch,
selective merging's validation samples and the final sampling. A candidate is canonicalized first; an
invalid one is not a call (it scores NaN, as PMO gives 0 without counting it). A canonical form scored
before is served from the cache and not counted. A new one is a call: every column (the run's training
objectives and its oracle) is computed for it at once, so a molecule costs one call however many
objectives look at it, and a row goes to the call log.

`limit` is how far the current phase may go: training stops at B - n_final_samples, so that the final
candidates can still be scored within B (the worker raises the limit to B for them). New molecules past
the limit score NaN and are not counted; `spent` turns true and the schedule ends after that step.

The call log (oracle_calls.csv: call, smiles, score) is appended and fsynced after every batch. It is
also the budget's state: a resumed run reads it back (a torn last line is cut), recomputes the cached
columns without counting, and continues the count, so a killed run spends exactly what an unkilled one
does (the resumed samples are the same, and cached).
"""

from __future__ import annotations

import csv
import dataclasses
import gzip
import io
import math
import os
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from irs.objectives.base import Objective

LOG_FILE = "oracle_calls.csv"
HEADER = ("call", "smiles", "score")


def budget_text(status: dict) -> str | None:
    """'oracle calls 3,456 / 10,000' for a budgeted run's status, else None (the CLI and the Runs page)."""
    b = status.get("oracle_budget")
    if not b:
        return None
    return f"oracle calls {int(status.get('oracle_calls') or 0):,} / {int(b):,}"


def read_log(path: str | os.PathLike) -> list[tuple[int, str, float]]:
    """Rows (call, smiles, score) of a call log, plain or gzip-compressed (.gz, the committed copies); a
    torn last line (no newline) is ignored. ValueError names the first row that is out of sequence or not
    a score in [0, 1]."""
    p = Path(path)
    if p.suffix == ".gz":
        with gzip.open(p, "rt", encoding="utf-8") as f:
            text = f.read()
    else:
        text = p.read_text(encoding="utf-8")
    if text and not text.endswith("\n"):
        text = text[: text.rfind("\n") + 1]
    rows = list(csv.reader(io.StringIO(text)))
    if not rows:
        return []
    if tuple(rows[0]) != HEADER:
        raise ValueError(f"{p}: header {rows[0]} is not {list(HEADER)}")
    out = []
    for i, r in enumerate(rows[1:], start=1):
        try:
            call, smi, score = int(r[0]), r[1], float(r[2])
        except (ValueError, IndexError):
            raise ValueError(f"{p}: row {i} {r} is not (call, smiles, score)") from None
        if call != i or not smi or not (0.0 <= score <= 1.0):
            raise ValueError(f"{p}: row {i} {r} is out of sequence or its score is not in [0, 1]")
        out.append((call, smi, score))
    return out


class OracleBudget:
    """The shared counter, cache and call log of one budgeted run.

    objectives: every column a candidate is scored on (training and oracle objectives, by name; the
        scorers are called on lists of canonical forms and return raw values, NaN = failed).
    score: the column the call log records (the task's aggregate), or a function of one molecule's
        raw values by name -> a number in [0, 1].
    """

    def __init__(
        self,
        budget: int,
        objectives: Sequence[Objective],
        canonicalize: Callable[[str], str | None],
        score: str | Callable[[dict], float],
        log_path: str | os.PathLike | None = None,
        limit: int | None = None,
    ):
        if not isinstance(budget, int) or isinstance(budget, bool) or budget < 1:
            raise ValueError(f"oracle_budget = {budget!r}: must be an integer >= 1")
        self.budget = budget
        self.limit = budget if limit is None else min(limit, budget)
        self.columns: dict[str, Objective] = {}
        for o in objectives:
            self.columns.setdefault(o.name, o)
        self.names = list(self.columns)
        self.canonicalize = canonicalize
        self.score = score
        self.cache: dict[str, np.ndarray] = {}
        self.calls = 0
        self.refused = 0  # new molecules past the limit (scored NaN, not counted)
        self.log_path = Path(log_path) if log_path is not None else None
        self.log_rows: list[tuple[int, str, float]] = []
        self._limit_seen = False  # the molecule of call number `limit` was scored in this process
        if self.log_path is not None and self.log_path.is_file():
            self._resume()

    # ---- state ----------------------------------------------------------------------------------------
    def _resume(self) -> None:
        rows = read_log(self.log_path)
        self._truncate_to(rows)
        smiles = [r[1] for r in rows]
        if smiles:
            vals = self._compute(smiles)
            for s, v in zip(smiles, vals):
                self.cache[s] = v
        self.calls = len(rows)
        self.log_rows = rows

    def _truncate_to(self, rows) -> None:
        """Cut a torn last line, so the next append starts a row of its own."""
        data = self.log_path.read_bytes()
        keep = data[: data.rfind(b"\n") + 1] if data and not data.endswith(b"\n") else data
        if keep != data:
            with open(self.log_path, "r+b") as f:
                f.truncate(len(keep))
                f.flush()
                os.fsync(f.fileno())

    @property
    def spent(self) -> bool:
        """The phase's limit was reached in this process: a new molecule was refused, or the molecule of
        call number `limit` was scored (new, or from the cache when a resumed run replays the steps
        before its last checkpoint: it then stops at the step an unkilled run stopped at)."""
        return self.refused > 0 or self._limit_seen

    def set_limit(self, limit: int) -> None:
        self.limit = min(limit, self.budget)
        self._limit_seen, self.refused = False, 0

    def state(self) -> dict:
        return {"oracle_budget": self.budget, "oracle_calls": self.calls}

    # ---- scoring --------------------------------------------------------------------------------------
    def _compute(self, smiles: list[str]) -> list[np.ndarray]:
        cols = [np.asarray(self.columns[n].scorer(list(smiles)), dtype=np.float64).reshape(-1) for n in self.names]
        return [np.array([c[i] for c in cols]) for i in range(len(smiles))]

    def _score_of(self, values: np.ndarray) -> float:
        if isinstance(self.score, str):
            v = float(values[self.names.index(self.score)])
        else:
            v = float(self.score(dict(zip(self.names, values))))
        return min(1.0, max(0.0, v)) if math.isfinite(v) else 0.0

    def evaluate(self, candidates: Sequence[str]) -> np.ndarray:
        """Raw values [n, columns]: NaN rows for invalid candidates and for new ones past the limit."""
        canon = [self.canonicalize(c) if c else None for c in candidates]
        new: list[str] = []
        for c in canon:
            if c is not None and c not in self.cache and c not in new:
                new.append(c)
        room = max(0, self.limit - self.calls)
        take, refused = new[:room], len(new) - min(len(new), room)
        if take:
            vals = self._compute(take)
            rows = []
            for s, v in zip(take, vals):
                self.cache[s] = v
                self.calls += 1
                rows.append((self.calls, s, self._score_of(v)))
            self._append(rows)
        self.refused += refused
        if not self._limit_seen and len(self.log_rows) >= self.limit:
            self._limit_seen = self.log_rows[self.limit - 1][1] in canon
        out = np.full((len(candidates), len(self.names)), np.nan)
        for i, c in enumerate(canon):
            if c is not None and c in self.cache:
                out[i] = self.cache[c]
        return out

    def _append(self, rows: list[tuple[int, str, float]]) -> None:
        self.log_rows.extend(rows)
        if self.log_path is None:
            return
        new_file = not self.log_path.is_file() or self.log_path.stat().st_size == 0
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        if new_file:
            w.writerow(HEADER)
        for call, smi, score in rows:
            w.writerow((call, smi, repr(score)))
        with open(self.log_path, "a", encoding="utf-8") as f:
            f.write(buf.getvalue())
            f.flush()
            os.fsync(f.fileno())

    def scorer(self, name: str) -> Callable[[Sequence[str]], np.ndarray]:
        if name not in self.columns:
            raise KeyError(f"objective {name!r} is not scored by this run's oracle budget ({self.names})")
        j = self.names.index(name)

        def score(candidates: Sequence[str]) -> np.ndarray:
            return self.evaluate(candidates)[:, j]

        return score

    def wrap(self, objectives: Sequence[Objective]) -> list[Objective]:
        """Copies of `objectives` whose scores go through the budget (same names, scales and goals)."""
        return [dataclasses.replace(o, scorer=self.scorer(o.name)) for o in objectives]


def budget_for(cfg, domain, train_objectives: Sequence[Objective], oracle: Sequence[Objective], log_path=None):
    """The OracleBudget of a run: columns are its training objectives and its oracle; the call log records
    the oracle's `pmo_score` (a PMO task's aggregate) when it has one, else the run's weighted reward."""
    names = {o.name for o in oracle}
    if "pmo_score" in names:
        score = "pmo_score"
    else:
        w = np.asarray(cfg.weights, dtype=np.float64)
        train = list(train_objectives)

        def score(values: dict) -> float:
            r = [float(o.transform(np.array([values[o.name]]))[0]) for o in train]
            return float(np.dot(w, np.nan_to_num(r))) / float(w.sum())

    return OracleBudget(
        cfg.oracle_budget,
        list(train_objectives) + list(oracle),
        domain.canonicalize,
        score,
        log_path,
        limit=cfg.oracle_budget - cfg.n_final_samples,
    )
