"""Molecules in Explore: structure and property filters, image and property columns (ui.chem_views), the
SMILES with a 3D conformer for the focused molecule, a 2D grid of the selection, scaffolds and diagnostics."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from ui.views.base import SEL, DomainView

MAX_2D = 8  # 2D depictions shown at once


@st.cache_data(show_spinner=False, max_entries=256)
def _molblock(smiles: str) -> str | None:
    from ui.mol3d import molblock_3d

    return molblock_3d(smiles)


@st.cache_data(show_spinner=False, max_entries=512)
def _svg(smiles: str) -> str | None:
    from ui.mol3d import svg_2d

    return svg_2d(smiles)


def chem_views():
    """ui.chem_views, imported on first use (it loads RDKit's catalogues)."""
    from ui import chem_views as cv

    return cv


class MoleculesView(DomainView):
    label = "SMILES"
    noun = "generated molecule"
    text_filter = False  # structure-aware search lives in the filters; a substring of SMILES is not
    starting_set = True

    def prepare(self, df, run, opts):
        mask, chem, text = chem_views().filters(df)
        return mask, text, chem

    def table_toggle(self, col) -> None:
        col.toggle(
            "Structure images",
            value=True,
            key="explore_images",
            help=f"2D depictions in the table (its first {chem_views().MAX_IMAGES} rows)",
        )

    def columns_end(self, disp, view, label, cc, ctx) -> None:
        if ctx is not None:  # structure images after the id, properties after the scores
            chem_views().add_columns(disp, view.index, list(disp[label]), ctx, cc)

    def focus(self, row, text, row_id, ctx, opts) -> None:
        if not row["valid"]:
            return super().focus(row, text, row_id, ctx, opts)
        st.code(text, language=None, wrap_lines=True)  # the SMILES as text
        mb = _molblock(str(row["canonical"]))
        if mb:
            from ui.mol3d import viewer_html

            st.iframe(viewer_html(mb, width=460, height=320), height=330)
            st.caption("3D: one MMFF-optimized conformer (RDKit ETKDG); drag to rotate, scroll to zoom.")
        else:
            st.warning("No 3D conformer could be embedded for this molecule.")

    def many(self, df, valid_sel, sel, text) -> None:
        cols = st.columns(4)
        for k, i in enumerate(valid_sel[:MAX_2D]):
            svg = _svg(str(df.at[i, "canonical"]))
            with cols[k % 4]:
                if svg:
                    st.image(svg, caption=f"row {i}", width="stretch")
        if len(valid_sel) > MAX_2D:
            st.caption(f"Showing {MAX_2D} of {len(valid_sel)} selected molecules in 2D; the table lists all.")

    def below_table(self, df: pd.DataFrame, score: pd.Series, names, infos) -> None:
        # toggles, not expanders: an expander's body runs even when it is closed
        st.subheader("Scaffolds and diagnostics")
        c1, c2 = st.columns(2)
        if c1.toggle("Scaffolds (Bemis-Murcko)", key="explore_scaffold_on"):
            with st.container(border=True):
                chem_views().scaffold_view(df, score, SEL)
        if c2.toggle("Run diagnostics (validity, novelty, diversity, alerts, distributions)", key="explore_diag_on"):
            with st.container(border=True):
                chem_views().diagnostics_view(df, names, infos)


VIEW = MoleculesView()
