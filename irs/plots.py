"""Plotly figure builders for the workbench and the benchmarks (paper Figures 1-3): pairwise Pareto
scatter plots of a candidate table, per-expert training curves with the merge points marked, and several
runs' Pareto fronts overlaid. Plotly only (no streamlit), so benchmarks and notebooks reuse them.

Every scatter point carries its candidate table row id in `customdata`, as a plain Python list of ints
(numpy arrays come back mangled from a Streamlit selection), so a selection maps straight back to rows.
Above WEBGL_THRESHOLD points a trace is a `scattergl` (Streamlit/plotly stay interactive at 10k points).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

WEBGL_THRESHOLD = 1000
HOVER_TEXT_LIMIT = 3000  # above this many points, hover shows row id and scores only (halves the payload)
# Colour-blind-safe palette (Okabe-Ito), readable on white and on Streamlit's light theme.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000")
GREY = "#9AA5B1"
SELECTED = "#D62728"
TOP_K = "#E69F00"
PLOT_FONT = dict(family="sans-serif", size=12)


def objective_pairs(names: Sequence[str]) -> list[tuple[str, str]]:
    """Every unordered pair of objectives, in order: (0,1), (0,2), ..., (1,2), ..."""
    names = list(names)
    return [(names[i], names[j]) for i in range(len(names)) for j in range(i + 1, len(names))]


def _grid(n_panels: int, max_cols: int = 3) -> tuple[int, int]:
    cols = max(1, min(max_cols, n_panels))
    return math.ceil(max(1, n_panels) / cols), cols


ROW_GAP_PX = 80  # between rows of pairwise plots: the upper row's tick labels and axis title


def _pairwise_grid(names: Sequence[str], max_cols: int, compact_rows: bool = False, height_per_row: int = 360):
    """(names, pairs, rows, cols, figure) for one subplot per objective pair; needs >= 2 objectives.
    compact_rows: a fixed ROW_GAP_PX between rows (plotly's default spacing otherwise)."""
    names = list(names)
    if len(names) < 2:
        raise ValueError(f"pairwise plots need at least 2 objectives, got {names}")
    pairs = objective_pairs(names)
    rows, cols = _grid(len(pairs), max_cols)
    plot_px = height_per_row * rows - 30  # figure height minus top and bottom margins
    spacing = {"vertical_spacing": ROW_GAP_PX / plot_px if rows > 1 else 0.0} if compact_rows else {}
    fig = make_subplots(rows=rows, cols=cols, horizontal_spacing=0.09 if cols > 1 else 0.02, **spacing)
    return names, pairs, rows, cols, fig


def _scatter_cls(n_points: int, webgl: bool | None):
    use_gl = n_points > WEBGL_THRESHOLD if webgl is None else webgl
    return go.Scattergl if use_gl else go.Scatter


def _col(df: pd.DataFrame, name: str, axes: str) -> str:
    if axes not in ("raw", "reward"):
        raise ValueError(f"axes must be 'raw' or 'reward', got {axes!r}")
    return name if axes == "raw" else f"reward_{name}"


def _ids(index) -> np.ndarray:
    """Row ids as an object array of Python ints: plotly validates an array at once (a list is checked
    element by element, seconds at 30k points), and serializes an object array as a plain JSON list,
    which is what Streamlit's selection event hands back unchanged (numeric arrays are base64-packed)."""
    out = np.empty(len(index), dtype=object)
    out[:] = [int(i) for i in index]
    return out


def _hover_text(df: pd.DataFrame, text_col: str | None) -> np.ndarray | None:
    if not text_col or text_col not in df.columns:
        return None
    return df[text_col].astype(str).str.slice(0, 80).to_numpy(dtype=object)


def _axis_layout(fig: go.Figure, pairs, labels: Mapping[str, str], cols: int) -> None:
    for k, (a, b) in enumerate(pairs):
        r, c = divmod(k, cols)
        fig.update_xaxes(title_text=labels.get(a, a), row=r + 1, col=c + 1, title_standoff=4)
        fig.update_yaxes(title_text=labels.get(b, b), row=r + 1, col=c + 1, title_standoff=2)


DRAGMODE = {"box": "select", "lasso": "lasso", "click": "zoom"}  # pareto_scatter's tool -> plotly dragmode


def pareto_scatter(
    df: pd.DataFrame,
    names: Sequence[str],
    *,
    axes: str = "raw",
    labels: Mapping[str, str] | None = None,
    selected: Sequence[int] = (),
    top: Sequence[int] = (),
    set_col: str = "set",
    text_col: str | None = "candidate",
    webgl: bool | None = None,
    height_per_row: int = 360,
    max_cols: int = 3,
    tool: str = "box",
) -> go.Figure:
    """Pairwise scatter plots of `df` (rows that have finite values on the plotted columns).

    tool: what a mouse drag does at first, "box" or "lasso" (select), or "click" (drag zooms, a click
    selects the point): Streamlit's chart selects on click only while the drag mode is not a selection.

    axes: "raw" plots the objectives' raw scores, "reward" their normalized rewards in [0, 1].
    Points are grouped by `set_col` (one colour per candidate set); the Pareto-optimal rows (`pareto`
    column) are drawn larger and opaque, the others light. `top` (row ids, e.g. the top k by weighted
    score) get an open diamond, `selected` an open red circle. customdata = row id on every point.
    """
    if tool not in DRAGMODE:
        raise ValueError(f"tool must be one of {sorted(DRAGMODE)}, got {tool!r}")
    names, pairs, rows, cols, fig = _pairwise_grid(names, max_cols, compact_rows=True, height_per_row=height_per_row)
    labels = dict(labels or {})
    plot_cols = [_col(df, n, axes) for n in names]
    missing = [c for c in plot_cols if c not in df.columns]
    if missing:
        raise ValueError(f"candidate table has no column(s) {missing}")
    finite = np.isfinite(df[plot_cols].to_numpy(dtype=np.float64)).all(axis=1)
    d = df[finite]
    Scatter = _scatter_cls(len(d), webgl)
    if len(d) > HOVER_TEXT_LIMIT:
        text_col = None
    sets = list(dict.fromkeys(d[set_col].tolist())) if set_col in d.columns else [None]
    pareto = d["pareto"].to_numpy(dtype=bool) if "pareto" in d.columns else np.zeros(len(d), bool)
    set_values = d[set_col].to_numpy() if set_col in d.columns else None

    groups = []  # (legend name, mask, marker, legendgroup)
    for k, s in enumerate(sets):
        in_set = np.ones(len(d), bool) if s is None else set_values == s
        color = PALETTE[k % len(PALETTE)]
        prefix = "" if len(sets) == 1 else f"{s}: "
        base_color = GREY if len(sets) == 1 else color
        groups.append(
            (
                f"{prefix}candidates",
                in_set & ~pareto,
                dict(color=base_color, size=5, opacity=0.45 if len(sets) == 1 else 0.3),
                f"c{k}",
            )
        )
        groups.append(
            (
                f"{prefix}Pareto-optimal",
                in_set & pareto,
                dict(color=color, size=8, opacity=0.95, line=dict(color="#1F2933", width=0.7)),
                f"p{k}",
            )
        )
    top_set, sel_set = set(int(i) for i in top), set(int(i) for i in selected)
    ids_all = d.index.to_numpy()
    overlays = [
        (
            f"top {len(top_set)} by weighted score",
            np.isin(ids_all, list(top_set)),
            dict(color=TOP_K, size=13, symbol="diamond-open", line=dict(color=TOP_K, width=2)),
            "top",
        ),
        (
            f"selected ({len(sel_set)})",
            np.isin(ids_all, list(sel_set)),
            dict(color=SELECTED, size=12, symbol="circle-open", line=dict(color=SELECTED, width=2)),
            "sel",
        ),
    ]
    for k, (a, b) in enumerate(pairs):
        r, c = divmod(k, cols)
        xa, yb = d[_col(d, a, axes)].to_numpy(), d[_col(d, b, axes)].to_numpy()
        for name, mask, marker, group in groups + overlays:
            if not mask.any():
                continue
            sub = d[mask]
            fig.add_trace(
                Scatter(
                    x=xa[mask],
                    y=yb[mask],
                    mode="markers",
                    name=name,
                    legendgroup=group,
                    showlegend=(k == 0),
                    marker=marker,
                    customdata=_ids(sub.index),
                    text=_hover_text(sub, text_col),
                    hovertemplate=(
                        f"row %{{customdata}}<br>%{{text}}<br>{a}=%{{x:.4g}}<br>{b}=%{{y:.4g}}<extra></extra>"
                        if text_col and text_col in d.columns
                        else f"row %{{customdata}}<br>{a}=%{{x:.4g}}<br>{b}=%{{y:.4g}}<extra></extra>"
                    ),
                ),
                row=r + 1,
                col=c + 1,
            )
    _axis_layout(fig, pairs, labels, cols)
    fig.update_layout(
        height=height_per_row * rows + 60,
        margin=dict(l=60, r=20, t=40, b=50),
        font=PLOT_FONT,
        dragmode=DRAGMODE[tool],
        clickmode="event+select",
        hovermode="closest",
        template="plotly_white",
        legend=dict(orientation="h", yanchor="bottom", y=1.02, xanchor="left", x=0.0),
        uirevision=f"pareto-{tool}",
    )  # zoom survives reruns; a new tool replaces a modebar choice
    return fig


def parallel_coordinates(
    df: pd.DataFrame,
    names: Sequence[str],
    *,
    labels: Mapping[str, str] | None = None,
    selected: Sequence[int] = (),
    top: Sequence[int] = (),
    tool: str = "box",
    height: int = 420,
) -> go.Figure:
    """Every candidate as a line across one vertical axis per objective, at its normalized reward (0..1,
    up is better on every axis; hover gives the raw score). Built from scatter traces, not plotly's
    parcoords, so a box dragged over a range of one axis selects those candidates through the same
    selection events as the pairwise plots (customdata = row id on the axis points). Pareto-optimal
    lines are coloured, the top k and the selection drawn over them."""
    if tool not in DRAGMODE:
        raise ValueError(f"tool must be one of {sorted(DRAGMODE)}, got {tool!r}")
    names = list(names)
    if len(names) < 2:
        raise ValueError(f"parallel coordinates need at least 2 objectives, got {names}")
    labels = dict(labels or {})
    cols = [f"reward_{n}" for n in names]
    R = df[cols].to_numpy(dtype=np.float64)
    d, R = df[np.isfinite(R).all(axis=1)], R[np.isfinite(R).all(axis=1)]
    ids = d.index.to_numpy()
    pareto = d["pareto"].to_numpy(bool) if "pareto" in d.columns else np.zeros(len(d), bool)
    xs = np.arange(len(names), dtype=float)
    fig = go.Figure()

    def lines(mask, color, width, opacity, name):
        if not mask.any():
            return
        k = int(mask.sum())
        x = np.tile(np.append(xs, np.nan), k)  # one polyline per candidate, NaN-separated
        y = np.hstack([R[mask], np.full((k, 1), np.nan)]).ravel()
        fig.add_trace(
            go.Scattergl(
                x=x,
                y=y,
                mode="lines",
                name=name,
                hoverinfo="skip",
                opacity=opacity,
                line=dict(color=color, width=width),
            )
        )

    top_m, sel_m = np.isin(ids, list(map(int, top))), np.isin(ids, list(map(int, selected)))
    lines(~pareto, GREY, 1, 0.35, "candidates")
    lines(pareto, PALETTE[0], 1.6, 0.9, "Pareto-optimal")
    lines(top_m, TOP_K, 2.2, 1.0, f"top {int(top_m.sum())} by weighted score")
    lines(sel_m, SELECTED, 2.4, 1.0, f"selected ({int(sel_m.sum())})")
    raw = d[names].to_numpy(dtype=np.float64)
    for j, n in enumerate(names):  # the selectable points, one trace per axis; hover: reward and raw score
        fig.add_trace(
            go.Scattergl(
                x=np.full(len(d), xs[j]),
                y=R[:, j],
                mode="markers",
                name=labels.get(n, n),
                showlegend=False,
                marker=dict(size=5, color=np.where(pareto, PALETTE[0], GREY), opacity=0.8),
                customdata=_ids(d.index),
                text=np.array([f"{v:.4g}" for v in raw[:, j]], dtype=object),
                hovertemplate=f"row %{{customdata}}<br>{n}: reward %{{y:.3f}}, raw %{{text}}<extra></extra>",
            )
        )
    fig.update_xaxes(
        tickvals=xs,
        ticktext=[labels.get(n, n) for n in names],
        range=[-0.3, len(names) - 0.7],
        showgrid=True,
        gridcolor="#52606D",
        gridwidth=1,
        zeroline=False,
    )
    fig.update_yaxes(range=[-0.03, 1.03], title_text="normalized reward (up is better)", zeroline=False)
    fig.update_layout(
        height=height,
        margin=dict(l=60, r=20, t=40, b=50),
        font=PLOT_FONT,
        template="plotly_white",
        dragmode=DRAGMODE[tool],
        clickmode="event+select",
        hovermode="closest",
        legend=dict(orientation="h", yanchor="bottom", y=1.02, xanchor="left", x=0.0),
        uirevision=f"parallel-{tool}",
    )
    return fig


def expert_curves(
    records: Sequence[Mapping],
    metrics: Sequence[str] = ("reward", "kl"),
    max_merge_lines: int = 60,
    titles: Mapping[str, str] | None = None,
) -> go.Figure:
    """Per-expert training curves from metrics.jsonl records, one panel per metric, merges marked.

    Step records ({"type": "step", "step", "expert", <metric>...}) give one line per expert; merge
    records ({"type": "merge", "step", "lambdas"}) give a dotted vertical line at each merge (or, when
    there are more than `max_merge_lines` merges, a triangle marker on the x axis, to stay fast).
    titles: panel title per metric (default: the metric's name). An expert with no value of a metric
    gets no line in that panel.
    """
    metrics = list(metrics)
    titles = dict(titles or {})
    fig = make_subplots(
        rows=1,
        cols=len(metrics),
        horizontal_spacing=0.1,
        subplot_titles=[titles.get(m) or (m.upper() if m == "kl" else m.capitalize()) for m in metrics],
    )
    shown: set[str] = set()
    steps = [r for r in records if r.get("type") == "step"]
    merges = [r for r in records if r.get("type") == "merge"]
    experts = list(dict.fromkeys(str(r.get("expert")) for r in steps))
    for c, m in enumerate(metrics):
        for k, e in enumerate(experts):
            pts = [(r["step"], r.get(m)) for r in steps if str(r.get("expert")) == e]
            xs = [p[0] for p in pts]
            ys = [None if v is None or (isinstance(v, float) and not math.isfinite(v)) else v for _, v in pts]
            if all(v is None for v in ys):
                continue
            fig.add_trace(
                go.Scatter(
                    x=xs,
                    y=ys,
                    mode="lines+markers" if len(xs) < 60 else "lines",
                    name=e,
                    legendgroup=e,
                    showlegend=e not in shown,
                    line=dict(color=PALETTE[k % len(PALETTE)], width=2),
                    marker=dict(size=5),
                    hovertemplate=f"{e}<br>step %{{x}}<br>{m}=%{{y:.4g}}<extra></extra>",
                ),
                row=1,
                col=c + 1,
            )
            shown.add(e)
        merge_steps = [r["step"] for r in merges]
        if merge_steps and len(merge_steps) <= max_merge_lines:
            for s in merge_steps:
                fig.add_vline(x=s, line=dict(color="#52606D", width=1, dash="dot"), row=1, col=c + 1)
        if merge_steps:  # one legend entry (and hover with λ) for the merges
            lam = [", ".join(f"{x:.2f}" for x in (r.get("lambdas") or [])) for r in merges]
            fig.add_trace(
                go.Scatter(
                    x=merge_steps,
                    y=[0] * len(merge_steps),
                    mode="markers",
                    name="merge",
                    legendgroup="merge",
                    showlegend=(c == 0),
                    marker=dict(symbol="triangle-up", size=9, color="#52606D"),
                    text=lam,
                    hovertemplate="merge at step %{x}<br>λ = %{text}<extra></extra>",
                ),
                row=1,
                col=c + 1,
            )
        fig.update_xaxes(title_text="step", row=1, col=c + 1)
    fig.update_layout(
        height=340,
        margin=dict(l=50, r=20, t=40, b=45),
        font=PLOT_FONT,
        template="plotly_white",
        legend=dict(orientation="h", yanchor="bottom", y=1.1, xanchor="left", x=0.0),
        hovermode="x unified",
    )
    return fig


def fronts_overlay(
    fronts: Mapping[str, pd.DataFrame],
    names: Sequence[str],
    *,
    axes: str = "raw",
    labels: Mapping[str, str] | None = None,
    webgl: bool | None = None,
    height_per_row: int = 360,
    max_cols: int = 3,
) -> go.Figure:
    """Several runs' Pareto sets on the same pairwise plots: one colour per run (label)."""
    names, pairs, rows, cols, fig = _pairwise_grid(names, max_cols)
    labels = dict(labels or {})
    total = sum(len(f) for f in fronts.values())
    Scatter = _scatter_cls(total, webgl)
    symbols = ("circle", "square", "diamond", "triangle-up", "x", "cross", "star", "hexagon")
    for k, (label, f) in enumerate(fronts.items()):
        for p, (a, b) in enumerate(pairs):
            r, c = divmod(p, cols)
            fig.add_trace(
                Scatter(
                    x=f[_col(f, a, axes)].to_numpy(dtype=float),
                    y=f[_col(f, b, axes)].to_numpy(dtype=float),
                    mode="markers",
                    name=label,
                    legendgroup=label,
                    showlegend=(p == 0),
                    customdata=_ids(f.index),
                    marker=dict(
                        color=PALETTE[k % len(PALETTE)],
                        size=7,
                        symbol=symbols[k % len(symbols)],
                        opacity=0.8,
                        line=dict(color="#1F2933", width=0.5),
                    ),
                    hovertemplate=f"{label}<br>{a}=%{{x:.4g}}<br>{b}=%{{y:.4g}}<extra></extra>",
                ),
                row=r + 1,
                col=c + 1,
            )
    _axis_layout(fig, pairs, labels, cols)
    fig.update_layout(
        height=height_per_row * rows + 60,
        margin=dict(l=60, r=20, t=40, b=50),
        font=PLOT_FONT,
        template="plotly_white",
        hovermode="closest",
        legend=dict(orientation="h", yanchor="bottom", y=1.02, xanchor="left", x=0.0),
    )
    return fig
