"""RiC on the DNA domain and RiC sampling through the run store: the labelled-data hook, the position
extension DNAGPT-2 needs for the prompt, a tiny run end to end (worker in this process), `irs sample`
prompting a RiC run with its (or other) preference weights, and `irs train-proxies --domain dna` dispatch.

Tiny: 48 labelled sites, 2 SFT steps of 8, 8 final samples; the file runs in ~20 s on a busy CPU.
"""

import numpy as np
import pytest
import torch

from irs.algorithms.ric import extend_positions, labelled_data, parse_prompt, prompt_for, ric_prompt


def cli_main(argv) -> int:
    """irs.cli.main limited to the subcommands tested here (the root imports every command module, and
    other commands are being added in parallel); same dispatch and error handling."""
    import argparse
    import importlib

    p = argparse.ArgumentParser(prog="irs")
    sub = p.add_subparsers(dest="command", required=True)
    for mod in ("sample", "train_proxies"):
        importlib.import_module(f"irs.commands.{mod}").add_parser(sub)
    args = p.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (ValueError, FileNotFoundError) as e:
        print(f"irs {args.command}: error: {e}", file=__import__("sys").stderr)
        return 2


TINY = """
name = "ric-dna"
domain = "dna"
preset = "3cell"
method = "ric"
seed = 0
n_final_samples = 8
[rl]
batch_size = 8
bf16 = "off"
[merge]
total_steps = 2
[ric]
max_examples = 48
"""


@pytest.fixture(scope="module")
def dna_objectives():
    from irs.domains import get_domain

    return get_domain("dna").objectives("3cell")


def test_dna_labelled_data_hook(dna_objectives):
    from irs.domains import get_domain

    assert get_domain("dna").labelled_data is not None
    texts, R = labelled_data("dna", "3cell", dna_objectives, 32, 0)
    assert len(texts) == 32 and all(len(t) == 200 and set(t) <= set("ACGT") for t in texts)
    assert R.shape == (32, 3) and np.isfinite(R).all() and (R >= 0).all() and (R <= 1).all()
    assert R.std(0).min() > 0.01  # oracle labels, not a constant
    again, R2 = labelled_data("dna", "3cell", dna_objectives, 32, 0)
    assert again == texts and np.array_equal(R, R2)  # seeded


def test_extend_positions_keeps_pretrained_positions():
    from irs.rl.policy import build_model

    model, _ = build_model("assets/dna/dnagpt2")
    old = model.transformer.wpe.weight.detach().clone()
    assert extend_positions(model, 10, 6) is model and model.config.n_positions == 52  # enough: untouched
    extend_positions(model, 7 + 51, 6)  # BOS + 6 prompt tokens + 50 four-mers + EOS
    W = model.transformer.wpe.weight.detach()
    assert model.config.n_positions == 58 and W.shape == (58, old.shape[1])
    assert torch.equal(W[0], old[0]) and torch.equal(W[7:], old[1:])  # the sequence keeps its positions
    assert torch.allclose(W[1:7], old.mean(0).expand(6, -1))
    ids = torch.randint(4, 260, (2, 58))
    assert model(input_ids=ids).logits.shape == (2, 58, model.config.vocab_size)


@pytest.fixture(scope="module")
def ric_run(tmp_path_factory):
    from irs.runs import RunStore, load_config
    from irs.runs.worker import execute

    root = tmp_path_factory.mktemp("ricdna")
    (root / "ric-dna.toml").write_text(TINY)
    run = RunStore(root / "runs").create(load_config(root / "ric-dna.toml"))
    assert execute(run.path, threads=1) == "done", run.status()
    return run


def test_ric_dna_run_end_to_end(ric_run):
    import json

    from irs.checkpoint import load_model_dir
    from irs.runs import load_candidates

    recs = ric_run.metrics()
    assert [r["step"] for r in recs if r["type"] == "step"] == [1, 2]
    assert all(np.isfinite(r["loss"]) for r in recs if r["type"] == "step")
    df = load_candidates(ric_run)
    assert len(df) == 8 and {"k562", "hepg2", "gm12878", "reward_k562"} <= set(df.columns)
    model, tok = load_model_dir(ric_run.final_dir)
    meta = model.config.ric
    assert model.config.n_positions == 58 and meta["objectives"] == ["k562", "hepg2", "gm12878"]
    assert parse_prompt(ric_prompt(model)) and tok.vocab_size == 260 + 3 + 11
    assert json.loads((ric_run.experts_dir / "experts.json").read_text())["names"] == ["ric"]


def test_sample_uses_the_ric_prompt(ric_run, monkeypatch, capsys):
    """`irs sample` on a RiC run: the run's prompt by default, --weights re-targets it; the generation
    length fits the model's positions after the prompt (51 tokens: 200 nt + EOS)."""
    import irs.rl.sampler as sampler
    from irs.checkpoint import load_model_dir
    from irs.runs import sample_candidates, sample_run

    model, _ = load_model_dir(ric_run.final_dir)
    meta = model.config.ric
    seen = []
    real = sampler.sample

    def spy(*a, **kw):
        seen.append(kw)
        return real(*a, **kw)

    monkeypatch.setattr(sampler, "sample", spy)
    texts, _, _ = sample_run(ric_run, 4, seed=1)
    assert len(texts) == 4 and seen[-1]["prompt"] == meta["prompt"] and seen[-1]["max_new_tokens"] == 51
    want = prompt_for([1, 0, 0], meta["lo"], meta["hi"], meta["p"], meta["n_bins"])
    assert want != meta["prompt"]
    assert (
        cli_main(["sample", ric_run.id, "--runs-dir", str(ric_run.path.parent), "--n", "3", "--weights", "2,0,0"]) == 0
    )
    assert seen[-1]["prompt"] == want and len(capsys.readouterr().out.splitlines()) == 3
    df = sample_candidates(ric_run, 4, weights=[1, 0, 0], seed=2)
    assert seen[-1]["prompt"] == want and set(df["set"]) == {"ric 1.00/0.00/0.00"}
    with pytest.raises(ValueError, match="3 objective"):
        sample_run(ric_run, 2, weights=[1, 0])


def test_weights_are_refused_for_a_non_ric_run(tmp_path):
    from irs.runs import Run, sampling_prompt
    from ui.fixture import make_run

    run = Run(make_run(tmp_path, n=20))  # an IterativeRS run (molecules)
    assert sampling_prompt(run, torch.nn.Linear(1, 1)) == (None, 64, None)
    with pytest.raises(ValueError, match="weights apply to RiC runs"):
        sampling_prompt(run, torch.nn.Linear(1, 1), [1, 1, 1])


def test_train_proxies_dispatches_dna(monkeypatch, capsys):
    """The DNA trainer's own entry point (its parser included) gets the equivalent arguments."""
    import irs.domains.dna.proxies as dna_proxies

    got = []

    def fake_train(backbone, oracle, out, results, n_real, n_generated, cfg=None, command=""):
        got.append(
            dict(
                backbone=backbone,
                oracle=oracle,
                out=out,
                results=results,
                n_real=n_real,
                n_generated=n_generated,
                epochs=cfg.epochs,
            )
        )
        return {"heads": {}}

    monkeypatch.setattr(dna_proxies, "train_dna_proxies", fake_train)
    assert (
        cli_main(
            [
                "train-proxies",
                "--domain",
                "dna",
                "--epochs",
                "5",
                "--n-real",
                "400",
                "--out",
                "/tmp/x/heads",
                "--results",
                "",
            ]
        )
        == 0
    )
    assert got == [
        dict(
            backbone="assets/dna/dnagpt2",
            oracle=None,
            out="/tmp/x/heads",
            results="",
            n_real=400,
            n_generated=4000,
            epochs=5,
        )
    ]
    assert cli_main(["train-proxies", "--domain", "dna", "--oracle", "o", "--n-generated", "0"]) == 0
    assert got[-1] == dict(
        backbone="assets/dna/dnagpt2",
        oracle="o",
        out="assets/dna/proxies",
        results="docs/results/dna_proxies.json",
        n_real=16000,
        n_generated=0,
        epochs=60,
    )
    # options of the other domain are refused, not ignored; nothing is trained
    assert cli_main(["train-proxies", "--domain", "dna", "--limit", "5"]) == 2
    assert cli_main(["train-proxies", "--domain", "molecules", "--n-real", "5"]) == 2
    assert len(got) == 2 and "--limit" in capsys.readouterr().err
