"""Explore: a run's candidates on pairwise Pareto scatter plots (paper Figures 1-3), re-ranked by the
preference sliders, with selection shared between the plots and the candidate table; 2D/3D views and a
property card for selected molecules; re-merge with other weights; re-scoring with the oracle; export."""
from __future__ import annotations

import time

import numpy as np
import pandas as pd
import streamlit as st

from irs.candidates import objective_names
from irs.plots import pareto_scatter
from ui import common, logic

SEL = "explore_sel"            # the selection: candidate table row ids, shared by plot and table
MAX_2D = 8                     # 2D depictions shown at once
MAX_ORACLE = 50                # molecules re-scored by the oracle in one click
LAZY_ROWS = 2000               # larger candidate tables stream their rows to the browser on demand
TEXT_COLUMN = {"molecules": "SMILES", "dna": "sequence"}


# ---- selection sync -------------------------------------------------------------------------------
def _on_plot_select() -> None:
    st.session_state[SEL] = logic.ids_from_plot_event(st.session_state.get("explore_plot"))


def _on_table_select() -> None:
    rows = ((st.session_state.get("explore_table") or {}).get("selection") or {}).get("rows") or []
    st.session_state[SEL] = logic.merge_table_selection(st.session_state.get(SEL, []),
                                                        st.session_state.get("explore_table_ids") or [], rows)


def _reset_for(run_id: str) -> None:
    if st.session_state.get("explore_sel_run") != run_id:
        st.session_state["explore_sel_run"] = run_id
        st.session_state[SEL] = []
        for k in ("explore_oracle_result", "explore_sets", "explore_focus", "explore_remerge_msg"):
            st.session_state.pop(k, None)


# ---- cached helpers -------------------------------------------------------------------------------
@st.cache_data(show_spinner=False, max_entries=256)
def _molblock(smiles: str) -> str | None:
    from ui.mol3d import molblock_3d

    return molblock_3d(smiles)


@st.cache_data(show_spinner=False, max_entries=512)
def _svg(smiles: str) -> str | None:
    from ui.mol3d import svg_2d

    return svg_2d(smiles)


@st.cache_resource(show_spinner=False)
def _oracle(domain: str, preset: str, names: tuple[str, ...]):
    """The run's oracle objectives (cache_resource: a physics oracle keeps its own result cache)."""
    from irs.config import ObjectiveSpec, RunConfig
    from irs.domains import get_domain
    from irs.runs import oracle_objectives

    cfg = RunConfig(domain=domain, preset=preset, objectives=[ObjectiveSpec(n, 1.0) for n in names])
    return get_domain(domain), oracle_objectives(get_domain(domain), cfg)


# ---- page parts -----------------------------------------------------------------------------------
def controls(df_all: pd.DataFrame, infos: dict, cfg) -> dict:
    with st.sidebar:
        st.subheader("Preferences")
        defaults = None
        if cfg is not None and cfg.objective_names == list(infos):
            defaults = cfg.weights
        raw, w = common.weight_sliders(list(infos.values()), "explore", defaults, columns=1)
        k = st.number_input("Highlight top k", min_value=1, max_value=max(1, len(df_all)), value=min(10, len(df_all)),
                            key="explore_topk", help="The k best valid, unique candidates by weighted score.")
        st.subheader("Display")
        sets = list(dict.fromkeys(df_all["set"]))
        pending = st.session_state.pop("explore_pending_set", None)
        if "explore_sets" not in st.session_state or any(s not in sets for s in st.session_state["explore_sets"]):
            st.session_state["explore_sets"] = sets
        if pending in sets and pending not in st.session_state["explore_sets"]:
            st.session_state["explore_sets"] = st.session_state["explore_sets"] + [pending]
        chosen = st.multiselect("Candidate sets", sets, key="explore_sets",
                                help="'final' is the run's own sample; re-merges add sets. Each set has its own "
                                     "Pareto front.")
        axes = st.radio("Axes", ["raw", "reward"], key="explore_axes", horizontal=True,
                        format_func={"raw": "raw scores", "reward": "normalized rewards"}.get)
        show_invalid = st.toggle("Show invalid and duplicate candidates", value=False, key="explore_show_invalid",
                                 help="Invalid candidates have no scores, so they appear in the table only.")
    return {"weights": w, "k": int(k), "sets": chosen, "axes": axes, "show_invalid": show_invalid}


def plot(df: pd.DataFrame, names: list[str], infos: dict, opts: dict, top: list[int]) -> None:
    shown = df[df["valid"].to_numpy(bool) & (opts["show_invalid"] | ~df["duplicate"].to_numpy(bool))]
    if len(names) < 2:
        st.info("Pairwise plots need at least two objectives.")
        return
    fig = pareto_scatter(shown, names, axes=opts["axes"], labels={n: infos[n].label for n in names},
                         selected=st.session_state.get(SEL, []), top=top)
    st.plotly_chart(fig, key="explore_plot", on_select=_on_plot_select, selection_mode=("points", "box", "lasso"),
                    config={"displaylogo": False, "scrollZoom": False})
    n_inv = int((~df["valid"].to_numpy(bool)).sum())
    n_dup = int(df["duplicate"].to_numpy(bool).sum())
    st.caption(f"{len(df)} candidates · {int(df['pareto'].sum())} Pareto-optimal · {n_inv} invalid (no scores, "
               f"not plotted) · {n_dup} duplicates ({'shown' if opts['show_invalid'] else 'hidden'}). "
               "Drag a box or lasso to select; click a point; double-click to clear.")


def table(df: pd.DataFrame, names: list[str], score: np.ndarray, domain: str, opts: dict) -> None:
    st.subheader("Candidates")
    c1, c2, c3 = st.columns([3, 1, 1])
    text = c1.text_input("Filter", key="explore_filter", placeholder="substring of the SMILES / sequence / set")
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
        mask &= (shown_text.str.contains(text, regex=False) | t["set"].astype(str).str.contains(text, regex=False)).to_numpy()
    view = t[mask].sort_values("score", ascending=False, na_position="last", kind="stable")
    label = TEXT_COLUMN.get(domain, "candidate")
    disp = pd.DataFrame({"id": view.index, label: shown_text.loc[view.index].to_numpy(), "set": view["set"].to_numpy(),
                         "pareto": view["pareto"].to_numpy(bool), "score": view["score"].to_numpy(),
                         "rank": view["rank"].to_numpy()})
    for n in names:
        disp[n] = view[n].to_numpy()
    for n in names:
        disp[f"reward_{n}"] = view[f"reward_{n}"].to_numpy()
    disp["valid"], disp["duplicate"] = view["valid"].to_numpy(bool), view["duplicate"].to_numpy(bool)
    ids = [int(i) for i in view.index]
    st.session_state["explore_table_ids"] = ids
    st.session_state["explore_table"] = {"selection": {
        "rows": logic.table_selection_rows(st.session_state.get(SEL, []), ids), "columns": [], "cells": []}}
    num = st.column_config.NumberColumn
    cc = {"id": num("id", help="row id in the candidate table (also in exports)", format="%d"),
          "score": num("score", help="weighted score Σ λ_i · reward_i with the sliders' λ", format="%.3f"),
          "rank": num("rank", format="%d"),
          "pareto": st.column_config.CheckboxColumn("Pareto", help="Pareto-optimal within its set")}
    for n in names:
        cc[n] = num(n, format="%.4g")
        cc[f"reward_{n}"] = num(f"reward {n}", format="%.3f")
    st.dataframe(disp, key="explore_table", on_select=_on_table_select, selection_mode="multi-row",
                 hide_index=True, column_config=cc, height=380, lazy=len(disp) > LAZY_ROWS)
    st.caption(f"{len(view)} of {len(t)} rows shown · {len(st.session_state.get(SEL, []))} selected. "
               "Click a column header to sort; tick rows to select them (the plots follow).")


def property_card(row: pd.Series, names: list[str], infos: dict, score: float, rank) -> None:
    card = pd.DataFrame({"objective": [f"{infos[n].label} · {infos[n].goal_text}" for n in names],
                         "raw": [row[n] for n in names],
                         "normalized": [row[f"reward_{n}"] for n in names]})
    st.dataframe(card, hide_index=True, key="explore_card",
                 column_config={"raw": st.column_config.NumberColumn(format="%.4g"),
                                "normalized": st.column_config.ProgressColumn(min_value=0.0, max_value=1.0,
                                                                              format="%.3f")})
    st.markdown(f"weighted score **{score:.3f}** · rank **{rank}** · "
                f"{'**Pareto-optimal**' if row['pareto'] else 'not Pareto-optimal'} · set `{row['set']}`"
                + (" · duplicate" if row["duplicate"] else ""))


def selection_panel(df: pd.DataFrame, names: list[str], infos: dict, score: pd.Series, domain: str, run, cfg) -> None:
    sel = [i for i in st.session_state.get(SEL, []) if i in df.index]
    st.subheader(f"Selection ({len(sel)})")
    if not sel:
        st.caption("Select points on a plot or rows in the table to see them here.")
        return
    if st.button("Clear selection", key="explore_clear", icon=":material/deselect:"):
        st.session_state[SEL] = []
        st.rerun()
    ranks = score.rank(ascending=False, method="min")
    valid_sel = sorted((i for i in sel if df.at[i, "valid"]), key=lambda i: -np.nan_to_num(score.get(i, np.nan), nan=-1))
    focus_opts = valid_sel or sel
    if st.session_state.get("explore_focus") not in focus_opts:
        st.session_state["explore_focus"] = focus_opts[0]
    shown_text = lambda i: str(df.at[i, "canonical"] if df.at[i, "valid"] else df.at[i, "candidate"])  # noqa: E731
    focus = st.selectbox("Focus", focus_opts, key="explore_focus",
                         format_func=lambda i: f"row {i} · {shown_text(i)[:60]}")
    row = df.loc[focus]
    left, right = st.columns([1, 1])
    with left:
        if domain == "molecules" and row["valid"]:
            st.markdown(f"**{shown_text(focus)}**")
            mb = _molblock(str(row["canonical"]))
            if mb:
                from ui.mol3d import viewer_html

                st.iframe(viewer_html(mb, width=460, height=320), height=330)
                st.caption("3D: one MMFF-optimized conformer (RDKit ETKDG); drag to rotate, scroll to zoom.")
            else:
                st.warning("No 3D conformer could be embedded for this molecule.")
        else:
            st.code(shown_text(focus), language=None)
    with right:
        r = ranks.get(focus)
        property_card(row, names, infos, float(score.get(focus, np.nan)), "-" if pd.isna(r) else int(r))
    if domain == "molecules":
        shown = valid_sel[:MAX_2D]
        cols = st.columns(4)
        for k, i in enumerate(shown):
            svg = _svg(str(df.at[i, "canonical"]))
            with cols[k % 4]:
                if svg:
                    st.image(svg, caption=f"row {i}", width="stretch")
        if len(valid_sel) > MAX_2D:
            st.caption(f"Showing {MAX_2D} of {len(valid_sel)} selected molecules in 2D; the table lists all.")
    else:
        st.code("\n".join(shown_text(i) for i in sel[:50]), language=None)
    oracle_panel(df, valid_sel, run, cfg)


def oracle_panel(df: pd.DataFrame, valid_sel: list[int], run, cfg) -> None:
    if cfg is None or not valid_sel:
        return
    c1, c2 = st.columns([1, 3])
    todo = valid_sel[:MAX_ORACLE]
    if c1.button(f"Score {len(todo)} with oracle", key="explore_oracle", icon=":material/science:"):
        from irs.candidates import score_candidates

        names = tuple(objective_names(df))
        with st.spinner(f"Scoring {len(todo)} candidate(s) with the oracle ..."):
            t0 = time.perf_counter()
            try:
                domain, objs = _oracle(cfg.domain, cfg.preset, names)
                res = score_candidates([str(df.at[i, "canonical"]) for i in todo], domain, objs, set_name="oracle")
            except Exception as e:  # an oracle failing (missing binary, timeout) is reported, not raised
                st.error(f"The oracle failed: {type(e).__name__}: {e}")
                return
        res.insert(0, "id", todo)
        st.session_state["explore_oracle_result"] = (run.id, res, time.perf_counter() - t0)
    c2.caption("Re-scores the selected molecules with the preset's oracle (for QM9: GFN2-xTB gap, D4 α, U0 "
               f"model; about 5-40 ms each). At most {MAX_ORACLE} per click.")
    got = st.session_state.get("explore_oracle_result")
    if got and got[0] == run.id:
        _, res, dt = got
        st.caption(f"Oracle scores ({len(res)} molecules, {dt:.1f} s):")
        cols = ["id", "canonical"] + [c for c in res.columns if c not in ("id", "candidate", "canonical", "valid",
                                                                          "duplicate", "set")]
        st.dataframe(res[cols], hide_index=True, key="explore_oracle_table")


def remerge_panel(run, cfg, names: list[str], weights) -> None:
    st.subheader("Re-merge with these weights")
    import json

    info_path = run.experts_dir / "experts.json"
    if cfg is None or not info_path.is_file():
        st.caption("This run has no final experts saved, so it cannot be re-merged.")
        return
    try:
        info = json.loads(info_path.read_text())
        expert_objs = list(info.get("objectives") or info.get("names") or [])
    except (OSError, ValueError) as e:
        st.caption(f"experts.json unreadable: {e}")
        return
    if cfg.method == "morlhf" or any(n not in names for n in expert_objs) or weights is None:
        st.caption("Re-merging needs one final expert per objective (IterativeRS or Rewarded Soups runs) "
                   "and at least one non-zero weight.")
        return
    lam = [weights[names.index(n)] for n in expert_objs]
    c1, c2, c3 = st.columns([1, 1, 2])
    n = c1.number_input("Samples", min_value=1, max_value=10000, value=256, key="explore_remerge_n")
    seed = c2.number_input("Seed", min_value=0, value=0, key="explore_remerge_seed")
    c3.markdown("λ = " + ", ".join(f"{o} {x:.2f}" for o, x in zip(expert_objs, lam)))
    if c3.button("Re-merge and sample", key="explore_remerge", icon=":material/merge:"):
        from irs.runs import sample_candidates

        with st.spinner("Re-merging the final experts, sampling and scoring ..."):
            t0 = time.perf_counter()
            try:
                new = sample_candidates(run, int(n), lam, int(seed))
                name = logic.add_candidate_set(run.path, new)
            except (ValueError, OSError) as e:
                st.error(f"Re-merge failed: {e}")
                return
        st.session_state["explore_pending_set"] = name
        st.session_state["explore_remerge_msg"] = (f"Added set “{name}”: {len(new)} candidates "
                                                   f"({int(new['valid'].sum())} valid) in {time.perf_counter() - t0:.1f} s.")
        st.rerun()
    msg = st.session_state.get("explore_remerge_msg")
    if msg:
        st.success(msg)


# ---- the page -------------------------------------------------------------------------------------
common.page_setup()
st.title("Explore")
statuses = common.run_statuses()
runs = [r for r, s in statuses if r.candidates_path.is_file()]
if not runs:
    st.info("No run has candidates yet. Launch one on the Design page, or open a run folder.")
    st.page_link("pages/design.py", label="Design & launch", icon=":material/tune:")
    st.stop()
run = common.run_picker("explore_run", runs, help="Runs that have candidates")
_reset_for(run.id)
cfg = common.load_config(run)
try:
    df_all = common.load_table(run)
except ValueError as e:
    st.error(f"The candidates of {run.id} cannot be read: {e}")
    st.stop()
names = objective_names(df_all)
infos = common.infos_for(cfg, names)
domain = cfg.domain if cfg is not None else dict((r.id, s) for r, s in statuses)[run.id].get("domain", "")
opts = controls(df_all, infos, cfg)
df = df_all[df_all["set"].isin(opts["sets"])]
if df.empty:
    st.info("Choose at least one candidate set in the sidebar.")
    st.stop()
if opts["weights"] is None:
    score = pd.Series(np.full(len(df), np.nan), index=df.index)
    top = []
else:
    score = pd.Series(logic.weighted_score(df, names, opts["weights"]), index=df.index)
    top = logic.top_k_ids(df, score.to_numpy(), opts["k"])
st.session_state[SEL] = [i for i in st.session_state.get(SEL, []) if i in df_all.index]

plot_slot, selection_slot = st.container(), st.container()
with selection_slot:  # runs first, so the 3D view of a new selection reaches the browser before the big plot
    selection_panel(df, names, infos, score, domain, run, cfg)
with plot_slot:
    plot(df, names, infos, opts, top)
table(df, names, score.to_numpy(), domain, opts)
remerge_panel(run, cfg, names, opts["weights"])
st.subheader("Export")
common.export_panel(df, domain=domain, run_id=run.id, key_prefix="explore",
                    selected=[i for i in st.session_state.get(SEL, []) if i in df.index], top=top)
