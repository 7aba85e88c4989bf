"""Molecules domain, chemistry side: canonical SMILES, druglike objectives, QM9 split, oracle, SDF."""

from __future__ import annotations

import math
import os

import numpy as np
import pandas as pd
import pytest

from irs.domains.molecules import chem, qm9
from irs.domains.molecules.druglike import druglike_objectives, logp_window_normalized


def test_canonicalize_valid_and_invalid():
    assert chem.canonicalize("OCC") == "CCO"
    assert chem.canonicalize(" C(C)O ") == "CCO"
    assert chem.canonicalize("C1=CC=CC=C1") == "c1ccccc1"
    for bad in ("", "   ", None, "C1CC", "xyz", "C(C", "CCO.Cl", "[Na+].[Cl-]", 42):
        assert chem.canonicalize(bad) is None, bad


def test_embed_3d_and_svg():
    mol = chem.embed_3d("CCO", n_conf=3, seed=0)
    assert mol is not None and mol.GetNumAtoms() == 9  # hydrogens added
    confs = mol.GetConformers()
    assert len(confs) == 3 and all(c.Is3D() for c in confs)
    # conformers differ (RDKit seed 0 without sequential seeds would give identical copies)
    assert not np.allclose(confs[0].GetPositions(), confs[1].GetPositions())
    assert chem.embed_3d("C1CC", n_conf=1) is None
    svg = chem.mol_block_svg("c1ccccc1O", (120, 90))
    assert svg is not None and "<svg" in svg
    assert chem.mol_block_svg("nonsense(") is None
    with pytest.raises(ValueError):
        chem.embed_3d("CCO", n_conf=0)


def test_druglike_objectives_ranges():
    objs = {o.name: o for o in druglike_objectives()}
    assert list(objs) == ["qed", "sa", "logp"]
    cands = ["CC(=O)Nc1ccc(O)cc1", "c1ccccc1", "CCCCCCCCCCCCCCCCCCCC", "C1CC"]
    q, s, lp = (objs[k].raw(cands) for k in ("qed", "sa", "logp"))
    assert np.all((q[:3] > 0) & (q[:3] < 1)) and np.all((s[:3] >= 1) & (s[:3] <= 10))
    assert np.isnan(q[3]) and np.isnan(s[3]) and np.isnan(lp[3])
    assert objs["qed"].n_invalid == 1
    # paracetamol logP (~1.35) lies in the window [1, 3]: full reward; eicosane (~8) is far above it: 0
    r = objs["logp"].transform(lp)
    assert r[0] == pytest.approx(1.0) and r[2] == pytest.approx(0.0) and np.isnan(r[3])
    assert logp_window_normalized() == pytest.approx((0.375, 0.625))
    # SA is minimized: the easy molecule gets the larger reward
    rs = objs["sa"].transform(s)
    assert rs[1] > 0.85 and objs["sa"].goal == "min"


def test_qm9_split_sizes_disjoint_deterministic():
    parts = qm9.split()
    n = {k: len(v) for k, v in parts.items()}
    assert sum(n.values()) == 130831
    assert n["train"] == pytest.approx(0.8 * 130831, abs=1) and n["val"] == pytest.approx(0.1 * 130831, abs=1)
    idx = {k: set(v["index"]) for k, v in parts.items()}
    assert not (idx["train"] & idx["val"] or idx["train"] & idx["test"] or idx["val"] & idx["test"])
    again = qm9.split()
    assert again["test"]["index"].tolist() == parts["test"]["index"].tolist()
    for col in ("smiles", "alpha", "gap", "u0", "homo", "lumo"):
        assert col in parts["train"].columns
    stats = qm9.norm_stats()
    assert set(stats) == {"alpha", "gap", "u0"} and all(lo < hi for lo, hi in stats.values())
    q = qm9.qm9_percentiles()
    # widened towards MOSES-size molecules, never narrower than QM9 itself
    assert stats["alpha"][1] >= q["alpha"][1] and stats["u0"][0] <= q["u0"][0]
    assert qm9.QM9_GOALS["gap"] == ("target", (0.5, 0.5))


def test_oracle_in_process_finite_and_nan():
    from irs.domains.molecules.oracle import QM9Oracle, oracle_objectives

    orc = QM9Oracle(n_conf=2, n_workers=0)
    res = orc.score(["CCO", "c1ccccc1", "CC(=O)O", "C1CC", "CCO"])
    for k in ("alpha", "gap", "u0"):
        assert np.isfinite(res[k][:3]).all() and np.isnan(res[k][3]), k
        assert res[k][4] == res[k][0]  # cached by canonical SMILES
    assert res["status"] == ["ok", "ok", "ok", "invalid", "ok"]
    assert orc.counts["invalid"] == 1 and orc.counts["ok"] == 3
    # physically sensible: benzene is more polarizable than ethanol; U0 of ethanol near QM9's -155.0 Ha
    assert res["alpha"][1] > res["alpha"][0]
    assert res["u0"][0] == pytest.approx(-155.03, abs=0.1)
    assert 0.1 < res["gap"][0] < 0.5
    objs = oracle_objectives(oracle=orc)
    assert [o.name for o in objs] == ["alpha", "gap", "u0"]
    assert [o.goal for o in objs] == ["max", "target", "min"]
    r = objs[0].reward(["CCO", "C1CC"])
    assert 0 <= r[0] <= 1 and math.isnan(r[1])


def test_oracle_pool_and_timeout_never_raise():
    from irs.domains.molecules.oracle import compute_raw_many

    out = compute_raw_many(["CCO", "CCN", "not a smiles"], n_conf=1, n_workers=2)
    assert [r["status"] for r in out] == ["ok", "ok", "invalid"]
    out = compute_raw_many(["CCO", "CCN"], n_conf=1, n_workers=2, timeout_s=1e-3)
    # a fresh worker needs over a second to start, so these time out: workers killed and replaced, no raise
    assert [r["status"] for r in out] == ["timeout", "timeout"]


def test_oracle_pool_size_follows_the_runs_cores(monkeypatch):
    """The pool gets the run's cores (IRS_THREADS, else every core), so parallel runs do not oversubscribe."""
    from irs import env
    from irs.domains.molecules.oracle import pool

    seen = []

    class FakePool:
        def __init__(self, max_workers, **kwargs):
            seen.append(max_workers)
            raise RuntimeError("stop here")

    monkeypatch.setattr("pebble.ProcessPool", FakePool)
    monkeypatch.setenv("IRS_THREADS", "1")
    with pytest.raises(RuntimeError, match="stop here"):
        pool.compute_raw_many(["CCO", "CCN"], n_conf=1)
    monkeypatch.delenv("IRS_THREADS")
    with pytest.raises(RuntimeError, match="stop here"):
        pool.compute_raw_many(["CCO", "CCN", "CCC", "CCCC"] * 8, n_conf=1)
    assert seen == [1, min(32, len(os.sched_getaffinity(0)))]
    assert env.cores() == len(os.sched_getaffinity(0))
    with pytest.raises(ValueError, match="n_workers must be >= 0"):
        pool.compute_raw_many(["CCO"], n_workers=-1)


def test_sdf_round_trip(tmp_path):
    rows = [
        {
            "canonical": "CCO",
            "alpha": 31.5,
            "reward_alpha": 0.25,
            "gap": float("nan"),
            "pareto": True,
            "set": "remerge 0.50/0.25/0.25",
        },
        {
            "canonical": "Oc1ccccc1",
            "alpha": 70.125,
            "reward_alpha": np.float64(0.5),
            "gap": 0.2,
            "pareto": False,
            "set": "final",
        },
        {"canonical": "C1CC", "alpha": 1.0, "reward_alpha": 0.0, "gap": 0.1, "pareto": False, "set": "final"},
    ]
    path = tmp_path / "out.sdf"
    counts = chem.write_sdf(rows, path, run_id="run-42")
    assert counts == {"written": 2, "skipped_invalid": 1, "coords_2d": 0}
    back = chem.read_sdf(path)
    assert len(back) == 2
    from rdkit import Chem

    sup = [m for m in Chem.SDMolSupplier(str(path), removeHs=False)]
    assert len(sup) == 2 and all(m is not None for m in sup)
    for row, rec, mol in zip(rows, back, sup):
        assert rec["SMILES"] == row["canonical"] and rec["run_id"] == "run-42"
        assert Chem.MolToSmiles(Chem.RemoveHs(mol)) == row["canonical"]
        assert mol.GetConformer().Is3D() and mol.GetNumAtoms() > Chem.MolFromSmiles(row["canonical"]).GetNumAtoms()
        assert rec["pareto"] is row["pareto"] and rec["set"] == row["set"]
        for k in ("alpha", "reward_alpha", "gap"):
            if isinstance(row[k], float) and math.isnan(row[k]):
                assert math.isnan(rec[k]) and mol.GetProp(k) == "nan"
            else:
                assert rec[k] == row[k]
    with pytest.raises(ValueError):
        chem.write_sdf(rows, tmp_path / "x.sdf", run_id="")
    with pytest.raises(ValueError):
        chem.write_sdf([{"smiles": "CCO"}], tmp_path / "x.sdf", run_id="r")


def test_domain_registered():
    from irs.domains import get_domain

    d = get_domain("molecules")
    assert d.default_preset == "qm9" and set(d.presets) >= {"qm9", "druglike"} and "qm9" in d.oracles
    assert d.canonical(["OCC", "C1CC"]) == ["CCO", None]
    assert [o.name for o in d.objectives("druglike")] == ["qed", "sa", "logp"]
    assert d.export_formats == ("sdf",) and d.max_new_tokens == 64


# ---- properties (irs.domains.molecules.properties) ---------------------------------------------------
def test_descriptors_and_rule_flags_on_known_molecules():
    from irs.domains.molecules.properties import alerts, descriptors

    # aspirin; a 5-violation giant (MW > 500, many donors/acceptors); an invalid string
    giant = "OC(=O)" + "C(O)" * 12 + "c1ccccc1" + "N" * 1 + "C(=O)NCC(=O)NCC(=O)NCC(=O)NCC(=O)NCC(=O)N"
    d = descriptors(["CC(=O)Oc1ccccc1C(=O)O", giant, "not a smiles"])
    asp = d.iloc[0]
    assert asp["MW"] == pytest.approx(180.16, abs=0.01) and asp["TPSA"] == pytest.approx(63.6, abs=0.1)
    assert (asp["HBD"], asp["HBA"], asp["rings"], asp["arom_rings"], asp["heavy_atoms"]) == (1, 3, 1, 1, 13)
    assert bool(asp["lipinski"]) and bool(asp["veber"]) and asp["unspec_stereo"] == 0
    assert not bool(d.iloc[1]["lipinski"]) and not bool(d.iloc[1]["veber"]) and d.iloc[1]["unspec_stereo"] == 12
    assert d.iloc[2].isna().all()
    al = alerts(["O=C1C=CC(=O)C=C1", "CCO", None])  # p-benzoquinone: a PAINS-free Brenk Michael acceptor
    assert al.iloc[0]["brenk"] != "" and al.iloc[1].tolist() == ["", ""] and al.iloc[2].isna().all()


def test_substructure_search_finds_a_ring_however_the_smiles_is_written():
    from irs.domains.molecules.properties import QueryError, query_mask

    mols = ["c1ccncc1C", "Cc1cccnc1", "C1=CC=NC=C1", "c1ccccc1", "bad", None]
    assert query_mask(mols, "c1ccncc1").tolist() == [True, True, True, False, False, False]
    assert query_mask(mols, "[#7;a]").tolist() == [True, True, True, False, False, False]  # SMARTS
    with pytest.raises(QueryError, match="neither SMARTS nor SMILES"):
        query_mask(mols, "C1CC(")


def test_similarity_scaffolds_nearest_neighbours_and_diagnostics():
    from irs.domains.molecules.properties import (
        QueryError,
        diagnostics,
        nearest_neighbours,
        scaffold_counts,
        similarity,
    )

    mols = ["CCOc1ccccc1", "CCCOc1ccccc1", "c1ccc2ccccc2c1", "CCO", "bad"]
    sim = similarity(mols, "CCOc1ccccc1")
    assert sim[0] == 1.0 and sim[1] > sim[2] and np.isnan(sim[4])
    with pytest.raises(QueryError):
        similarity(mols, "C1CC(")
    sc = scaffold_counts(mols)
    assert sc.iloc[0].tolist()[:2] == ["c1ccccc1", 2] and set(sc["scaffold"]) == {"c1ccccc1", "c1ccc2ccccc2c1", ""}
    nn = nearest_neighbours(["CCCCOc1ccccc1", "bad"], ["CCO", "CCCOc1ccccc1", "c1ccc2ccccc2c1"])
    assert nn["neighbour"][0] == "CCCOc1ccccc1" and 0 < nn["similarity"][0] < 1 and pd.isna(nn["neighbour"][1])
    d = diagnostics(mols + ["OCC"], train={"CCO"})
    assert d["n"] == 6 and d["validity"] == pytest.approx(5 / 6) and d["uniqueness"] == pytest.approx(4 / 5)
    assert d["novelty"] == pytest.approx(3 / 4) and 0 < d["int_div"] < 1
    assert d["scaffolds_per_molecule"] == pytest.approx(3 / 4)


def test_moses_style_metrics_on_a_known_sample():
    """validity, uniqueness, novelty by hand on six strings; FCD is ~0 for a set against itself and larger
    against a different chemistry."""
    from irs.domains.molecules.metrics import fcd, moses_metrics, novelty, uniqueness, validity

    samples = ["CCO", "OCC", "c1ccccc1", "not a smiles", "CC(=O)O", "C1CC"]  # OCC = CCO; C1CC unclosed
    m = moses_metrics(samples, train={"CCO"}, with_fcd=False)
    assert m["n_samples"] == 6 and m["n_valid"] == 4 and m["n_unique_valid"] == 3
    assert m["validity"] == 4 / 6 and m["uniqueness@10000"] == 3 / 4 and m["novelty"] == 2 / 3
    with pytest.raises(ValueError, match="empty"):
        validity([])
    assert np.isnan(uniqueness([None])) and np.isnan(novelty([None], set()))
    ref = ["CCO", "CCN", "CCC", "CCCl", "CC(C)O", "OCCO", "CCOC", "NCCO"] * 3
    arom = ["c1ccccc1O", "c1ccncc1", "c1ccc2ccccc2c1", "Cc1ccccc1", "c1ccoc1", "c1ccsc1", "Nc1ccccc1", "Oc1ccncc1"] * 3
    same, other = fcd(ref, ref), fcd(ref, arom)
    assert abs(same) < 1e-3 and other > same + 1.0
    assert np.isnan(fcd(["CCO"]))
