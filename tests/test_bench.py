"""`irs bench` (irs/bench/): the budget rule, the report files, numbers that recompute from the CSV, and
a killed bench that reuses its finished runs and resumes the unfinished one.

Toy domain, tiny GPT-2, T = 4, batches of 8, K = 32; workers run inline (in the bench's process), so a
run takes about a second.
"""

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from irs.bench import BenchSpec, Variant, budget_config, parse_sweep, run_bench, variants
from irs.candidates import evaluate_table
from irs.config import RunConfig, validate
from irs.runs import RunStore, load_candidates

ROOT = Path(__file__).resolve().parents[1]
CONFIG = """
name = "toyb"
domain = "toy"
model = "tiny:gpt2"
seed = 0
n_final_samples = 32
[rl]
algo = "rloo"
batch_size = 8
ppo_epochs = 1
lr = 1e-3
bf16 = "off"
[merge]
total_steps = 4
merge_every = 2
"""


@pytest.fixture()
def config(tmp_path):
    p = tmp_path / "toy.toml"
    p.write_text(CONFIG)
    return p


def test_budget_rule_and_sweep(config):
    base = validate(RunConfig.load(config), ["frac_a", "frac_b", "length"])
    N, B = 3, 8
    assert budget_config(base, Variant("morlhf", "morlhf", None), 1, "t").rl.batch_size == N * B
    ric = budget_config(base, Variant("ric", "ric", None), 1, "t")
    assert ric.ric.batch_size == N * B and ric.rl.batch_size == B and ric.seed == 1
    irs = budget_config(base, Variant("iterative_rs m=1", "iterative_rs", 1), 0, "t", algo="ppo", K=7)
    assert (irs.rl.batch_size, irs.merge.merge_every, irs.rl.algo, irs.n_final_samples) == (B, 1, "ppo", 7)
    assert parse_sweep("1,2,T", 4) == [1, 2, 4]
    with pytest.raises(ValueError, match="sweep-m"):
        parse_sweep("0,2", 4)
    labels = [v.label for v in variants(["iterative_rs", "rewarded_soups", "morlhf"], [1, 2, 4], 2, 4)]
    assert labels == ["iterative_rs", "rewarded_soups", "morlhf", "iterative_rs m=1"]  # m=2 is the main run, m=T is RS


def _run_ids(bench_dir: Path) -> dict:
    m = json.loads((bench_dir / "manifest.json").read_text())
    return {k: e.get("run_id") for k, e in m["runs"].items()}


@pytest.mark.slow
def test_bench_writes_report_and_survives_a_kill(config, tmp_path):
    bench_dir, out = tmp_path / "bench", tmp_path / "out"
    args = [
        sys.executable,
        "-m",
        "irs.cli",
        "bench",
        str(config),
        "--methods",
        "iterative_rs,morlhf",
        "--seeds",
        "2",
        "--bench-dir",
        str(bench_dir),
        "--out",
        str(out),
        "--inline",
    ]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        args, cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    try:  # kill the bench once its first run is done and the second has been created
        end = time.monotonic() + 120
        while time.monotonic() < end:
            try:
                m = json.loads((bench_dir / "manifest.json").read_text())
            except (FileNotFoundError, json.JSONDecodeError):
                m = {"runs": {}}
            if any(e.get("state") == "done" for e in m["runs"].values()) and len(m["runs"]) >= 2:
                break
            assert proc.poll() is None, "the bench ended before it could be killed"
            time.sleep(0.05)
        else:
            raise AssertionError("the bench did not finish its first run in time")
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    before = _run_ids(bench_dir)
    first = next(
        k for k, e in json.loads((bench_dir / "manifest.json").read_text())["runs"].items() if e.get("state") == "done"
    )
    store = RunStore(bench_dir / "runs")
    mtime = (store.get(before[first]).candidates_path).stat().st_mtime_ns

    res = run_bench(
        BenchSpec(
            config=config,
            methods=["iterative_rs", "morlhf"],
            seeds=2,
            bench_dir=bench_dir,
            out_dir=out,
            inline=True,
            command="irs bench toy.toml",
        )
    )
    after = _run_ids(bench_dir)
    assert {k: v for k, v in after.items() if k in before and v} == {k: v for k, v in before.items() if v}
    assert store.get(before[first]).candidates_path.stat().st_mtime_ns == mtime  # reused, not re-run
    assert len(store.list()) == 4 and all(r.status()["state"] == "done" for r in store.list())

    md = res["md"].read_text()
    assert "| IterativeRS (m=2) |" in md and "| MORLHF |" in md and "Budget rule" in md and "Verdict" in md
    pngs = sorted(p.name for p in out.glob("*.png"))
    assert pngs == ["toyb_frac_a_frac_b.png", "toyb_frac_a_length.png", "toyb_frac_b_length.png"]
    assert all((out / p).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in pngs)

    rows = pd.read_csv(res["csv"])
    ref = rows[rows["label"] == "pretrained"]  # the base model's own samples: the starting point
    assert len(ref) == 2 and (ref["proxy_queries"] == 0).all() and "| pretrained (no fine-tuning) |" in md
    rows = rows[rows["label"] != "pretrained"]
    assert len(rows) == 4 and set(rows["label"]) == {"iterative_rs", "morlhf"}
    for _, r in rows.iterrows():  # every CSV number recomputes from the run's candidate table
        ev = evaluate_table(load_candidates(store.get(r["run_id"])))
        assert math.isclose(r["avg_reward"], ev["avg_reward"], rel_tol=1e-5)
        assert math.isclose(r["hypervolume"], ev["hypervolume"], rel_tol=1e-5, abs_tol=1e-9)
        assert r["n_pareto"] == ev["n_pareto"]
    irs, mor = rows[rows["label"] == "iterative_rs"], rows[rows["label"] == "morlhf"]
    assert (irs["proxy_queries"] == 4 * 3 * 8).all() and (mor["proxy_queries"] == 4 * 24 * 3).all()
    assert (mor["batch_per_policy"] == 24).all() and (irs["samples_per_step"] == 24).all()
    m, s = irs["avg_reward"].mean(), irs["avg_reward"].std(ddof=1)
    assert f"{m:.4f} ± {s:.4f}" in md  # the table is the CSV's mean ± sample std


def test_null_control_row_runs_with_shuffled_rewards_and_reports_its_lift(config, tmp_path):
    vs = variants(["iterative_rs"], [], 2, 4, null=True)
    assert [v.label for v in vs] == ["iterative_rs", "iterative_rs null"] and vs[1].null
    base = validate(RunConfig.load(config), ["frac_a", "frac_b", "length"])
    assert budget_config(base, vs[1], 0, "t").rl.null_control and not budget_config(base, vs[0], 0, "t").rl.null_control
    res = run_bench(
        BenchSpec(
            config=config,
            methods=["iterative_rs"],
            seeds=1,
            bench_dir=tmp_path / "b",
            out_dir=tmp_path / "out",
            inline=True,
            null_control=True,
        )
    )
    store = RunStore(tmp_path / "b" / "runs")
    cfgs = {r.config().name: r.config() for r in store.list()}
    assert any(c.rl.null_control for c in cfgs.values()) and any(not c.rl.null_control for c in cfgs.values())
    md = res["md"].read_text()
    assert "null control (shuffled rewards)" in md and "over the pretrained model" in md


def test_a_calibrated_bench_scores_the_base_model_and_every_run_on_the_runs_scale(tmp_path):
    from irs.bench.evaluate import on_scale, scale_key
    from irs.bench.plan import REFERENCE
    from irs.runs import run_calibration

    p = tmp_path / "cal.toml"
    p.write_text(CONFIG.replace("[rl]", '[rl]\nnormalization = "calibrated"\ncalibration_samples = 64'))
    run_bench(
        BenchSpec(
            config=p, methods=["iterative_rs"], seeds=1, bench_dir=tmp_path / "b", out_dir=tmp_path / "o", inline=True
        )
    )
    (run,) = RunStore(tmp_path / "b" / "runs").list()
    scale = run_calibration(run)["eval"]
    man = json.loads((tmp_path / "b" / "manifest.json").read_text())["runs"]
    ref, row = man[f"{REFERENCE}/0"], man["iterative_rs/0"]
    assert ref["scale"] == row["scale"] == scale_key(scale) != scale_key(None)
    # the base model's K samples: their rewards recomputed on the run's scale, not the data statistics
    base = validate(RunConfig.load(p), ["frac_a", "frac_b", "length"])
    cached = pd.read_parquet(tmp_path / "b" / "candidates" / f"{REFERENCE}-s0.parquet")
    on_run = evaluate_table(on_scale(cached, base, scale))["avg_reward"]
    on_data = evaluate_table(on_scale(cached, base, None))["avg_reward"]
    assert ref["eval"]["avg_reward"] == pytest.approx(on_run) and on_run != pytest.approx(on_data)
    # the run's own candidates were scored on that scale by its worker: evaluating them is a no-op
    df = load_candidates(run)
    pd.testing.assert_frame_equal(on_scale(df, run.config(), scale)[df.columns], df, check_exact=False)


def test_a_bench_with_parallel_2_keeps_two_runs_in_flight_and_reports_them_all(config, tmp_path, monkeypatch):
    """--parallel 2 on a regular bench: real workers, two at a time in plan order, every run done once, and
    a rerun starts nothing new."""
    from irs.bench import runner

    monkeypatch.setenv("IRS_MAX_RUNS", "2")
    in_flight, peak = set(), [0]
    start, end = runner.start_one, runner.end_one

    def spy_start(store, man, key, cfg, inline=False):
        run = start(store, man, key, cfg, inline)
        if run is not None:
            in_flight.add(key)
            peak[0] = max(peak[0], len(in_flight))
        return run

    def spy_end(man, key, run):
        in_flight.discard(key)
        return end(man, key, run)

    monkeypatch.setattr(runner, "start_one", spy_start)
    monkeypatch.setattr(runner, "end_one", spy_end)
    spec = BenchSpec(
        config=str(config),
        methods=["iterative_rs", "morlhf"],
        seeds=2,
        bench_dir=str(tmp_path / "bench"),
        out_dir=str(tmp_path / "out"),
        parallel=2,
        reference=False,
    )
    res = run_bench(spec)
    assert peak[0] == 2
    assert sorted((r["method"], r["seed"]) for r in res["rows"]) == [
        ("iterative_rs", 0),
        ("iterative_rs", 1),
        ("morlhf", 0),
        ("morlhf", 1),
    ]
    ids = sorted(r["run_id"] for r in res["rows"])
    assert sorted(r["run_id"] for r in run_bench(spec)["rows"]) == ids  # all done: nothing new runs
    with pytest.raises(ValueError, match="--parallel 0"):
        run_bench(BenchSpec(config=str(config), parallel=0, bench_dir=str(tmp_path / "b2")))
