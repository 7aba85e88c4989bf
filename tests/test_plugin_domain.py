"""A fourth domain added without touching any file outside its own (tests/plugins/xyz_domain.py): registered
through IRS_DOMAINS, it runs end to end through `irs run` (a detached worker), then evaluate and export."""

import os
from pathlib import Path

import pandas as pd
import pytest

PLUGINS = Path(__file__).parent / "plugins"

CONFIG = """name = "plugin"
domain = "xyz"
model = "tiny:gpt2"
seed = 0
n_final_samples = 16

[rl]
batch_size = 8
lr = 0.01
bf16 = "off"

[merge]
total_steps = 4
merge_every = 2
"""


@pytest.fixture()
def plugin_env(monkeypatch):
    monkeypatch.setenv("IRS_DOMAINS", "xyz=xyz_domain")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(PLUGINS), os.environ.get("PYTHONPATH", "")]))
    monkeypatch.syspath_prepend(str(PLUGINS))


def test_a_domain_outside_the_package_runs_end_to_end_through_irs_run(plugin_env, tmp_path, capsys):
    from irs.cli import main
    from irs.domains import domain_names, get_domain

    assert "xyz" in domain_names() and get_domain("xyz").name == "xyz"
    cfg = tmp_path / "xyz.toml"
    cfg.write_text(CONFIG)
    runs = tmp_path / "runs"
    assert main(["run", str(cfg), "--runs-dir", str(runs)]) == 0
    run_id = capsys.readouterr().out.strip().splitlines()[-1]
    out = tmp_path / "all.csv"
    assert main(["export", run_id, "--format", "csv", "--out", str(out), "--runs-dir", str(runs)]) == 0
    df = pd.read_csv(out)
    assert len(df) == 16 and {"share_x", "share_z"} <= set(df.columns)
    valid = df[df["valid"]]
    assert len(valid) > 0 and all(set(s) <= set("xyz") for s in valid["candidate"])
    assert (
        main(
            [
                "export",
                run_id,
                "--format",
                "fasta",
                "--pareto",
                "--out",
                str(tmp_path / "p.fasta"),
                "--runs-dir",
                str(runs),
            ]
        )
        == 0
    )
    assert (tmp_path / "p.fasta").read_text().startswith(">")
    assert main(["evaluate", run_id, "--json", "--runs-dir", str(runs)]) == 0


def test_the_plugin_domain_trains_with_ric_from_its_own_labelled_data(plugin_env):
    from irs.algorithms.ric import labelled_examples
    from irs.domains import get_domain

    dom = get_domain("xyz")
    texts, R, ctx = labelled_examples("xyz", None, dom.objectives(), 50, 0)
    assert len(texts) == 50 and R.shape == (50, 2) and ctx is None


def test_bad_irs_domains_entries_are_clear_errors(monkeypatch):
    from irs.domains import domain_names, get_domain

    monkeypatch.setenv("IRS_DOMAINS", "broken")
    with pytest.raises(ValueError, match="IRS_DOMAINS entry 'broken': expected name=module"):
        domain_names()
    monkeypatch.setenv("IRS_DOMAINS", "other=irs.domains.toy")
    with pytest.raises(ValueError, match="holds domain 'toy', registered as 'other'"):
        get_domain("other")
