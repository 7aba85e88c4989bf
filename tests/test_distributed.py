"""Scale-out parity: a 3-rank gloo run (torchrun, through the run store and worker) produces the same
merged parameters as the single-process run."""

import pytest
import torch

from irs.checkpoint import load_tensors
from irs.config import RunConfig
from irs.runs import start_run, wait_run


def _cfg(nproc):
    # selective merging + averaged optimizer state: the widest set of collectives
    return RunConfig.from_dict(
        {
            "name": f"dist{nproc}",
            "domain": "toy",
            "model": "tiny:gpt2",
            "seed": 3,
            "n_final_samples": 16,
            "nproc": nproc,
            "objectives": [
                {"name": "frac_a", "weight": 0.5},
                {"name": "frac_b", "weight": 0.3},
                {"name": "length", "weight": 0.2},
            ],
            "rl": {"batch_size": 8, "lr": 1e-2, "bf16": "off", "max_new_tokens": 10},
            "merge": {
                "total_steps": 4,
                "merge_every": 2,
                "lambdas": "selective",
                "n_val_samples": 8,
                "optimizer_state": "average",
            },
        }
    )


@pytest.mark.slow
def test_three_rank_gloo_run_matches_single_process(tmp_path, monkeypatch):
    monkeypatch.setenv("IRS_THREADS", "1")
    runs = {n: start_run(_cfg(n), tmp_path / f"runs{n}") for n in (3, 1)}
    for n, r in runs.items():
        st = wait_run(r)
        assert st["state"] == "done", (n, st.get("error"), r.log_path.read_text()[-2000:])
    a = load_tensors(runs[3].final_dir / "model.safetensors")
    b = load_tensors(runs[1].final_dir / "model.safetensors")
    assert set(a) == set(b)
    for k in a:
        torch.testing.assert_close(a[k], b[k], atol=1e-5, rtol=0)
    for i in range(3):  # the final experts gathered from their ranks
        ea = load_tensors(runs[3].experts_dir / f"expert_{i}.safetensors")
        eb = load_tensors(runs[1].experts_dir / f"expert_{i}.safetensors")
        for k in eb:
            torch.testing.assert_close(ea[k], eb[k], atol=1e-5, rtol=0)
    m = [r for r in (runs[3].metrics()) if r.get("type") == "merge"]
    assert len(m) == 2 and all(abs(sum(x["lambdas"]) - 1) < 1e-9 for x in m)
    # every rank's expert steps reach metrics.jsonl, as in the single-process run
    steps = {n: sorted((r["step"], r["expert"]) for r in runs[n].metrics() if r.get("type") == "step") for n in runs}
    assert steps[3] == steps[1] and {e for _, e in steps[3]} == {"frac_a", "frac_b", "length"}


@pytest.mark.slow
def test_three_rank_run_resumed_in_its_saving_phase_writes_the_same_experts(tmp_path, monkeypatch):
    """A 3-rank run killed after its last checkpoint (status phase `saving`) and resumed: the final experts
    then come from the checkpoint files (in their sorted order), and must still be each expert's own
    weights under their own names, as in an uninterrupted single-process run."""
    import json
    import shutil

    from irs.runs import resume_run

    monkeypatch.setenv("IRS_THREADS", "1")
    runs = {n: start_run(_cfg(n), tmp_path / f"runs{n}") for n in (3, 1)}
    for n, r in runs.items():
        assert wait_run(r)["state"] == "done", (n, r.log_path.read_text()[-2000:])
    run = runs[3]
    for p in ("final", "experts", "candidates.parquet"):  # as if killed while saving
        shutil.rmtree(run.path / p) if (run.path / p).is_dir() else (run.path / p).unlink()
    st = json.loads(run.status_path.read_text())
    st.update(state="failed", phase="saving", error="killed")
    run.status_path.write_text(json.dumps(st))
    resume_run(run)
    assert wait_run(run)["state"] == "done", run.log_path.read_text()[-2000:]
    for i in range(3):
        ea = load_tensors(run.experts_dir / f"expert_{i}.safetensors")
        eb = load_tensors(runs[1].experts_dir / f"expert_{i}.safetensors")
        assert set(ea) == set(eb)
        for k in eb:
            torch.testing.assert_close(ea[k], eb[k], atol=1e-5, rtol=0)


@pytest.mark.slow
def test_killing_a_distributed_run_kills_every_rank_and_it_resumes(tmp_path, monkeypatch):
    """torchrun puts each rank in a session of its own: a SIGKILL of the run's process group once left the
    ranks training as orphans (found by benchmarks/reliability.py). Now every rank dies with torchrun, the
    run is reported failed, and resume finishes it."""
    import os
    import signal
    import subprocess
    import time

    from irs.runs import resume_run

    monkeypatch.setenv("IRS_THREADS", "1")
    run = start_run(_cfg(3), tmp_path)
    end = time.monotonic() + 240
    while run.read_status()["state"] != "running" and time.monotonic() < end:
        time.sleep(0.1)
    assert run.read_status()["pid"] == run.proc.pid  # torchrun's, which cancel signals
    os.killpg(run.proc.pid, signal.SIGKILL)
    run.proc.wait()

    def ranks():
        out = subprocess.run(["pgrep", "-f", f"irs.runs.worker {run.path}"], capture_output=True, text=True).stdout
        return out.split()

    from irs.runs import RunLocked

    def lock_free():  # an exiting process drops its command line before its files (and the run's flock)
        try:
            with run.lock():
                return True
        except RunLocked:
            return False

    end = time.monotonic() + 30
    while (ranks() or not lock_free()) and time.monotonic() < end:
        time.sleep(0.1)
    assert ranks() == [] and lock_free()
    assert run.status()["state"] == "failed"
    resume_run(run)
    assert wait_run(run)["state"] == "done", run.log_path.read_text()[-2000:]
