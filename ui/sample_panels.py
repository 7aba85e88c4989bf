"""The Explore page's panels that add a candidate set to a run: re-merge the final experts with other
weights (eq. 9), sample a RiC run with another desired-score prompt, or sample the starting model; each
through irs.runs.sample_candidates, stored with logic.add_candidate_set. These samples are scored
after the run, outside any oracle budget it had (its call log is the run's record)."""

from __future__ import annotations

import json
import time

import streamlit as st

from irs.runs import sample_candidates
from ui import logic


def ric_panel(run, cfg, names: list[str], weights) -> None:
    """A RiC run has one model conditioned on desired scores: new preferences mean a new prompt, not a
    re-merge (irs.runs.sample_candidates(weights=...), the same as `irs sample --weights`)."""
    if weights is None or any(n not in names for n in cfg.objective_names):
        st.caption(
            "Sampling a RiC run with other preferences needs a weight for each of its objectives, at least one above 0."
        )
        return
    w = [weights[names.index(n)] for n in cfg.objective_names]
    c1, c2, c3 = st.columns([1, 1, 2])
    n = c1.number_input("Samples", min_value=1, max_value=10000, value=256, key="explore_remerge_n")
    seed = c2.number_input("Seed", min_value=0, value=0, key="explore_remerge_seed")
    c3.markdown("RiC prompt for w = " + ", ".join(f"{o} {x:.2f}" for o, x in zip(cfg.objective_names, w)))
    c3.caption(
        "RiC trains one model whose prompt carries the desired scores; these weights set them "
        "(RiC's preference-to-score mapping), so this samples rather than re-merges."
    )
    if c3.button("Sample with these preferences", key="explore_remerge", icon=":material/tune:"):
        add_sampled_set(
            run,
            "Sampling with the RiC prompt and scoring ...",
            "Sampling",
            lambda: sample_candidates(run, int(n), seed=int(seed), weights=w),
        )
    show_sampled_message()


def add_sampled_set(run, spinner: str, failure: str, make) -> None:
    """Run `make()` (irs.runs.sample_candidates), store its candidates as a new set of the run, rerun."""
    with st.spinner(spinner):
        t0 = time.perf_counter()
        try:
            new = make()
            name = logic.add_candidate_set(run.path, new)
        except Exception as e:  # a truncated model or a corrupt experts.json is reported, not raised
            st.error(f"{failure} failed: {type(e).__name__}: {logic.md_text(e)}")
            return
    st.session_state["explore_pending_set"] = name
    st.session_state["explore_remerge_msg"] = (
        f"Added set “{name}”: {len(new)} candidates "
        f"({int(new['valid'].sum())} valid) in {time.perf_counter() - t0:.1f} s."
    )
    st.rerun()


def show_sampled_message() -> None:
    msg = st.session_state.get("explore_remerge_msg")
    if msg:
        st.success(msg)


def starting_panel(run, cfg, sets) -> None:
    """Sample the model the run started from, scored on the run's own scale, as a set beside the others."""
    from irs.runs import STARTING_SET

    if cfg is None:
        return
    have = any(str(x).startswith(STARTING_SET) for x in sets)  # every set of the run, shown or not
    c1, c2 = st.columns([1, 3])
    n = c1.number_input("Samples", min_value=1, max_value=10000, value=256, key="explore_start_n")
    c2.caption(
        "Adds a set of samples of the starting model (before fine-tuning, the run's sampling settings, "
        "scored by the same oracle on the same scale), so the table above and the plots show what the "
        "fine-tuning changed." + (" This run already has one." if have else "")
    )
    if c2.button("Sample the starting model", key="explore_start", icon=":material/history:"):
        add_sampled_set(
            run,
            "Sampling the starting model and scoring ...",
            "Sampling the starting model",
            lambda: sample_candidates(run, int(n), seed=0, starting=True),
        )


def remerge_panel(run, cfg, names: list[str], weights) -> None:
    if cfg is not None and cfg.method == "ric":
        st.subheader("Sample with these preferences")
        if not (run.final_dir / "config.json").is_file():
            st.caption("This run has no final model saved, so it cannot be sampled.")
            return
        ric_panel(run, cfg, names, weights)
        return
    st.subheader("Re-merge with these weights")
    info_path = run.experts_dir / "experts.json"
    if cfg is None or not info_path.is_file():
        st.caption("This run has no final experts saved, so it cannot be re-merged.")
        return
    try:
        info = json.loads(info_path.read_text())
        expert_objs = list(info.get("objectives") or info.get("names") or [])
    except (OSError, ValueError) as e:
        st.caption(f"experts.json unreadable: {logic.md_text(e)}")
        return
    if cfg.method == "morlhf" or any(n not in names for n in expert_objs) or weights is None:
        st.caption(
            "Re-merging needs one final expert per objective (IterativeRS or Rewarded Soups runs) "
            "and at least one non-zero weight."
        )
        return
    lam = [weights[names.index(n)] for n in expert_objs]
    if sum(lam) <= 0:
        st.caption("Re-merging needs a non-zero weight on at least one of the experts' objectives.")
        return
    # λ over the experts only: an evaluation-only column (PMO's pmo_score) has a slider but no expert
    lam = [x / sum(lam) for x in lam]
    c1, c2, c3 = st.columns([1, 1, 2])
    n = c1.number_input("Samples", min_value=1, max_value=10000, value=256, key="explore_remerge_n")
    seed = c2.number_input("Seed", min_value=0, value=0, key="explore_remerge_seed")
    c3.markdown("λ = " + ", ".join(f"{o} {x:.2f}" for o, x in zip(expert_objs, lam)))
    if c3.button("Re-merge and sample", key="explore_remerge", icon=":material/merge:"):
        add_sampled_set(
            run,
            "Re-merging the final experts, sampling and scoring ...",
            "Re-merge",
            lambda: sample_candidates(run, int(n), lam, int(seed)),
        )
    show_sampled_message()
