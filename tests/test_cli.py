"""The `irs` command line contract (README "Command line"): run prints the run id last, status and
evaluate --json keys, export CSV columns, sample with re-merged λ, and clear errors for bad input.

One real `irs run examples/smoke.toml` (a subprocess, as a user would type it) serves every test.
"""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from irs.cli import main

REPO = Path(__file__).resolve().parents[1]
SMOKE = REPO / "examples" / "smoke.toml"


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    """(runs_dir, run_id, wall seconds) of `irs run examples/smoke.toml --runs-dir DIR`."""
    runs_dir = tmp_path_factory.mktemp("cli_runs")
    t0 = time.monotonic()
    p = subprocess.run(
        [sys.executable, "-m", "irs.cli", "run", str(SMOKE), "--runs-dir", str(runs_dir)],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=600,
    )
    wall = time.monotonic() - t0
    assert p.returncode == 0, p.stderr[-3000:]
    return runs_dir, p.stdout.strip().splitlines()[-1], wall


def irs(capsys, *argv) -> tuple[int, str, str]:
    capsys.readouterr()
    rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


def test_run_prints_the_run_id_last_and_the_smoke_run_is_fast(smoke):
    runs_dir, run_id, wall = smoke
    assert (runs_dir / run_id / "candidates.parquet").is_file()
    # the smoke config's promise: a complete run, candidates included, in under 60 s on 2 CPU cores
    assert wall < 60, f"smoke run took {wall:.1f} s"


def test_status_json(smoke, capsys):
    runs_dir, run_id, _ = smoke
    rc, out, _ = irs(capsys, "status", run_id, "--runs-dir", runs_dir, "--json")
    st = json.loads(out)
    assert rc == 0 and st["state"] == "done" and st["step"] == st["total_steps"] == 4
    rc, out, _ = irs(capsys, "status", "--runs-dir", runs_dir, "--json")
    assert [s["run_id"] for s in json.loads(out)] == [run_id]
    rc, out, _ = irs(capsys, "status", "--runs-dir", runs_dir)
    assert run_id in out and "done" in out


def test_evaluate_json(smoke, capsys):
    runs_dir, run_id, _ = smoke
    rc, out, _ = irs(capsys, "evaluate", run_id, "--runs-dir", runs_dir, "--json")
    ev = json.loads(out)  # strict JSON: NaN would be null
    assert rc == 0
    assert {"n_candidates", "n_valid", "n_pareto", "pareto_means", "avg_reward", "icv", "hypervolume"} <= set(ev)
    assert ev["n_candidates"] == 64 and set(ev["pareto_means"]) == {"qed", "sa", "logp"}
    assert 0 < ev["n_pareto"] <= ev["n_valid"] <= 64


def test_export_csv_and_sdf(smoke, capsys, tmp_path, monkeypatch):
    from rdkit import Chem

    runs_dir, run_id, _ = smoke
    monkeypatch.chdir(tmp_path)
    rc, out, _ = irs(capsys, "export", run_id, "--runs-dir", runs_dir, "--format", "csv")
    assert rc == 0 and out.strip() == f"{run_id}_all.csv"
    df = pd.read_csv(tmp_path / f"{run_id}_all.csv")
    assert {"candidate", "qed", "sa", "logp"} <= set(df.columns) and len(df) == 64
    rc, _, _ = irs(
        capsys, "export", run_id, "--runs-dir", runs_dir, "--format", "sdf", "--pareto", "--out", tmp_path / "p.sdf"
    )
    n_pareto = int(pd.read_parquet(runs_dir / run_id / "candidates.parquet")["pareto"].sum())
    mols = [m for m in Chem.SDMolSupplier(str(tmp_path / "p.sdf"), removeHs=False)]
    assert rc == 0 and len(mols) == n_pareto and all(m is not None and m.GetNumConformers() == 1 for m in mols)
    assert all(m.HasProp("qed") and m.HasProp("pareto") for m in mols)
    rc, _, err = irs(capsys, "export", run_id, "--runs-dir", runs_dir, "--format", "fasta")
    assert rc == 2 and "not available for domain 'molecules'" in err


def test_sample_with_lambdas(smoke, capsys, tmp_path):
    runs_dir, run_id, _ = smoke
    rc, out, _ = irs(capsys, "sample", run_id, "--runs-dir", runs_dir, "--n", 5, "--lambdas", "0.6,0.2,0.2")
    assert rc == 0 and len(out.splitlines()) == 5
    rc, _, _ = irs(
        capsys, "sample", run_id, "--runs-dir", runs_dir, "--n", 7, "--lambdas", "1,0,0", "--out", tmp_path / "s.csv"
    )
    df = pd.read_csv(tmp_path / "s.csv")
    assert rc == 0 and len(df) == 7 and set(df["set"]) == {"remerge 1.00/0.00/0.00"} and "qed" in df
    rc, _, err = irs(capsys, "sample", run_id, "--runs-dir", runs_dir, "--n", 2, "--lambdas", "1,0")
    assert rc == 2 and "3 weight" in err


def test_sample_the_starting_model_as_a_baseline_set(smoke, capsys, tmp_path):
    """--starting-model samples the shipped MolGPT-2 itself (the same texts as sampling it directly with the
    run's settings), scored on the run's scale, as the set "starting model"."""
    import torch

    from irs.config import bf16_flag
    from irs.rl.sampler import sample
    from irs.runs import Run, starting_model

    runs_dir, run_id, _ = smoke
    rc, _, _ = irs(
        capsys, "sample", run_id, "--runs-dir", runs_dir, "--n", 6, "--starting-model", "--out", tmp_path / "b.csv"
    )
    df = pd.read_csv(tmp_path / "b.csv")
    assert rc == 0 and len(df) == 6 and set(df["set"]) == {"starting model"}
    run = Run(Path(runs_dir) / run_id)
    cfg = run.config()
    model, tok = starting_model(run)
    s = sample(
        model,
        tok,
        6,
        max_new_tokens=cfg.rl.max_new_tokens or 64,
        temperature=cfg.rl.temperature,
        top_k=cfg.rl.top_k,
        top_p=cfg.rl.top_p,
        bf16=bf16_flag(cfg.rl),
        generator=torch.Generator().manual_seed(0),
    )
    assert df["candidate"].fillna("").tolist() == s.texts
    rc, _, err = irs(
        capsys, "sample", run_id, "--runs-dir", runs_dir, "--n", 2, "--starting-model", "--lambdas", "1,0,0"
    )
    assert rc == 2 and "starting model" in err


def test_errors_are_clear_and_write_nothing(smoke, capsys, tmp_path):
    runs_dir, run_id, _ = smoke
    (tmp_path / "d.csv").mkdir()  # a folder where a file would go
    before = (runs_dir / run_id / "status.json").read_bytes()
    for argv, msg in [
        (("resume", run_id), "is done"),
        (("cancel", run_id), "nothing to cancel"),
        (("status", "../x"), "invalid run id"),
        (("evaluate", "a/b"), "invalid run id"),
        (("export", "nope", "--format", "csv"), "unknown run"),
        (("export", run_id, "--format", "csv", "--out", str(tmp_path / "no" / "x.csv")), "does not exist"),
        (("export", run_id, "--format", "csv", "--out", "/dev/null"), "not a regular file"),
        (("sample", run_id, "--n", "2", "--out", str(tmp_path / "d.csv")), "folder"),
        (("sample", run_id, "--n", "100000000"), "between 1 and 1,000,000"),
    ]:
        rc, out, err = irs(capsys, *argv, "--runs-dir", runs_dir)
        assert rc == 2 and msg in err, (argv, err)
    assert (runs_dir / run_id / "status.json").read_bytes() == before and not (tmp_path / "no").exists()
    rc, _, err = irs(capsys, "run", tmp_path / "missing.toml", "--runs-dir", tmp_path / "r")
    assert rc == 2 and "not found" in err and not (tmp_path / "r").exists()


def test_detach_prints_the_id_and_cancel_of_a_queued_run(capsys, tmp_path, monkeypatch):
    # no worker: this checks the CLI contract only (the worker is covered by test_runs.py)
    monkeypatch.setattr("irs.runs.control.spawn_worker", lambda run: None)
    rc, out, _ = irs(capsys, "run", SMOKE, "--runs-dir", tmp_path, "--detach")
    run_id = out.strip().splitlines()[-1]
    assert rc == 0 and (tmp_path / run_id / "config.toml").is_file()
    rc, out, _ = irs(capsys, "status", run_id, "--runs-dir", tmp_path, "--json")
    assert json.loads(out)["state"] == "queued"
    rc, out, _ = irs(capsys, "cancel", run_id, "--runs-dir", tmp_path)
    assert rc == 0 and "cancelled" in out


def test_every_flag_states_its_default(capsys):
    import argparse
    import re

    from irs.cli import build_parser

    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    assert len(sub.choices) >= 13
    checked = 0
    for name, parser in sub.choices.items():  # every command
        for a in parser._actions:
            if not a.option_strings or a.dest == "help":
                continue
            h = a.help % {"default": a.default, "prog": name, "choices": a.choices} if "%(" in a.help else a.help
            if a.required:
                assert "required" in h, (name, a.dest)
                continue
            assert "default" in h, (name, a.dest, h)
            if a.default not in (None, False, argparse.SUPPRESS):  # the stated default is the real one
                stated = re.findall(r"default:? ([^)\s,;]+)", h)
                ok = str(a.default) in h
                if a.default is True:  # a --no-<name> flag: the thing it turns off is on by default
                    ok = "on" in stated
                for x in stated:
                    try:
                        ok = ok or float(x) == float(a.default)
                    except (TypeError, ValueError):
                        pass
                assert ok, (name, a.dest, a.default, h)
            checked += 1
    assert checked > 50


def test_example_configs_are_valid():
    from irs.runs import load_config

    paths = sorted((REPO / "examples").glob("*.toml"))
    assert SMOKE in paths
    for p in paths:
        if "gpu" in p.name:  # points at a model the user downloads (/path/to/...); tests/test_text.py validates it
            continue
        load_config(p)


def test_damaged_run_files_are_clear_errors_not_tracebacks(smoke, capsys, tmp_path):
    """experts.json without `files`, a truncated expert file, candidates.parquet without a column and a
    status.json whose step is text: each command exits 2 with the file named, and nothing changes."""
    import shutil

    runs_dir, run_id, _ = smoke
    src = Path(runs_dir) / run_id
    cases = {
        "experts.json": (
            lambda d: (d / "experts" / "experts.json").write_text('{"names": []}'),
            ("sample", "--n", "2", "--lambdas", "1,0,0"),
            "experts.json",
        ),
        "truncated": (
            lambda d: (d / "experts" / "expert_0.safetensors").write_bytes(
                (d / "experts" / "expert_0.safetensors").read_bytes()[:500]
            ),
            ("sample", "--n", "2", "--lambdas", "1,0,0"),
            "expert_0.safetensors",
        ),
        "parquet": (
            lambda d: (
                pd.read_parquet(d / "candidates.parquet").drop(columns=["valid"]).to_parquet(d / "candidates.parquet")
            ),
            ("evaluate",),
            "no column(s) ['valid']",
        ),
        "status": (
            lambda d: (d / "status.json").write_text(
                json.dumps({**json.loads((d / "status.json").read_text()), "step": "many"})
            ),
            ("resume",),
            "step = 'many'",
        ),
    }
    for name, (damage, argv, msg) in cases.items():
        root = tmp_path / name
        shutil.copytree(src, root / run_id)
        damage(root / run_id)
        before = {p: p.read_bytes() for p in (root / run_id).rglob("*") if p.is_file()}
        rc, _, err = irs(capsys, argv[0], run_id, *argv[1:], "--runs-dir", root)
        assert rc == 2 and msg in err and "Traceback" not in err, (name, err)
        assert {p: p.read_bytes() for p in (root / run_id).rglob("*") if p.is_file()} == before, name


@pytest.mark.parametrize(
    "name, value, match",
    [
        ("IRS_THREADS", "0", "IRS_THREADS must be a whole number of threads >= 1, not '0'"),
        ("IRS_THREADS", "-2", "IRS_THREADS must be a whole number"),
        ("IRS_THREADS", "two", "IRS_THREADS must be a whole number"),
        ("IRS_DEVICE", "tpu", "IRS_DEVICE='tpu': use auto, cpu or cuda"),
        ("IRS_BF16", "fast", "IRS_BF16 must be on, off or auto"),
        ("IRS_MAX_RUNS", "0", "IRS_MAX_RUNS must be a whole number"),
    ],
)
def test_bad_environment_settings_stop_before_a_run_folder_exists(name, value, match, capsys, tmp_path, monkeypatch):
    from irs.cli import main

    monkeypatch.setenv(name, value)
    runs = tmp_path / "runs"
    assert main(["run", str(SMOKE), "--runs-dir", str(runs), "--detach"]) == 2
    assert match in capsys.readouterr().err
    assert not runs.exists()  # nothing written


def test_irs_device_cuda_without_cuda_fails_at_start_with_a_clear_message(capsys, tmp_path, monkeypatch):
    import torch

    from irs.cli import main

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    monkeypatch.setenv("IRS_DEVICE", "cuda")
    runs = tmp_path / "runs"
    assert main(["run", str(SMOKE), "--runs-dir", str(runs), "--detach"]) == 2
    assert "IRS_DEVICE=cuda, but torch sees no CUDA device" in capsys.readouterr().err
    assert not runs.exists()


def test_export_sees_the_sets_the_workbench_adds(smoke, capsys, tmp_path):
    """A re-merge set added in the workbench (irs.runs.sets.add_candidate_set) is in `irs export`; --set picks
    one set and an unknown set names the ones there are."""
    import shutil

    import pandas as pd

    from irs.cli import main
    from irs.runs.sets import add_candidate_set, load_table

    runs_dir, run_id, _ = smoke
    root = tmp_path / "runs"
    shutil.copytree(Path(runs_dir) / run_id, root / run_id)
    base = load_table(root / run_id)
    extra = base.head(5).assign(set="remerge 1.00/0.00/0.00")
    assert add_candidate_set(root / run_id, extra) == "remerge 1.00/0.00/0.00"
    out = tmp_path / "all.csv"
    assert main(["export", run_id, "--format", "csv", "--out", str(out), "--runs-dir", str(root)]) == 0
    df = pd.read_csv(out)
    assert len(df) == len(base) + 5 and set(df["set"]) == {"final", "remerge 1.00/0.00/0.00"}
    assert (
        main(["export", run_id, "--format", "csv", "--set", "final", "--out", str(out), "--runs-dir", str(root)]) == 0
    )
    assert len(pd.read_csv(out)) == len(base)
    capsys.readouterr()
    assert main(["export", run_id, "--format", "csv", "--set", "nope", "--out", str(out), "--runs-dir", str(root)]) == 2
    assert "has the sets ['final', 'remerge 1.00/0.00/0.00']" in capsys.readouterr().err


def test_pretrain_and_train_oracle_flags_come_from_their_dataclasses():
    from dataclasses import fields

    from irs.cli import build_parser
    from irs.commands import pretrain as pre
    from irs.commands import train_oracle as tro
    from irs.config.flags import values
    from irs.domains.dna.oracle import OracleConfig
    from irs.pretrain import PretrainConfig

    p = build_parser()
    a = p.parse_args(["pretrain", "--domain", "molecules"])
    for f in fields(PretrainConfig):
        if f.name in pre.MODEL_FLAGS + pre.RUN_FLAGS and f.name not in pre.GENERIC:
            assert getattr(a, f.name) == f.default, f.name  # the dataclass's default, not a restated one
    assert a.n_embd is None and "n_embd" not in values(a, pre.MODEL_FLAGS)  # the domain decides
    a = p.parse_args(["pretrain", "--domain", "dna", "--n-layer", "2", "--no-bf16", "--minutes", "1.5"])
    got = values(a, pre.MODEL_FLAGS + pre.RUN_FLAGS)
    assert got["n_layer"] == 2 and got["bf16"] is False and got["minutes"] == 1.5
    a = p.parse_args(["train-oracle", "--domain", "dna", "--lr", "0.01"])
    cfg = OracleConfig(**values(a, tro.FLAGS))
    assert cfg.lr == 0.01 and cfg.epochs == OracleConfig.epochs and cfg.patience == OracleConfig.patience
    helps = {x.dest: x.help for x in p._subparsers._group_actions[0].choices["train-oracle"]._actions}
    assert helps["patience"].startswith(next(f for f in fields(OracleConfig) if f.name == "patience").metadata["help"])


def test_the_project_root_follows_irs_home_and_an_installed_package_uses_the_working_folder(tmp_path):
    import shutil
    import subprocess
    import sys

    code = "import irs.paths as p; print(p.ROOT)"
    env = {k: v for k, v in os.environ.items() if k != "IRS_HOME"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == str(Path(__file__).resolve().parent.parent)  # the checkout
    out = subprocess.run(
        [sys.executable, "-c", code], env={**env, "IRS_HOME": str(tmp_path)}, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == str(tmp_path.resolve())
    # a copy of the package without assets beside it (as in site-packages) resolves against the working folder
    site = tmp_path / "site"
    (site / "irs").mkdir(parents=True)
    shutil.copy(Path(__file__).resolve().parent.parent / "irs" / "paths.py", site / "irs" / "paths.py")
    (site / "irs" / "__init__.py").write_text("")
    work = tmp_path / "work"
    work.mkdir()
    out = subprocess.run(
        [sys.executable, "-c", code],
        env={**env, "PYTHONPATH": str(site)},
        cwd=work,
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == str(work.resolve())
