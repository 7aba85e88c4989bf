"""IterativeRS Workbench: the Streamlit entry point. Routes between the pages in views/ (st.navigation; not pages/, which would switch Streamlit to its older folder routing and show "Page not found" on /explore?run=...)
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

explore = st.Page("views/explore.py", title="Explore", icon=":material/scatter_plot:", url_path="explore")


def _root() -> None:
    """The root URL opens Explore. Explore is not itself the default page: Streamlit serves the default page
    at "/" only, so /explore?run=... would answer "Page not found"."""
    st.switch_page(explore, query_params=st.query_params.to_dict())


pages = [
    st.Page(_root, title="Start", url_path="start", default=True, visibility="hidden"),
    st.Page("views/design.py", title="Design & launch", icon=":material/tune:", url_path="design"),
    st.Page("views/runs.py", title="Runs", icon=":material/monitoring:", url_path="runs"),
    explore,
    st.Page("views/compare.py", title="Compare", icon=":material/compare_arrows:", url_path="compare"),
]
page = st.navigation(pages)

store = common.store()  # installs the shipped demo runs into the runs folder on first start
with st.sidebar:
    st.caption(f"Runs folder: `{store.root}`")
    st.caption("IterativeRS: iterative reward soups for multi-objective fine-tuning (NeurIPS 2025).")
page.run()
