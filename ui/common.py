"""Streamlit pieces shared by the pages: cached readers (keyed by file mtime), the run picker that keeps
the run id in the URL, preference sliders, objective labels and the export panel."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import pandas as pd
import streamlit as st

from ui import logic

log = logging.getLogger(__name__)

PAGES = {
    "design": "views/design.py",
    "runs": "views/runs.py",
    "explore": "views/explore.py",
    "compare": "views/compare.py",
}


# ---- the run store --------------------------------------------------------------------------------
@st.cache_resource(show_spinner=False)
def _demo_installed(root: str) -> tuple[str, ...]:
    """Copy the shipped demo runs into the runs folder, once per app process and runs folder."""
    return tuple(logic.install_demo_runs(Path(root)))


def store():
    """The RunStore of the runs folder ($IRS_RUNS_DIR or ./runs), with the demo runs installed."""
    from irs.runs import RunStore

    root = logic.runs_root()
    _demo_installed(str(root))
    return RunStore(root)


def run_statuses() -> list[tuple[object, dict]]:
    """(Run, effective status) of every run, newest first; unreadable runs show as failed."""
    out = []
    for run in reversed(store().list()):
        try:
            st_ = run.status()
        except ValueError as e:
            st_ = {"state": "failed", "error": str(e), "step": 0, "total_steps": 0}
        out.append((run, st_))
    return out


def get_run(run_id: str | None):
    """The Run for an id from the URL or a widget, or None (unknown or unsafe ids are reported)."""
    if not run_id:
        return None
    try:
        return store().get(run_id)
    except ValueError as e:
        st.warning(f"Run {logic.md_text(repr(run_id))} cannot be opened: {logic.md_text(e)}")
        return None


# ---- cached reads ---------------------------------------------------------------------------------
@st.cache_data(show_spinner=False, max_entries=16)
def _table(run_path: str, stamp: tuple) -> pd.DataFrame:
    return logic.load_table(Path(run_path))


def load_table(run) -> pd.DataFrame:
    """The run's candidate table (final + added sets); re-read only when a file changed."""
    return _table(str(run.path), logic.table_stamp(run.path))


@st.cache_data(show_spinner=False, max_entries=32)
def _metrics(run_path: str, mtime_ns: int, size: int) -> list[dict]:
    from irs.runs import Run

    return Run(run_path).metrics()


def load_metrics(run) -> list[dict]:
    p = run.metrics_path
    if not p.is_file():
        return []
    s = p.stat()
    return _metrics(str(run.path), s.st_mtime_ns, s.st_size)


@st.cache_data(show_spinner=False, max_entries=32)
def _config(run_path: str, mtime_ns: int):
    from irs.runs import Run

    return Run(run_path).config()


def load_config(run):
    """The run's RunConfig (cached by config.toml's mtime); None with a warning if it is unreadable."""
    try:
        return _config(str(run.path), run.config_path.stat().st_mtime_ns)
    except (OSError, ValueError) as e:
        st.warning(f"Run {logic.md_text(run.id)}: config unreadable ({logic.md_text(e)})")
        return None


@st.cache_resource(show_spinner=False)
def objective_infos(domain: str, preset: str) -> list[logic.ObjectiveInfo]:
    """Objective metadata of a preset (cached: building a preset may load proxy models)."""
    return logic.objective_infos(domain, preset or None)


def infos_for(cfg, names: Sequence[str]) -> dict[str, logic.ObjectiveInfo]:
    """ObjectiveInfo for each candidate-table objective; plain names where the preset has no entry."""
    found = {}
    if cfg is not None:
        try:
            found = {o.name: o for o in objective_infos(cfg.domain, cfg.preset)}
        except ValueError:
            found = {}
    return {n: found.get(n, logic.ObjectiveInfo(n, "max", "")) for n in names}


# ---- the run picker -------------------------------------------------------------------------------
def run_picker(key: str, runs: Sequence, label: str = "Run", help: str | None = None):
    """A selectbox over `runs` whose value lives in the URL query (?run=...), so a refresh keeps it."""
    ids = [r.id for r in runs]
    if not ids:
        return None
    want = st.query_params.get("run")
    if want and want not in ids:
        st.caption(f"Run {logic.md_text(want)} is not listed here ({label.lower()}s only); showing another one.")
    if want in ids and st.session_state.get(key) != want:
        st.session_state[key] = want  # the URL wins: a refresh, a link, or another page chose this run
    elif st.session_state.get(key) not in ids:
        st.session_state[key] = logic.default_run_id(ids) or ids[0]

    def sync():
        st.query_params["run"] = st.session_state[key]

    run_id = st.selectbox(label, ids, key=key, on_change=sync, help=help)
    st.query_params["run"] = run_id
    return runs[ids.index(run_id)]


def go_to(page: str, run_id: str | None = None) -> None:
    """Switch page, carrying the run id in the URL (switch_page drops query parameters set before it, so
    they travel as its argument; the target page's run_picker reads them)."""
    st.switch_page(PAGES[page], query_params={"run": run_id} if run_id else None)


# ---- preferences ----------------------------------------------------------------------------------
def weight_sliders(
    infos: Sequence[logic.ObjectiveInfo],
    key_prefix: str,
    defaults: Sequence[float] | None = None,
    columns: int | None = None,
    describe: bool = False,
) -> tuple[list[float], list[float] | None]:
    """One slider per objective (goal in the label, explanation in the help); shows the normalized
    weights live (describe: the explanation under each slider too). Returns (raw slider values, normalized weights or None when all are zero)."""
    defaults = list(defaults) if defaults else [1.0] * len(infos)
    cols = st.columns(columns or len(infos)) if infos else []
    raw = []
    for k, (o, d) in enumerate(zip(infos, defaults)):
        with cols[k % len(cols)]:
            raw.append(
                st.slider(
                    f"{o.name} · {o.goal_text} {logic.GOAL_SYMBOL.get(o.goal, '')}",
                    0.0,
                    1.0,
                    float(round(min(1.0, max(0.0, d)), 2)),
                    0.05,
                    key=f"{key_prefix}_w_{o.name}",
                    help=o.description or None,
                )
            )
            if describe:
                st.caption(o.description or "no description")
    w = logic.normalize_weights(raw)
    if w is None:
        st.error("All preference weights are zero: set at least one above 0.")
    else:
        st.caption("Normalized weights λ: " + " · ".join(f"**{o.name}** {x:.2f}" for o, x in zip(infos, w)))
    return raw, w


# ---- export ---------------------------------------------------------------------------------------
def export_panel(
    df: pd.DataFrame,
    *,
    domain: str,
    run_id: str,
    key_prefix: str,
    selected: Sequence[int] = (),
    top: Sequence[int] = (),
    filtered: Sequence[int] | None = None,
    units: dict[str, str] | None = None,
) -> None:
    """Pick what (Pareto set, selection, top k, the filtered view) and a format the domain allows; download
    the file that `irs export` writes (irs.export.export; `units` become SD tags). SDF is built on click (it
    embeds 3D conformers)."""
    from irs.domains import get_domain
    from irs.export import allowed_formats

    choices = {"Pareto set": None, f"Selection ({len(selected)})": list(selected), f"Top {len(top)}": list(top)}
    if not selected:
        choices.pop(f"Selection ({len(selected)})")
    if filtered is not None:  # the filtered view on show (filters active)
        choices[f"Filtered view ({len(filtered)})"] = list(filtered)
    c1, c2 = st.columns(2)
    what = c1.radio("Export", list(choices), key=f"{key_prefix}_export_what", horizontal=True)
    fmts = list(allowed_formats(get_domain(domain)))
    fmt = c2.radio(
        "Format",
        fmts,
        key=f"{key_prefix}_export_fmt",
        horizontal=True,
        format_func=str.upper,
        help="The same writer as `irs export`; SDF has a 3D conformer and "
        "every score as a tag, FASTA holds valid sequences.",
    )
    rows = choices[what]
    pareto_only = rows is None
    if pareto_only:
        from irs.candidates import pareto_front

        sets = list(dict.fromkeys(df["set"]))
        n = len(pareto_front(df))
        st.caption(
            f"Pareto set: one front over {'the set' if len(sets) == 1 else 'the sets'} on show "
            f"({', '.join(sets)}), each candidate once."
            + ("" if len(sets) == 1 else " It can differ from the union of the sets' own fronts that the plots mark.")
        )
    else:
        n = len(rows)
    tag = (
        "pareto"
        if pareto_only
        else (
            "selection"
            if what.startswith("Selection")
            else "filtered"
            if what.startswith("Filtered")
            else f"top{len(top)}"
        )
    )
    fname = f"{run_id}-{tag}.{fmt}"

    def build() -> bytes:
        return logic.export_bytes(
            df, fmt, domain=domain, run_id=run_id, rows=rows, pareto_only=pareto_only, units=units
        )

    if n == 0:
        st.info("Nothing to export: the chosen set is empty.")
        return
    data = build if fmt == "sdf" else build()
    st.download_button(
        f"Download {n} as {fmt.upper()}",
        data,
        file_name=fname,
        mime=logic.EXPORT_MIME.get(fmt, "application/octet-stream"),
        key=f"{key_prefix}_download",
        icon=":material/download:",
        on_click="ignore",
    )
