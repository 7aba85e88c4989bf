"""Explore: a run's candidates on pairwise Pareto scatter plots (paper Figures 1-3) or parallel coordinates,
re-ranked by the preference sliders, with selection (box, lasso or click) shared between the plots and the
candidate table; shown as plot, table, then the selection (2D/3D views and a property card). Molecules
runs add structure and property filters, property and image columns, a scaffold view and run diagnostics
with a starting-model set (ui.chem_views); DNA the top JASPAR marker-motif hits of chosen cell types in the
table and in the sequence view; text tables source excerpt, summary and reference, and the selected row
in full. Re-merge with other weights (a RiC run: re-sample with its desired-score prompt); re-scoring with
the run's oracle; export (the Pareto set is one front over the sets on show)."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import streamlit as st

from irs.candidates import cross_set_duplicates, objective_names
from irs.plots import parallel_coordinates, pareto_scatter
from ui import common, logic
from ui.sample_panels import remerge_panel, starting_panel
from ui.views import DomainView, view_for
from ui.views.base import SEL

MAX_ORACLE = 50  # molecules re-scored by the oracle in one click
TABLE_ROWS = 2000  # the table shows at most this many rows (the best by weighted score)
TOOLS = {"box": "Box select", "lasso": "Lasso", "click": "Click points"}
TOOL_HINT = {
    "box": "Drag a box to select; double-click to clear.",
    "lasso": "Draw a lasso to select; double-click to clear.",
    "click": "Click a point to select it, shift-click to add more; drag to zoom, double-click to zoom out.",
}


# ---- selection sync -------------------------------------------------------------------------------
def _on_plot_select() -> None:
    view = st.session_state.get("explore_view") or "pairs"
    st.session_state[SEL] = logic.ids_from_plot_event(st.session_state.get(f"explore_plot_{view}"))


def _on_table_select() -> None:
    rows = ((st.session_state.get("explore_table") or {}).get("selection") or {}).get("rows") or []
    st.session_state[SEL] = logic.merge_table_selection(
        st.session_state.get(SEL, []), st.session_state.get("explore_table_ids") or [], rows
    )


def _reset_for(run_id: str) -> None:
    if st.session_state.get("explore_sel_run") != run_id:
        st.session_state["explore_sel_run"] = run_id
        st.session_state[SEL] = []
        for k in ("explore_oracle_result", "explore_sets", "explore_focus", "explore_remerge_msg"):
            st.session_state.pop(k, None)


# ---- page parts -----------------------------------------------------------------------------------
def controls(df_all: pd.DataFrame, infos: dict, cfg, dv: DomainView) -> dict:
    with st.sidebar:
        st.subheader("Preferences")
        defaults = None
        if cfg is not None and cfg.objective_names == list(infos):
            defaults = cfg.weights
        raw, w = common.weight_sliders(list(infos.values()), "explore", defaults, columns=1)
        k = st.number_input(
            "Highlight top k",
            min_value=1,
            max_value=max(1, len(df_all)),
            value=min(10, len(df_all)),
            key="explore_topk",
            help="The k best valid, unique candidates by weighted score.",
        )
        st.subheader("Display")
        sets = list(dict.fromkeys(df_all["set"]))
        pending = st.session_state.pop("explore_pending_set", None)
        if "explore_sets" not in st.session_state or any(s not in sets for s in st.session_state["explore_sets"]):
            st.session_state["explore_sets"] = sets
        if pending in sets and pending not in st.session_state["explore_sets"]:
            st.session_state["explore_sets"] = st.session_state["explore_sets"] + [pending]
        chosen = st.multiselect(
            "Candidate sets",
            sets,
            key="explore_sets",
            help="'final' is the run's own sample; re-merges add sets. Each set has its own Pareto front.",
        )
        axes = st.radio(
            "Axes",
            ["raw", "reward"],
            key="explore_axes",
            horizontal=True,
            format_func={"raw": "raw scores", "reward": "normalized rewards"}.get,
        )
        show_invalid = st.toggle(
            "Show invalid and duplicate candidates",
            value=False,
            key="explore_show_invalid",
            help="Invalid candidates have no scores, so they appear in the table only.",
        )
        extra = dv.sidebar(cfg)
    return {"weights": w, "k": int(k), "sets": chosen, "axes": axes, "show_invalid": show_invalid, **extra}


def plot(df: pd.DataFrame, names: list[str], infos: dict, opts: dict, top: list[int]) -> None:
    shown = df[df["valid"].to_numpy(bool) & (opts["show_invalid"] | ~df["duplicate"].to_numpy(bool))]
    if len(names) < 2:
        st.info("Pairwise plots need at least two objectives.")
        return
    c1, c2 = st.columns([2, 3])
    c1.segmented_control(
        "View",
        ["pairs", "parallel"],
        key="explore_view",
        default="pairs",
        format_func={"pairs": "Pairwise plots", "parallel": "Parallel coordinates"}.get,
        help="Pairwise Pareto plots, or all objectives at once as parallel coordinates.",
    )
    tool = (
        c2.segmented_control(
            "Plot tool",
            list(TOOLS),
            key="explore_tool",
            default="box",
            format_func=TOOLS.get,
            help="What the mouse does on the plots (the plot's own "
            "toolbar switches too). Click: a click selects one point, shift-click adds, "
            "a drag zooms.",
        )
        or "box"
    )
    view = st.session_state.get("explore_view") or "pairs"
    labels = {n: infos[n].label for n in names}
    if view == "parallel":
        fig = parallel_coordinates(
            shown, names, labels=labels, selected=st.session_state.get(SEL, []), top=top, tool=tool
        )
    else:
        fig = pareto_scatter(
            shown, names, axes=opts["axes"], labels=labels, selected=st.session_state.get(SEL, []), top=top, tool=tool
        )
    st.plotly_chart(
        fig,
        key=f"explore_plot_{view}",
        on_select=_on_plot_select,
        selection_mode=("points", "box", "lasso"),
        config={"displaylogo": False, "scrollZoom": False},
    )
    if view == "parallel":
        st.caption(
            "One line per candidate across the objectives' normalized rewards (up is better). Drag a box "
            "over a range of one axis to select the candidates there."
        )
    n_inv = int((~df["valid"].to_numpy(bool)).sum())
    n_dup = int(df["duplicate"].to_numpy(bool).sum())
    n_across = int(cross_set_duplicates(df).sum()) - n_dup  # repeats of a candidate of another set
    across = f" (+{n_across} repeated across sets)" if n_across > 0 else ""
    st.caption(
        f"{len(df)} candidates · {int(df['pareto'].sum())} Pareto-optimal · {n_inv} invalid (no scores, "
        f"not plotted) · {n_dup} duplicates within sets ({'shown' if opts['show_invalid'] else 'hidden'}){across}. "
        + TOOL_HINT[tool]
    )


def table(df: pd.DataFrame, names: list[str], score: np.ndarray, dv: DomainView, opts: dict, ctx=None) -> None:
    st.subheader("Candidates")
    c1, c2, c3 = st.columns([3, 1, 1])
    text = ""
    if dv.text_filter:
        text = c1.text_input("Filter", key="explore_filter", placeholder=f"substring of the {dv.label} or set name")
    else:
        dv.table_toggle(c1)
    pareto_only = c2.toggle("Pareto only", key="explore_pareto_only")
    sel_only = c3.toggle("Selected only", key="explore_selected_only")
    t = df.copy()
    t["score"] = score
    t["rank"] = pd.Series(score, index=t.index).rank(ascending=False, method="min")
    mask = np.ones(len(t), bool)
    if not opts["show_invalid"]:
        mask &= t["valid"].to_numpy(bool) & ~t["duplicate"].to_numpy(bool)
    if pareto_only:
        mask &= t["pareto"].to_numpy(bool)
    if sel_only:
        mask &= t.index.isin(st.session_state.get(SEL, []))
    shown_text = t["canonical"].where(t["valid"].to_numpy(bool), t["candidate"]).astype(str)
    if text:
        found = shown_text.str.contains(text, regex=False) | t["set"].astype(str).str.contains(text, regex=False)
        more = dv.search_text(t)
        if more is not None:
            found |= more.str.contains(text, regex=False)
        mask &= found.to_numpy()
    view = t[mask].sort_values("score", ascending=False, na_position="last", kind="stable")
    n_match = len(view)
    # row selection needs the whole table in the browser (Streamlit's lazy tables cannot select), so a
    # large table is cut to its best rows; the plots still show and select every candidate
    view = view.head(TABLE_ROWS)
    label = dv.label
    cc: dict = {}
    disp = pd.DataFrame({"id": view.index})
    dv.columns_before(disp, view, cc)
    disp[label] = shown_text.loc[view.index].to_numpy()
    dv.columns_after(disp, view, cc, ctx, opts)
    disp["set"], disp["pareto"] = view["set"].to_numpy(), view["pareto"].to_numpy(bool)
    disp["score"], disp["rank"] = view["score"].to_numpy(), view["rank"].to_numpy()
    for n in names:
        disp[n] = view[n].to_numpy()
    for n in names:
        disp[f"reward_{n}"] = view[f"reward_{n}"].to_numpy()
    dv.columns_end(disp, view, label, cc, ctx)
    disp["valid"], disp["duplicate"] = view["valid"].to_numpy(bool), view["duplicate"].to_numpy(bool)
    ids = [int(i) for i in view.index]
    st.session_state["explore_table_ids"] = ids
    st.session_state["explore_table"] = {
        "selection": {
            "rows": logic.table_selection_rows(st.session_state.get(SEL, []), ids),
            "columns": [],
            "cells": [],
        }
    }
    num = st.column_config.NumberColumn
    cc = cc | {
        "id": num("id", help="row id in the candidate table (also in exports)", format="%d"),
        "score": num("score", help="weighted score Σ λ_i · reward_i with the sliders' λ", format="%.3f"),
        "rank": num("rank", format="%d"),
        "pareto": st.column_config.CheckboxColumn("Pareto", help="Pareto-optimal within its set"),
    }
    for n in names:
        cc[n] = num(n, format="%.4g")
        cc[f"reward_{n}"] = num(f"reward {n}", format="%.3f")
    images = "structure" in disp.columns
    st.dataframe(
        disp,
        key="explore_table",
        on_select=_on_table_select,
        selection_mode="multi-row",
        hide_index=True,
        column_config=cc,
        height=420 if images else 380,
        row_height=56 if images else None,
    )
    cut = (
        f" (the best {len(view)} of {n_match} matching by weighted score; filter to narrow)"
        if n_match > len(view)
        else ""
    )
    st.caption(
        f"{len(view)} of {len(t)} rows shown{cut} · {len(st.session_state.get(SEL, []))} selected. "
        "Click a column header to sort; tick rows to select them (the plots follow)."
    )


def property_card(row: pd.Series, names: list[str], infos: dict, score: float, rank) -> None:
    card = pd.DataFrame(
        {
            "objective": [f"{infos[n].label} · {infos[n].goal_text}" for n in names],
            "raw": [row[n] for n in names],
            "normalized": [row[f"reward_{n}"] for n in names],
        }
    )
    st.dataframe(
        card,
        hide_index=True,
        key="explore_card",
        column_config={
            "raw": st.column_config.NumberColumn(format="%.4g"),
            "normalized": st.column_config.ProgressColumn(min_value=0.0, max_value=1.0, format="%.3f"),
        },
    )
    st.markdown(
        f"weighted score **{score:.3f}** · rank **{rank}** · "
        f"{'**Pareto-optimal**' if row['pareto'] else 'not Pareto-optimal'} · set `{row['set']}`"
        + (" · duplicate" if row["duplicate"] else "")
    )


def selection_panel(
    df: pd.DataFrame,
    names: list[str],
    infos: dict,
    score: pd.Series,
    dv: DomainView,
    run,
    cfg,
    ctx,
    opts: dict,
) -> None:
    sel = [i for i in st.session_state.get(SEL, []) if i in df.index]
    st.subheader(f"Selection ({len(sel)})")
    if not sel:
        st.caption("Select points on a plot or rows in the table to see them here.")
        return
    if st.button("Clear selection", key="explore_clear", icon=":material/deselect:"):
        st.session_state[SEL] = []
        st.rerun()
    ranks = score.rank(ascending=False, method="min")
    valid_sel = sorted(
        (i for i in sel if df.at[i, "valid"]), key=lambda i: -np.nan_to_num(score.get(i, np.nan), nan=-1)
    )
    focus_opts = valid_sel or sel
    if st.session_state.get("explore_focus") not in focus_opts:
        st.session_state["explore_focus"] = focus_opts[0]
    shown_text = lambda i: str(df.at[i, "canonical"] if df.at[i, "valid"] else df.at[i, "candidate"])  # noqa: E731
    focus = st.selectbox(
        "Focus", focus_opts, key="explore_focus", format_func=lambda i: f"row {i} · {shown_text(i)[:60]}"
    )
    row = df.loc[focus]
    left, right = st.columns([1, 1])
    with left:
        dv.focus(row, shown_text(focus), int(focus), ctx, opts)
    with right:
        r = ranks.get(focus)
        property_card(row, names, infos, float(score.get(focus, np.nan)), "-" if pd.isna(r) else int(r))
    dv.many(df, valid_sel, sel, shown_text)
    oracle_panel(df, valid_sel, run, cfg)


def oracle_panel(df: pd.DataFrame, valid_sel: list[int], run, cfg) -> None:
    if cfg is None or not valid_sel:
        return
    c1, c2 = st.columns([1, 3])
    todo = valid_sel[:MAX_ORACLE]
    if c1.button(f"Score {len(todo)} with oracle", key="explore_oracle", icon=":material/science:"):
        from irs.runs import oracle_rescore

        ids = [str(df.at[i, "prompt_id"]) for i in todo] if "prompt_id" in df.columns else None
        with st.spinner(f"Scoring {len(todo)} candidate(s) with the oracle ..."):
            t0 = time.perf_counter()
            try:
                res = oracle_rescore(run, [str(df.at[i, "canonical"]) for i in todo], ids)
            except Exception as e:  # an oracle failing (missing binary, timeout) is reported, not raised
                st.error(f"The oracle failed: {type(e).__name__}: {logic.md_text(e)}")
                return
        res.insert(0, "id", todo)
        st.session_state["explore_oracle_result"] = (run.id, res, time.perf_counter() - t0)
    from irs.domains import get_domain

    dom = get_domain(cfg.domain)
    note = dom.oracle_notes.get(cfg.preset or dom.default_preset, "the preset's evaluation objectives")
    c2.caption(
        f"Re-scores the selected candidates with the run's oracle: {note}. At most {MAX_ORACLE} per "
        "click; normalized on the run's evaluation scale."
    )
    got = st.session_state.get("explore_oracle_result")
    if got and got[0] == run.id:
        _, res, dt = got
        st.caption(f"Oracle scores ({len(res)} candidates, {dt:.1f} s):")
        cols = ["id", "canonical"] + [
            c for c in res.columns if c not in ("id", "candidate", "canonical", "valid", "duplicate", "set")
        ]
        st.dataframe(res[cols], hide_index=True, key="explore_oracle_table")


def welcome(run, cfg, ids: list[str], what: str) -> None:
    """A first-start note while the runs folder holds only the shipped demo runs: what is on show and
    what to try; dismissed for the session."""
    demos = {p.name for p in logic.demo_runs()}
    if st.session_state.get("welcome_done") or any(i not in demos for i in ids) or cfg is None:
        return
    objs = ", ".join(cfg.objective_names)
    with st.container(border=True, key="explore_welcome"):
        st.markdown(
            f"**Welcome.** This is a shipped demo run: {logic.METHOD_LABELS.get(cfg.method, cfg.method)} "
            f"fine-tuning of the {cfg.domain} model on {objs}. Each point is a {what}, scored by an oracle "
            "independent of the training rewards; the large points are Pareto-optimal."
        )
        st.markdown(
            "Try: move the **preference sliders** (left) to re-rank; **drag a box** on a plot to select "
            "candidates and see them below the table; **filter** by substructure or properties; "
            "**export** the Pareto set. Other demo runs (DNA, text) are in the **Run** list. To train your "
            "own, open **Design & launch**; its run appears on **Runs** while it trains."
        )
        c1, c2 = st.columns([1, 5])
        if c1.button("Got it", key="explore_welcome_ok", type="primary"):
            st.session_state["welcome_done"] = True
            st.rerun()
        c2.page_link("views/design.py", label="Design & launch a run", icon=":material/tune:")


# ---- the page -------------------------------------------------------------------------------------
st.title("Explore")
statuses = common.run_statuses()
runs = [r for r, s in statuses if r.candidates_path.is_file()]
if not runs:
    st.info("No run has candidates yet. Launch one on the Design page, or open a run folder.")
    st.page_link("views/design.py", label="Design & launch", icon=":material/tune:")
    st.stop()
run = common.run_picker("explore_run", runs, help="Runs that have candidates")
_reset_for(run.id)
cfg = common.load_config(run)
try:
    df_all = common.load_table(run)
except ValueError as e:
    st.error(f"The candidates of {logic.md_text(run.id)} cannot be read: {logic.md_text(e)}")
    st.stop()
if df_all.empty:
    st.info(f"Run {logic.md_text(run.id)} has no candidates (its table has 0 rows).")
    st.stop()
names = objective_names(df_all)
infos = common.infos_for(cfg, names)
domain = cfg.domain if cfg is not None else dict((r.id, s) for r, s in statuses)[run.id].get("domain", "")
dv = view_for(domain, df_all.columns)
welcome(run, cfg, [r.id for r, _ in statuses], dv.noun)
opts = controls(df_all, infos, cfg, dv)
df = df_all[df_all["set"].isin(opts["sets"])]
if df.empty:
    st.info("Choose at least one candidate set in the sidebar.")
    st.stop()
fmask, filter_text, ctx = dv.prepare(df, run, opts)
if filter_text:
    st.caption(
        f"Filtered: {logic.md_text(filter_text)} · {int(fmask.sum())} of {len(df)} candidates (plots, table, export)"
    )
df = df[fmask]
if opts["weights"] is None:
    score = pd.Series(np.full(len(df), np.nan), index=df.index)
    top = []
else:
    score = pd.Series(logic.weighted_score(df, names, opts["weights"]), index=df.index)
    top = logic.top_k_ids(df, score.to_numpy(), opts["k"])
st.session_state[SEL] = [i for i in st.session_state.get(SEL, []) if i in df_all.index]

# shown as plot, table, selection: a selection growing below the table never moves the row being ticked
plot_slot, table_slot, selection_slot = st.container(), st.container(), st.container()
with selection_slot:  # runs first, so the 3D view of a new selection reaches the browser before the big plot
    selection_panel(df, names, infos, score, dv, run, cfg, ctx, opts)
with plot_slot:
    plot(df, names, infos, opts, top)
with table_slot:
    table(df, names, score.to_numpy(), dv, opts, ctx)
dv.below_table(df, score, names, infos)
if dv.starting_set:
    starting_panel(run, cfg, list(dict.fromkeys(df_all["set"])))
remerge_panel(run, cfg, names, opts["weights"])
st.subheader("Export")
common.export_panel(
    df,
    domain=domain,
    run_id=run.id,
    key_prefix="explore",
    selected=[i for i in st.session_state.get(SEL, []) if i in df.index],
    top=top,
    filtered=list(df.index) if filter_text else None,
    units={n: infos[n].unit for n in names},
)
