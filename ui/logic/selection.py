"""Selection shared between the plots and the table: ids from plot events, table ticks merged into the selection."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

log = logging.getLogger(__name__)


# ---- selection ------------------------------------------------------------------------------------
def ids_from_plot_event(event) -> list[int]:
    """Row ids in a Streamlit plotly selection event (customdata of every selected point), sorted."""
    pts = ((event or {}).get("selection") or {}).get("points") or []
    ids = set()
    for p in pts:
        cd = p.get("customdata") if isinstance(p, Mapping) else None
        if isinstance(cd, (list, tuple)):
            cd = cd[0] if cd else None
        if cd is not None:
            try:
                ids.add(int(cd))
            except (TypeError, ValueError):
                continue
    return sorted(ids)


def merge_table_selection(old: Sequence[int], shown: Sequence[int], rows: Sequence[int]) -> list[int]:
    """The selection after the user (de)selected table rows: `rows` are positions in the table, which
    shows the row ids `shown`; selected ids the table does not show (filtered out) are kept."""
    visible = set(shown)
    kept = {i for i in old if i not in visible}
    return sorted(kept | {shown[r] for r in rows if 0 <= r < len(shown)})


def table_selection_rows(selected: Sequence[int], shown: Sequence[int]) -> list[int]:
    """Positions in the table (showing ids `shown`) of the selected ids it shows."""
    pos = {i: p for p, i in enumerate(shown)}
    return [pos[i] for i in selected if i in pos]
