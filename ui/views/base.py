"""The generic domain view and its hooks; ui/views/{molecules,dna,text}.py override what they draw."""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

SEL = "explore_sel"  # the selection: candidate table row ids, shared by plot, table and the views


class DomainView:
    """The Explore page calls these hooks in this order on every rerun. `ctx` is what `prepare` returned,
    handed back to the later hooks (molecules: computed properties; DNA: motif hits)."""

    label = "candidate"  # the table's column for the candidate text
    noun = "candidate"  # what one point of the plots is, for the welcome note
    text_filter = True  # a substring filter above the table (molecules filter by structure instead)
    starting_set = False  # offer "Sample the starting model" below the table

    def sidebar(self, cfg) -> dict:
        """Extra sidebar controls; their values join the page's options."""
        return {}

    def prepare(self, df: pd.DataFrame, run, opts: dict) -> tuple[np.ndarray, str, object]:
        """(row mask of the candidates kept, a description of the filter or "", ctx)."""
        return np.ones(len(df), bool), "", None

    def table_toggle(self, col) -> None:
        """A control in place of the substring filter (text_filter = False)."""

    def search_text(self, view: pd.DataFrame) -> pd.Series | None:
        """More text the substring filter searches (beside the candidate and the set), or None."""
        return None

    def columns_before(self, disp: pd.DataFrame, view: pd.DataFrame, cc: dict) -> None:
        """Columns inserted before the candidate column (text: the source)."""

    def columns_after(self, disp: pd.DataFrame, view: pd.DataFrame, cc: dict, ctx, opts: dict) -> None:
        """Columns after the candidate column (DNA: motif hits; text: the reference)."""

    def columns_end(self, disp: pd.DataFrame, view: pd.DataFrame, label: str, cc: dict, ctx) -> None:
        """Columns after the scores (molecules: structure images and properties)."""

    def focus(self, row: pd.Series, text: str, row_id: int, ctx, opts: dict) -> None:
        """The focused candidate of the selection, beside its property card."""
        st.code(text, language=None)

    def many(self, df: pd.DataFrame, valid_sel: list[int], sel: list[int], text) -> None:
        """Below the focus when several candidates are selected."""
        if len(sel) > 1:
            st.code("\n".join(text(i) for i in sel[:50]), language=None)

    def below_table(self, df: pd.DataFrame, score: pd.Series, names: list[str], infos: dict) -> None:
        """Panels after the table (molecules: scaffolds and diagnostics)."""
