"""The workbench's pages under Streamlit's AppTest (no browser): widgets and inline validation, a smoke run
launched end to end through the worker, loading runs, the runs page's actions, explore, compare and the
export buttons; plus the pure pieces behind them (ui.logic, irs.plots, ui.mol3d).

Runs come from ui.fixture (a finished molecules/druglike run over MOSES test molecules, scored by
irs.candidates) in a temporary IRS_RUNS_DIR; the smoke run is a real toy run (tiny GPT-2, T=2).
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
APP = str(ROOT / "app.py")
DEMO = "demo-druglike-20250101-000000-0000"
FAILED = "broken-20250101-000000-0001"


@pytest.fixture(scope="module")
def runs_dir(tmp_path_factory):
    from ui.fixture import make_run

    d = tmp_path_factory.mktemp("runs")
    make_run(d, DEMO, n=120)
    make_run(d, FAILED, n=20, state="failed", error="RuntimeError: out of memory at step 3")
    make_run(d, "rs-20250101-000000-0002", n=80, method="rewarded_soups", seed=1, offset=500)
    make_run(d, "rs-20250101-000000-0003", n=80, method="rewarded_soups", seed=2, offset=900)
    return d


@pytest.fixture()
def env(runs_dir, monkeypatch, tmp_path):
    monkeypatch.setenv("IRS_RUNS_DIR", str(runs_dir))
    monkeypatch.setenv("IRS_IMPORT_ROOTS", str(tmp_path))
    return runs_dir


def _app(page: str | None = None, **query):
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(APP, default_timeout=120)
    for k, v in query.items():
        at.query_params[k] = v
    at.run()  # the first run registers st.navigation's pages; only then can switch_page find them
    if page and page != "explore":
        for k, v in query.items():  # the default page (Explore) may have pointed ?run= elsewhere
            at.query_params[k] = v
        at.switch_page(f"views/{page}.py").run()
    return at


def _texts(elements) -> str:
    """The elements' text as the browser shows it (Markdown backslash escapes of ui.logic.md_text removed)."""
    import re

    return "\n".join(re.sub(r"\\(.)", r"\1", str(e.value)) for e in elements)


def _widget(at, kind: str, key: str):
    return next(w for w in getattr(at, kind) if w.key == key)


# ---- design -----------------------------------------------------------------------------------------
def test_design_widgets_and_inline_validation(env):
    at = _app("design")
    assert not at.exception
    assert at.title[0].value == "Design & launch"
    assert _widget(at, "selectbox", "design_domain").value == "molecules"  # the main domain opens first
    at.selectbox(key="design_domain").set_value("toy").run()
    sliders = [s.key for s in at.slider]
    assert sliders == ["design_w_frac_a", "design_w_frac_b", "design_w_length"]
    assert "maximize" in at.slider[0].label and "fraction of 'a'" in _texts(at.caption)
    assert "Normalized weights λ" in _texts(at.caption)
    assert {"IterativeRS", "MORLHF", "Rewarded Soups"} <= {o for o in at.radio(key="design_method").options}
    assert not at.button(key="design_launch").disabled

    _widget(at, "slider", "design_w_frac_a").set_value(0.5)
    _widget(at, "slider", "design_w_frac_b").set_value(0.25)
    _widget(at, "slider", "design_w_length").set_value(0.25)
    at.run()
    assert "frac_a** 0.50" in _texts(at.caption)

    at.number_input(key="design_M").set_value(5).run()  # M > N: explained inline, launch disabled
    assert not at.exception
    assert "merge.subset_size" in _texts(at.error)
    assert at.button(key="design_launch").disabled

    at.number_input(key="design_M").set_value(3)
    at.number_input(key="design_batch").set_value(0).run()  # refused with a message, not a bare red outline
    assert "batch_size" in _texts(at.error) and at.button(key="design_launch").disabled
    at.number_input(key="design_batch").set_value(64)
    at.number_input(key="design_m").set_value(200).run()  # m > T: allowed, explained
    assert not at.error and "Rewarded Soups" in _texts(at.info)
    at.selectbox(key="design_domain").set_value("molecules").run()
    at.selectbox(key="design_preset").set_value("pmo:median1").run()  # a PMO task points at the budget
    assert "PMO allows 10,000 oracle calls" in _texts(at.caption) and not at.exception
    assert [s.key for s in at.slider] == ["design_w_similarity_1", "design_w_similarity_2"]
    at.selectbox(key="design_domain").set_value("toy").run()
    at.number_input(key="design_budget").set_value(100).run()  # K = 256 final candidates do not fit
    assert "oracle_budget = 100" in _texts(at.error) and at.button(key="design_launch").disabled
    at.number_input(key="design_budget").set_value(0).run()
    assert not at.error

    for s in ("design_w_frac_a", "design_w_frac_b", "design_w_length"):
        _widget(at, "slider", s).set_value(0.0)
    at.run()
    assert "All preference weights are zero" in _texts(at.error)
    assert at.button(key="design_launch").disabled


def test_design_every_domain_and_preset_never_raises(env):
    at = _app("design")
    for domain in at.selectbox(key="design_domain").options:
        at.selectbox(key="design_domain").set_value(domain).run()
        for preset in at.selectbox(key="design_preset").options:
            at.selectbox(key="design_preset").set_value(preset).run()
            assert not at.exception, (domain, preset)
            # every shipped preset is launchable as it comes: no config error, the launch button enabled
            # (a 3-objective preset's M = 3 once stayed on a 2-objective preset and was refused)
            assert not at.error, (domain, preset, _texts(at.error))
            assert not at.button(key="design_launch").disabled, (domain, preset)
            n_obj = len([s for s in at.slider if s.key and s.key.startswith("design_w_")])
            assert n_obj >= 1 and at.number_input(key="design_M").value == n_obj, (domain, preset)


@pytest.mark.slow
def test_launch_smoke_run_end_to_end(env, monkeypatch):
    from irs.runs import RunStore, wait_run

    at = _app("design")
    at.selectbox(key="design_domain").set_value("toy").run()
    at.number_input(key="design_T").set_value(2)
    at.number_input(key="design_m").set_value(1)
    at.number_input(key="design_batch").set_value(4)
    at.text_input(key="design_name").set_value("smoke")
    at.number_input(key="design_K").set_value(12)
    at.selectbox(key="design_algo").set_value("rloo")
    at.number_input(key="design_max_new_tokens").set_value(8)
    at.run()
    assert not at.error, _texts(at.error)
    at.button(key="design_launch").click().run()
    assert not at.exception
    assert at.title[0].value == "Runs"
    run_id = at.query_params["run"][0] if isinstance(at.query_params["run"], list) else at.query_params["run"]
    assert run_id.startswith("smoke-")
    run = RunStore(env).get(run_id)
    st_ = wait_run(run)
    assert st_["state"] == "done", st_.get("error")
    assert run.candidates_path.is_file()
    at = _app("runs", run=run_id)
    assert not at.exception
    assert "done" in _texts(at.markdown)
    at.button(key="runs_explore").click().run()
    assert at.title[0].value == "Explore" and not at.exception

    # re-merge the final experts with other weights: a new scored candidate set appears
    at = _app("explore", run=run_id)
    at.slider(key="explore_w_frac_a").set_value(1.0)
    at.slider(key="explore_w_frac_b").set_value(0.0)
    at.slider(key="explore_w_length").set_value(0.0)
    at.number_input(key="explore_remerge_n").set_value(8).run()
    t0 = time.perf_counter()
    at.button(key="explore_remerge").click().run()
    assert not at.exception and not at.error, _texts(at.error)
    assert time.perf_counter() - t0 < 60
    assert "remerge 1.00/0.00/0.00" in at.multiselect(key="explore_sets").value
    assert "Added set" in _texts(at.success)
    assert len(list((run.path / "sets").glob("*.parquet"))) == 1

    # re-score a selection with the (toy) oracle
    at.session_state["explore_sel"] = [0, 1, 2]
    at.run()
    at.button(key="explore_oracle").click().run()
    assert not at.exception and "Oracle scores" in _texts(at.caption)
    shutil.rmtree(run.path)


# ---- load -------------------------------------------------------------------------------------------
def test_load_from_list_and_from_a_folder(env, tmp_path):
    at = _app("design")
    at.selectbox(key="load_run_pick").set_value(DEMO)
    at.button(key="load_open").click().run()
    assert at.title[0].value == "Explore"

    at = _app("design")
    at.text_input(key="load_path").set_value("../../../etc").run()
    at.button(key="load_folder_open").click().run()
    assert "outside the folders" in _texts(at.error) and not at.exception

    outside = tmp_path / "imported-20250101-000000-0009"
    shutil.copytree(env / DEMO, outside)
    (outside / "leak").symlink_to("/etc/hostname")  # links are neither followed nor copied
    at.text_input(key="load_path").set_value(str(outside))
    at.button(key="load_folder_open").click().run()
    assert not at.exception and not at.error, _texts(at.error)
    assert at.title[0].value == "Explore"
    assert (env / outside.name / "candidates.parquet").is_file()
    assert not (env / outside.name / "leak").exists()
    shutil.rmtree(env / outside.name)


# ---- runs -------------------------------------------------------------------------------------------
def test_runs_page_failed_run_error_resume_and_delete_confirmation(env, monkeypatch):
    import irs.runs

    victim = env / "victim-20250101-000000-0005"
    shutil.copytree(env / FAILED, victim)
    resumed = []
    monkeypatch.setattr(irs.runs, "resume_run", lambda run, *a, **k: resumed.append(run.id))  # no worker
    at = _app("runs", run=FAILED)
    assert not at.exception
    assert "out of memory at step 3" in _texts(at.error)
    at.button(key="runs_resume").click().run()
    assert resumed == [FAILED] and not at.exception  # the button resumes the run on show
    assert len(at.dataframe) >= 1  # the overview with progress bars

    at = _app("runs", run=victim.name)
    at.button(key="runs_delete").click().run()
    assert "cannot be undone" in _texts(at.warning)
    assert victim.is_dir()  # nothing deleted before the confirmation
    at.button(key="runs_delete_no").click().run()
    assert victim.is_dir() and "cannot be undone" not in _texts(at.warning)
    at.button(key="runs_delete").click().run()
    at.button(key="runs_delete_yes").click().run()
    assert not victim.exists() and not at.exception


def test_runs_page_keeps_the_run_in_the_url(env):
    at = _app("runs", run=DEMO)
    assert at.selectbox(key="runs_pick").value == DEMO
    at.selectbox(key="runs_pick").set_value(FAILED).run()
    q = at.query_params["run"]
    assert (q[0] if isinstance(q, list) else q) == FAILED


# ---- explore ----------------------------------------------------------------------------------------
def test_explore_plot_selection_card_and_export(env):
    at = _app("explore", run=DEMO)
    assert not at.exception
    assert [e for e in at.get("plotly_chart")], "no plot"
    assert _widget(at, "dataframe", "explore_table") is not None
    assert "Selection (0)" in _texts(at.subheader)

    at.session_state["explore_sel"] = [0, 3, 5]  # what a box selection on the plot sets
    at.run()
    assert not at.exception
    assert "Selection (3)" in _texts(at.subheader)
    assert at.selectbox(key="explore_focus").value in (0, 3, 5)
    card = next(d.value for d in at.dataframe if "objective" in d.value.columns)  # the property card
    assert list(card.columns) == ["objective", "raw", "normalized"] and len(card) == 3
    assert card["normalized"].between(0, 1).all()
    # the 3D viewer: the demo's molecules embed, so an iframe holds a 3Dmol view of the focused molecule
    viewer = [e for e in at.get("iframe") if "3Dmol" in str(e.proto)]
    assert viewer and not [w for w in at.warning if "3D" in str(w.value)]
    oracle = at.button(key="explore_oracle")
    assert "oracle" in oracle.label.lower() and not oracle.disabled

    at.radio(key="explore_export_what").set_value("Selection (3)")
    at.radio(key="explore_export_fmt").set_value("sdf").run()
    labels = [b.proto.label for b in at.get("download_button")]
    assert any("as SDF" in lb for lb in labels), labels

    # the preference sliders re-rank: all weight on qed makes the top 1 the best-qed row
    at.slider(key="explore_w_sa").set_value(0.0)
    at.slider(key="explore_w_logp").set_value(0.0)
    at.number_input(key="explore_topk").set_value(1).run()
    assert "Top 1" in at.radio(key="explore_export_what").options

    fig = json.loads(at.get("plotly_chart")[0].proto.spec)
    top = {int(i) for t in fig["data"] if t.get("name") == "top 1 by weighted score" for i in t["customdata"]}
    from ui.logic import load_table

    df = load_table(env / DEMO)
    ok = df[df["valid"] & ~df["duplicate"]]
    assert top == {int(ok["qed"].idxmax())}


def test_explore_structure_and_property_filters_refuse_bad_input_inline(env):
    from irs.domains.molecules.properties import query_mask

    at = _app("explore", run=DEMO)
    table = lambda: _widget(at, "dataframe", "explore_table").value  # noqa: E731
    before = table()
    assert {"structure", "MW", "TPSA", "HBD", "HBA", "lipinski", "veber"} <= set(before.columns)
    at.text_input(key="explore_substructure").set_value("c1ccncc1").run()  # pyridine, however it is written
    t = table()
    assert 0 < len(t) < len(before) and query_mask(list(t["SMILES"]), "c1ccncc1").all()
    assert any(c.value.startswith("Filtered: contains c1ccncc1") for c in at.caption)
    assert any(r.startswith("Filtered view") for r in at.radio(key="explore_export_what").options)
    at.text_input(key="explore_substructure").set_value("C1CC(").run()  # does not parse: the filter stays
    assert "neither SMARTS nor SMILES" in _texts(at.error) and table()["id"].tolist() == t["id"].tolist()
    at.text_input(key="explore_substructure").set_value("").run()
    assert len(table()) == len(before)

    at.text_input(key="explore_sim_ref").set_value("not a molecule").run()  # changes nothing
    assert "not a SMILES" in _texts(at.error) and len(table()) == len(before)
    at.text_input(key="explore_sim_ref").set_value(str(before["SMILES"].iloc[0])).run()
    assert table()["similarity"].min() >= 0.4 and at.slider(key="explore_sim_min").value == 0.4
    at.text_input(key="explore_sim_ref").set_value("").run()

    at.multiselect(key="explore_prop_ranges").set_value(["MW"]).run()
    at.number_input(key="explore_rng_MW_min").set_value(300.0)
    at.number_input(key="explore_rng_MW_max").set_value(250.0).run()  # min > max: refused inline
    assert "not applied" in _texts(at.error) and len(table()) == len(before)
    at.number_input(key="explore_rng_MW_max").set_value(400.0).run()
    mw = table()["MW"]
    assert len(mw) < len(before) and mw.between(300, 400).all()


@pytest.mark.slow
def test_explore_scaffolds_diagnostics_and_a_starting_model_set(env, tmp_path, monkeypatch):
    import shutil

    from irs.domains.molecules import murcko_scaffold
    from ui.logic import load_table

    run_dir = tmp_path / "runs"
    shutil.copytree(env / DEMO, run_dir / DEMO)  # a private copy: this test adds a candidate set
    monkeypatch.setenv("IRS_RUNS_DIR", str(run_dir))
    at = _app("explore", run=DEMO)
    at.toggle(key="explore_scaffold_on").set_value(True).run()
    scaf = _widget(at, "dataframe", "explore_scaffolds").value
    df = load_table(run_dir / DEMO)
    ok = df[df["valid"] & ~df["duplicate"]]
    assert scaf["count"].sum() == len(ok) and set(scaf["scaffold"]) == {murcko_scaffold(c) for c in ok["canonical"]}
    at.number_input(key="explore_scaffold_n").set_value(5)
    at.button(key="explore_scaffold_best").click().run()
    sel = at.session_state["explore_sel"]
    assert len(sel) == 5 and len({murcko_scaffold(df.at[i, "canonical"]) for i in sel}) == 5

    at.toggle(key="explore_diag_on").set_value(True).run()
    at.toggle(key="explore_diag_nn").set_value(True).run()
    assert not at.exception
    diag = next(d.value for d in at.dataframe if "IntDiv" in d.value.columns)
    assert diag["set"].tolist() == ["final"] and diag["novel"][0] > 0.9  # MOSES test molecules: not in train
    assert 0 < diag["IntDiv"][0] < 1 and diag["valid"][0] == pytest.approx(df["valid"].mean())
    nn = next(d.value for d in at.dataframe if "neighbour" in d.value.columns)
    assert len(nn) == len(ok) and nn["similarity"].between(0, 1).all()

    at.number_input(key="explore_start_n").set_value(12)
    at.button(key="explore_start").click().run()
    assert not at.exception and not at.error
    sets = set(load_table(run_dir / DEMO)["set"])
    assert "starting model" in sets and "starting model" in at.multiselect(key="explore_sets").value


@pytest.mark.parametrize("damage", ["missing column", "no rows", "text scores"])
def test_a_damaged_candidate_table_is_explained_not_raised(damage, tmp_path, monkeypatch):
    import pandas as pd

    from ui.fixture import make_run

    monkeypatch.setattr("ui.logic.folders.DEMO_DIR", tmp_path / "no-demo")
    monkeypatch.setenv("IRS_RUNS_DIR", str(tmp_path))
    rid = "damaged-20250101-000000-0000"
    p = make_run(tmp_path, rid, n=30)
    df = pd.read_parquet(p / "candidates.parquet")
    df = {
        "missing column": lambda d: d.drop(columns=["pareto"]),
        "no rows": lambda d: d.iloc[:0],
        "text scores": lambda d: d.assign(qed="x"),
    }[damage](df)
    df.to_parquet(p / "candidates.parquet", index=False)
    for page in ("explore", "compare"):
        at = _app(page, run=rid, runs=rid)
        assert not at.exception, (page, at.exception)
        shown = _texts(at.error) + _texts(at.warning) + _texts(at.info)
        want = {
            "missing column": "no column(s) ['pareto']",
            "no rows": "0 rows" if page == "explore" else "",
            "text scores": "'qed' holds",
        }[damage]
        assert want in shown, (page, shown)


def test_explore_without_runs_explains(monkeypatch, tmp_path):
    monkeypatch.setenv("IRS_RUNS_DIR", str(tmp_path / "empty"))
    monkeypatch.setattr("ui.logic.folders.DEMO_DIR", tmp_path / "no-demo")
    at = _app("explore")
    assert not at.exception and "No run has candidates yet" in _texts(at.info)


# ---- compare ----------------------------------------------------------------------------------------
def test_compare_table_fronts_and_download(env):
    at = _app("compare", runs=f"{DEMO},rs-20250101-000000-0002,rs-20250101-000000-0003")
    assert not at.exception
    table = next(d.value for d in at.dataframe if "method" in d.value.columns)
    assert list(table["method"]) == ["IterativeRS", "Rewarded Soups"]
    assert list(table["runs"]) == [1, 2]
    # a row of one run shows its value, a row of two seeds mean ± std; rows name their runs and weights
    assert "±" not in str(table["avg reward"][0]) and "±" in str(table["avg reward"][1])
    assert table["run ids"][1] == "rs-20250101-000000-0002, rs-20250101-000000-0003"
    assert table["run ids"][0] == DEMO and table["weights λ"][0].startswith("qed ")
    assert [e for e in at.get("plotly_chart")]
    labels = [b.proto.label for b in at.get("download_button")]
    assert "Download table as CSV" in labels and any(lb.startswith("Download") and "CSV" in lb for lb in labels)


# ---- the pure pieces --------------------------------------------------------------------------------
def test_md_text_shows_untrusted_strings_as_written():
    import re

    from ui.logic import md_text

    for raw in (
        "**O=[N+]([O-])c1ccccc1**",
        "C[C@H](N)C(=O)O",
        "[log in](http://evil.example/)",
        "![i](x.png) :red[a] :material/home: $x^2$ <b>hi</b> # title",
        "a_b_c `code` ~~s~~ | t |",
    ):
        esc = md_text(raw)
        assert re.sub(r"\\(.)", r"\1", esc).replace("\u200b", "") == raw  # unescaped, it is the input
        assert not re.search(r"(?<!\\)[*_\[\]`$<>:~|#]", esc)  # no special character left unescaped
    assert "://" not in md_text("http://evil.example/") and "www." not in md_text("www.evil.example")


def test_selection_sync_helpers():
    from ui.logic import ids_from_plot_event, merge_table_selection, table_selection_rows

    ev = {"selection": {"points": [{"customdata": 7}, {"customdata": [3]}, {"customdata": 7}, {"x": 1}]}}
    assert ids_from_plot_event(ev) == [3, 7]
    assert ids_from_plot_event(None) == [] and ids_from_plot_event({"selection": {"points": []}}) == []
    shown = [10, 4, 7]  # the table shows these ids, in this order
    assert table_selection_rows([7, 99, 10], shown) == [2, 0]
    assert merge_table_selection([99, 4], shown, [2]) == [7, 99]  # 99 is filtered out of the table: kept


def test_run_folder_paths_cannot_escape(tmp_path, monkeypatch):
    from ui.logic import resolve_run_folder

    root = tmp_path / "runs"
    (root / "good-run").mkdir(parents=True)
    (root / "good-run" / "status.json").write_text("{}")
    (root / "no-status").mkdir()
    secret = tmp_path / "secret"
    secret.mkdir()
    (secret / "status.json").write_text("{}")
    (root / "link").symlink_to(secret)
    assert resolve_run_folder("good-run", [root]) == (root / "good-run").resolve()
    assert resolve_run_folder(str(root / "good-run"), [root]) == (root / "good-run").resolve()
    for bad in ("../secret", str(secret), "link", "good-run/../../secret", "", "no-status", "/etc"):
        with pytest.raises(ValueError):
            resolve_run_folder(bad, [root])


def test_weighted_score_top_k_and_design_notes():
    import pandas as pd

    from irs.config import RunConfig
    from ui.logic import design_notes, normalize_weights, top_k_ids, weighted_score

    df = pd.DataFrame(
        {
            "reward_a": [0.9, 0.1, np.nan, 0.5, 0.9],
            "reward_b": [0.1, 0.9, np.nan, 0.5, 0.1],
            "valid": [True, True, False, True, True],
            "duplicate": [False, False, False, False, True],
        },
        index=[10, 11, 12, 13, 14],
    )
    s = weighted_score(df, ["a", "b"], [1, 0])
    assert np.isnan(s[2]) and s[0] == pytest.approx(0.9)
    assert top_k_ids(df, s, 2) == [10, 13]  # 14 is a duplicate, 12 invalid
    assert top_k_ids(df, weighted_score(df, ["a", "b"], [0, 3]), 1) == [11]
    assert normalize_weights([0, 0]) is None and normalize_weights([1, 3]) == [0.25, 0.75]
    with pytest.raises(ValueError):
        weighted_score(df, ["a", "b"], [-1, 2])
    cfg = RunConfig(method="iterative_rs")
    cfg.merge.total_steps, cfg.merge.merge_every = 10, 20
    assert any("Rewarded Soups" in n for n in design_notes(cfg))


def test_export_bytes_is_the_cli_writer(env, tmp_path):
    from rdkit import Chem

    from irs.export import export
    from irs.runs import load_candidates
    from ui.logic import export_bytes, load_table

    df = load_table(env / DEMO)
    p = tmp_path / "cli.csv"
    export(load_candidates(str(DEMO), env), "csv", p, domain="molecules", run_id=DEMO, pareto_only=True)
    assert export_bytes(df, "csv", domain="molecules", run_id=DEMO, pareto_only=True) == p.read_bytes()
    rows = [int(i) for i in df.index[df["valid"]][:3]]
    sdf = export_bytes(df, "sdf", domain="molecules", run_id=DEMO, rows=rows)
    mols = [m for m in Chem.ForwardSDMolSupplier(__import__("io").BytesIO(sdf), removeHs=False)]
    assert len(mols) == 3 and all(m.GetConformer().Is3D() for m in mols)
    assert mols[0].GetProp("run_id") == DEMO


def test_added_candidate_set_is_merged_with_stable_ids(env, tmp_path):
    from ui.logic import add_candidate_set, load_table

    run = tmp_path / DEMO
    shutil.copytree(env / DEMO, run)
    before = load_table(run)
    extra = before.head(10).copy()
    extra["set"] = "remerge 0.50/0.25/0.25"
    assert add_candidate_set(run, extra) == "remerge 0.50/0.25/0.25"
    assert add_candidate_set(run, extra) == "remerge 0.50/0.25/0.25 #2"
    after = load_table(run)
    assert len(after) == len(before) + 20
    assert after.loc[before.index, "candidate"].tolist() == before["candidate"].tolist()
    assert set(after["set"]) == {"final", "remerge 0.50/0.25/0.25", "remerge 0.50/0.25/0.25 #2"}


def test_compare_starts_with_runs_that_fit_one_table(env):
    from irs.config import RunConfig
    from ui.logic import comparable_default

    dna, mol_a, mol_b = RunConfig(domain="dna", preset="3cell"), RunConfig(), RunConfig(seed=1)
    assert comparable_default({"new-dna": dna, "m1": mol_a, "m2": mol_b}) == ["new-dna"]
    assert comparable_default({"m1": mol_a, "new-dna": dna, "m2": mol_b}) == ["m1", "m2"]
    at = _app("compare")  # no ?runs=: the newest run and those like it; nothing dropped with a warning
    assert not at.exception and not at.warning
    from irs.runs import RunStore

    cfgs = {r.id: r.config() for r in reversed(RunStore(env).list()) if r.candidates_path.is_file()}
    newest = next(iter(cfgs.values()))
    like = [rid for rid, c in cfgs.items() if (c.domain, c.preset) == (newest.domain, newest.preset)]
    assert at.multiselect(key="compare_runs").value == like[:8] and len(like) < len(cfgs)


def test_compare_groups_seeds():
    from irs.config import RunConfig
    from ui.logic import group_runs

    a, b, c = RunConfig(seed=0), RunConfig(seed=1), RunConfig(seed=0, method="morlhf")
    d = RunConfig(seed=0)
    d.merge.merge_every = 8
    g = group_runs({"a": a, "b": b, "c": c, "d": d})
    assert sorted(map(sorted, g.values())) == [["a", "b"], ["c"], ["d"]]
    assert "MORLHF" in g and any(k.startswith("IterativeRS (m=8") for k in g)


def test_plot_builders():
    import pandas as pd

    from irs.plots import WEBGL_THRESHOLD, expert_curves, fronts_overlay, objective_pairs, pareto_scatter

    rng = np.random.default_rng(0)
    n = WEBGL_THRESHOLD + 10
    df = pd.DataFrame({"a": rng.random(n), "b": rng.random(n), "c": rng.random(n)})
    for k in "abc":
        df[f"reward_{k}"] = df[k]
    df["valid"], df["pareto"], df["set"], df["candidate"] = True, df["a"] > 0.95, "final", "x"
    df.index = df.index + 100
    fig = pareto_scatter(df, ["a", "b", "c"], selected=[100, 101], top=[102])
    assert objective_pairs(["a", "b", "c"]) == [("a", "b"), ("a", "c"), ("b", "c")]
    assert {t.type for t in fig.data} == {"scattergl"}
    ids = [i for t in fig.data if t.name in ("candidates", "Pareto-optimal") and t.xaxis == "x" for i in t.customdata]
    assert sorted(ids) == list(df.index) and all(type(i) is int for i in ids)
    sel = [t for t in fig.data if t.name.startswith("selected")]
    assert len(sel) == 3 and list(sel[0].customdata) == [100, 101]
    small = pareto_scatter(df.head(50), ["a", "b"])
    assert {t.type for t in small.data} == {"scatter"}
    recs = [
        {"type": "step", "step": s, "expert": e, "reward": 0.1 * s, "kl": 0.01}
        for s in (1, 2, 3, 4)
        for e in ("a", "b")
    ] + [{"type": "merge", "step": 2, "lambdas": [0.5, 0.5]}, {"type": "merge", "step": 4, "lambdas": [0.5, 0.5]}]
    curves = expert_curves(recs)
    assert [t.name for t in curves.data][:3] == ["a", "b", "merge"]
    assert len([s for s in curves.layout.shapes]) == 4  # a dotted line per merge per panel
    ov = fronts_overlay({"x": df.head(5), "y": df.tail(5)}, ["a", "b", "c"])
    assert len(ov.data) == 6


def test_3d_viewer_html_is_offline():
    import re

    from ui.mol3d import molblock_3d, svg_2d, viewer_html

    mb = molblock_3d("CCO")
    html = viewer_html(mb)
    assert "$3Dmol" in html and "createViewer" in html and len(html) > 400_000  # vendored library inlined
    body = html.split("</script>", 2)[-1]  # everything after the inlined library
    assert not re.search(r"https?://", body) and "cdn" not in body.lower()
    assert svg_2d("c1ccccc1").lstrip().startswith(("<?xml", "<svg")) and svg_2d("not a smiles") is None


def test_streamlit_config_is_local_and_private():
    import tomllib

    cfg = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert cfg["browser"]["gatherUsageStats"] is False
    assert cfg["server"]["address"] == "localhost" and cfg["server"]["headless"] is True
    assert (ROOT / "assets" / "3dmol" / "3Dmol-min.js").is_file() and (ROOT / "assets" / "3dmol" / "LICENSE").is_file()


def test_default_run_is_the_users_newest_else_the_molecules_demo(tmp_path):
    """Without ?run=, pages open the user's newest run; on a fresh start (demo runs only) the molecules
    demo comes first, whatever the demo runs' ages."""
    import json

    from ui.logic import default_run_id

    demo = tmp_path / "demo"
    for rid, dom in [
        ("text-a-20270101-000000-aaaa", "text"),
        ("dna-b-20260101-000000-bbbb", "dna"),
        ("mol-c-20250101-000000-cccc", "molecules"),
    ]:
        (demo / rid).mkdir(parents=True)
        (demo / rid / "status.json").write_text(json.dumps({"domain": dom}))
    ids = ["text-a-20270101-000000-aaaa", "dna-b-20260101-000000-bbbb", "mol-c-20250101-000000-cccc"]  # newest first
    assert default_run_id(ids, demo) == "mol-c-20250101-000000-cccc"
    assert default_run_id(["mine-20280101-000000-dddd", *ids], demo) == "mine-20280101-000000-dddd"
    assert default_run_id(ids[:2], demo) == "dna-b-20260101-000000-bbbb"
    assert default_run_id([], demo) is None


@pytest.mark.parametrize("how", ["runs_page", "design_load"])
def test_opening_an_older_run_opens_that_run_not_the_newest(env, how):
    """Runs → pick an older run → Explore candidates, and Design → Load a run → Open, land on Explore
    showing the run that was picked (the newest run is another one)."""
    older = "rs-20250101-000000-0002"
    if how == "runs_page":
        at = _app("runs", run=older)
        assert at.selectbox(key="runs_pick").value == older
        at.button(key="runs_explore").click().run()
    else:
        at = _app("design")
        at.selectbox(key="load_run_pick").set_value(older)
        at.button(key="load_open").click().run()
    assert not at.exception and at.title[0].value == "Explore"
    assert at.selectbox(key="explore_run").value == older
    q = at.query_params["run"]
    assert (q[0] if isinstance(q, list) else q) == older


@pytest.mark.parametrize("damage", ["corrupt experts.json", "truncated expert weights"])
def test_remerge_of_a_run_with_damaged_experts_explains(damage, tmp_path, monkeypatch):
    """ "Re-merge and sample" on a run whose experts.json is corrupt or whose expert weights are truncated
    shows what failed and raises nothing."""
    import shutil

    from ui.logic import demo_runs

    demo = next((p for p in demo_runs() if (p / "experts" / "experts.json").is_file()), None)
    if demo is None:
        pytest.skip("no shipped demo run with final experts")
    run = tmp_path / "runs" / demo.name
    shutil.copytree(demo, run)
    monkeypatch.setenv("IRS_RUNS_DIR", str(tmp_path / "runs"))
    monkeypatch.setattr("ui.logic.folders.DEMO_DIR", tmp_path / "no-demo")
    if damage == "corrupt experts.json":
        (run / "experts" / "experts.json").write_text('{"files": ["../x"')
    else:
        w = sorted((run / "experts").glob("*.safetensors"))[0]
        w.write_bytes(w.read_bytes()[:1000])
    at = _app("explore", run=demo.name)
    assert not at.exception
    if damage == "corrupt experts.json":  # found before anything is sampled
        assert "experts.json unreadable" in _texts(at.caption)
        return
    at.number_input(key="explore_remerge_n").set_value(4)
    at.button(key="explore_remerge").click().run()
    assert not at.exception and "Re-merge failed" in _texts(at.error)


def test_runs_page_shows_the_queue_and_a_waiting_runs_place(env):
    """A run whose worker waits for a run slot shows as "queued #1" in the overview, with the queue's limit
    in the caption, and its own progress line says it waits for a free slot."""
    import os

    from irs.io import atomic_write_json
    from irs.runs.store import now_iso
    from ui.fixture import make_run

    rid = "waiting-20250101-000000-0007"
    path = make_run(env, rid, n=20, state="queued")
    st = json.loads((path / "status.json").read_text())
    st.update(
        phase="waiting",
        pid=os.getpid(),
        host=None,
        queued_at=now_iso(),
        queue_position=1,
        max_runs=1,
        heartbeat=now_iso(),
    )
    atomic_write_json(path / "status.json", st)
    try:
        at = _app("runs", run=rid)
        assert not at.exception
        overview = next(d.value for d in at.dataframe if "progress" in d.value.columns)
        row = overview[overview["run"] == rid].iloc[0]
        assert row["state"] == "queued #1" and row["now"].startswith("waiting for a free run slot: #1 in line")
        assert any(c.value.startswith("Run queue: ") and "at most 8 at once" in c.value for c in at.caption)
        assert any("waiting for a free run slot" in str(p.proto.text) for p in at.get("progress"))
    finally:
        shutil.rmtree(path)


def test_runs_page_shows_a_budgeted_runs_oracle_calls(env):
    """A run with an oracle budget (PMO): while it trains, its progress line counts the calls and the bar
    follows them (T only caps such a run); once done, a caption gives the calls it used."""
    import os

    from irs.io import atomic_write_json
    from irs.runs.store import now_iso
    from ui.fixture import make_run

    done_id, live_id = "pmo-done-20250101-000000-0008", "pmo-live-20250101-000000-0009"
    paths = [make_run(env, done_id, n=20), make_run(env, live_id, n=20, state="running")]
    try:
        st = json.loads((paths[0] / "status.json").read_text())
        atomic_write_json(paths[0] / "status.json", {**st, "oracle_budget": 10000, "oracle_calls": 9976})
        st = json.loads((paths[1] / "status.json").read_text())
        st.update(phase="training", pid=os.getpid(), host=None, heartbeat=now_iso(), step=10, total_steps=400)
        atomic_write_json(paths[1] / "status.json", {**st, "oracle_budget": 10000, "oracle_calls": 2500})
        at = _app("runs", run=done_id)
        assert not at.exception
        assert any("Oracle budget: oracle calls 9,976 / 10,000" in c.value for c in at.caption)
        overview = next(d.value for d in at.dataframe if "progress" in d.value.columns)
        row = overview[overview["run"] == live_id].iloc[0]
        assert row["now"] == "step 10 of at most 400 · oracle calls 2,500 / 10,000"
        assert row["progress"] == pytest.approx(0.25)
    finally:
        for p in paths:
            shutil.rmtree(p)
