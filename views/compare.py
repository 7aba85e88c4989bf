"""Compare: several runs (e.g. the four methods, or several seeds) side by side. A table like the paper's
Table 1 (per-objective means on the Pareto set, average reward, ICV, hypervolume; mean ± std over the runs
of a group) and the runs' Pareto fronts overlaid; export from any of them."""

from __future__ import annotations

import streamlit as st

from irs.candidates import objective_names
from irs.plots import fronts_overlay
from ui import common, logic

st.title("Compare")
statuses = common.run_statuses()
runs = {r.id: r for r, s in statuses if r.candidates_path.is_file()}
if len(runs) < 1:
    st.info("No run has candidates yet.")
    st.page_link("views/design.py", label="Design & launch", icon=":material/tune:")
    st.stop()

wanted = [i for i in (st.query_params.get("runs") or "").split(",") if i in runs]
if "compare_runs" not in st.session_state:
    if not wanted:
        known = {rid: c for rid, c in ((rid, common.load_config(r)) for rid, r in runs.items()) if c is not None}
        wanted = logic.comparable_default(known)
    st.session_state["compare_runs"] = wanted


def _sync():
    st.query_params["runs"] = ",".join(st.session_state["compare_runs"])


chosen = st.multiselect(
    "Runs",
    list(runs),
    key="compare_runs",
    on_change=_sync,
    help="Runs that differ only in their seed form one row (mean ± std over seeds).",
)
if not chosen:
    st.info("Pick at least one run.")
    st.stop()

tables, cfgs = {}, {}
for rid in chosen:
    cfg = common.load_config(runs[rid])
    if cfg is None:
        continue
    try:
        tables[rid] = common.load_table(runs[rid])
    except ValueError as e:
        st.warning(f"{logic.md_text(rid)}: {logic.md_text(e)}")
        continue
    cfgs[rid] = cfg
if not tables:
    st.stop()

by_preset = {}
for rid, cfg in cfgs.items():
    by_preset.setdefault((cfg.domain, cfg.preset, tuple(objective_names(tables[rid]))), []).append(rid)
if len(by_preset) > 1:
    first = max(by_preset.values(), key=len)
    others = [rid for ids in by_preset.values() if ids is not first for rid in ids]
    st.warning(
        f"Runs with other objectives cannot share one table; comparing {len(first)} run(s) and leaving out "
        f"{', '.join(others)}."
    )
    tables = {rid: tables[rid] for rid in first}
    cfgs = {rid: cfgs[rid] for rid in first}

names = objective_names(next(iter(tables.values())))
infos = common.infos_for(next(iter(cfgs.values())), names)
groups = logic.group_runs(cfgs)
label_of = {n: infos[n].label for n in names}
table, aggs = logic.compare_table(
    tables, groups, labels=label_of, weights={rid: logic.weights_text(c) for rid, c in cfgs.items()}
)
st.subheader("Evaluation on the Pareto sets (like the paper's Table 1)")
st.dataframe(table, hide_index=True, key="compare_table")
st.caption(
    "Objective columns: mean raw score over the Pareto-optimal valid, unique candidates of each run's "
    "final set (↑ maximize, ↓ minimize, ◎ target window). Avg reward: mean normalized reward on the set; "
    "ICV: paper eq. 16; hypervolume of the rewards w.r.t. the origin. Mean ± std over the runs of a row "
    "(its run ids in the last column); a row of one run shows its value."
)
st.download_button(
    "Download table as CSV",
    table.to_csv(index=False).encode(),
    file_name="comparison.csv",
    mime="text/csv",
    key="compare_download_table",
    icon=":material/download:",
    on_click="ignore",
)

st.subheader("Pareto fronts")
axes = st.radio(
    "Axes",
    ["raw", "reward"],
    key="compare_axes",
    horizontal=True,
    format_func={"raw": "raw scores", "reward": "normalized rewards"}.get,
)
group_of = {rid: g for g, ids in groups.items() for rid in ids}
fronts = {}
for rid, df in tables.items():
    set_df = df[df["set"] == "final"] if "final" in set(df["set"]) else df
    label = f"{group_of[rid]} · seed {cfgs[rid].seed}" if len(groups[group_of[rid]]) > 1 else group_of[rid]
    fronts[label if label not in fronts else f"{label} · {rid}"] = set_df[set_df["pareto"].to_numpy(bool)]
if len(names) >= 2:
    st.plotly_chart(
        fronts_overlay(fronts, names, axes=axes, labels=label_of), key="compare_fronts", config={"displaylogo": False}
    )

st.subheader("Export")
pick = st.selectbox("From run", list(tables), key="compare_export_run")
k = st.number_input("k for top k (by the run's preference weights)", min_value=1, value=10, key="compare_topk")
df = tables[pick]
df = df[df["set"] == "final"] if "final" in set(df["set"]) else df
weights = cfgs[pick].weights if cfgs[pick].objective_names == names else [1.0] * len(names)
top = logic.top_k_ids(df, logic.weighted_score(df, names, weights), int(k))
common.export_panel(
    df, domain=cfgs[pick].domain, run_id=pick, key_prefix="compare", top=top, units={n: infos[n].unit for n in names}
)
