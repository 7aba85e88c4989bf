"""DNA: motif hits drawn into the sequence view (colours, spans, HTML)."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

log = logging.getLogger(__name__)

# ---- DNA: motif hits in the sequence view ---------------------------------------------------------
# light, colour-blind-safe backgrounds (Okabe-Ito tints) for motif highlights; text stays black
HIT_COLORS = (
    "#9ad0f5",
    "#ffd27f",
    "#8fe0c4",
    "#f0b3d6",
    "#c6b3ff",
    "#ffb08a",
    "#e6e27a",
    "#bfbfbf",
    "#a8e6a1",
    "#ffc6c6",
    "#b5d8e8",
    "#e0c9a6",
)
SEQ_LINE = 50  # nucleotides per line of the sequence view


def motif_colors(motifs: Sequence[str]) -> dict[str, str]:
    """A stable colour per motif name (the order given, e.g. the cell types' marker motifs)."""
    return {m: HIT_COLORS[k % len(HIT_COLORS)] for k, m in enumerate(dict.fromkeys(motifs))}


def hits_for_row(hits: pd.DataFrame, row: int) -> pd.DataFrame:
    """The hits (irs.domains.dna.motifs.scan_hits table) of one sequence, best first, 1-based positions
    added for display."""
    h = hits[hits["row"] == row].sort_values("score", ascending=False, kind="stable").reset_index(drop=True)
    return h.assign(first=h["start"] + 1, last=h["end"])


def sequence_html(seq: str, hits: pd.DataFrame, colors: Mapping[str, str], line: int = SEQ_LINE) -> str:
    """The sequence in monospace, `line` nt per line with 1-based positions on the left, motif hits as
    coloured spans (a position covered by several hits takes the colour of the best one; the tooltip lists
    them all) and a legend. Everything from the data is HTML-escaped."""
    import html

    seq = str(seq)
    n = len(seq)
    best = np.full(n, -1)
    best_score = np.full(n, -np.inf)
    cover: list[list[int]] = [[] for _ in range(n)]
    recs = list(hits[["motif", "cell", "start", "end", "strand", "score"]].itertuples(index=False, name=None))
    for k, (_motif, _cell, a, b, _strand, sc) in enumerate(recs):
        a, b = max(0, int(a)), min(n, int(b))
        for i in range(a, b):
            cover[i].append(k)
            if sc > best_score[i]:
                best[i], best_score[i] = k, sc

    def tip(ks) -> str:
        return "; ".join(
            f"{recs[k][0]} ({recs[k][1]}) {recs[k][4]}{recs[k][2] + 1}-{recs[k][3]} {recs[k][5]:.1f} bits" for k in ks
        )

    width = len(str(max(1, n)))
    lines = []
    for s0 in range(0, n, line):
        parts, i, e0 = [], s0, min(n, s0 + line)
        while i < e0:
            j = i
            while j < e0 and best[j] == best[i] and cover[j] == cover[i]:
                j += 1
            text = html.escape(seq[i:j])
            if best[i] < 0:
                parts.append(text)
            else:
                m = recs[best[i]][0]
                col = html.escape(colors.get(m, HIT_COLORS[-1]), quote=True)
                parts.append(
                    f'<span class="irs-hit" data-motif="{html.escape(m, quote=True)}" '
                    f'style="background:{col};border-radius:2px" '
                    f'title="{html.escape(tip(cover[i]), quote=True)}">{text}</span>'
                )
            i = j
        lines.append(f'<span style="color:#7b8794;user-select:none">{s0 + 1:>{width}} </span>' + "".join(parts))
    shown = list(dict.fromkeys(r[0] for r in recs))
    legend = (
        " ".join(
            f'<span style="white-space:nowrap;margin-right:12px"><span style="display:inline-block;width:12px;'
            f"height:12px;background:{html.escape(colors.get(m, HIT_COLORS[-1]), quote=True)};border-radius:2px;"
            f'vertical-align:middle"></span> {html.escape(m)} '
            f'<span style="color:#52606d">({html.escape(next(r[1] for r in recs if r[0] == m))})</span></span>'
            for m in shown
        )
        or '<span style="color:#52606d">no motif hit above the threshold</span>'
    )
    return (
        '<div class="irs-seqview">'
        '<pre style="font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:14px;'
        'line-height:1.6;margin:0 0 6px 0;white-space:pre;overflow-x:auto">' + "\n".join(lines) + "</pre>"
        f'<div style="font-size:13px">{legend}</div></div>'
    )
