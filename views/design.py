"""Design & launch: pick a domain, a preset, preference weights, a method and its schedule, then launch a
background run through the run store, or load an existing run (from the list or a folder on disk)."""

from __future__ import annotations

import streamlit as st

from irs.config import MergeConfig, RLConfig, RunConfig, help_of
from irs.domains import domain_names, get_domain
from ui import common, logic


def _schedule_inputs(method: str, n_obj: int) -> dict:
    # min_value 0, not 1: the browser would refuse a 0 with a bare red outline; the config check says why
    if st.session_state.get("design_M_of") != n_obj:  # another objective count: M starts again at all N
        st.session_state["design_M"], st.session_state["design_M_of"] = n_obj, n_obj
    c = st.columns(5)
    m = c[0].number_input(
        "m · merge every",
        min_value=0,
        value=MergeConfig.merge_every,
        step=1,
        key="design_m",
        help=help_of(MergeConfig, "merge_every"),
        disabled=method != "iterative_rs",
    )
    M = c[1].number_input(
        "M · objectives per merge",
        min_value=0,
        value=n_obj,
        step=1,
        key="design_M",
        help=help_of(MergeConfig, "subset_size").replace("0 means all N", f"N = {n_obj} here"),
        disabled=method == "morlhf",
    )
    T = c[2].number_input(
        "T · total steps",
        min_value=0,
        value=MergeConfig.total_steps,
        step=1,
        key="design_T",
        help=help_of(MergeConfig, "total_steps"),
    )
    b = c[3].number_input(
        "batch size",
        min_value=0,
        value=RLConfig.batch_size,
        step=1,
        key="design_batch",
        help=help_of(RLConfig, "batch_size"),
    )
    seed = c[4].number_input(
        "seed", min_value=0, value=RunConfig.seed, step=1, key="design_seed", help=help_of(RunConfig, "seed")
    )
    return {
        "merge_every": int(m),
        "subset_size": int(M),
        "total_steps": int(T),
        "batch_size": int(b),
        "seed": int(seed),
    }


def _advanced(domain) -> dict:
    with st.expander("Advanced settings", key="design_advanced"):
        c1, c2, c3 = st.columns(3)
        out = {
            "name": c1.text_input("Run name", value="run", key="design_name", help=help_of(RunConfig, "name")),
            "model": c1.text_input(
                "Model",
                value="",
                key="design_model",
                placeholder=domain.default_model,
                help=help_of(RunConfig, "model"),
            ),
            "n_final_samples": c1.number_input(
                "K · final candidates",
                min_value=0,
                value=RunConfig.n_final_samples,
                key="design_K",
                help=help_of(RunConfig, "n_final_samples"),
            ),
            "oracle_budget": c1.number_input(
                "Oracle budget · calls (0 = none)",
                min_value=0,
                value=0,
                step=1000,
                key="design_budget",
                help=help_of(RunConfig, "oracle_budget"),
            ),
            "algo": c2.selectbox("Update rule", ["rloo", "ppo"], key="design_algo", help=help_of(RLConfig, "algo")),
            "lr": c2.number_input(
                "Learning rate",
                min_value=0.0,
                value=RLConfig.lr,
                format="%.2e",
                step=1e-6,
                key="design_lr",
                help=help_of(RLConfig, "lr"),
            ),
            "beta": c2.number_input(
                "β · KL coefficient",
                min_value=0.0,
                value=RLConfig.beta,
                step=0.01,
                key="design_beta",
                help=help_of(RLConfig, "beta"),
            ),
            "rloo_k": c2.number_input(
                "RLOO group size",
                min_value=0,
                value=RLConfig.rloo_k,
                key="design_rloo_k",
                help=help_of(RLConfig, "rloo_k"),
            ),
            "lambdas": c3.selectbox(
                "Merge weights λ",
                ["fixed", "selective", "monte_carlo"],
                key="design_lambdas",
                help=help_of(MergeConfig, "lambdas"),
            ),
            "optimizer_state": c3.selectbox(
                "Optimizer state at a merge",
                ["keep", "reset", "average"],
                key="design_opt_state",
                help=help_of(MergeConfig, "optimizer_state"),
            ),
            "temperature": c3.number_input(
                "Sampling temperature",
                min_value=0.0,
                value=RLConfig.temperature,
                step=0.05,
                key="design_temperature",
                help=help_of(RLConfig, "temperature"),
            ),
            "max_new_tokens": c3.number_input(
                "Max new tokens",
                min_value=0,
                value=RLConfig.max_new_tokens,
                key="design_max_new_tokens",
                help=help_of(RLConfig, "max_new_tokens"),
            ),
            "normalization": c1.selectbox(
                "Reward normalization",
                ["auto", "calibrated", "data"],
                key="design_normalization",
                help=help_of(RLConfig, "normalization"),
            ),
            "diversity_filter": c2.selectbox(
                "Diversity guard",
                ["none", "identical", "scaffold"],
                key="design_diversity",
                help=help_of(RLConfig, "diversity_filter"),
            ),
            "null_control": c3.checkbox(
                "Null control (shuffled rewards)",
                value=False,
                key="design_null",
                help=help_of(RLConfig, "null_control"),
            ),
        }
        from irs.config import normalization_of

        if normalization_of(RunConfig(rl=RLConfig(normalization=out["normalization"])), domain) == "calibrated":
            st.caption(
                f"Calibrated normalization: when the run starts, {RLConfig.calibration_samples} samples of the "
                "starting model are scored, and each objective's reward 0..1 spans their 5-95 % range plus "
                f"{RLConfig.calibration_headroom:g} of it as headroom (clipped to the objective's bounds). The "
                "scale is stored with the run (Runs page, 'Reward scale') and used for its candidates too."
            )
    return out


def _check(form: dict):
    """(validated config or None, list of error messages): nothing is raised to the page."""
    try:
        cfg = logic.build_config(form)
        return logic.check_config(cfg), []
    except (ValueError, FileNotFoundError) as e:
        return None, [str(e)]


def _first_usable_preset(domain: str, default: str, presets: list[str]) -> str:
    """The domain's default preset, or the first one whose objectives can be built here (a preset whose
    assets are not shipped yet stays selectable and explains itself)."""
    for p in [default] + [p for p in presets if p != default]:
        try:
            common.objective_infos(domain, p)
            return p
        except ValueError:
            continue
    return default


def design_tab() -> None:
    c1, c2 = st.columns(2)
    names = domain_names()
    if "design_domain" not in st.session_state and "molecules" in names:
        st.session_state["design_domain"] = "molecules"  # the product's main domain opens first
    domain_name = c1.selectbox(
        "Domain", names, key="design_domain", help="What the model generates: toy strings, molecules (SMILES), ..."
    )
    domain = get_domain(domain_name)
    presets = sorted(domain.presets)
    if st.session_state.get("design_preset") not in presets:
        st.session_state["design_preset"] = _first_usable_preset(domain_name, domain.default_preset, presets)
    preset = c2.selectbox(
        "Objective preset",
        presets,
        key="design_preset",
        help="A named set of objectives with their goals and normalization.",
    )
    st.caption(domain.description)
    if preset.startswith("pmo:"):
        st.caption(
            "A PMO task (docs/pmo.md): PMO allows 10,000 oracle calls a run; set *Oracle budget* under "
            "Advanced settings to count them, and the run stops when they are spent."
        )
    try:
        infos = common.objective_infos(domain_name, preset)
    except ValueError as e:
        st.error(f"This preset cannot be used here: {logic.md_text(e)}")
        return

    st.subheader("Objectives and preferences")
    st.caption(
        "One slider per objective: its preference weight w_i (normalized to sum 1). The label shows the "
        "goal (↑ maximize, ↓ minimize, ◎ keep in a window), the line below explains the objective."
    )
    raw, w = common.weight_sliders(infos, "design", describe=True)

    st.subheader("Method")
    methods = logic.available_methods()
    method = st.radio(
        "Method",
        methods,
        key="design_method",
        horizontal=True,
        format_func=lambda m: logic.METHOD_LABELS.get(m, m),
        help=help_of(RunConfig, "method"),
    )
    st.caption(logic.METHOD_HELP.get(method, ""))
    if "ric" not in methods:
        st.caption("RiC appears here once the engine implements it.")
    form = {
        "domain": domain_name,
        "preset": preset,
        "method": method,
        "objectives": [o.name for o in infos],
        "weights": raw,
    }
    form.update(_schedule_inputs(method, len(infos)))
    form.update(_advanced(domain))
    cfg, errors = _check(form) if w is not None else (None, [])  # zero weights: weight_sliders explained it
    for e in errors:
        st.error(logic.md_text(e), icon=":material/error:")
    if cfg is not None:
        for n in logic.design_notes(cfg):
            st.info(n, icon=":material/info:")
    if st.button(
        "Launch run", type="primary", key="design_launch", disabled=cfg is None, icon=":material/rocket_launch:"
    ):
        from irs.runs import start_run

        try:
            run = start_run(cfg, common.store().root)
        except (ValueError, OSError) as e:
            st.error(f"Could not start the run: {logic.md_text(e)}")
            return
        st.session_state["launched_run"] = run.id
        common.go_to("runs", run.id)


def load_tab() -> None:
    st.subheader("Open a run from the list")
    runs = common.run_statuses()
    if not runs:
        st.info("No runs yet. Design one in the other tab.")
    else:
        by_id = {r.id: (r, s) for r, s in runs}
        pick = st.selectbox(
            "Run", list(by_id), format_func=lambda i: f"{i} · {by_id[i][1].get('state')}", key="load_run_pick"
        )
        run, status = by_id[pick]
        if st.button("Open", key="load_open", icon=":material/folder_open:"):
            common.go_to("explore" if run.candidates_path.is_file() else "runs", pick)
        if status.get("state") == "failed":
            st.caption("This run failed; it opens on the Runs page, which shows its error.")
    st.subheader("Open a run folder on disk")
    roots = logic.import_roots()
    st.caption("Allowed folders: " + ", ".join(f"`{r}`" for r in roots))
    path = st.text_input("Run folder", key="load_path", placeholder=str(roots[0] / "my-run-..."))
    if st.button("Open folder", key="load_folder_open", icon=":material/drive_folder_upload:"):
        try:
            folder = logic.resolve_run_folder(path, roots)
            run_id = logic.open_run_folder(folder, common.store().root)
        except (ValueError, OSError) as e:
            st.error(logic.md_text(e), icon=":material/error:")
            return
        run = common.store().get(run_id)
        common.go_to("explore" if run.candidates_path.is_file() else "runs", run_id)


st.title("Design & launch")
new_tab, open_tab = st.tabs(["New run", "Load a run"])
with new_tab:
    design_tab()
with open_tab:
    load_tab()
