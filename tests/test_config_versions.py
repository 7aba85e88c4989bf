"""Configs written by earlier versions still load: the shipped demo runs' configs, frozen as fixtures
(tests/fixtures/configs/, copied from assets/demo_runs/ when each was made), are validated as they are."""

from pathlib import Path

import pytest

FIXTURES = sorted((Path(__file__).parent / "fixtures" / "configs").glob("*.toml"))


def test_there_is_a_fixture_per_shipped_domain():
    import tomllib

    domains = {tomllib.loads(p.read_text())["domain"] for p in FIXTURES}
    assert domains == {"molecules", "dna", "text"}


@pytest.mark.parametrize("path", FIXTURES, ids=[p.stem for p in FIXTURES])
def test_an_earlier_config_loads_and_validates(path):
    from irs.runs import load_config

    cfg = load_config(path)
    assert cfg.objective_names and abs(sum(cfg.weights) - 1) < 1e-9
    assert cfg.domain in ("molecules", "dna", "text", "toy")
