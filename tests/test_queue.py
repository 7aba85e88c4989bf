"""The run queue (irs.runs.queue) and the final sampling's progress, cancel and resume (irs.runs.worker).

Tiny toy runs as in test_runs.py. Spawned workers read the limit from IRS_MAX_RUNS, set per test."""

import json
import time

import pandas as pd
import pytest
from test_runs import poll, tiny_cfg

from irs.runs import RunStore, cancel_run, final, resume_run, start_run, wait_run, worker
from irs.runs import queue as q
from irs.runs.worker import execute


def test_max_runs_comes_from_the_env_then_the_folder_then_the_machine(tmp_path, monkeypatch):
    monkeypatch.delenv("IRS_MAX_RUNS", raising=False)
    monkeypatch.setenv("IRS_THREADS", "1")
    n, src = q.max_runs(tmp_path)
    assert n == q.default_max_runs() >= 1 and "cores and memory" in src
    monkeypatch.setattr(q, "_available_gb", lambda: 2.0)  # memory allows one run of RUN_MEMORY_GB
    assert q.default_max_runs() == 1
    monkeypatch.setattr(q, "_available_gb", lambda: 1000.0)
    monkeypatch.setattr(q.os, "cpu_count", lambda: 8)
    assert q.default_max_runs() == 8
    monkeypatch.setenv("IRS_THREADS", "4")
    assert q.default_max_runs() == 2  # one run per 4 cores
    assert q.set_max_runs(tmp_path, "3") == 3 and q.max_runs(tmp_path) == (3, str(tmp_path / q.QUEUE_FILE))
    monkeypatch.setenv("IRS_MAX_RUNS", "2")
    assert q.max_runs(tmp_path) == (2, "IRS_MAX_RUNS")


@pytest.mark.parametrize("bad", ["0", "-1", "x", "2.5", "", "65", True])
def test_bad_max_runs_is_refused_naming_the_setting(tmp_path, monkeypatch, bad):
    with pytest.raises(ValueError, match="--max-runs must be a whole number between 1 and 64"):
        q.set_max_runs(tmp_path, bad)
    assert not (tmp_path / q.QUEUE_FILE).exists()  # nothing written
    if bad != "" and bad is not True:
        monkeypatch.setenv("IRS_MAX_RUNS", bad)
        with pytest.raises(ValueError, match="IRS_MAX_RUNS must be a whole number"):
            q.max_runs(tmp_path)


def test_queue_cli_shows_and_sets_the_limit(tmp_path, monkeypatch, capsys):
    from irs.cli import main

    monkeypatch.delenv("IRS_MAX_RUNS", raising=False)
    assert main(["queue", "--runs-dir", str(tmp_path), "--max-runs", "2"]) == 0
    out = capsys.readouterr().out
    assert "max runs   2 (from" in out and "waiting    0" in out
    assert main(["queue", "--runs-dir", str(tmp_path), "--max-runs", "zero"]) == 2
    assert "whole number" in capsys.readouterr().err
    assert json.loads((tmp_path / q.QUEUE_FILE).read_text()) == {"max_runs": 2}


@pytest.mark.slow
def test_one_slot_runs_three_runs_one_after_another_in_order(tmp_path, monkeypatch):
    monkeypatch.setenv("IRS_MAX_RUNS", "1")
    runs = [start_run(tiny_cfg(f"q{i}"), tmp_path) for i in range(3)]
    seen_positions, max_running = set(), 0
    while True:
        sts = [r.status() for r in runs]
        max_running = max(max_running, sum(s["state"] == "running" for s in sts))
        seen_positions |= {(r.id, s.get("queue_position")) for r, s in zip(runs, sts) if s["state"] == "queued"}
        if all(s["state"] in ("done", "failed", "cancelled") for s in sts):
            break
        time.sleep(0.05)
    sts = [wait_run(r) for r in runs]
    assert [s["state"] for s in sts] == ["done"] * 3
    assert max_running == 1  # never two at once
    # the last one waited behind the other two (position 2, then 1)
    assert (runs[2].id, 2) in seen_positions and (runs[2].id, 1) in seen_positions
    started = [s["started"] for s in sts]
    assert started == sorted(started)  # first queued, first started
    assert all(sts[i]["finished"] <= sts[i + 1]["started"] for i in range(2))


@pytest.mark.slow
def test_cancel_while_queued_is_quick_and_the_run_resumes(tmp_path, monkeypatch):
    monkeypatch.setenv("IRS_MAX_RUNS", "1")
    held = q.try_slot(tmp_path, 1)  # something else trains: the only slot is taken
    assert held is not None
    try:
        run = start_run(tiny_cfg("waiter"), tmp_path)
        poll(lambda: run.status().get("queue_position") == 1)
        assert run.status()["state"] == "queued" and q.queue_summary(RunStore(tmp_path))["waiting"] == [run.id]
        t0 = time.monotonic()
        st = cancel_run(run, timeout=30)
        assert st["state"] == "cancelled" and time.monotonic() - t0 < 10
        assert run.latest_checkpoint() is None  # nothing trained
    finally:
        held.release()
    resume_run(run)
    assert wait_run(run)["state"] == "done"


def _cancel_at(monkeypatch, run, what: str, nth: int = 1):
    """Request the run's cancel when the worker saves its nth piece of `what` (samples.json or a score piece)."""
    calls = {"n": 0}
    real_json, real_bytes = final.atomic_write_json, final.atomic_write_bytes

    def hit(path):
        if what in path.name:
            calls["n"] += 1
            if calls["n"] == nth:
                run.request_cancel()

    monkeypatch.setattr(final, "atomic_write_json", lambda p, obj, **k: (real_json(p, obj, **k), hit(p))[0])
    monkeypatch.setattr(final, "atomic_write_bytes", lambda p, b, **k: (real_bytes(p, b, **k), hit(p))[0])


@pytest.mark.parametrize("where", ["samples.json", "score-"])
def test_cancel_in_final_sampling_keeps_the_work_and_resume_gives_identical_candidates(tmp_path, monkeypatch, where):
    """K = 40 in chunks of 8: a cancel after the first chunk (or the first scored piece) ends the run
    cancelled at once with the work saved; the resumed run writes the candidates an uninterrupted run does."""
    monkeypatch.setattr(final, "FINAL_CHUNK", 8)
    monkeypatch.setattr(final, "SCORE_CHUNK", 8)
    store = RunStore(tmp_path)
    ref = store.create(tiny_cfg("ref", n_final_samples=40))
    assert execute(ref.path) == "done"
    assert not (ref.path / final.PARTIAL_DIR).exists()  # cleaned up after the candidates are written

    run = store.create(tiny_cfg("cut", n_final_samples=40))
    with monkeypatch.context() as m:
        _cancel_at(m, run, where)
        assert execute(run.path) == "cancelled"
    st = run.status()
    part = run.path / final.PARTIAL_DIR
    saved = json.loads((part / "samples.json").read_text())
    if where == "samples.json":
        assert st["phase"] == "cancelled" and st["sampled"] == 8 and st["n_final"] == 40
        assert len(saved["texts"]) == 8
    else:
        assert len(saved["texts"]) == 40 and len(list(part.glob("score-*.npy"))) == 1
        assert 0 < st["scored_fraction"] < 1
    assert not run.candidates_path.exists()
    run.clear_cancel()
    assert execute(run.path) == "done"
    a, b = pd.read_parquet(ref.candidates_path), pd.read_parquet(run.candidates_path)
    pd.testing.assert_frame_equal(a, b)
    assert not part.exists()


def test_final_sampling_progress_reaches_the_status(tmp_path, monkeypatch):
    monkeypatch.setattr(final, "FINAL_CHUNK", 8)
    seen = []
    real = worker._Status.set

    def spy(self, **fields):
        seen.append(dict(fields))
        return real(self, **fields)

    monkeypatch.setattr(worker._Status, "set", spy)
    run = RunStore(tmp_path).create(tiny_cfg("p", n_final_samples=20))
    assert execute(run.path) == "done"
    sampled = [f["sampled"] for f in seen if "sampled" in f]
    assert sampled == [0, 8, 16, 20]
    assert any(f.get("phase") == "scoring" and f.get("scored_fraction") == 1.0 for f in seen)


def test_run_progress_text_for_each_phase():
    from ui.logic import run_progress

    assert run_progress({"state": "queued", "queue_position": 2, "max_runs": 1}) == (
        0.0,
        "waiting for a free run slot: #2 in line (at most 1 at once; `irs queue`)",
    )
    assert run_progress({"state": "running", "phase": "training", "step": 3, "total_steps": 12}) == (
        0.25,
        "step 3 of 12",
    )
    assert run_progress({"state": "running", "phase": "sampling", "sampled": 256, "n_final": 1024}) == (
        0.25,
        "final sampling: 256 of 1024 candidates",
    )
    assert run_progress({"state": "running", "phase": "scoring", "scoring": "qed 64/300", "scored_fraction": 0.7}) == (
        0.7,
        "oracle scoring: qed 64/300",
    )
