"""Runs: every run with its state and progress (polled, so runs started elsewhere appear); one run's live per-expert reward and KL curves (merges
marked, polled with st.fragment; RiC runs: SFT loss and online-round proxy reward), its error if it
failed, and cancel / resume / delete (with a confirmation). The run id lives in the URL (?run=...), so a
refresh keeps the page."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from irs.plots import expert_curves
from ui import common, logic

POLL_S = 2.0  # the selected run's status and curves, while it is active
OVERVIEW_POLL_S = 3.0  # the overview, always: runs launched elsewhere (another tab, the CLI) appear
# Material icons and colours (rendered by Streamlit itself; no emoji font needed) for markdown text.
STATE_BADGE = {
    "queued": ":gray[:material/schedule: queued]",
    "running": ":blue[:material/play_circle: running]",
    "done": ":green[:material/check_circle: done]",
    "failed": ":red[:material/error: failed]",
    "cancelled": ":orange[:material/stop_circle: cancelled]",
}


def overview(runs) -> None:
    from irs.runs.queue import queue_summary

    q = queue_summary(common.store())
    st.caption(
        f"Run queue: {q['running']} training, at most {q['max_runs']} at once ({q['source']}); "
        f"{len(q['waiting'])} waiting, started in order as others finish (`irs queue`)."
    )
    rows = [
        {
            "run": r.id,
            "method": logic.METHOD_LABELS.get(s.get("method"), s.get("method") or "?"),
            "domain": s.get("domain") or "?",
            "state": f"queued #{s['queue_position']}"
            if s.get("state") == "queued" and s.get("queue_position")
            else s.get("state"),
            "progress": logic.run_progress(s)[0],
            "step": f"{s.get('step') or 0} / {s.get('total_steps') or '?'}",
            "now": logic.run_progress(s)[1] if s.get("state") in ("queued", "running") else "",
            "created": (s.get("created") or "")[:19].replace("T", " "),
        }
        for r, s in runs
    ]
    st.dataframe(
        pd.DataFrame(rows),
        hide_index=True,
        key="runs_overview",
        column_config={
            "progress": st.column_config.ProgressColumn("progress", min_value=0.0, max_value=1.0, format="percent")
        },
    )


def overview_live(ids_at_render: list[str]) -> None:
    """The overview, re-read every OVERVIEW_POLL_S; a new or deleted run reruns the page (the picker)."""
    runs = common.run_statuses()
    overview(runs)
    if [r.id for r, _ in runs] != ids_at_render:
        st.rerun()


def live(run_id: str, state_at_render: str) -> None:
    """Status, progress and curves of one run; reruns the page when the state changes."""
    try:
        run = common.store().get(run_id)
        s = run.status()
    except ValueError as e:
        st.error(logic.md_text(e))
        return
    state = s.get("state")
    st.markdown(f"**State:** {STATE_BADGE.get(state, state)} · phase {s.get('phase') or '-'}")
    st.progress(*logic.run_progress(s))
    if s.get("oracle_budget") and state not in ("queued", "running"):
        st.caption(f"Oracle budget: {logic.budget_text(s)} (`oracle_calls.csv` in the run folder)")
    if state == "failed":
        st.error(
            f"The run failed: {logic.md_text(s.get('error') or 'no error message recorded')}", icon=":material/error:"
        )
    elif state == "cancelled" and s.get("error"):
        st.warning(logic.md_text(s["error"]))
    records = common.load_metrics(run)
    if records:
        cfg = common.load_config(run)
        proxy = None
        if cfg is not None:
            from irs.domains import get_domain

            dom = get_domain(cfg.domain)
            proxy = (cfg.preset or dom.default_preset) in dom.proxy_presets
        spec = logic.training_curves(records, proxy)
        st.plotly_chart(
            expert_curves(spec.records, spec.metrics, titles=spec.titles),
            key="runs_curves",
            config={"displaylogo": False},
        )
        if spec.caption:
            st.caption(spec.caption)
        best = logic.best_per_step(records)
        if len(best):
            with st.expander(f"Best sample of each step ({len(best)} steps)", key="runs_best"):
                st.dataframe(
                    best,
                    hide_index=True,
                    key="runs_best_table",
                    height=260,
                    column_config={"reward": st.column_config.NumberColumn(format="%.3f")},
                )
                st.download_button(
                    "Download as CSV",
                    best.to_csv(index=False).encode(),
                    file_name=f"{run_id}-best-per-step.csv",
                    mime="text/csv",
                    key="runs_best_csv",
                    icon=":material/download:",
                    on_click="ignore",
                )
    else:
        st.caption("No training metrics yet; curves appear after the first step.")
    if state != state_at_render:
        st.rerun()


def actions(run, s: dict) -> None:
    from irs.runs import RunError, cancel_run, resume_run

    state = s.get("state")
    bar = st.container(horizontal=True)
    if state in ("queued", "running"):
        if bar.button("Cancel run", key="runs_cancel", icon=":material/stop_circle:"):
            try:
                cancel_run(run, wait=False)
                st.toast(f"Cancel requested for {run.id}; the worker stops at the next step.")
            except RunError as e:
                st.error(logic.md_text(e))
    if state in ("failed", "cancelled"):
        if bar.button("Resume run", key="runs_resume", icon=":material/play_circle:", type="primary"):
            try:
                resume_run(run)
                st.rerun()
            except RunError as e:
                st.error(logic.md_text(e))
    if state == "done" and run.candidates_path.is_file():
        if bar.button("Explore candidates", key="runs_explore", type="primary", icon=":material/scatter_plot:"):
            common.go_to("explore", run.id)
    if state not in ("queued", "running"):
        if bar.button("Delete run", key="runs_delete", icon=":material/delete:"):
            st.session_state["runs_confirm_delete"] = run.id
    if st.session_state.get("runs_confirm_delete") == run.id:
        st.warning(
            f"Delete run **{run.id}** and all its files (checkpoints, experts, candidates)? This cannot be undone."
        )
        confirm = st.container(horizontal=True)
        if confirm.button("Yes, delete", key="runs_delete_yes", type="primary"):
            try:
                common.store().delete(run.id)
            except (ValueError, OSError) as e:
                st.error(f"Could not delete: {logic.md_text(e)}")
                return
            st.session_state.pop("runs_confirm_delete", None)
            st.query_params.pop("run", None)
            st.toast(f"Deleted {run.id}")
            st.rerun()
        if confirm.button("Keep it", key="runs_delete_no"):
            st.session_state.pop("runs_confirm_delete", None)
            st.rerun()


def details(run, s: dict) -> None:
    st.subheader(run.id)
    actions(run, s)
    active = s.get("state") in ("queued", "running")
    st.fragment(run_every=POLL_S if active else None)(live)(run.id, s.get("state"))
    for note in s.get("notes") or []:
        st.caption(f"Note: {logic.md_text(note)}")
    with st.expander("Reward scale", key="runs_calibration"):
        from irs.runs import run_calibration

        try:
            cal = run_calibration(run)
        except ValueError as e:
            st.error(logic.md_text(e))
            cal = None
        if cal:
            st.caption(
                f"Calibrated on {cal.get('samples')} samples of the starting model ({cal.get('valid')} valid): "
                "reward 0 and 1 correspond to these raw values. Training uses the training scale (proxies), "
                "the candidate table the evaluation scale (oracle)."
            )
            st.dataframe(pd.DataFrame(logic.calibration_rows(cal)), hide_index=True, key="runs_calibration_table")
        elif (
            cal is None
            and s.get("state") in ("queued", "running")
            and (s.get("phase") in (None, "starting", "building"))
        ):
            st.caption("The scale is calibrated when the worker has built the model.")
        else:
            st.caption(
                "This run normalizes rewards with the objectives' data statistics (rl.normalization = 'data', "
                "or a run from before calibrated normalization)."
            )
    with st.expander("Configuration", key="runs_config"):
        try:
            st.code(run.config_path.read_text(), language="toml")
        except OSError as e:
            st.caption(f"config.toml unreadable: {logic.md_text(e)}")
    if run.log_path.is_file():
        with st.expander("Worker log (last 40 lines)", key="runs_log"):
            st.code("\n".join(run.log_path.read_text(errors="replace").splitlines()[-40:]) or "(empty)")


st.title("Runs")
runs = common.run_statuses()
if not runs:
    st.info("No runs yet: design and launch one first.")
    st.page_link("views/design.py", label="Design & launch", icon=":material/tune:")
    st.stop()
st.fragment(run_every=OVERVIEW_POLL_S)(overview_live)([r.id for r, _ in runs])
run = common.run_picker("runs_pick", [r for r, _ in runs], label="Run to inspect")
status = dict((r.id, s) for r, s in runs)[run.id]
details(run, status)
