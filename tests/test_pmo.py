"""The PMO tasks (guacamol's definitions, checked against known values), PMO's AUC top-10, the oracle
budget (one call per new valid molecule, a cache for repeats, a call log that is also the budget's
state) and budgeted runs end to end: stopping mid-run as `done`, exact after a kill, on the Runs page's
status, and the bad input the issue names."""

import csv
import json

import numpy as np
import pytest

from irs.config import RunConfig, validate
from irs.domains import get_domain
from irs.domains.molecules import pmo
from irs.objectives import Objective
from irs.objectives.budget import LOG_FILE, OracleBudget, read_log

REDISCOVERY = ("celecoxib_rediscovery", "troglitazone_rediscovery", "thiothixene_rediscovery")
SIMILARITY = ("albuterol_similarity", "mestranol_similarity")


# ---- the tasks ---------------------------------------------------------------------------------------
def test_published_per_task_values_cover_the_twenty_tasks_and_add_up_to_the_published_sums():
    for method, per_task in pmo.PUBLISHED.items():
        assert set(per_task) == set(pmo.TASKS), method
        assert abs(sum(per_task.values()) - pmo.PUBLISHED_SUMS[method]) < 0.006, method


def test_the_twenty_tasks_come_from_guacamol_with_their_components():
    assert len(pmo.TASKS) == 20 and set(pmo.TASKS) == set(pmo.PUBLISHED["REINVENT"])
    for t in pmo.TASKS:
        assert pmo.benchmark(t).name == pmo.TASKS[t]
    assert [n for n, _ in pmo.components("amlodipine_mpo")] == ["similarity", "num_rings"]
    assert [n for n, _ in pmo.components("valsartan_smarts")] == ["smarts", "logp", "tpsa", "bertz"]
    assert [n for n, _ in pmo.components("isomers_c7h8n2o2")] == ["n_C", "n_H", "n_N", "n_O", "n_atoms"]
    assert [n for n, _ in pmo.components("median1")] == ["similarity_1", "similarity_2"]
    for t in REDISCOVERY + SIMILARITY + ("qed",):
        assert len(pmo.components(t)) == 1


@pytest.mark.parametrize("task", REDISCOVERY + SIMILARITY)
def test_rediscovery_and_similarity_tasks_score_their_target_molecule_one(task):
    target = pmo.benchmark(task).objective.target
    assert pmo.score_objective(task).raw([target])[0] == pytest.approx(1.0)
    assert pmo.score_objective(task).raw(["CCO"])[0] < 0.3


def test_each_similarity_component_scores_its_own_reference_as_its_modifier_maps_similarity_one():
    TanimotoScoringFunction = pmo.guacamol("common_scoring_functions").TanimotoScoringFunction
    checked = 0
    for t in pmo.TASKS:
        for name, fn in pmo.components(t):
            if isinstance(fn, TanimotoScoringFunction):  # the reference is Tanimoto 1.0 to itself
                v = pmo._scorer(fn)([fn.target])[0]
                assert v == pytest.approx(fn.modify_score(1.0)), (t, name, v)
                checked += 1
    assert checked >= 18
    # e.g. osimertinib's "but not too similar" part penalizes the drug itself; its "similar" part does not
    sims = dict(pmo.components("osimertinib_mpo"))
    target = sims["similarity_1"].target
    assert pmo._scorer(sims["similarity_1"])([target])[0] == pytest.approx(1.0)
    assert pmo._scorer(sims["similarity_2"])([target])[0] < 0.5


def test_isomer_tasks_score_a_molecule_of_the_exact_formula_one():
    # 4-nitrobenzylamine is C7H8N2O2; its isomer ethyl... is not
    assert pmo.score_objective("isomers_c7h8n2o2").raw(["NCc1ccc([N+](=O)[O-])cc1"])[0] == pytest.approx(1.0)
    assert pmo.score_objective("isomers_c7h8n2o2").raw(["CCO"])[0] < 0.01
    comps = pmo.task_objectives("isomers_c7h8n2o2")
    assert all(o.raw(["NCc1ccc([N+](=O)[O-])cc1"])[0] == pytest.approx(1.0) for o in comps)


@pytest.mark.parametrize("task", ["amlodipine_mpo", "osimertinib_mpo", "valsartan_smarts", "deco_hop", "median2"])
def test_an_mpo_score_is_the_tasks_own_mean_of_its_components(task):
    ArithmeticMeanScoringFunction = pmo.guacamol("scoring_function").ArithmeticMeanScoringFunction
    mols = [
        "Cc1ccc(-c2cc(C(F)(F)F)nn2-c2ccc(S(N)(=O)=O)cc2)cc1",  # celecoxib
        "CCOC(=O)C1=C(COCCN)NC(C)=C(C(=O)OC)C1c1ccccc1Cl",  # amlodipine
        "CCCCC(=O)N(Cc1ccc(-c2ccccc2-c2nn[nH]n2)cc1)C(C(C)C)C(=O)O",  # valsartan
    ]
    comps = np.column_stack([o.raw(mols) for o in pmo.task_objectives(task)])
    score = pmo.score_objective(task).raw(mols)
    if isinstance(pmo.benchmark(task).objective, ArithmeticMeanScoringFunction):
        expect = comps.mean(1)
    else:
        expect = np.exp(np.log(np.clip(comps, 1e-300, None)).mean(1))
    np.testing.assert_allclose(score, expect, rtol=1e-6, atol=1e-9)
    assert np.isnan(pmo.score_objective(task).raw(["not a smiles"])[0])


def test_qed_task_is_rdkits_qed():
    from rdkit import Chem
    from rdkit.Chem import QED

    smi = "CCOC(=O)C1=C(COCCN)NC(C)=C(C(=O)OC)C1c1ccccc1Cl"
    assert pmo.score_objective("qed").raw([smi])[0] == pytest.approx(QED.qed(Chem.MolFromSmiles(smi)))


def test_presets_train_on_components_or_the_score_and_evaluate_on_both():
    d = get_domain("molecules")
    assert [o.name for o in d.objectives("pmo:fexofenadine_mpo")] == ["similarity", "tpsa", "logp"]
    assert [o.name for o in d.objectives("pmo:fexofenadine_mpo:score")] == ["pmo_score"]
    assert [o.name for o in d.oracle("pmo:fexofenadine_mpo")] == ["similarity", "tpsa", "logp", "pmo_score"]
    with pytest.raises(ValueError, match="pmo:albuterol_similarity") as e:
        d.objectives("pmo:not_a_task")
    assert "druglike" not in str(e.value)  # the family's members, not the whole domain's presets
    with pytest.raises(ValueError, match="known tasks: albuterol_similarity"):
        pmo.task_of("pmo:not_a_task")


# ---- PMO's metric ------------------------------------------------------------------------------------
def test_top_auc_follows_pmos_definition():
    # every 100 calls: top-10 means 0.2, 0.5, then 0.9 at the end; trapezoids from 0 at call 0
    s = [0.2] * 100 + [0.5] * 100 + [0.9] * 100
    assert pmo.top_auc(s, 300) == pytest.approx((100 * 0.1 + 100 * 0.35 + 100 * 0.7) / 300)
    # a run that stopped at 150 of 300 calls carries its last value to the end
    assert pmo.top_auc([1.0] * 150, 300) == pytest.approx((50 + 50 + 150) / 300)
    assert pmo.top_auc([1.0] * 150, 300, finish=False) == pytest.approx(100 / 300)
    assert pmo.top_auc([], 100) == 0.0
    # the top 10, not the mean: one great molecule among poor ones counts a tenth
    assert pmo.top_auc([0.0] * 99 + [1.0], 100) == pytest.approx(0.1 * 100 / 2 / 100)
    with pytest.raises(ValueError):
        pmo.top_auc([0.5], 0)


# ---- the budget --------------------------------------------------------------------------------------
def _objs(calls: list):
    def length(xs):
        calls.append(list(xs))
        return np.array([len(x) / 10 for x in xs], dtype=float)

    return [Objective("a", length, 0, 1), Objective("b", lambda xs: np.full(len(xs), 0.5), 0, 1)]


def _budget(tmp_path, budget=5, limit=None, calls=None):
    calls = [] if calls is None else calls
    canon = lambda s: s if s and "!" not in s else None  # noqa: E731  ('!' marks an invalid candidate)
    return OracleBudget(budget, _objs(calls), canon, "a", tmp_path / LOG_FILE, limit=limit), calls


def test_a_budget_counts_new_valid_molecules_once_and_caches_repeats(tmp_path):
    b, calls = _budget(tmp_path, budget=10)
    a = b.wrap([Objective("a", None, 0, 1)])[0]
    bb = b.wrap([Objective("b", None, 0, 1)])[0]
    r = a.raw(["xx", "xx", "bad!", "yyy", ""])
    assert b.calls == 2 and calls == [["xx", "yyy"]]  # a repeat and invalid ones are not calls
    assert r[0] == r[1] == pytest.approx(0.2) and np.isnan(r[2]) and np.isnan(r[4])
    bb.raw(["xx", "yyy"])  # another objective of the same molecules: from the cache
    assert b.calls == 2 and len(calls) == 1
    rows = read_log(tmp_path / LOG_FILE)
    assert rows == [(1, "xx", pytest.approx(0.2)), (2, "yyy", pytest.approx(0.3))]


def test_a_budget_refuses_molecules_past_its_limit_and_reports_spent(tmp_path):
    b, _ = _budget(tmp_path, budget=5, limit=3)
    a = b.wrap([Objective("a", None, 0, 1)])[0]
    a.raw(["a1", "a2"])
    assert not b.spent
    r = a.raw(["a1", "a3", "a4", "a5"])
    assert b.calls == 3 and b.spent and np.isnan(r[2:]).all() and not np.isnan(r[:2]).any()
    b.set_limit(5)  # the final sampling's share
    assert not b.spent
    a.raw(["a4", "a5", "a6"])
    assert b.calls == 5 and b.spent
    assert [r[0] for r in read_log(tmp_path / LOG_FILE)] == [1, 2, 3, 4, 5]


def test_a_budget_resumes_from_its_log_cutting_a_torn_line(tmp_path):
    b, _ = _budget(tmp_path, budget=10)
    b.wrap([Objective("a", None, 0, 1)])[0].raw(["p", "qq", "rrr"])
    with open(tmp_path / LOG_FILE, "a") as f:
        f.write("4,ssss,0.")  # a kill in the middle of an append
    b2, calls = _budget(tmp_path, budget=10)
    assert b2.calls == 3 and set(b2.cache) == {"p", "qq", "rrr"}
    a = b2.wrap([Objective("a", None, 0, 1)])[0]
    a.raw(["qq", "tt"])
    rows = read_log(tmp_path / LOG_FILE)
    assert [r[:2] for r in rows] == [(1, "p"), (2, "qq"), (3, "rrr"), (4, "tt")]


def test_a_damaged_call_log_is_refused_naming_the_row(tmp_path):
    p = tmp_path / LOG_FILE
    p.write_text("call,smiles,score\n1,CCO,0.5\n3,CCN,0.4\n")
    with pytest.raises(ValueError, match="row 2"):
        read_log(p)
    p.write_text("call,smiles,score\n1,CCO,1.5\n")
    with pytest.raises(ValueError, match="row 1"):
        read_log(p)


# ---- config ------------------------------------------------------------------------------------------
def _cfg(**kw) -> dict:
    return {"domain": "toy", "model": "tiny:gpt2", "n_final_samples": 8, **kw}


@pytest.mark.parametrize("bad", [0, -5, "100", 2.5, True])
def test_a_bad_oracle_budget_is_rejected_naming_the_field(bad):
    with pytest.raises(ValueError, match="oracle_budget"):
        RunConfig.from_dict(_cfg(oracle_budget=bad))


@pytest.mark.parametrize(
    "kw, field",
    [
        ({"n_final_samples": 100}, "n_final_samples"),
        ({"nproc": 2}, "nproc"),
        ({"method": "ric"}, "method"),
        ({"rl": {"normalization": "calibrated"}}, "rl.normalization"),
    ],
)
def test_settings_that_would_spend_calls_outside_the_budget_are_rejected(kw, field):
    cfg = RunConfig.from_dict({**_cfg(oracle_budget=100), **kw})
    with pytest.raises(ValueError, match=f"config field {field}"):
        validate(cfg, ["frac_a", "length"])


def test_a_budget_round_trips_through_toml_and_none_is_left_out(tmp_path):
    from irs.config import normalization_of

    cfg = RunConfig.from_dict(_cfg(oracle_budget=100))
    cfg.save(tmp_path / "a.toml")
    assert RunConfig.load(tmp_path / "a.toml").oracle_budget == 100
    assert normalization_of(cfg) == "data"  # 'auto' does not calibrate (that would spend calls)
    RunConfig.from_dict(_cfg()).save(tmp_path / "b.toml")
    assert "oracle_budget" not in (tmp_path / "b.toml").read_text()


# ---- budgeted runs end to end ------------------------------------------------------------------------
def _toy_run_cfg(name: str, budget: int = 40, T: int = 6) -> RunConfig:
    # 3 experts x 8 samples a step, a third to a half of them valid: the budget (40 - 16 for the final
    # candidates) runs out at step 3 of 6, in the middle of a merge round (m = 4)
    return RunConfig.from_dict(
        {
            "name": name,
            "domain": "toy",
            "model": "tiny:gpt2",
            "seed": 0,
            "n_final_samples": 16,
            "oracle_budget": budget,
            "rl": {"algo": "rloo", "batch_size": 8, "lr": 1e-3, "bf16": "off"},
            "merge": {"total_steps": T, "merge_every": 4},
        }
    )


@pytest.fixture(scope="module")
def budget_store(tmp_path_factory):
    from irs.runs import RunStore

    return RunStore(tmp_path_factory.mktemp("budget-runs"))


@pytest.fixture(scope="module")
def budget_reference(budget_store):
    from irs.runs.worker import execute

    run = budget_store.create(_toy_run_cfg("ref"))
    assert execute(run.path) == "done", run.status()
    return run


def test_a_run_whose_budget_is_spent_mid_run_ends_done_with_its_candidates(budget_reference):
    from irs.runs import load_candidates

    run = budget_reference
    st = run.status()
    rows = read_log(run.path / LOG_FILE)
    assert st["state"] == "done" and st["error"] is None
    assert st["oracle_budget"] == 40 and st["oracle_calls"] == len(rows) <= 40
    assert 0 < st["step"] == st["total_steps"] < 6  # stopped early, as the final step
    merges = [r for r in run.metrics() if r["type"] == "merge"]
    assert merges[-1]["final"] and merges[-1]["step"] == st["step"]  # the experts were merged at the stop
    assert [r for r in run.metrics() if r["type"] == "budget"][0]["step"] == st["step"]
    assert len(load_candidates(run)) == 16 and (run.final_dir / "model.safetensors").is_file()
    assert [r[0] for r in rows] == list(range(1, len(rows) + 1))
    # the best logged molecules come back as a candidate set, scored from the cache (no call spent)
    from irs.runs.final import BEST_CALLS_SET
    from irs.runs.sets import load_table

    table = load_table(run.path)
    best = table[table["set"] == BEST_CALLS_SET]
    top = sorted(rows, key=lambda r: -r[2])[:16]
    assert sorted(best["canonical"]) == sorted(r[1] for r in top)
    assert len({r[1] for r in rows}) == len(rows)  # a molecule is a call once


@pytest.mark.parametrize("kept", [5, "all"])
def test_a_budgeted_run_killed_after_some_calls_resumes_to_the_same_call_log(budget_store, budget_reference, kept):
    """A worker killed before its first checkpoint (m = 4: none before the budget stop) leaves a call log
    with `kept` rows and a torn line; the resumed run replays every step, gets its molecules from the
    cache, stops at the step the unkilled run stopped at, and its log ends identical."""
    from irs.runs.worker import execute

    ref_log = (budget_reference.path / LOG_FILE).read_text()
    lines = ref_log.splitlines(keepends=True)
    n = len(lines) - 1 if kept == "all" else kept
    assert 1 <= n < len(lines)
    run = budget_store.create(_toy_run_cfg(f"killed-{kept}"))
    (run.path / LOG_FILE).write_text("".join(lines[: n + 1]) + lines[min(n + 1, len(lines) - 1)][:4])
    assert execute(run.path) == "done"
    assert (run.path / LOG_FILE).read_text() == ref_log
    assert run.status()["step"] == budget_reference.status()["step"]
    assert run.status()["oracle_calls"] == budget_reference.status()["oracle_calls"]


def test_irs_status_shows_the_budget(budget_reference, capsys):
    from irs.cli import main

    assert main(["status", "--runs-dir", str(budget_reference.path.parent), budget_reference.id]) == 0
    out = capsys.readouterr().out
    n = budget_reference.status()["oracle_calls"]
    assert f"oracle calls {n:,} / 40" in out


@pytest.mark.slow
def test_a_pmo_run_logs_its_calls_and_scores_them_with_the_tasks_score(tmp_path):
    """MolGPT-2 on amlodipine MPO, 2 components: the log's scores are the task's own score of each SMILES,
    the AUC comes from the file alone, and the candidates carry the components and pmo_score."""
    from irs.runs import RunStore, load_candidates
    from irs.runs.worker import execute

    cfg = RunConfig.from_dict(
        {
            "name": "pmo",
            "domain": "molecules",
            "preset": "pmo:amlodipine_mpo",
            "model": "assets/molecules/molgpt2",
            "oracle_budget": 150,
            "n_final_samples": 24,
            "rl": {"algo": "rloo", "batch_size": 16, "max_new_tokens": 63, "bf16": "off"},
            "merge": {"total_steps": 40, "merge_every": 2},
        }
    )
    run = RunStore(tmp_path).create(cfg)
    assert execute(run.path) == "done", run.status()
    st = run.status()
    smiles, scores = pmo.read_call_log(run.path / LOG_FILE)
    assert st["oracle_calls"] == len(smiles) <= 150 and st["step"] < 40
    np.testing.assert_allclose(scores, pmo.score_objective("amlodipine_mpo").raw(smiles), atol=1e-12)
    auc = pmo.auc_from_log(run.path / LOG_FILE, 150)
    assert auc == pytest.approx(pmo.top_auc(scores, 150)) and 0 < auc < 1
    df = load_candidates(run)
    assert {"similarity", "num_rings", "pmo_score"} <= set(df.columns)
    with open(run.path / LOG_FILE) as f:
        assert next(csv.reader(f)) == ["call", "smiles", "score"]
    assert json.loads(run.status_path.read_text())["oracle_budget"] == 150


# ---- the suite ---------------------------------------------------------------------------------------
def test_the_pmo_suite_plans_each_distinct_run_once_task_by_task():
    from irs.bench.pmo import PMOSpec, check_spec, plan, task_config

    base = RunConfig.load("examples/bench-pmo.toml")
    spec = PMOSpec(tasks=("qed", "amlodipine_mpo"), seeds=2)
    p = plan(spec, base)
    # a single-component task runs IterativeRS (= MORLHF = RL on the score there) and its null control
    assert p[:6] == [
        ("qed", "iterative_rs", 0),
        ("qed", "null", 0),
        ("amlodipine_mpo", "iterative_rs", 0),
        ("amlodipine_mpo", "null", 0),
        ("amlodipine_mpo", "morlhf", 0),
        ("amlodipine_mpo", "rl_score", 0),
    ]
    assert len(p) == 12 and p[6] == ("qed", "iterative_rs", 1)
    c = task_config(base, "amlodipine_mpo", "rl_score", 1)
    assert (c.preset, c.method, c.seed, c.rl.null_control) == ("pmo:amlodipine_mpo:score", "morlhf", 1, False)
    c = task_config(base, "amlodipine_mpo", "null", 0)
    assert (c.preset, c.method, c.rl.null_control) == ("pmo:amlodipine_mpo", "iterative_rs", True)
    assert c.oracle_budget == 10000 and c.n_final_samples == 256 and c.notes == []
    with pytest.raises(ValueError, match="known tasks"):
        check_spec(PMOSpec(tasks=("qed", "nope")))
    with pytest.raises(ValueError, match="unknown PMO method"):
        check_spec(PMOSpec(methods=("reinvent",)))


def test_seed_sums_count_a_shared_run_for_each_method_and_skip_unfinished_seeds():
    from irs.bench.pmo import seed_sums, seed_sums_line

    methods = ("iterative_rs", "morlhf")
    rows = [  # qed is single-component: its one IterativeRS run stands for MORLHF too
        {"task": "qed", "method": "iterative_rs", "seed": s, "auc_top10": 0.9 + s / 10} for s in range(3)
    ] + [
        {"task": "median1", "method": m, "seed": s, "auc_top10": a + s / 10}
        for s in range(3)
        for m, a in zip(methods, (0.1, 0.2))
        if (m, s) != ("morlhf", 2)  # seed 2 has not finished median1's MORLHF
    ]
    by_seed = seed_sums(rows, ("qed", "median1"), methods)
    assert list(by_seed) == [0, 1]
    assert by_seed[0] == pytest.approx({"iterative_rs": 1.0, "morlhf": 1.1})
    assert by_seed[1] == pytest.approx({"iterative_rs": 1.2, "morlhf": 1.3})
    line = seed_sums_line(by_seed)  # sums 1.0, 1.2: mean 1.1, s.e. std(ddof=1)/sqrt(2) = 0.1
    assert "seed 0: IterativeRS 1.00, MORLHF 1.10" in line
    assert "over those 2 seeds: IterativeRS 1.10 ± 0.10, MORLHF 1.20 ± 0.10." in line
    assert "standard error" not in seed_sums_line({0: by_seed[0]})


@pytest.mark.slow
def test_the_pmo_bench_runs_in_parallel_resumes_and_reports_from_the_call_logs(tmp_path):
    import gzip

    from irs.bench.pmo import PMOSpec, run_pmo

    base = tmp_path / "pmo.toml"
    base.write_text(
        'name = "pmo"\ndomain = "molecules"\nmodel = "assets/molecules/molgpt2"\noracle_budget = 60\n'
        'n_final_samples = 8\n[rl]\nalgo = "rloo"\nbatch_size = 16\nmax_new_tokens = 63\nbf16 = "off"\n'
        "[merge]\ntotal_steps = 20\nmerge_every = 2\n"
    )
    spec = PMOSpec(
        config=str(base),
        tasks=("qed", "median1"),
        methods=("iterative_rs", "rl_score"),
        seeds=1,
        bench_dir=str(tmp_path / "bench"),
        out_dir=str(tmp_path / "out"),
        parallel=2,
    )
    res = run_pmo(spec)
    rows = {(r["task"], r["method"]): r for r in res["rows"]}
    assert set(rows) == {("qed", "iterative_rs"), ("median1", "iterative_rs"), ("median1", "rl_score")}
    for r in rows.values():  # each AUC is PMO's, from the committed copy of the call log alone
        with gzip.open(r["log"], "rt") as f:
            lines = f.read().splitlines()
        scores = [float(x.split(",")[2]) for x in lines[1:]]
        assert r["calls"] == len(scores) <= 60 and r["auc_top10"] == pytest.approx(pmo.top_auc(scores, 60))
    md = (tmp_path / "out" / "pmo.md").read_text()
    assert "| qed | " in md and "0.941" in md and "¹" in md  # REINVENT beside ours; qed's one shared run
    assert "| REINVENT (published) | Graph GA (published) |" in md
    median1 = next(line for line in md.splitlines() if line.startswith("| median1 |"))
    assert "| 0.356 | 0.294 |" in median1  # REINVENT's and Graph GA's published AUC top-10
    assert "Sums per seed, over the seeds whose every run finished: seed 0: IterativeRS " in md
    ids = sorted(r["run_id"] for r in res["rows"])
    again = run_pmo(spec)  # everything done: nothing new runs, the same report
    assert sorted(r["run_id"] for r in again["rows"]) == ids
    import shutil

    shutil.rmtree(tmp_path / "bench")  # a fresh machine: the run store is gone, the committed report is not
    fresh = run_pmo(spec)
    assert not list((tmp_path / "bench" / "runs").glob("*"))  # nothing was rerun
    assert {(r["task"], r["method"]): r["auc_top10"] for r in fresh["rows"]} == {
        k: r["auc_top10"] for k, r in rows.items()
    }
    assert "| qed | " in (tmp_path / "out" / "pmo.md").read_text()


def test_a_pmo_bench_does_not_reuse_a_report_made_from_another_config(tmp_path):
    from irs.bench.pmo import PMOSpec, archived
    from irs.io import atomic_write_json
    from irs.runs import load_config

    base = tmp_path / "pmo.toml"
    base.write_text('name = "pmo"\ndomain = "molecules"\nmodel = "assets/molecules/molgpt2"\noracle_budget = 600\n')
    spec = PMOSpec(config=str(base), tasks=("qed",), seeds=1, out_dir=str(tmp_path / "out"))
    (tmp_path / "out" / "pmo").mkdir(parents=True)
    (tmp_path / "out" / "pmo" / "qed-iterative_rs-0.csv.gz").write_bytes(b"")
    row = {"task": "qed", "method": "iterative_rs", "seed": 0, "run_id": "r", "seconds": 1.0}
    from irs.bench.plan import _config_key

    key = _config_key(load_config(str(base)))
    atomic_write_json(tmp_path / "out" / "pmo.json", {"config_key": key, "rows": [row]})
    assert set(archived(spec, load_config(str(base)))) == {"qed/iterative_rs/0"}
    atomic_write_json(tmp_path / "out" / "pmo.json", {"config_key": {**key, "oracle_budget": 10}, "rows": [row]})
    assert archived(spec, load_config(str(base))) == {}


@pytest.mark.parametrize("text", ['{"config_key": ', "[1, 2]"])
def test_a_damaged_committed_report_is_a_clear_error_naming_the_file(tmp_path, text):
    from irs.bench.pmo import PMOSpec, archived
    from irs.runs import load_config

    base = tmp_path / "pmo.toml"
    base.write_text('name = "pmo"\ndomain = "molecules"\nmodel = "assets/molecules/molgpt2"\noracle_budget = 600\n')
    spec = PMOSpec(config=str(base), tasks=("qed",), seeds=1, out_dir=str(tmp_path / "out"))
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "pmo.json").write_text(text)
    with pytest.raises(ValueError, match=r"pmo\.json is damaged .*git checkout"):
        archived(spec, load_config(str(base)))
    assert (tmp_path / "out" / "pmo.json").read_text() == text  # left as it was
