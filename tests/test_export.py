"""Export: CSV, JSONL and FASTA read back with every row and column intact; SDF round trip through
irs.domains.molecules.chem; format checks per domain; selection; atomic writes."""

import importlib
import json
import math

import numpy as np
import pandas as pd
import pytest

from irs.candidates import score_candidates
from irs.domains import toy
from irs.export import export
from irs.objectives import Objective

NAMES = ["frac_a", "frac_b", "length"]
NUM_COLS = NAMES + [f"reward_{n}" for n in NAMES]
# Row 3 and 4 are invalid; "a,b" and a quote in a candidate exercise CSV quoting.
TEXTS = ["aab", "ab", "aab", 'x,"y"', "", "bbbbbbbb", "aaaa", "ccc"]


@pytest.fixture
def table():
    return score_candidates(TEXTS, toy.DOMAIN, toy.DOMAIN.objectives(), set_name="remerge 0.50/0.50")


def _same_float(a, b):
    return np.array_equal(np.asarray(a, float), np.asarray(b, float), equal_nan=True)


def test_csv_round_trip(table, tmp_path):
    path = tmp_path / "out" / "cands.csv"
    assert export(table, "csv", path, domain=toy.DOMAIN, run_id="run-1") == len(table)
    back = pd.read_csv(path, keep_default_na=False, na_values={c: [""] for c in NUM_COLS})
    assert list(back.columns) == [
        "id",
        "candidate",
        "canonical",
        "valid",
        "duplicate",
        *NAMES,
        *[f"reward_{n}" for n in NAMES],
        "pareto",
        "set",
        "run_id",
    ]
    assert back["id"].tolist() == list(range(len(table)))
    assert back["candidate"].tolist() == TEXTS
    assert back["canonical"].tolist() == [c or "" for c in table["canonical"]]
    for c in ("valid", "duplicate", "pareto"):
        assert back[c].tolist() == table[c].tolist(), c
    for c in NUM_COLS:
        assert _same_float(back[c], table[c]), c  # floats are written exactly (repr)
    assert (back["set"] == "remerge 0.50/0.50").all() and (back["run_id"] == "run-1").all()
    assert not list(path.parent.glob(".*.tmp"))  # atomic write left no temp file


def test_jsonl_round_trip_pareto_only(table, tmp_path):
    path = tmp_path / "p.jsonl"
    n = export(table, "jsonl", path, domain="toy", run_id="r", pareto_only=True)
    lines = path.read_text().splitlines()
    assert n == len(lines) == int(table["pareto"].sum()) > 0
    recs = [json.loads(line) for line in lines]
    assert [r["id"] for r in recs] == table.index[table["pareto"]].tolist()
    for r in recs:
        row = table.loc[r["id"]]
        assert r["candidate"] == row["candidate"] and r["canonical"] == row["canonical"] and r["pareto"] is True
        assert all(r[c] == row[c] for c in NUM_COLS) and r["run_id"] == "r"


def test_jsonl_nan_is_null(table, tmp_path):
    path = tmp_path / "all.jsonl"
    export(table, "jsonl", path, domain=toy.DOMAIN, run_id="r")
    recs = [json.loads(line) for line in path.read_text().splitlines()]  # strict JSON: no NaN tokens
    assert len(recs) == len(table)
    assert recs[3]["canonical"] is None and recs[3]["frac_a"] is None and recs[3]["valid"] is False


def _read_fasta(path):
    out, header = [], None
    for line in path.read_text().splitlines():
        if line.startswith(">"):
            header = line[1:].split()
        else:
            fields = dict(tok.split("=", 1) for tok in header[1:])
            out.append((header[0], fields, line))
    return out


def test_fasta_headers_carry_scores(table, tmp_path):
    path = tmp_path / "c.fa"
    n = export(table, "fasta", path, domain=toy.DOMAIN, run_id="run-1")
    recs = _read_fasta(path)
    valid_ids = table.index[table["valid"]].tolist()
    assert n == len(recs) == len(valid_ids)  # invalid rows have no sequence
    for (name, fields, seq), i in zip(recs, valid_ids):
        row = table.loc[i]
        assert name == f"cand_{i}" and seq == row["canonical"]
        assert fields["pareto"] == str(int(row["pareto"])) and fields["run"] == "run-1"
        for c in NUM_COLS:
            assert float(fields[c]) == pytest.approx(row[c], rel=1e-5), c


def test_rows_selection(table, tmp_path):
    path = tmp_path / "sel.jsonl"
    assert export(table, "jsonl", path, domain=toy.DOMAIN, run_id="r", rows=[6, 0, 2]) == 3
    assert [json.loads(x)["id"] for x in path.read_text().splitlines()] == [6, 0, 2]
    # rows, then pareto_only: row 2 is a duplicate, so not on the front.
    assert export(table, "jsonl", path, domain=toy.DOMAIN, run_id="r", rows=[6, 0, 2], pareto_only=True) == 2
    with pytest.raises(ValueError, match="not in the candidate table"):
        export(table, "jsonl", path, domain=toy.DOMAIN, run_id="r", rows=[99])


def test_bad_requests_change_nothing(table, tmp_path):
    path = tmp_path / "keep.csv"
    path.write_text("old")
    with pytest.raises(ValueError, match=r"'sdf'.*\['csv', 'jsonl', 'fasta'\]"):
        export(table, "sdf", path, domain=toy.DOMAIN, run_id="r")
    with pytest.raises(ValueError, match="'xlsx'"):
        export(table, "xlsx", path, domain=toy.DOMAIN, run_id="r")
    with pytest.raises(ValueError, match="run id"):
        export(table, "csv", path, domain=toy.DOMAIN, run_id="../x")
    with pytest.raises(ValueError, match="column"):
        export(table.drop(columns=["pareto"]), "csv", path, domain=toy.DOMAIN, run_id="r")
    assert path.read_text() == "old"


def test_empty_selection_writes_header_only(table, tmp_path):
    path = tmp_path / "none.csv"
    assert export(table.iloc[:0], "csv", path, domain=toy.DOMAIN, run_id="r") == 0
    assert pd.read_csv(path).shape == (0, 14)


def _chem():
    try:
        return importlib.import_module("irs.domains.molecules.chem")
    except ImportError:
        return None


@pytest.mark.skipif(
    _chem() is None or not hasattr(_chem(), "write_sdf"),
    reason="irs.domains.molecules.chem.write_sdf is not available yet",
)
def test_sdf_round_trip(tmp_path):
    from irs.domains import get_domain

    chem = _chem()
    dom = get_domain("molecules")

    def heavy_atoms(smiles):
        from rdkit import Chem

        return np.array([float(Chem.MolFromSmiles(s).GetNumHeavyAtoms()) for s in smiles])

    objs = [Objective("heavy", heavy_atoms, 0.0, 10.0, "max")]
    df = score_candidates(["CCO", "OCC", "c1ccccc1", "not a smiles", "CC(=O)O"], dom, objs)
    path = tmp_path / "m.sdf"
    n = export(df, "sdf", path, domain=dom, run_id="run-1")
    recs = chem.read_sdf(path)
    ok = df.index[df["valid"]].tolist()
    assert n == len(recs) == len(ok) == 4
    for rec, i in zip(recs, ok):
        row = df.loc[i]
        assert rec["SMILES"] == row["canonical"] and rec["run_id"] == "run-1"
        assert rec["heavy"] == row["heavy"] and rec["reward_heavy"] == pytest.approx(row["reward_heavy"])
        assert rec["pareto"] == bool(row["pareto"]) and rec["id"] == i
        assert rec["mol"].GetNumConformers() == 1 and rec["mol"].GetProp("_Name") == f"cand_{i}"
    assert not math.isnan(recs[0]["heavy"])


def test_pareto_export_is_one_front_over_all_sets_without_repeats(tmp_path):
    """Two sets that share candidates: each set has its own front in `pareto`, but the exported Pareto set
    is one front over both, a candidate that is in both sets written once."""
    from irs.candidates import merge_tables, pareto_front

    objs = toy.DOMAIN.objectives()
    a = score_candidates(["aab", "ab", "bbbbbbbb"], toy.DOMAIN, objs, set_name="final")
    b = score_candidates(["aab", "ab", "aaaaaa"], toy.DOMAIN, objs, set_name="remerge 1/0/0")
    both = merge_tables([a, b])
    per_set = both[both["pareto"]]["canonical"].tolist()
    assert len(per_set) > len(set(per_set))  # the union of per-set fronts repeats candidates
    front = pareto_front(both)
    path = tmp_path / "p.jsonl"
    n = export(both, "jsonl", path, domain=toy.DOMAIN, run_id="r", pareto_only=True)
    recs = [json.loads(x) for x in path.read_text().splitlines()]
    canon = [r["canonical"] for r in recs]
    assert n == len(recs) == len(front) and len(set(canon)) == len(canon)
    # nothing exported is dominated by another candidate of either set, and every undominated one is there
    R = both[[f"reward_{x}" for x in NAMES]].to_numpy(float)
    dominated = [any((R[j] >= R[i]).all() and (R[j] > R[i]).any() for j in range(len(R))) for i in range(len(R))]
    undominated = {c for c, d in zip(both["canonical"], dominated) if not d}
    assert set(canon) == undominated


def test_sdf_tags_carry_units_and_flag_unspecified_stereocentres(tmp_path):
    from irs.domains import get_domain

    chem = _chem()
    dom = get_domain("molecules")
    objs = [Objective("mw_like", lambda s: np.array([float(len(x)) for x in s]), 0.0, 50.0, "max", unit="chars")]
    # CC(N)C(=O)O leaves alanine's stereocentre open; C[C@H](N)C(=O)O sets it; CCO has none
    df = score_candidates(["CC(N)C(=O)O", "C[C@H](N)C(=O)O", "CCO"], dom, objs)
    path = tmp_path / "s.sdf"
    export(df, "sdf", path, domain=dom, run_id="r", units={"mw_like": "chars"})
    recs = {r["SMILES"]: r for r in chem.read_sdf(path)}
    assert all(r["unit_mw_like"] == "chars" for r in recs.values())
    open_, fixed, none = recs["CC(N)C(=O)O"], recs["C[C@H](N)C(=O)O"], recs["CCO"]
    assert open_["unspecified_stereocentres"] == 1 and "arbitrary" in open_["stereo_note"]
    assert fixed["unspecified_stereocentres"] == 0 and "stereo_note" not in fixed
    assert none["unspecified_stereocentres"] == 0


def test_output_paths_that_are_not_regular_files_are_refused(table, tmp_path):
    """export() writes through a temporary file and a rename: a symlink, a folder, a FIFO or a device at the
    path is refused with a clear error, and nothing is replaced; a command's --out needs an existing folder."""
    import os

    target = tmp_path / "target.csv"
    target.write_text("keep me")
    link = tmp_path / "link.csv"
    link.symlink_to(target)
    fifo = tmp_path / "fifo.csv"
    os.mkfifo(fifo)
    folder = tmp_path / "folder.csv"
    folder.mkdir()
    for bad, why in (
        (link, "symlink"),
        (fifo, "not a regular file"),
        (folder, "folder"),
        ("/dev/null", "not a regular file"),
    ):
        with pytest.raises(ValueError, match=why):
            export(table, "csv", bad, domain=toy.DOMAIN, run_id="r")
    assert target.read_text() == "keep me" and link.is_symlink() and fifo.is_fifo() and folder.is_dir()
    from irs.io import check_output_path  # what `irs export/sample --out` adds: the folder must exist

    with pytest.raises(ValueError, match="does not exist"):
        check_output_path(tmp_path / "no" / "such" / "x.csv")
    assert not (tmp_path / "no").exists()
