"""Explore's chemistry (molecules runs): structure and property filters, property and image columns for the
candidate table, the scaffold view and the run diagnostics. The chemistry itself is
irs.domains.molecules.properties; this module draws it and keeps the widget state."""

from __future__ import annotations

import base64
from collections.abc import Sequence

import numpy as np
import pandas as pd
import streamlit as st

from irs.domains.molecules import properties as props
from ui import logic

# filterable numeric descriptors: column -> label
RANGE_PROPS = {
    "MW": "MW (g/mol)",
    "TPSA": "TPSA (Å²)",
    "HBD": "H-bond donors",
    "HBA": "H-bond acceptors",
    "rot_bonds": "rotatable bonds",
    "heavy_atoms": "heavy atoms",
    "charge": "formal charge",
    "rings": "rings",
    "arom_rings": "aromatic rings",
}
FLAG_FILTERS = {
    "lipinski": "Lipinski (≤ 1 violation)",
    "veber": "Veber",
    "no_pains": "no PAINS alert",
    "no_brenk": "no Brenk alert",
    "stereo": "stereo fully specified",
}
MAX_IMAGES = 300  # table rows that get a structure image (the best rows of the view)
SIM_KEY, SUB_KEY = "explore_sim_ref", "explore_substructure"


# ---- cached chemistry ----------------------------------------------------------------------------
@st.cache_data(show_spinner="Computing properties ...", max_entries=16)
def properties_of(canonical: tuple) -> pd.DataFrame:
    """Descriptors of every row (NaN where invalid), in the given order."""
    return props.descriptors(list(canonical))


@st.cache_data(show_spinner="Checking structural alerts ...", max_entries=16)
def alerts_of(canonical: tuple) -> pd.DataFrame:
    return props.alerts(list(canonical))


@st.cache_data(show_spinner=False, max_entries=4096)
def thumbnail(smiles: str) -> str | None:
    """A small 2D depiction as a data URI (the table's image column)."""
    from irs.domains.molecules.chem import mol_block_svg

    svg = mol_block_svg(smiles, (160, 110))
    return None if svg is None else "data:image/svg+xml;base64," + base64.b64encode(svg.encode()).decode()


@st.cache_resource(show_spinner="Loading the MOSES training set ...")
def training_set() -> set[str]:
    from irs.domains.molecules.moses import moses_train

    return set(moses_train())


NN_SAMPLE = 50_000  # training molecules the nearest-neighbour search compares with (a seeded sample)


@st.cache_resource(show_spinner="Fingerprinting a sample of the MOSES training set ...")
def training_sample() -> tuple[list[str], list]:
    """(SMILES, fingerprints) of NN_SAMPLE training molecules drawn with seed 0."""
    from irs.domains.molecules.moses import moses_train

    train = moses_train()
    idx = np.random.default_rng(0).choice(len(train), min(NN_SAMPLE, len(train)), replace=False)
    smiles = [train[i] for i in sorted(idx)]
    return smiles, props.fingerprints(smiles)


@st.cache_data(show_spinner="Searching nearest training neighbours ...", max_entries=16)
def neighbours_of(canonical: tuple) -> pd.DataFrame:
    smiles, fps = training_sample()
    return props.nearest_neighbours(list(canonical), smiles, fps)


def _canon(df: pd.DataFrame) -> tuple:
    return tuple(c if v else None for c, v in zip(df["canonical"], df["valid"].to_numpy(bool)))


# ---- filters -------------------------------------------------------------------------------------
def _accepted(key: str, parse) -> tuple[str, object]:
    """(text, parsed) of a text input whose last good value is kept: a value that does not parse shows
    an inline error and the previous filter stays."""
    text = (st.session_state.get(key) or "").strip()
    good = st.session_state.get(f"{key}_good", ("", None))
    if text == good[0]:
        return good
    if not text:
        st.session_state[f"{key}_good"] = ("", None)
        return "", None
    try:
        parsed = parse(text)
    except props.QueryError as e:
        st.error(f"{logic.md_text(e)}. The previous filter is kept.", icon=":material/error:")
        return good
    st.session_state[f"{key}_good"] = (text, parsed)
    return text, parsed


def filters(df: pd.DataFrame) -> tuple[np.ndarray, pd.DataFrame, str]:
    """The filters expander. Returns (row mask over df, extra columns the filters computed (similarity,
    alerts, properties), a one-line summary of the active filters, '' when none). Properties of the whole
    table are computed only when a property filter asks for them (about 1 ms a molecule, once)."""
    canon = _canon(df)
    p = pd.DataFrame(index=df.index)  # only what a filter needs; the table computes its own rows' properties
    mask = np.ones(len(df), bool)

    def need_properties() -> None:
        nonlocal p
        if "MW" not in p.columns:
            d = properties_of(canon)
            d.index = df.index
            p = d.join(p)

    active = []
    with st.expander("Structure and property filters", icon=":material/filter_alt:", key="explore_chem_filters"):
        c1, c2 = st.columns(2)
        c1.text_input(
            "Substructure (SMARTS or SMILES)",
            key=SUB_KEY,
            placeholder="e.g. c1ccncc1 or [NX3][CX3]=O",
            help="Molecules containing this substructure, however they are written (RDKit).",
        )
        sub_text, _ = _accepted(SUB_KEY, props.parse_query)
        c2.text_input(
            "Similar to (SMILES)",
            key=SIM_KEY,
            placeholder="a reference molecule",
            help="Tanimoto similarity on Morgan fingerprints (radius 2, 2048 bits).",
        )
        ref_text, _ = _accepted(SIM_KEY, lambda t: props.similarity([t], t))
        if sub_text:
            mask &= props.query_mask(list(canon), sub_text)
            active.append(f"contains {sub_text}")
        if ref_text:
            p["similarity"] = props.similarity(list(canon), ref_text)
            t = c2.slider("Minimum similarity", 0.0, 1.0, 0.4, 0.05, key="explore_sim_min")
            mask &= np.nan_to_num(p["similarity"].to_numpy(float), nan=-1) >= t
            active.append(f"Tanimoto ≥ {t:.2f} to {ref_text}")
        chosen = st.multiselect(
            "Property ranges",
            list(RANGE_PROPS),
            format_func=RANGE_PROPS.get,
            key="explore_prop_ranges",
            help="A min and a max per chosen property (RDKit).",
        )
        if chosen:
            need_properties()
        for col in chosen:
            vals = p[col].to_numpy(float)
            finite = vals[np.isfinite(vals)]
            lo0, hi0 = (float(finite.min()), float(finite.max())) if len(finite) else (0.0, 0.0)
            a, b, c = st.columns([2, 2, 3])
            lo = a.number_input(f"{RANGE_PROPS[col]} min", value=lo0, key=f"explore_rng_{col}_min")
            hi = b.number_input(f"{RANGE_PROPS[col]} max", value=hi0, key=f"explore_rng_{col}_max")
            if lo > hi:
                c.error(f"min {lo:g} is above max {hi:g}: this range is not applied.", icon=":material/error:")
                continue
            mask &= (vals >= lo) & (vals <= hi)
            active.append(f"{lo:g} ≤ {col} ≤ {hi:g}")
        flags = (
            st.pills(
                "Rules and alerts",
                list(FLAG_FILTERS),
                format_func=FLAG_FILTERS.get,
                selection_mode="multi",
                key="explore_flags",
                help="Keep molecules that pass each chosen rule. PAINS (A/B/C) and "
                "Brenk alerts: RDKit's FilterCatalog.",
            )
            or []
        )
        if {"lipinski", "veber", "stereo"} & set(flags):
            need_properties()
        if "lipinski" in flags:
            mask &= p["lipinski"].fillna(False).to_numpy(bool)
        if "veber" in flags:
            mask &= p["veber"].fillna(False).to_numpy(bool)
        if "stereo" in flags:
            mask &= p["unspec_stereo"].to_numpy(float) == 0
        if {"no_pains", "no_brenk"} & set(flags) or st.session_state.get("explore_show_alerts"):
            al = alerts_of(canon)
            al.index = df.index
            p["pains"], p["brenk"] = al["pains"], al["brenk"]
            if "no_pains" in flags:
                mask &= (p["pains"] == "").to_numpy(bool)
            if "no_brenk" in flags:
                mask &= (p["brenk"] == "").to_numpy(bool)
        st.toggle(
            "Structural-alert columns in the table",
            key="explore_show_alerts",
            help="PAINS and Brenk alert names per molecule (about 3 ms a molecule, once).",
        )
        active += [FLAG_FILTERS[f] for f in flags]
    return mask, p, " · ".join(active)


# ---- table columns -------------------------------------------------------------------------------
def add_columns(disp: pd.DataFrame, view_index, canonical: Sequence, p: pd.DataFrame, cc: dict) -> None:
    """Structure images (the first MAX_IMAGES rows), then the property columns, into the display table."""
    if st.session_state.get("explore_images", True):
        disp.insert(
            1,
            "structure",
            [thumbnail(c) if isinstance(c, str) and k < MAX_IMAGES else None for k, c in enumerate(canonical)],
        )
        cc["structure"] = st.column_config.ImageColumn(
            "structure", width="small", help=f"2D depiction (the first {MAX_IMAGES} rows)"
        )
    sub = p.reindex(view_index)
    if "MW" not in sub.columns:  # the rows on show only (at most the table's 2,000), cached per molecule
        d = props.descriptors(list(canonical))
        d.index = view_index
        sub = d.join(sub)
    fmt = {"MW": "%.1f", "TPSA": "%.1f"}
    for col in ["similarity", *RANGE_PROPS, "lipinski", "veber", "unspec_stereo", "pains", "brenk"]:
        if col not in sub.columns:
            continue
        disp[col] = sub[col].to_numpy()
        if col in ("lipinski", "veber"):
            cc[col] = st.column_config.CheckboxColumn(col)
        elif col in ("pains", "brenk"):
            cc[col] = st.column_config.TextColumn(col, help=f"{col.upper()} structural alerts ('' = none)")
        elif col == "unspec_stereo":
            cc[col] = st.column_config.NumberColumn(
                "unspec. stereo", format="%d", help="stereocentres whose configuration the SMILES leaves open"
            )
        else:
            cc[col] = st.column_config.NumberColumn(RANGE_PROPS.get(col, col), format=fmt.get(col, "%.3g"))


# ---- scaffolds -----------------------------------------------------------------------------------
def scaffold_view(df: pd.DataFrame, score: pd.Series, sel_key: str) -> None:
    """Bemis-Murcko scaffolds of the rows on show with counts and best score; picking scaffold rows
    selects their molecules; a button selects the best molecule of each of the top scaffolds."""
    from irs.candidates import cross_set_duplicates
    from irs.domains.molecules import murcko_scaffold

    ok = df["valid"].to_numpy(bool) & ~cross_set_duplicates(df)  # each molecule once, whatever its set
    sub = df[ok]
    if sub.empty:
        st.caption("No valid molecules on show.")
        return
    key = pd.Series([murcko_scaffold(c) for c in sub["canonical"]], index=sub.index)
    s = score.reindex(sub.index)
    g = pd.DataFrame({"scaffold": key, "score": s}).groupby("scaffold", sort=False)
    table = pd.DataFrame(
        {
            "count": g.size(),
            "best score": g["score"].max(),
            "best row": g["score"].idxmax() if s.notna().any() else g.head(1).index,
        }
    )
    table = table.sort_values(["count", "best score"], ascending=False).reset_index()
    table.insert(0, "structure", [thumbnail(x) if x else None for x in table["scaffold"]])
    st.caption(
        f"{len(table)} scaffolds among {len(sub)} distinct valid molecules ('' = acyclic). Tick scaffolds to "
        "select their molecules."
    )
    ev = st.dataframe(
        table,
        hide_index=True,
        key="explore_scaffolds",
        on_select="rerun",
        selection_mode="multi-row",
        height=360,
        row_height=56,
        column_config={
            "structure": st.column_config.ImageColumn("structure", width="small"),
            "best score": st.column_config.NumberColumn(format="%.3f"),
            "best row": st.column_config.NumberColumn(format="%d"),
        },
    )
    rows = list(((ev or {}).get("selection") or {}).get("rows") or [])
    if rows and st.session_state.get("explore_scaffold_pick") != rows:
        st.session_state["explore_scaffold_pick"] = rows
        chosen = set(table.loc[rows, "scaffold"])
        st.session_state[sel_key] = [int(i) for i in key.index[key.isin(chosen)]]
        st.rerun()
    c1, c2 = st.columns([1, 3])
    n = c1.number_input("Scaffolds", 1, max(1, len(table)), min(10, len(table)), key="explore_scaffold_n")
    if c2.button(
        f"Select the best molecule of each of the top {int(n)} scaffolds",
        key="explore_scaffold_best",
        icon=":material/diversity_3:",
    ):
        st.session_state[sel_key] = [int(i) for i in table["best row"].head(int(n))]
        st.rerun()


# ---- diagnostics ---------------------------------------------------------------------------------
@st.cache_data(show_spinner="Computing diagnostics ...", max_entries=32)
def _diag(canonical: tuple, use_train: bool) -> dict:
    return props.diagnostics(list(c for c in canonical), training_set() if use_train else None)


def diagnostics_view(df: pd.DataFrame, names: list[str], infos: dict) -> None:
    """Per set on show: validity, uniqueness, novelty against the MOSES training set, IntDiv, scaffolds per
    molecule, PAINS and Brenk rates, and each objective's mean over valid molecules; and the objectives'
    distributions per set (a box per set), so a starting-model set shows what the fine-tuning changed."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    from irs.plots import PALETTE, PLOT_FONT

    use_train = st.toggle(
        "Novelty against the MOSES training set (1.6M molecules, about 3 s once)",
        key="explore_diag_novelty",
        value=True,
    )
    rows = []
    sets = list(dict.fromkeys(df["set"]))
    for s in sets:
        part = df[df["set"] == s]
        d = _diag(
            tuple(str(x) if v else "" for x, v in zip(part["canonical"], part["valid"].to_numpy(bool))), use_train
        )
        valid = part[part["valid"].to_numpy(bool)]
        row = {
            "set": s,
            "n": d["n"],
            "valid": d["validity"],
            "unique": d["uniqueness"],
            "novel": d["novelty"],
            "IntDiv": d["int_div"],
            "scaffolds / molecule": d["scaffolds_per_molecule"],
            "PAINS": d["pains_rate"],
            "Brenk": d["brenk_rate"],
        }
        for n in names:
            v = valid[n].to_numpy(float)
            v = v[np.isfinite(v)]
            row[f"{n} mean"] = float(v.mean()) if len(v) else np.nan
            row[f"{n} SE"] = float(v.std(ddof=1) / np.sqrt(len(v))) if len(v) > 1 else np.nan
        rows.append(row)
    st.dataframe(
        pd.DataFrame(rows),
        hide_index=True,
        key="explore_diag_table",
        column_config={
            c: st.column_config.NumberColumn(format="%.3f")
            for c in ["valid", "unique", "novel", "IntDiv", "scaffolds / molecule", "PAINS", "Brenk"]
        },
    )
    st.caption(
        "valid: share of samples that parse; unique: distinct among valid; novel: distinct molecules not in "
        "the MOSES training set; IntDiv: 1 - mean pairwise Tanimoto; PAINS, Brenk: share of distinct "
        "molecules with an alert. Objective means over valid candidates (raw units) ± standard error."
    )
    nn_view(df)
    fig = make_subplots(rows=1, cols=len(names), subplot_titles=[infos[n].label for n in names])
    for k, s in enumerate(sets):
        part = df[(df["set"] == s) & df["valid"].to_numpy(bool)]
        for j, n in enumerate(names):
            fig.add_trace(
                go.Box(
                    y=part[n].to_numpy(float),
                    name=s,
                    legendgroup=s,
                    showlegend=(j == 0),
                    marker_color=PALETTE[k % len(PALETTE)],
                    boxmean=True,
                ),
                row=1,
                col=j + 1,
            )
    fig.update_layout(
        height=330,
        margin=dict(l=40, r=10, t=40, b=30),
        font=PLOT_FONT,
        template="plotly_white",
        legend=dict(orientation="h", y=-0.15),
    )
    fig.update_xaxes(showticklabels=False)
    st.plotly_chart(fig, key="explore_diag_plot", config={"displaylogo": False})


def nn_view(df: pd.DataFrame) -> None:
    """On request: each distinct valid molecule on show with its nearest neighbour among NN_SAMPLE MOSES
    training molecules (Tanimoto, Morgan r = 2), most similar first, and the mean similarity per set."""
    from irs.candidates import cross_set_duplicates

    if not st.toggle(
        f"Nearest training neighbours (against {NN_SAMPLE:,} MOSES training molecules; about 5 ms a molecule)",
        key="explore_diag_nn",
    ):
        return
    ok = df["valid"].to_numpy(bool) & ~cross_set_duplicates(df)
    sub = df[ok].head(2000)
    nn = neighbours_of(tuple(sub["canonical"]))
    nn.insert(0, "molecule", sub["canonical"].to_numpy())
    nn.insert(0, "set", sub["set"].to_numpy())
    nn.insert(0, "id", sub.index.to_numpy())
    means = nn.groupby("set", sort=False)["similarity"].mean()
    st.caption(
        "Mean similarity to the nearest training molecule: "
        + " · ".join(f"{s} {m:.3f}" for s, m in means.items())
        + (f" (first 2,000 of {int(ok.sum())})" if ok.sum() > 2000 else "")
    )
    st.dataframe(
        nn.sort_values("similarity", ascending=False),
        hide_index=True,
        key="explore_diag_nn_table",
        height=240,
        column_config={
            "similarity": st.column_config.NumberColumn(format="%.3f"),
            "id": st.column_config.NumberColumn(format="%d"),
        },
    )
