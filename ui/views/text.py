"""Text in Explore: the table shows the source excerpt, the summary and the reference excerpt; the focused
row shows all three in full (escaped)."""

from __future__ import annotations

import html

import streamlit as st

from ui import logic
from ui.views.base import DomainView

EXCERPT = 140  # characters of a source / reference in the table


def excerpt(x, n: int = EXCERPT) -> str:
    t = " ".join(str(x).split()) if isinstance(x, str) else ""
    return t if len(t) <= n else t[: n - 1].rstrip() + "…"


class TextView(DomainView):
    label = "summary"
    noun = "generated summary"

    def search_text(self, view):
        return view["source"].astype(str) if "source" in view.columns else None

    def columns_before(self, disp, view, cc) -> None:
        if "source" in view.columns:
            disp["source"] = [excerpt(x) for x in view["source"]]
            cc["source"] = st.column_config.TextColumn(
                "source", width="large", help="the source text (excerpt); select a row for the full text"
            )

    def columns_after(self, disp, view, cc, ctx, opts) -> None:
        if "reference" in view.columns:
            disp["reference"] = [excerpt(x) for x in view["reference"]]
            cc["reference"] = st.column_config.TextColumn(
                "reference", width="medium", help="reference summary (excerpt)"
            )

    def focus(self, row, text, row_id, ctx, opts) -> None:
        def block(title: str, body) -> None:
            st.markdown(f"**{title}**")
            st.html(
                '<div style="white-space:pre-wrap;max-height:260px;overflow-y:auto;border:1px solid #e4e7eb;'
                'border-radius:4px;padding:6px 8px;font-size:14px">' + html.escape(str(body)) + "</div>"
            )

        if "prompt_id" in row.index:
            st.caption(f"prompt {logic.md_text(row['prompt_id'])}")
        block("Source", row.get("source", ""))
        block("Summary (generated)", text)
        if "reference" in row.index:
            block("Reference", row["reference"])


VIEW = TextView()
