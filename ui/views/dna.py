"""DNA in Explore: the chosen cell types' JASPAR marker-motif hits, as the table's "top hits" column and
highlighted in the focused sequence (with a legend and a hits table)."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from ui import logic
from ui.views.base import DomainView

DNA_CELLS = "explore_dna_cells"  # cell types whose marker motifs are shown
TOP_HITS = 3  # hits in the table's "top hits" column


@st.cache_data(show_spinner=False, max_entries=16)
def _motif_hits(run_path: str, stamp: tuple, cells: tuple[str, ...]) -> pd.DataFrame:
    """Marker-motif hits (irs.domains.dna.motifs.scan_hits) of every valid sequence of the run's table,
    `row` = the row id; cached per run, table version and cell types (2,000 sequences: ~0.5 s)."""
    from pathlib import Path

    from irs.domains.dna.motifs import scan_hits

    df = logic.load_table(Path(run_path))
    seqs = [c if v else None for c, v in zip(df["canonical"], df["valid"].to_numpy(bool))]
    h = scan_hits(seqs, cells)
    h["row"] = df.index.to_numpy()[h["row"].to_numpy()]
    return h


def dna_hits(run, cells: list[str]) -> pd.DataFrame | None:
    """The run's motif hits for `cells`, or None (no cell type chosen, or JASPAR unavailable: reported)."""
    if not cells:
        return None
    try:
        return _motif_hits(str(run.path), logic.table_stamp(run.path), tuple(cells))
    except Exception as e:  # a missing pyjaspar database must not take the page down
        st.warning(f"Motif scanning is unavailable: {type(e).__name__}: {logic.md_text(e)}")
        return None


def default_cells(cfg, options: list[str]) -> list[str]:
    """The run's activity objectives' cell types (k562 -> K562 ...), else K562, HepG2 and GM12878."""
    names = set(cfg.objective_names) if cfg is not None else set()
    got = [c for c in options if c.lower() in names]
    return got or [c for c in ("K562", "HepG2", "GM12878") if c in options]


class DnaView(DomainView):
    label = "sequence"
    noun = "generated 200-bp DNA sequence"

    def sidebar(self, cfg) -> dict:
        from irs.domains.dna.motifs import CELL_MOTIFS

        options = list(CELL_MOTIFS)
        if DNA_CELLS not in st.session_state:
            st.session_state[DNA_CELLS] = default_cells(cfg, options)
        cells = st.multiselect(
            "Motifs of cell types",
            options,
            key=DNA_CELLS,
            help="JASPAR marker motifs per cell type: "
            + "; ".join(f"{c}: {', '.join(m)}" for c, m in CELL_MOTIFS.items())
            + ". A hit is a window whose log-odds score reaches 85% of the motif's range (either strand).",
        )
        return {"cells": cells}

    def prepare(self, df, run, opts):
        mask, text, _ = super().prepare(df, run, opts)
        return mask, text, dna_hits(run, opts.get("cells") or [])

    def columns_after(self, disp, view, cc, ctx, opts) -> None:
        if ctx is None:
            return
        from irs.domains.dna.motifs import top_hits_text

        pos = {int(i): k for k, i in enumerate(view.index)}
        sub = ctx[ctx["row"].isin(view.index)]
        disp["top hits"] = top_hits_text(sub.assign(row=sub["row"].map(pos)), len(view), TOP_HITS)
        cc["top hits"] = st.column_config.TextColumn(
            "top hits",
            width="large",
            help=f"the {TOP_HITS} best marker-motif hits of the chosen cell types: motif, "
            "strand, positions (1-based, inclusive), log-odds score in bits",
        )

    def focus(self, row, text, row_id, ctx, opts) -> None:
        """The 200-nt sequence in monospace with the chosen cell types' motif hits highlighted, a legend,
        and the hits as a small table."""
        if not row["valid"]:
            return super().focus(row, text, row_id, ctx, opts)
        from irs.domains.dna.motifs import cell_motifs

        if ctx is None:
            st.code(text, language=None)
            st.caption("Choose cell types in the sidebar (Motifs of cell types) to highlight their motif hits.")
            return
        h = logic.hits_for_row(ctx, row_id)
        st.html(logic.sequence_html(text, h, logic.motif_colors(cell_motifs(list(opts.get("cells") or [])))))
        if len(h):
            st.dataframe(
                h[["motif", "cell", "strand", "first", "last", "score", "rel"]],
                hide_index=True,
                key="explore_hits_table",
                height=min(220, 38 + 35 * len(h)),
                column_config={
                    "first": st.column_config.NumberColumn("from", help="1-based, inclusive"),
                    "last": st.column_config.NumberColumn("to", help="1-based, inclusive"),
                    "score": st.column_config.NumberColumn("bits", format="%.2f"),
                    "rel": st.column_config.NumberColumn("relative", format="%.2f"),
                },
            )


VIEW = DnaView()
