"""Run directories and the worker: exact resume after SIGKILL, kills at random points, cancel, locks,
dead-worker detection, and bad input that must change nothing.

Tiny settings throughout (toy domain, a 2-layer 64-wide GPT-2, batches of 8, T = 6, m = 2, K = 16), so
a whole run trains in about a second; most of a spawned worker's time is importing torch. Workers
inherit IRS_THREADS=1 from conftest.py, and the reference runs in this process with one thread too, so
CPU results are bit-identical.
"""

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time

import pandas as pd
import pytest
import torch

from irs.checkpoint import load_tensors
from irs.config import RunConfig
from irs.runs import (
    STATES,
    Run,
    RunError,
    RunLocked,
    RunNotFound,
    RunStore,
    cancel_run,
    load_candidates,
    remerge_and_sample,
    resume_run,
    spawn_worker,
    start_run,
    wait_run,
)
from irs.runs.store import effective_status, now_iso
from irs.runs.worker import execute

T, M_EVERY = 6, 2
N_OBJ = 3


def tiny_cfg(name="t", **top) -> RunConfig:
    return RunConfig.from_dict(
        {
            "name": name,
            "domain": "toy",
            "model": "tiny:gpt2",
            "seed": 0,
            "n_final_samples": 16,
            "objectives": [
                {"name": "frac_a", "weight": 0.5},
                {"name": "frac_b", "weight": 0.25},
                {"name": "length", "weight": 0.25},
            ],
            "rl": {"algo": "ppo", "batch_size": 8, "ppo_epochs": 1, "lr": 1e-3, "bf16": "off"},
            "merge": {"total_steps": T, "merge_every": M_EVERY},
            **top,
        }
    )


def poll(cond, timeout=180.0, every=0.02):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = cond()
        if v:
            return v
        time.sleep(every)
    raise AssertionError("timed out waiting")


def kill_worker(run: Run) -> None:
    os.killpg(run.proc.pid, signal.SIGKILL)  # the worker leads its own session / process group
    run.proc.wait()


def tensors_equal(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def step_records(run: Run) -> list[tuple]:
    return [(r["step"], r["expert"], r["reward"], r["kl"]) for r in run.metrics() if r["type"] == "step"]


def assert_readable(run: Run) -> None:
    """What a killed run must always offer: parseable status, metrics and checkpoint pointer."""
    st = json.loads(run.status_path.read_text())
    assert st["state"] in STATES and st["run_id"] == run.id
    assert run.status()["state"] in ("failed", "done")  # a dead worker is never reported as running
    lines = run.metrics_path.read_text().splitlines() if run.metrics_path.exists() else []
    for line in lines[:-1]:
        json.loads(line)  # only the last line may be torn
    run.metrics()
    ck = run.latest_checkpoint()
    if ck is not None:
        assert (run.checkpoints_dir / ck["dir"] / "state.json").is_file()
    run.config()


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    return RunStore(tmp_path_factory.mktemp("runs"))


@pytest.fixture(scope="module")
def reference(store):
    """An uninterrupted run, executed in this process."""
    run = store.create(tiny_cfg("ref"))
    assert execute(run.path) == "done", run.status()
    return run


def test_a_run_directory_holds_every_output(reference):
    run = reference
    st = run.status()
    assert st["state"] == "done" and st["step"] == st["total_steps"] == T and st["error"] is None
    for key in ("pid", "heartbeat", "created", "updated", "method", "domain", "name", "notes", "last_checkpoint"):
        assert key in st
    assert RunConfig.load(run.config_path).merge.total_steps == T
    recs = run.metrics()
    assert len([r for r in recs if r["type"] == "step"]) == T * N_OBJ
    assert [r["step"] for r in recs if r["type"] == "merge"] == [2, 4, 6]
    assert {"reward", "kl", "length", "expert"} <= set(recs[0])
    steps = sorted(int(p.name[5:]) for p in run.checkpoints_dir.glob("step_*"))
    assert steps == [4, 6] and run.latest_checkpoint()["step"] == T  # the last two are kept
    assert (run.final_dir / "model.safetensors").is_file()
    info = json.loads((run.experts_dir / "experts.json").read_text())
    assert info["names"] == ["frac_a", "frac_b", "length"] and len(info["files"]) == N_OBJ
    df = load_candidates(run)
    assert len(df) == 16 and set(df["set"]) == {"final"} and {"frac_a", "reward_frac_a", "pareto"} <= set(df.columns)
    assert df["pareto"].any()


@pytest.mark.slow
def test_sigkill_then_resume_gives_identical_final_weights(store, reference):
    run = start_run(tiny_cfg("killed"), store.root)
    poll(lambda: (run.checkpoints_dir / "latest").is_file())
    kill_worker(run)
    st = run.status()
    assert st["state"] == "failed" and f"irs resume {run.id}" in st["error"], st
    assert json.loads(run.status_path.read_text())["state"] == "running"  # reported, not rewritten
    assert run.latest_checkpoint()["step"] < T
    resume_run(run)
    assert wait_run(run)["state"] == "done", run.log_path.read_text()[-2000:]
    a = load_tensors(reference.final_dir / "model.safetensors")
    b = load_tensors(run.final_dir / "model.safetensors")
    assert tensors_equal(a, b)
    for i in range(N_OBJ):
        assert tensors_equal(
            load_tensors(reference.experts_dir / f"expert_{i}.safetensors"),
            load_tensors(run.experts_dir / f"expert_{i}.safetensors"),
        )
    assert step_records(run) == step_records(reference)  # metrics cut back to the checkpoint: no repeats
    pd.testing.assert_frame_equal(load_candidates(run), load_candidates(reference))


def test_damaged_weights_are_detected_and_resume_falls_back_to_the_previous_checkpoint(store, reference):
    """64 bytes flipped inside the newest checkpoint's expert file: loading it names the file, and resume
    continues from the checkpoint before it, ending with the same final weights as an uninterrupted run.
    A garbled final model is refused the same way."""
    import shutil

    from irs.checkpoint import WeightsError

    rid = "damaged-20250101-000000-0abc"
    path = store.root / rid
    shutil.copytree(reference.path, path)
    for p in ("final", "experts", "candidates.parquet"):
        shutil.rmtree(path / p) if (path / p).is_dir() else (path / p).unlink()
    st = json.loads((path / "status.json").read_text())
    st.update(run_id=rid, state="failed", phase="training", error="killed")
    (path / "status.json").write_text(json.dumps(st))
    newest = path / "checkpoints" / "step_6" / "expert_1.safetensors"
    blob = bytearray(newest.read_bytes())
    mid = len(blob) // 2
    blob[mid : mid + 64] = bytes(255 - b for b in blob[mid : mid + 64])
    newest.write_bytes(bytes(blob))
    with pytest.raises(WeightsError, match="expert_1.safetensors is damaged"):
        load_tensors(newest)
    run = store.get(rid)
    assert execute(run.path) == "done", run.log_path.read_text()[-2000:]
    assert any("step_6 was damaged" in n for n in run.status()["notes"])
    assert tensors_equal(
        load_tensors(reference.final_dir / "model.safetensors"), load_tensors(run.final_dir / "model.safetensors")
    )
    assert step_records(run) == step_records(reference)
    final = run.final_dir / "model.safetensors"
    final.write_bytes(final.read_bytes()[:-100])  # truncated
    with pytest.raises(WeightsError, match="truncated|damaged"):
        load_tensors(final)


@pytest.mark.slow
def test_kills_at_random_points_leave_readable_resumable_runs(store, reference):
    """Two workers at once, each SIGKILLed at its own random point (a step it must reach, plus a random
    delay: while building, training, checkpointing or sampling), then resumed to the reference result."""
    pending = {}
    for seed in (3, 4):
        rng = random.Random(seed)
        run = start_run(tiny_cfg(f"rand{seed}"), store.root)
        pending[run.id] = [run, rng.randint(0, T), rng.uniform(0.0, 0.4), None]
    killed = []
    end = time.monotonic() + 300
    while pending and time.monotonic() < end:
        for rid, (run, target, delay, since) in list(pending.items()):
            st = run.read_status()
            if since is None and (st["state"] == "done" or (st["state"] == "running" and st["step"] >= target)):
                pending[rid][3] = since = time.monotonic()
            if since is not None and time.monotonic() - since >= delay:
                kill_worker(run)
                killed.append(pending.pop(rid)[0])
        time.sleep(0.01)
    assert not pending, "workers did not reach their kill points"
    for run in killed:
        assert_readable(run)
        if run.status()["state"] != "done":
            assert execute(run.path) == "done"  # resume, here in this process
        assert run.status()["step"] == T
        assert tensors_equal(
            load_tensors(reference.final_dir / "model.safetensors"), load_tensors(run.final_dir / "model.safetensors")
        )
        assert step_records(run) == step_records(reference)


def test_cancel_checkpoints_and_resume_finishes(store):
    # the worker runs in a thread of this process: the same code as the detached one, minus its start-up
    run = store.create(tiny_cfg("cancel", merge={"total_steps": 10, "merge_every": M_EVERY}))
    result = []
    worker = threading.Thread(target=lambda: result.append(execute(run.path)))
    worker.start()
    try:
        poll(lambda: run.read_status()["step"] >= 1)
        # a second worker on the same run fails fast and writes nothing
        with pytest.raises(RunLocked):
            execute(run.path)
        with pytest.raises(RunLocked, match="already"):
            resume_run(run)
        st = cancel_run(run, timeout=120)
    finally:
        worker.join()
    assert result == ["cancelled"] and st["state"] == "cancelled", st
    ck = run.latest_checkpoint()
    assert ck is not None and ck["step"] == st["step"] and 0 < st["step"] < 10
    assert st["last_checkpoint"] == f"checkpoints/{ck['dir']}"
    with pytest.raises(RunError, match="nothing to cancel"):
        cancel_run(run)
    run.clear_cancel()  # what resume_run does before it starts a worker
    assert execute(run.path) == "done"
    assert run.status()["step"] == 10
    assert len(step_records(run)) == 10 * N_OBJ


def test_cancel_signals_a_worker_that_does_not_stop(store):
    run = store.create(tiny_cfg("stuck"))
    # a stand-in worker that never looks at the cancel flag, in its own process group
    proc = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(120)", "irs.runs.worker"], start_new_session=True
    )
    with run.lock():
        run.write_status(state="running", pid=proc.pid, heartbeat=now_iso())
    run.proc = proc
    t0 = time.monotonic()
    st = cancel_run(run, timeout=0.5)
    assert proc.wait(timeout=10) == -signal.SIGTERM
    assert st["state"] == "cancelled" and "killed" in st["error"] and time.monotonic() - t0 < 10


def test_cancel_stops_a_hung_worker_that_holds_the_lock(store, monkeypatch):
    """A worker frozen by SIGSTOP: its status reads failed (no heartbeat), resume is refused (the lock is
    held); cancel kills it, marks the run cancelled, and the run can then be resumed."""
    run = store.create(tiny_cfg("hung"))
    holder = (
        "import fcntl, os, sys, time; f = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT); "
        "fcntl.flock(f, fcntl.LOCK_EX); print('locked', flush=True); time.sleep(300)"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", holder, str(run.lock_path), "irs.runs.worker"],
        start_new_session=True,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout.readline().strip() == "locked"
        run.write_status(state="running", pid=proc.pid, heartbeat="2020-01-01T00:00:00.000Z")
        os.kill(proc.pid, signal.SIGSTOP)
        assert run.status()["state"] == "failed"
        with pytest.raises(RunLocked):
            resume_run(run)
        st = cancel_run(run, timeout=1)
        assert proc.wait(timeout=10) == -signal.SIGKILL
        assert st["state"] == "cancelled" and "hung" in st["error"]
        with run.lock():  # free again: `irs resume` can take it
            pass
    finally:
        if proc.poll() is None:
            proc.kill()


def test_resume_refuses_a_config_edited_after_the_checkpoint(store, reference):
    """Editing config.toml of an interrupted run (here the learning rate) and resuming it is refused with
    the changed field named, instead of silently continuing with the checkpoint's settings."""
    import shutil

    rid = "edited-20250101-000000-0def"
    path = store.root / rid
    shutil.copytree(reference.path, path)
    shutil.rmtree(path / "final")
    st = json.loads((path / "status.json").read_text())
    st.update(run_id=rid, state="failed", phase="training")
    (path / "status.json").write_text(json.dumps(st))
    run = store.get(rid)
    cfg = run.config()
    cfg.rl.lr = cfg.rl.lr * 10
    cfg.save(run.config_path)
    assert execute(run.path) == "failed"
    err = run.status()["error"]
    assert "edited after its last checkpoint (rl.lr" in err, err
    assert not run.final_dir.exists()  # nothing trained with the edited settings


def test_a_refused_resume_changes_nothing(store):
    """Resuming a cancelled run whose config.toml is broken is refused, and the run stays cancelled with
    its cancel flag and status untouched."""
    run = store.create(tiny_cfg("broken-config"))
    with run.lock():
        run.write_status(state="cancelled", phase="cancelled")
    run.request_cancel()
    before = run.status_path.read_bytes()
    run.config_path.write_text("this is = not [valid toml")
    with pytest.raises(ValueError):
        resume_run(run)
    assert run.status_path.read_bytes() == before and run.cancel_requested()


def test_remerge_and_sample(reference):
    texts, model = remerge_and_sample(reference, [1, 0, 0], n=8, seed=1)
    assert len(texts) == 8 and all(isinstance(t, str) for t in texts)
    expert0 = load_tensors(reference.experts_dir / "expert_0.safetensors")
    state = model.state_dict()
    assert all(torch.equal(state[k], v) for k, v in expert0.items())
    with pytest.raises(ValueError, match="3 weight"):
        remerge_and_sample(reference, [1, 0], n=2)
    with pytest.raises(ValueError, match=">= 0"):
        remerge_and_sample(reference, [1, -1, 1], n=2)


# ---- bad input changes nothing ---------------------------------------------------------------------
@pytest.mark.parametrize(
    "text, match",
    [
        (None, "not found"),
        ("name = [", "not valid TOML"),
        ('name = "x"\nbogus = 1\n', "unknown config key"),
        ('domain = "toy"\n[[objectives]]\nname = "frac_a"\nweight = -1\n', "weight"),
        ('domain = "toy"\n[[objectives]]\nname = "nope"\n', "unknown objective"),
        ('domain = "nope"\n', "unknown domain"),
        ('domain = "toy"\nmodel = "/no/such/dir"\n', "model"),
    ],
)
def test_bad_config_is_refused_and_nothing_is_written(tmp_path, text, match):
    cfg = tmp_path / "c.toml"
    if text is not None:
        cfg.write_text(text)
    runs_dir = tmp_path / "runs"
    with pytest.raises((ValueError, FileNotFoundError), match=match):
        start_run(cfg, runs_dir)
    assert not runs_dir.exists()


@pytest.mark.parametrize("bad", ["../x", "a/b", "..", "x..y", "/etc", ".hidden", "", "run-1\n"])
def test_unsafe_run_ids_are_refused(store, bad):
    with pytest.raises(ValueError, match="invalid run id"):
        store.get(bad)
    with pytest.raises(ValueError):
        resume_run(bad, store.root)


def test_symlinks_in_the_runs_folder_are_neither_listed_nor_read(store, tmp_path):
    """A link runs/evil -> a run folder elsewhere: `irs status` does not list it and get() refuses it."""
    elsewhere = tmp_path / "elsewhere" / "evil"
    elsewhere.mkdir(parents=True)
    (elsewhere / "status.json").write_text('{"state": "done"}')
    (store.root / "evil").symlink_to(elsewhere)
    assert "evil" not in [r.id for r in store.list()]
    with pytest.raises(RunNotFound, match="symlink"):
        store.get("evil")


def test_unknown_run_id(store):
    with pytest.raises(RunNotFound, match="unknown run"):
        store.get("no-such-run")
    with pytest.raises(RunNotFound):
        cancel_run("no-such-run", store.root)


def test_resuming_a_done_run_is_refused_and_changes_nothing(reference):
    before = {p: p.read_bytes() for p in (reference.status_path, reference.metrics_path, reference.candidates_path)}
    with pytest.raises(RunError, match="done"):
        resume_run(reference)
    with pytest.raises(RunError, match="done"):
        execute(reference.path)
    assert {p: p.read_bytes() for p in before} == before


def test_two_workers_on_one_run_fail_fast(store):
    run = store.create(tiny_cfg("locked"))
    before = run.status_path.read_bytes()
    with run.lock():
        with pytest.raises(RunLocked, match="already has a worker"):
            execute(run.path)
        with pytest.raises(RunLocked):
            spawn_worker(run)
        with pytest.raises(RunLocked):
            store.delete(run.id)
    assert run.status_path.read_bytes() == before
    store.delete(run.id)
    assert not run.path.exists()


def test_dead_worker_is_reported_failed_with_a_way_to_resume(store):
    run = store.create(tiny_cfg("dead"))
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    with run.lock():
        run.write_status(state="running", pid=gone.pid, heartbeat=now_iso())
    st = run.status()
    assert st["state"] == "failed" and f"irs resume {run.id}" in st["error"] and "no heartbeat since" in st["error"]
    # alive pid: the heartbeat decides
    fresh = {"state": "running", "pid": os.getpid(), "heartbeat": now_iso(), "run_id": "x"}
    assert effective_status(fresh)["state"] == "running"
    stale = dict(fresh, heartbeat="2020-01-01T00:00:00.000Z")
    assert effective_status(stale, timeout=60)["state"] == "failed"
    assert effective_status(dict(fresh, state="done"))["state"] == "done"


def test_corrupt_status_is_a_clear_error(store):
    run = store.create(tiny_cfg("corrupt"))
    run.status_path.write_text("{not json")
    with pytest.raises(RunError, match="unreadable"):
        run.status()
    with pytest.raises(RunError, match="unreadable"):
        resume_run(run)


def test_torn_metrics_line_is_tolerated(store):
    run = store.create(tiny_cfg("torn"))
    run.metrics_path.write_text('{"type": "step", "step": 1}\n{"type": "st')
    assert run.metrics() == [{"type": "step", "step": 1}]
