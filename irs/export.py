"""Export candidate tables: CSV, JSONL (every domain), FASTA and SDF (domains that declare them).

Every format carries, per exported row: `id` (the row's label in the candidate table, so exports can be
traced back; FASTA writes it as `cand_<id>`), the candidate, its canonical form, the flags, each
objective's raw score under the objective's name, its reward as `reward_<name>`, and the run id.

- csv: one column per field; NaN is an empty cell. Text is written as is (no spreadsheet-formula
  escaping, which would change the data). Columns a domain adds to the schema (a text domain's
  `prompt_id`, `source`, `reference`) follow the standard ones.
- jsonl: one JSON object per row, same keys as the CSV columns (all of the table's columns); NaN is null.
- fasta: valid rows only; header `>cand_12 pareto=1 frac_a=0.5 ... reward_frac_a=0.5 ... run=<run_id>`,
  then the canonical sequence on one line.
- sdf: valid rows only; delegated to irs.domains.molecules.chem.write_sdf(records, path, run_id)
  (3D conformer, molecule name `cand_<id>`, every field as an SD tag, `unit_<name>` with each objective's
  unit, and a flag for stereocentres the SMILES leaves open), imported only when needed.

All writes are atomic (irs.io). The caller passes the output path; the CLI and the app build it with
irs.io.safe_join.
"""

from __future__ import annotations

import io
import json
import logging
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from irs.candidates import REWARD_PREFIX, objective_names, pareto_front
from irs.domains.base import Domain
from irs.io import atomic_write_text, check_name, check_output_path

log = logging.getLogger(__name__)

COMMON_FORMATS = ("csv", "jsonl")
IMPLEMENTED_FORMATS = COMMON_FORMATS + ("fasta", "sdf")


def allowed_formats(domain: Domain) -> tuple[str, ...]:
    """Formats `export` accepts for this domain: csv and jsonl, plus the domain's export_formats."""
    return COMMON_FORMATS + tuple(f for f in domain.export_formats if f not in COMMON_FORMATS)


def _select(df: pd.DataFrame, pareto_only: bool, rows, names: Sequence[str]) -> pd.DataFrame:
    if rows is not None:
        rows = list(rows)
        unknown = [r for r in rows if r not in df.index]
        if unknown:
            raise ValueError(f"rows: {len(unknown)} id(s) not in the candidate table, e.g. {unknown[:5]}")
        df = df.loc[rows]
    if pareto_only:
        df = df.loc[pareto_front(df, names)]
    return df


def _table_columns(names: Sequence[str]) -> list[str]:
    return (
        ["candidate", "canonical", "valid", "duplicate"]
        + list(names)
        + [REWARD_PREFIX + n for n in names]
        + ["pareto", "set"]
    )


def extra_columns(df: pd.DataFrame, names: Sequence[str]) -> list[str]:
    """Columns a domain adds to the schema (e.g. a text domain's prompt_id, source, reference), in table
    order; not the standard ones, and not other objectives' score columns."""
    skip = set(_table_columns(objective_names(df))) | set(_table_columns(names)) | {"id", "run_id"}
    return [c for c in df.columns if c not in skip]


def _plain(v):
    """A cell as a JSON-ready Python value: numpy scalars unwrapped, NaN/NaT/None -> None, arrays -> lists."""
    if isinstance(v, np.ndarray):
        return [_plain(x) for x in v.tolist()]
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    if isinstance(v, np.generic):
        v = v.item()
    if v is None or (isinstance(v, float) and math.isnan(v)) or v is pd.NaT:
        return None
    if isinstance(v, (str, int, float, bool)):
        return v
    try:
        return None if pd.isna(v) else str(v)
    except (TypeError, ValueError):
        return str(v)


def _records(df: pd.DataFrame, names: Sequence[str], run_id: str, extra: Sequence[str] = ()) -> list[dict]:
    """Rows as plain-Python dicts: id, the table columns in export order, the `extra` columns, run_id;
    NaN -> None."""
    cols = _table_columns(names) + list(extra)
    out = []
    for label, row in zip(df.index, df[cols].itertuples(index=False, name=None)):
        rec = {"id": label.item() if isinstance(label, np.generic) else label}
        for c, v in zip(cols, row):
            rec[c] = _plain(v)
        rec["run_id"] = run_id
        out.append(rec)
    return out


def _fasta(records: list[dict], names: Sequence[str], run_id: str) -> str:
    def num(v):
        return "nan" if v is None else f"{v:.6g}"

    lines = []
    for r in records:
        scores = " ".join(
            [f"{n}={num(r[n])}" for n in names] + [f"{REWARD_PREFIX}{n}={num(r[REWARD_PREFIX + n])}" for n in names]
        )
        lines.append(f">cand_{r['id']} pareto={int(bool(r['pareto']))} {scores} run={run_id}")
        lines.append(r["canonical"])
    return "".join(line + "\n" for line in lines)


def _write_sdf(records: list[dict], path: Path, run_id: str) -> int:
    try:
        from irs.domains.molecules.chem import write_sdf
    except ImportError as e:
        raise ValueError(f"SDF export needs irs.domains.molecules.chem.write_sdf, which is unavailable: {e}") from e
    # write_sdf writes atomically, names each molecule by `name` and writes the other keys as SD tags
    counts = write_sdf([{"name": f"cand_{r['id']}", **r} for r in records], path, run_id)
    return int(counts["written"])


def export(
    df: pd.DataFrame,
    fmt: str,
    path: str | os.PathLike,
    *,
    domain: Domain | str,
    names: Sequence[str] | None = None,
    run_id: str,
    pareto_only: bool = False,
    rows: Sequence | None = None,
    units: Mapping[str, str] | None = None,
) -> int:
    """Write candidates of `df` (a candidate table) to `path` as `fmt`; returns the number of records.

    domain: a Domain or its registry name; it decides which formats are allowed (ValueError otherwise).
    names: objectives to write (default: all reward_ columns of df).
    run_id: the run the candidates came from, written into every record (must be a safe name).
    rows: ids (index labels) of the rows to export, e.g. a selection in the app; default all rows.
    pareto_only: keep only one Pareto front over the (chosen) rows, all their sets together, a candidate
        repeated across sets written once (irs.candidates.pareto_front; applied after `rows`).
    units: objective name -> unit of its raw score; SDF records carry them as `unit_<name>` tags.
    FASTA and SDF skip invalid rows (they have no sequence or molecule) and log how many.
    """
    if isinstance(domain, str):
        from irs.domains import get_domain

        domain = get_domain(domain)
    allowed = allowed_formats(domain)
    if fmt not in allowed:
        raise ValueError(
            f"export format {fmt!r} is not available for domain {domain.name!r}; choose from {list(allowed)}"
        )
    if fmt not in IMPLEMENTED_FORMATS:  # a domain declared a format this module does not write
        raise ValueError(
            f"export format {fmt!r} (declared by domain {domain.name!r}) is not implemented; "
            f"implemented: {list(IMPLEMENTED_FORMATS)}"
        )
    check_name(run_id, "run id")
    names = objective_names(df) if names is None else list(names)
    missing = [c for c in _table_columns(names) if c not in df.columns]
    if missing:
        raise ValueError(f"candidate table has no column(s) {missing}")
    if fmt == "fasta":
        for n in names:
            check_name(n, "objective name in a FASTA header")
    path = check_output_path(path, folder_must_exist=False)  # the CLI refuses a missing folder itself
    sel = _select(df, pareto_only, rows, names)
    if fmt in ("fasta", "sdf"):
        n_invalid = int((~sel["valid"].to_numpy(dtype=bool)).sum())
        if n_invalid:
            log.info("export %s: skipping %d invalid candidate(s)", fmt, n_invalid)
        sel = sel[sel["valid"].to_numpy(dtype=bool)]
    extra = extra_columns(sel, names) if fmt in COMMON_FORMATS else []
    records = _records(sel, names, run_id, extra)
    n_written = len(records)
    if fmt == "csv":
        buf = io.StringIO()
        columns = ["id", *_table_columns(names), *extra, "run_id"]
        pd.DataFrame.from_records(records, columns=columns).to_csv(buf, index=False)
        atomic_write_text(path, buf.getvalue())
    elif fmt == "jsonl":
        atomic_write_text(path, "".join(json.dumps(r, allow_nan=False) + "\n" for r in records))
    elif fmt == "fasta":
        atomic_write_text(path, _fasta(records, names, run_id))
    else:  # sdf
        unit_tags = {f"unit_{n}": u for n, u in (units or {}).items() if n in names and u}
        n_written = _write_sdf([{**r, **unit_tags} for r in records], path, run_id)
        if n_written != len(records):
            log.warning("export sdf: %d of %d molecules written", n_written, len(records))
    log.info("exported %d candidate(s) as %s to %s", n_written, fmt, path)
    return n_written
