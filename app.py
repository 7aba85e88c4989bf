"""IterativeRS Workbench: the Streamlit entry point. Routes between the pages in pages/ (st.navigation)
and draws the shared frame; the pages hold no training logic (runs go to irs.runs' background worker).

    streamlit run app.py        # binds to localhost (see .streamlit/config.toml); runs in $IRS_RUNS_DIR
"""
from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent
if str(ROOT) not in sys.path:  # `ui` and `irs` import from the repository, however streamlit was started
    sys.path.insert(0, str(ROOT))

import streamlit as st  # noqa: E402

from ui import common  # noqa: E402

st.set_page_config(page_title="IterativeRS Workbench", page_icon=str(ROOT / "assets" / "icon.png"), layout="wide")

pages = [
    st.Page("pages/design.py", title="Design & launch", icon=":material/tune:", url_path="design"),
    st.Page("pages/runs.py", title="Runs", icon=":material/monitoring:", url_path="runs"),
    st.Page("pages/explore.py", title="Explore", icon=":material/scatter_plot:", url_path="explore", default=True),
    st.Page("pages/compare.py", title="Compare", icon=":material/compare_arrows:", url_path="compare"),
]
page = st.navigation(pages)

store = common.store()  # installs the shipped demo runs into the runs folder on first start
with st.sidebar:
    st.caption(f"Runs folder: `{store.root}`")
    st.caption("IterativeRS: iterative reward soups for multi-objective fine-tuning (NeurIPS 2025).")
page.run()
