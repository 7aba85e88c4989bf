"""Calibrated reward normalization, the null control, the diversity guard and the step monitors
(issue: fine-tuning that moves the oracle)."""

import json
import shutil

import numpy as np
import pandas as pd
import pytest
import torch

from irs.algorithms.trainer import Trainer
from irs.config import RunConfig
from irs.domains import toy
from irs.objectives import Objective
from irs.objectives.calibration import CalibrationError, apply, calibrate_one
from irs.runs import RunStore, load_candidates, run_calibration
from irs.runs.worker import execute


def _cfg(**rl) -> RunConfig:
    return RunConfig.from_dict(
        {
            "name": "cal",
            "domain": "toy",
            "model": "tiny:gpt2",
            "seed": 0,
            "n_final_samples": 32,
            "rl": {
                "algo": "rloo",
                "batch_size": 8,
                "ppo_epochs": 1,
                "lr": 1e-3,
                "bf16": "off",
                "calibration_samples": 64,
                **rl,
            },
            "merge": {"total_steps": 2, "merge_every": 1},
        }
    )


def test_calibrated_range_follows_the_samples_quantiles_with_headroom_and_bounds():
    raw = np.linspace(0.6, 0.9, 101)
    mx = calibrate_one(Objective("q", None, 0.0, 1.0, "max", bounds=(0.0, 1.0)), raw)
    assert mx["lo"] == pytest.approx(0.615) and mx["hi"] == 1.0  # 0.885 + 0.5 * 0.27 = 1.02, clipped to the bound
    mn = calibrate_one(Objective("s", None, 1.0, 10.0, "min", bounds=(1.0, 10.0)), np.linspace(1.5, 3.5, 101))
    assert mn["hi"] == pytest.approx(3.4) and mn["lo"] == pytest.approx(1.0)  # 1.6 - 0.9 clipped to the bound 1
    # a raw value above every sample still earns more than the best sample (headroom), up to 1
    o = apply([Objective("q", None, 0.0, 1.0, "max")], {"q": mx})[0]
    r = o.transform(np.array([0.615, 0.885, 0.95, 1.0]))
    assert r[0] == 0 and 0.65 < r[1] < 0.75 and r[1] < r[2] < r[3] <= 1


def test_target_window_keeps_its_raw_position_after_calibration():
    o = Objective("logp", None, -2.0, 6.0, "target", target=(0.375, 0.625))  # raw window 1..3
    c = calibrate_one(o, np.linspace(1.5, 4.5, 101))
    n = apply([o], {"logp": c})[0]
    a, b = (n.lo + t * (n.hi - n.lo) for t in n.target)
    assert a == pytest.approx(1.0) and b == pytest.approx(3.0)
    assert n.transform(np.array([2.0]))[0] == 1.0 and n.transform(np.array([4.0]))[0] < 1.0


@pytest.mark.parametrize("raw,why", [(np.full(50, np.nan), "0 scored"), (np.full(50, 0.3), "no spread")])
def test_a_calibration_that_cannot_be_computed_says_why(raw, why):
    with pytest.raises(CalibrationError, match=why):
        calibrate_one(Objective("x", None), raw)


def test_an_evaluation_metric_without_spread_keeps_its_data_statistics():
    from irs.objectives.calibration import calibrate

    flat = Objective("rouge_l", lambda c: np.zeros(len(c)), 0.0, 1.0)
    with pytest.raises(CalibrationError):
        calibrate([flat], ["a", "b", "c"])  # training: strict
    out = calibrate([flat], ["a", "b", "c"], strict=False)["rouge_l"]  # evaluation: data statistics, and why
    assert (out["lo"], out["hi"]) == (0.0, 1.0) and "no spread" in out["fallback"]


def test_failed_calibration_stops_the_run_before_training_and_keeps_its_folder(tmp_path):
    """A real detached worker on a model that generates nothing valid (EOS first, always)."""
    from irs.checkpoint import save_model_dir
    from irs.rl.policy import build_model
    from irs.runs import start_run, wait_run

    m, tok = build_model("tiny:gpt2", toy.tokenizer())
    with torch.no_grad():  # final hidden state = e_0 and (tied) embedding column 0 = 20 at EOS only
        m.transformer.ln_f.weight.zero_()
        m.transformer.ln_f.bias.zero_()
        m.transformer.ln_f.bias[0] = 1.0
        m.transformer.wte.weight[:, 0] = 0.0
        m.transformer.wte.weight[tok.eos_id, 0] = 20.0
    save_model_dir(m, tok, tmp_path / "eos-model")
    cfg = _cfg()
    cfg.model = str(tmp_path / "eos-model")
    run = start_run(cfg, tmp_path / "runs")
    wait_run(run)
    st = run.read_status()
    assert st["state"] == "failed", st
    assert "CalibrationError" in st["error"] and "0 scored" in st["error"], st["error"]
    assert run.config_path.is_file() and run.log_path.is_file()
    assert run.latest_checkpoint() is None and not run.metrics_path.exists() or not run.metrics()


def test_a_calibrated_run_stores_its_scale_and_scores_candidates_on_it(tmp_path):
    from irs.checkpoint import save_model_dir
    from irs.rl.policy import build_model

    save_model_dir(*build_model("tiny:gpt2", toy.tokenizer()), tmp_path / "start")
    store = RunStore(tmp_path / "runs")
    cfg = _cfg()
    cfg.model = str(tmp_path / "start")
    run = store.create(cfg)
    assert execute(run.path) == "done"
    cal = run_calibration(run)
    assert cal["method"] == "calibrated" and set(cal["train"]) == {"frac_a", "frac_b", "length"}
    df = load_candidates(run)
    ok = df["valid"].to_numpy(bool)
    for name, c in cal["eval"].items():
        if name == "length":  # target goal: checked by the window test above
            continue
        want = np.clip((df.loc[ok, name] - c["lo"]) / (c["hi"] - c["lo"]), 0, 1)
        np.testing.assert_allclose(df.loc[ok, f"reward_{name}"], want, atol=1e-12)
    # the same starting model gives the same scale to every run (a fixed seed, not the run's)
    other = _cfg()
    other.seed, other.model = 5, cfg.model
    run2 = store.create(other)
    assert execute(run2.path) == "done"
    assert run_calibration(run2)["train"] == cal["train"]


def test_auto_normalization_is_the_domains_choice():
    from irs.config import normalization_of
    from irs.domains import get_domain

    cfg = _cfg()
    assert cfg.rl.normalization == "auto"
    assert normalization_of(cfg, get_domain("molecules")) == "calibrated"
    assert normalization_of(cfg, get_domain("text")) == "data"
    cfg.rl.normalization = "calibrated"
    assert normalization_of(cfg, get_domain("text")) == "calibrated"


def test_data_normalization_stays_selectable():
    tr = Trainer(_cfg(normalization="data"))
    assert tr.calibration is None
    assert [(o.lo, o.hi) for o in tr.objectives] == [(o.lo, o.hi) for o in toy.DOMAIN.objectives()]


def test_resume_restores_the_checkpointed_scale(tmp_path):
    tr = Trainer(_cfg()).run()
    tr.save(tmp_path / "ck")
    state = json.loads((tmp_path / "ck" / "state.json").read_text())
    state["calibration"]["train"]["frac_a"]["hi"] = 0.77
    (tmp_path / "ck" / "state.json").write_text(json.dumps(state))
    tr2 = Trainer(_cfg()).load(tmp_path / "ck")
    assert tr2.objectives[0].hi == 0.77 and tr2.calibration["train"]["frac_a"]["hi"] == 0.77
    # a checkpoint from before calibration (no key) resumes on the data statistics it was trained with
    del state["calibration"]
    (tmp_path / "ck" / "state.json").write_text(json.dumps(state))
    tr3 = Trainer(_cfg()).load(tmp_path / "ck")
    assert tr3.calibration is None and tr3.objectives[0].hi == 1.0


def test_null_control_shuffles_the_rewards_of_a_batch():
    texts = ["aaaa", "abab", "bbbb", "cccc", "aabb", "abcc", "baaa", "cbab"]
    real, null = Trainer(_cfg()), Trainer(_cfg(null_control=True))
    e_r, e_n = real.experts[0], null.experts[0]
    r, _ = real.score(e_r, texts, t=3)
    n, _ = null.score(e_n, texts, t=3)
    assert sorted(r.tolist()) == sorted(n.tolist()) and not torch.equal(r, n)
    n2, _ = null.score(e_n, texts, t=4)
    assert not torch.equal(n, n2)  # a new permutation every step


def test_diversity_filter_stops_rewarding_a_repeated_candidate():
    tr = Trainer(_cfg(diversity_filter="identical", diversity_bucket=3))
    e = tr.experts[0]
    r, _ = tr.score(e, ["aaab"] * 5 + ["abbb"], t=0)
    assert (r[:3] > 0).all() and (r[3:5] == tr.cfg.rl.invalid_reward).all() and r[5] > 0
    r, _ = tr.score(e, ["aaab", "abbb"], t=1)  # the memory persists across steps
    assert r[0] == tr.cfg.rl.invalid_reward and r[1] > 0


def test_steps_log_validity_uniqueness_size_and_objective_rewards():
    tr = Trainer(_cfg())
    recs = []
    tr.on_record = recs.append
    tr.run()
    step = next(r for r in recs if r["type"] == "step")
    assert 0 <= step["valid"] <= 1 and 0 < step["unique"] <= 1 and step["size"] > 0
    assert any(k.startswith("r_") for k in step)
    # the step's best valid sample, with the reward the expert got for it (at least the batch mean)
    assert tr.domain.canonicalize(step["best"]) is not None and step["best_reward"] >= step["reward"]
    again, _ = tr.score(tr.by_k[0], [step["best"]], t=step["step"] - 1)
    assert float(again[0]) == pytest.approx(step["best_reward"], abs=1e-6)
    from ui.logic import best_per_step

    table = best_per_step(recs)
    assert len(table) == sum(r["type"] == "step" for r in recs) and table["step"].iloc[0] >= table["step"].iloc[-1]


def test_value_head_gets_its_own_learning_rate():
    tr = Trainer(_cfg(algo="ppo", vf_lr=5e-3))
    groups = tr.experts[0].optimizer.param_groups
    assert [g["lr"] for g in groups] == [1e-3, 5e-3]
    assert groups[1]["params"] == list(tr.experts[0].value_head.parameters())


def test_a_shipped_demo_run_from_before_calibration_still_evaluates_and_exports(tmp_path):
    from pathlib import Path

    from irs.domains import get_domain
    from irs.export import export
    from irs.runs import evaluate_run, load_config

    # the DNA demo run shipped before calibrated normalization (PPO, data statistics), kept as a fixture
    src = Path(__file__).parent / "fixtures" / "runs" / "dna-3cell-20261126-233837-c96a"
    assert not (src / "calibration.json").exists() and (src / "final").is_dir()
    dst = tmp_path / "runs" / src.name
    shutil.copytree(src, dst)
    store = RunStore(tmp_path / "runs")
    run = store.get(src.name)
    cfg = load_config(run.config_path)
    assert cfg.rl.normalization == "auto" and run_calibration(run) is None  # data statistics, as trained
    ev = evaluate_run(run)
    assert ev["n_pareto"] > 0
    export(load_candidates(run), "csv", tmp_path / "x.csv", domain=get_domain(cfg.domain), run_id=run.id)
    assert pd.read_csv(tmp_path / "x.csv").shape[0] > 0
