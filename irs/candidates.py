"""The candidate table: generated samples -> canonical form, oracle scores, rewards, flags (Section 5).

One row per generated sample, in generation order (schema in docs/architecture.md, "Conventions"):

    candidate  canonical  valid  duplicate  <name>...  reward_<name>...  pareto  set

- canonical: domain.canonicalize(candidate), None when invalid; valid = canonical is not None. (A parquet
  round trip under pandas 3 turns None into NaN in a str column: test `valid`, not the None.)
- duplicate: the canonical form already appeared in an earlier row of the same table (invalid rows are
  never duplicates).
- <name>: the objective's raw score; reward_<name>: its goal-transformed reward in [0, 1]. Each distinct
  canonical form is scored once and the scores are copied to its duplicates; invalid rows get NaN.
- pareto: on the Pareto front of the rows that are valid, not duplicates and scored on every objective
  (irs.evaluation.pareto_flags; all rewards are "higher is better").
- set: which batch the row came from ("final", "remerge 0.50/0.25/0.25", ...).

Prompt domains (text) add three columns after `candidate`: `prompt_id` (the prompt record's id),
`source` (the source document as the model saw it, cut to SOURCE_CHARS characters) and `reference`.
Their candidates are keyed by (prompt_id, canonical): the same summary of two different papers is two
candidates, scored against each paper's record (context-aware objectives), and not a duplicate.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import pandas as pd

from irs.domains.base import Domain
from irs.evaluation import evaluate, pareto_flags
from irs.objectives import Objective

log = logging.getLogger(__name__)

BASE_COLUMNS = ("candidate", "canonical", "valid", "duplicate", "pareto", "set")
CONTEXT_COLUMNS = ("prompt_id", "source", "reference")
SOURCE_CHARS = 600
REWARD_PREFIX = "reward_"


def objective_names(df: pd.DataFrame) -> list[str]:
    """Objective names of a candidate table, in column order (from its reward_ columns)."""
    return [c[len(REWARD_PREFIX) :] for c in df.columns if c.startswith(REWARD_PREFIX)]


def check_table(df: pd.DataFrame, what: str = "candidate table") -> pd.DataFrame:
    """`df` if it has the candidate-table schema (module docstring): the base columns, at least one
    objective with its raw and reward columns, numeric scores and boolean flags. ValueError names what
    is wrong, so a damaged or hand-edited table is refused with a message, not a traceback later."""
    missing = [c for c in BASE_COLUMNS if c not in df.columns]
    names = objective_names(df)
    missing += [n for n in names if n not in df.columns]
    if missing:
        raise ValueError(f"{what} has no column(s) {missing}")
    if not names:
        raise ValueError(f"{what} has no objective (no reward_<name> column)")
    for c in [*names, *(REWARD_PREFIX + n for n in names)]:
        if not pd.api.types.is_numeric_dtype(df[c]):
            raise ValueError(f"{what}: column {c!r} holds {df[c].dtype} values, not numbers")
    for c in ("valid", "duplicate", "pareto"):
        if not pd.api.types.is_bool_dtype(df[c]):
            raise ValueError(f"{what}: column {c!r} holds {df[c].dtype} values, not True/False")
    return df


def duplicate_flags(canonical: Sequence) -> np.ndarray:
    """True where a (non-None) canonical form (or (prompt_id, canonical) key) already appeared earlier."""
    seen: set[str] = set()
    out = np.zeros(len(canonical), dtype=bool)
    for i, c in enumerate(canonical):
        if c is None:
            continue
        out[i] = c in seen
        seen.add(c)
    return out


def _check_names(names: Sequence[str]) -> None:
    if not names:
        raise ValueError("objectives: need at least one objective")
    if len(set(names)) != len(names):
        raise ValueError(f"objectives: names must be distinct, got {list(names)}")
    for n in names:
        if not isinstance(n, str) or not n or n in BASE_COLUMNS + CONTEXT_COLUMNS or n.startswith(REWARD_PREFIX):
            raise ValueError(
                f"objective name {n!r} clashes with the candidate table's columns "
                f"{BASE_COLUMNS} or the {REWARD_PREFIX!r} prefix"
            )


def _canonicalize(domain: Domain, texts: Sequence[str]) -> list[str | None]:
    out, n_errors = [], 0
    for t in texts:
        try:
            c = domain.canonicalize(t)
        except Exception:  # a canonicalizer that raises on odd input: treat that input as invalid
            c, n_errors = None, n_errors + 1
        out.append(c if c else None)
    if n_errors:
        log.warning(
            "domain %s: canonicalize raised on %d of %d candidates; counted as invalid",
            domain.name,
            n_errors,
            len(texts),
        )
    return out


def row_keys(df: pd.DataFrame, rows=None) -> list:
    """Per-row identity for duplicates: canonical (None when invalid), with prompt_id when the table has it."""
    sub = df if rows is None else df.iloc[rows]
    valid = sub["valid"].to_numpy(dtype=bool)
    canon = list(sub["canonical"])
    if "prompt_id" in sub.columns:
        return [(p, c) if v else None for p, c, v in zip(sub["prompt_id"], canon, valid)]
    return [c if v else None for c, v in zip(canon, valid)]


def score_candidates(
    texts: Sequence[str],
    domain: Domain,
    objectives: Sequence[Objective],
    set_name: str = "final",
    contexts: Sequence[dict] | None = None,
) -> pd.DataFrame:
    """Build the candidate table for `texts` (see module docstring) with the given (oracle) objectives.
    contexts: the prompt record each text answers (prompt domains); adds prompt_id, source, reference."""
    texts = list(texts)
    bad = [i for i, t in enumerate(texts) if not isinstance(t, str)]
    if bad:
        raise ValueError(f"texts must be strings; item {bad[0]} is {type(texts[bad[0]]).__name__}")
    objectives = list(objectives)
    names = [o.name for o in objectives]
    _check_names(names)
    if not isinstance(set_name, str) or not set_name:
        raise ValueError(f"set_name must be a non-empty string, got {set_name!r}")

    if contexts is not None:
        contexts = list(contexts)
        if len(contexts) != len(texts):
            raise ValueError(f"contexts: need one prompt record per text, got {len(contexts)} for {len(texts)}")
    elif any(o.needs_context for o in objectives):
        raise ValueError(f"objectives {[o.name for o in objectives if o.needs_context]} need contexts (prompt records)")
    canonical = _canonicalize(domain, texts)
    valid = np.array([c is not None for c in canonical], dtype=bool)
    keys = (
        canonical
        if contexts is None
        else [(x["id"], c) if c is not None else None for x, c in zip(contexts, canonical)]
    )
    duplicate = duplicate_flags(keys)
    distinct = list(dict.fromkeys(k for k in keys if k is not None))  # first-seen order
    row_of = {k: i for i, k in enumerate(distinct)}
    idx = np.array([row_of[k] for k in keys if k is not None], dtype=np.int64)
    first_row = {}
    for i, k in enumerate(keys):
        if k is not None:
            first_row.setdefault(k, i)
    distinct_ctx = None if contexts is None else [contexts[first_row[k]] for k in distinct]
    distinct_txt = distinct if contexts is None else [k[1] for k in distinct]

    columns: dict[str, object] = {"candidate": pd.Series(texts, dtype=str)}
    if contexts is not None:
        columns["prompt_id"] = pd.Series([str(x["id"]) for x in contexts], dtype=str)
        columns["source"] = pd.Series([str(x.get("source", ""))[:SOURCE_CHARS] for x in contexts], dtype=str)
        columns["reference"] = pd.Series([str(x.get("reference", "")) for x in contexts], dtype=str)
    columns.update(
        {
            "canonical": pd.Series(canonical, dtype=object),  # None stays None
            "valid": valid,
            "duplicate": duplicate,
        }
    )
    rewards = {}
    for o in objectives:
        # scored once per distinct canonical (per prompt, for prompt domains)
        raw_u = o.raw(distinct_txt, distinct_ctx if o.needs_context else None) if distinct else np.zeros(0)
        raw, rew = np.full(len(texts), np.nan), np.full(len(texts), np.nan)
        raw[valid], rew[valid] = raw_u[idx], o.transform(raw_u)[idx]
        columns[o.name], rewards[REWARD_PREFIX + o.name] = raw, rew
    columns.update(rewards)
    R = np.column_stack([rewards[REWARD_PREFIX + n] for n in names])
    columns["pareto"] = pareto_flags(R, valid, duplicate)
    columns["set"] = pd.Series([set_name] * len(texts), dtype=str)
    df = pd.DataFrame(columns)
    log.info(
        "scored %d candidates (%d valid, %d distinct) on %s: %d on the Pareto front",
        len(texts),
        int(valid.sum()),
        len(distinct),
        names,
        int(df["pareto"].sum()),
    )
    return df


def rescore(df: pd.DataFrame, objectives: Sequence[Objective]) -> pd.DataFrame:
    """A copy of the table with the reward columns of `objectives` recomputed from its raw oracle columns
    (e.g. on another calibration's scale) and its pareto flags recomputed within each set; the oracle is
    not called. Raises ValueError when the table lacks an objective's raw column."""
    missing = [o.name for o in objectives if o.name not in df.columns]
    if missing:
        raise ValueError(f"candidate table has no raw column(s) {missing}; it has {list(df.columns)}")
    out = df.copy()
    valid = out["valid"].to_numpy(dtype=bool)
    for o in objectives:
        rew = np.full(len(out), np.nan)
        rew[valid] = o.transform(out[o.name].to_numpy(dtype=np.float64)[valid])
        out[REWARD_PREFIX + o.name] = rew
    R = _reward_matrix(out, objective_names(out))
    pareto = np.zeros(len(out), dtype=bool)
    sets = out["set"].to_numpy() if "set" in out.columns else np.zeros(len(out))
    for s in pd.unique(sets):
        rows = np.flatnonzero(sets == s)
        pareto[rows] = pareto_flags(R[rows], valid[rows], duplicate_flags(row_keys(out, rows)))
    out["pareto"] = pareto
    return out


def _reward_matrix(df: pd.DataFrame, names: Sequence[str]) -> np.ndarray:
    missing = [REWARD_PREFIX + n for n in names if REWARD_PREFIX + n not in df.columns]
    if missing:
        raise ValueError(f"candidate table has no column(s) {missing}; it has {list(df.columns)}")
    return df[[REWARD_PREFIX + n for n in names]].to_numpy(dtype=np.float64).reshape(len(df), len(names))


def evaluate_table(df: pd.DataFrame, names: Sequence[str] | None = None, *, set_name: str | None = None) -> dict:
    """irs.evaluation.evaluate on a candidate table, plus pareto_raw_means {name: mean raw score}.

    names: objectives to evaluate on (default: all reward_ columns). set_name: evaluate only that set's
    rows (default: every row). Duplicates are recomputed from `canonical` over the evaluated rows, so the
    result does not depend on how the table's stored flags were scoped (see merge_tables).
    """
    names = objective_names(df) if names is None else list(names)
    if set_name is not None:
        if set_name not in set(df["set"]):
            raise ValueError(f"set {set_name!r} not in the table; it has {sorted(set(df['set']))}")
        df = df[df["set"] == set_name]
    R = _reward_matrix(df, names)
    valid = df["valid"].to_numpy(dtype=bool)
    duplicate = duplicate_flags(row_keys(df))
    result = evaluate(R, names, valid, duplicate)
    front = pareto_flags(R, valid, duplicate)
    result["pareto_raw_means"] = {
        n: (float(df[n].to_numpy(dtype=np.float64)[front].mean()) if front.any() else float("nan")) for n in names
    }
    return result


def cross_set_duplicates(df: pd.DataFrame) -> np.ndarray:
    """True where a row repeats an earlier row of the table, whatever its set (the `duplicate` column
    only looks within a row's own set)."""
    return duplicate_flags(row_keys(df))


def pareto_front(df: pd.DataFrame, names: Sequence[str] | None = None) -> pd.Index:
    """Index labels of one Pareto front over every row of `df`, all its sets together: valid, scored rows,
    a candidate repeated across sets counted once (its first row). This is what "the Pareto set" of a
    table showing several sets means; each set's own front stays in the `pareto` column."""
    names = objective_names(df) if names is None else list(names)
    flags = pareto_flags(_reward_matrix(df, names), df["valid"].to_numpy(dtype=bool), cross_set_duplicates(df))
    return df.index[flags]


def merge_tables(dfs: Sequence[pd.DataFrame], scope: str = "set") -> pd.DataFrame:
    """Concatenate candidate tables (same objectives) and recompute `duplicate` and `pareto`.

    scope="set" (default): flags are computed within each value of the `set` column, as if each set were
        its own table: the same molecule in "final" and in "remerge ..." is a duplicate in neither, and
        each set keeps its own Pareto front. Use this to compare sets side by side.
    scope="all": the whole merged table is one set: a candidate is a duplicate if it appeared in any
        earlier row (earlier tables first), and there is one Pareto front over all sets.
    The result has a fresh 0..n-1 index; raw scores and rewards are kept as they are.
    """
    if scope not in ("set", "all"):
        raise ValueError(f"scope must be 'set' or 'all', got {scope!r}")
    dfs = list(dfs)
    if not dfs:
        raise ValueError("merge_tables needs at least one table")
    cols = list(dfs[0].columns)
    for i, d in enumerate(dfs[1:], start=1):
        if list(d.columns) != cols:
            raise ValueError(f"table {i} has columns {list(d.columns)}, table 0 has {cols}")
    df = pd.concat(dfs, ignore_index=True)
    names = objective_names(df)
    R = _reward_matrix(df, names)
    valid = df["valid"].to_numpy(dtype=bool)
    dup = np.zeros(len(df), dtype=bool)
    pareto = np.zeros(len(df), dtype=bool)
    groups = (
        [np.arange(len(df))]
        if scope == "all"
        else [np.flatnonzero(df["set"].to_numpy() == s) for s in dict.fromkeys(df["set"])]
    )
    for rows in groups:
        dup[rows] = duplicate_flags(row_keys(df, rows))
        pareto[rows] = pareto_flags(R[rows], valid[rows], dup[rows])
    df["duplicate"], df["pareto"] = dup, pareto
    return df
