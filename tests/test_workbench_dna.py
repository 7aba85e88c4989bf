"""DNA and text tables in the workbench, RiC runs on the Runs page, and the exports behind them.

Library: marker-motif hits for many sequences (irs.domains.dna.motifs.scan_hits) equal the one-sequence
scanner's and are fast; the compact hits text; the highlighted sequence view's HTML (escaped); JSONL
export round trip with a text domain's extra columns; FASTA headers carry every score.
AppTest: the DNA explore view (hits column, cell-type choice, highlighted spans for a selected row), a
text table (source / summary / reference and the selected row in full), and a RiC run's curves.
Runs are synthetic (ui.fixture): real DHS validation sites scored with the exact "motifs" preset.
"""

from __future__ import annotations

import json
import math
import re
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
APP = str(ROOT / "app.py")
DNA_RUN = "dna-motifs-20250101-000000-0000"
TEXT_RUN = "summaries-20250101-000000-0000"
RIC_RUN = "ric-20250101-000000-0000"
CELLS = ("K562", "HepG2", "GM12878", "hESC")


@pytest.fixture(scope="module")
def runs_dir(tmp_path_factory):
    from ui.fixture import make_dna_run, make_run, make_text_table_run

    d = tmp_path_factory.mktemp("runs")
    make_dna_run(d, DNA_RUN, n=80)
    make_text_table_run(d, TEXT_RUN, n=12)
    ric = make_run(d, RIC_RUN, n=20, method="ric", T=6)
    recs = [
        {
            "type": "step",
            "step": t,
            "expert": "ric",
            "loss": round(3.0 - 0.3 * t, 4),
            "tokens": 400,
            "batch": 8,
            "phase": int(t > 3),
        }
        for t in range(1, 7)
    ]
    recs.insert(
        3,
        {
            "type": "online",
            "step": 3,
            "round": 1,
            "n_generated": 64,
            "n_valid": 50,
            "n_kept": 20,
            "n_online_total": 20,
            "reward_queries": 192,
            "reward": 0.42,
        },
    )
    (ric / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in recs))
    return d


@pytest.fixture()
def env(runs_dir, monkeypatch, tmp_path):
    monkeypatch.setenv("IRS_RUNS_DIR", str(runs_dir))
    monkeypatch.setattr("ui.logic.folders.DEMO_DIR", tmp_path / "no-demo")  # only this file's runs
    return runs_dir


def _app(page: str, **query):
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(APP, default_timeout=120)
    for k, v in query.items():
        at.query_params[k] = v
    at.run()
    if page != "explore":
        for k, v in query.items():
            at.query_params[k] = v
        at.switch_page(f"views/{page}.py").run()
    return at


def _table(at, key="explore_table") -> pd.DataFrame:
    return next(d for d in at.dataframe if d.key == key).value


# ---- library ----------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def sites():
    from irs.domains.dna import data

    return data.sequences("val")[:2000]


def test_scan_hits_equals_the_single_sequence_scanner_and_is_fast(sites):
    from irs.domains.dna import motifs

    seqs = list(sites[:40]) + [None, "ACGN" * 50, "ACGT" * 10]  # invalid and shorter rows
    h = motifs.scan_hits(seqs, CELLS)
    assert list(h.columns) == list(motifs.HIT_COLUMNS)
    ms = [motifs.get_motif(m) for m in motifs.cell_motifs(CELLS)]
    for i, s in enumerate(seqs):
        ref = motifs.motif_hits(s, ms) if isinstance(s, str) else []
        mine = h[h["row"] == i]
        assert sorted((x.name, x.start, x.end, x.strand, x.score) for x in ref) == sorted(
            zip(mine["motif"], mine["start"], mine["end"], mine["strand"], mine["score"])
        ), i
    assert set(h["row"]) <= set(range(40)) | {42}  # no hits in the invalid rows 40, 41
    assert h["row"].isin(range(40)).sum() >= 40  # real DHS sites: about 2 hits per site
    owner = motifs.motif_cells(CELLS)
    assert (h["cell"] == h["motif"].map(owner)).all() and h["rel"].between(0.85, 1).all()
    assert set(motifs.scan_hits(seqs[:40], ["HepG2"])["motif"]) <= set(motifs.CELL_MOTIFS["HepG2"])

    motifs.scan_hits(sites[:10], CELLS)  # motifs loaded
    t0 = time.perf_counter()
    big = motifs.scan_hits(sites, CELLS)
    dt = time.perf_counter() - t0
    assert len(sites) == 2000 and dt < 5.0, f"{dt:.2f}s for 2,000 sequences"  # ~0.5 s measured
    txt = motifs.top_hits_text(big, len(sites), top=3)
    assert len(txt) == 2000 and sum(bool(t) for t in txt) > 1000


def test_top_hits_text_format():
    from irs.domains.dna.motifs import top_hits_text

    h = pd.DataFrame(
        {
            "row": [1, 1, 1, 0],
            "motif": ["HNF4A", "GATA1", "SPI1", "FOXA2"],
            "cell": ["HepG2", "K562", "GM12878", "HepG2"],
            "start": [119, 36, 5, 0],
            "end": [132, 46, 15, 8],
            "strand": ["-", "+", "+", "+"],
            "score": [7.31, 8.14, 2.0, 9.0],
            "rel": [0.9] * 4,
        }
    )
    assert top_hits_text(h, 3, top=2) == ["FOXA2 +1-8 (9.0)", "GATA1 +37-46 (8.1); HNF4A -120-132 (7.3)", ""]


def test_sequence_html_highlights_and_escapes():
    from ui.logic import motif_colors, sequence_html

    h = pd.DataFrame(
        {
            "row": [0, 0],
            "motif": ["GATA1", "X<script>"],
            "cell": ["K562", "K562"],
            "start": [2, 60],
            "end": [8, 66],
            "strand": ["+", "-"],
            "score": [8.1, 5.0],
            "rel": [0.9, 0.9],
        }
    )
    html = sequence_html("ACGT" * 50, h, motif_colors(["GATA1", "X<script>"]))
    assert html.count('class="irs-hit"') == 2 and 'data-motif="GATA1"' in html
    assert "<script>" not in html and "X&lt;script&gt;" in html
    assert "GATA1 (K562) +3-8 8.1 bits" in html  # tooltip: 1-based, inclusive
    assert ">GTACGT</span>" in html  # seq[2:8]
    body = html.split("<pre")[1].split("</pre>")[0]
    assert body.count("\n") == 3  # 200 nt in lines of 50


def test_jsonl_round_trip_keeps_extra_columns_and_fasta_headers_carry_scores(runs_dir, tmp_path):
    from irs.candidates import objective_names
    from irs.export import export
    from irs.runs import load_candidates

    df = load_candidates(DNA_RUN, runs_dir)
    df.loc[0, "motif_gata1"] = float("nan")
    n = export(df, "jsonl", tmp_path / "a.jsonl", domain="dna", run_id=DNA_RUN)
    back = [json.loads(line) for line in (tmp_path / "a.jsonl").read_text().splitlines()]
    assert n == len(df) == len(back) and back[0]["motif_gata1"] is None
    for rec, (_, row) in zip(back, df.iterrows()):
        for c in df.columns:
            v = row[c]
            assert (rec[c] is None) if isinstance(v, float) and math.isnan(v) else rec[c] == v, c
    names = objective_names(df)
    export(df, "fasta", tmp_path / "a.fasta", domain="dna", run_id=DNA_RUN)
    lines = (tmp_path / "a.fasta").read_text().splitlines()
    valid = df[df["valid"]]
    assert len(lines) == 2 * len(valid)
    head = dict(kv.split("=") for kv in lines[2].split()[1:])
    r = valid.iloc[1]
    assert lines[2].startswith(f">cand_{valid.index[1]} ") and lines[3] == r["canonical"]
    for nm in names:
        assert float(head[nm]) == pytest.approx(r[nm], rel=1e-5)
        assert float(head[f"reward_{nm}"]) == pytest.approx(r[f"reward_{nm}"], rel=1e-5)
    assert head["run"] == DNA_RUN and head["pareto"] in ("0", "1")

    text = load_candidates(TEXT_RUN, runs_dir)
    export(text, "jsonl", tmp_path / "t.jsonl", domain="toy", run_id=TEXT_RUN)
    recs = [json.loads(line) for line in (tmp_path / "t.jsonl").read_text().splitlines()]
    assert {"prompt_id", "source", "reference"} <= set(recs[0]) and recs[3]["source"] == text["source"][3]
    export(text, "csv", tmp_path / "t.csv", domain="toy", run_id=TEXT_RUN)
    assert list(pd.read_csv(tmp_path / "t.csv").columns[-4:]) == ["prompt_id", "source", "reference", "run_id"]


def test_cli_export_jsonl(runs_dir, tmp_path, capsys):
    import argparse

    from irs.commands import export as export_cmd

    p = argparse.ArgumentParser()
    sub = p.add_subparsers()
    export_cmd.add_parser(sub)
    args = p.parse_args(
        ["export", DNA_RUN, "--runs-dir", str(runs_dir), "--format", "jsonl", "--out", str(tmp_path / "o.jsonl")]
    )
    assert args.func(args) == 0
    recs = [json.loads(line) for line in (tmp_path / "o.jsonl").read_text().splitlines()]
    assert len(recs) == 80 and recs[0]["run_id"] == DNA_RUN and "reward_gc" in recs[0]


# ---- workbench --------------------------------------------------------------------------------------
def test_dna_explore_hits_column_and_highlighted_sequence(env):
    from irs.domains.dna.motifs import CELL_MOTIFS

    at = _app("explore", run=DNA_RUN)
    assert not at.exception
    assert at.multiselect(key="explore_dna_cells").value == ["K562", "HepG2", "GM12878"]
    t = _table(at)
    assert list(t.columns[:3]) == ["id", "sequence", "top hits"]
    hit_text = [x for x in t["top hits"] if x]
    assert len(hit_text) > 20
    assert all(x.split()[0] in {m for c in ("K562", "HepG2", "GM12878") for m in CELL_MOTIFS[c]} for x in hit_text)

    row = int(t["id"][t["top hits"].astype(bool)].iloc[0])  # a row with hits, as a table click selects it
    at.session_state["explore_sel"] = [row]
    at.run()
    assert not at.exception
    html = [h.proto.body for h in at.get("html") if "irs-seqview" in h.proto.body]
    assert len(html) == 1 and 'class="irs-hit"' in html[0]
    seq = t.set_index("id").loc[row, "sequence"]
    hits = next(d.value for d in at.dataframe if "motif" in d.value.columns)  # the focused row's hits
    assert len(hits) >= 1 and set(hits.columns) >= {"motif", "cell", "strand", "first", "last", "score"}
    first = hits.iloc[0]
    assert f'data-motif="{first["motif"]}"' in html[0]
    pre = re.sub(r"<[^>]+>", "", html[0].split("<pre", 1)[1].split(">", 1)[1].split("</pre>")[0])
    assert "".join(line.split()[1] for line in pre.splitlines()) == seq  # the whole sequence, numbered lines
    site = seq[int(first["first"]) - 1 : int(first["last"])]
    spans = re.findall(r'<span class="irs-hit"[^>]*>([ACGT]+)</span>', html[0])
    assert site.startswith(spans[0]) or any(sp in site for sp in spans)  # the best site is highlighted

    # only HepG2's motifs: the column and the view follow the cell types
    at.multiselect(key="explore_dna_cells").set_value(["HepG2"]).run()
    assert not at.exception
    t2 = _table(at)
    assert all(x.split()[0] in CELL_MOTIFS["HepG2"] for x in t2["top hits"] if x)
    html2 = [h.proto.body for h in at.get("html") if "irs-seqview" in h.proto.body][0]
    assert 'data-motif="GATA1"' not in html2

    at.radio(key="explore_export_fmt").set_value("jsonl").run()
    labels = [b.proto.label for b in at.get("download_button")]
    assert any("as JSONL" in lb for lb in labels), labels


def test_text_table_and_detail_view(env):
    at = _app("explore", run=TEXT_RUN)
    assert not at.exception
    t = _table(at)
    assert list(t.columns[:4]) == ["id", "source", "summary", "reference"]
    assert all(len(s) <= 140 for s in t["source"]) and t["source"].str.endswith("…").all()
    row = int(t["id"].iloc[0])
    at.session_state["explore_sel"] = [row]
    at.run()
    assert not at.exception
    bodies = [h.proto.body for h in at.get("html")]
    assert any("Source &lt;b&gt;article&lt;/b&gt;" in b and "long text &amp; more words" in b for b in bodies)
    assert any("Reference summary" in b and "&lt;i&gt;ok&lt;/i&gt;" in b for b in bodies)
    assert not any("<b>article</b>" in b for b in bodies)  # escaped, never rendered as markup
    assert any(b.endswith(t.set_index("id").loc[row, "summary"] + "</div>") for b in bodies)
    assert "prompt doc" in "\n".join(c.value for c in at.caption)
    formats = at.radio(key="explore_export_fmt").options
    assert "JSONL" in [f.upper() for f in formats]


def test_ric_run_curves_show_loss_and_online_reward(env):
    at = _app("runs", run=RIC_RUN)
    assert not at.exception
    chart = next(c for c in at.get("plotly_chart"))
    fig = json.loads(chart.proto.spec)
    titles = [a["text"] for a in fig["layout"]["annotations"]]
    assert titles == ["SFT loss (cross-entropy per token)", "Online rounds: mean weighted proxy reward"]
    by_name = {tr["name"]: tr for tr in fig["data"]}
    assert by_name["ric"]["y"] == [2.7, 2.4, 2.1, 1.8, 1.5, 1.2]
    assert by_name["online rounds"]["y"] == [0.42] and by_name["online rounds"]["x"] == [3]
    assert "not a reward" in "\n".join(c.value for c in at.caption)


def test_training_curves_spec_for_rl_runs_is_unchanged():
    from ui.logic import training_curves

    recs = [
        {"type": "step", "step": 1, "expert": "a", "reward": 0.1, "kl": 0.0},
        {"type": "merge", "step": 1, "lambdas": [1.0]},
    ]
    spec = training_curves(recs)
    assert spec.metrics == ("reward", "kl") and spec.records == recs and not spec.caption
    assert spec.titles["reward"] == "Reward"
    assert training_curves(recs, proxy=True).titles["reward"] == "Reward (proxy)"
    assert training_curves(recs, proxy=False).titles["reward"] == "Reward (exact)"
    spec = training_curves([{"type": "step", "step": 1, "expert": "ric", "loss": 2.0}])
    assert spec.metrics == ("loss",) and "online_reward" not in spec.titles


def test_explore_table_over_2000_rows_shows_the_best_and_no_error(tmp_path, monkeypatch):
    """A run with more candidates than the table holds (Streamlit cannot select rows of a lazy table)
    shows its best 2,000 rows by weighted score, says so, and raises nothing."""
    from ui.fixture import make_text_table_run

    make_text_table_run(tmp_path, "big-20250101-000000-0000", n=2100)
    monkeypatch.setenv("IRS_RUNS_DIR", str(tmp_path))
    monkeypatch.setattr("ui.logic.folders.DEMO_DIR", tmp_path / "no-demo")
    at = _app("explore", run="big-20250101-000000-0000")
    assert not at.exception
    at.toggle(key="explore_show_invalid").set_value(True).run()  # all 2,100 rows, duplicates included
    assert not at.exception
    t = _table(at)
    assert len(t) == 2000
    assert any("the best 2000 of 2100 matching" in c.value for c in at.caption)
    scores = t["score"].to_numpy(float)
    assert (np.diff(scores[~np.isnan(scores)]) <= 0).all()  # the best rows, best first


def test_text_run_scores_with_its_oracle_from_explore(tmp_path, monkeypatch):
    """A real text run (the shipped demo): "Score with oracle" judges each selected summary against its own
    paper (the prompt records behind prompt_id), reproducing the run's own oracle rewards, and says what
    the text oracle is; without prompt ids the library refuses with a clear error."""
    import shutil

    from irs.runs import Run, oracle_rescore
    from ui.logic import demo_runs

    demo = next((p for p in demo_runs() if p.name.startswith("text-")), None)
    if demo is None:
        pytest.skip("no shipped text demo run")
    shutil.copytree(demo, tmp_path / demo.name)
    monkeypatch.setenv("IRS_RUNS_DIR", str(tmp_path))
    monkeypatch.setattr("ui.logic.folders.DEMO_DIR", tmp_path / "no-demo")
    df = pd.read_parquet(tmp_path / demo.name / "candidates.parquet")
    rows = df.index[df["valid"].to_numpy(bool)][:3].tolist()
    with pytest.raises(ValueError, match="prompt id"):
        oracle_rescore(Run(tmp_path / demo.name), df.loc[rows, "canonical"].tolist())

    at = _app("explore", run=demo.name)
    at.session_state["explore_sel"] = rows
    at.run()
    assert "faithfulness to the abstract" in "\n".join(c.value for c in at.caption)  # the text oracle, not QM9
    at.button(key="explore_oracle").click().run()
    assert not at.exception and not at.error
    res = next(d.value for d in at.dataframe if "canonical" in d.value.columns)  # the oracle's table
    assert sorted(res["id"].tolist()) == sorted(int(r) for r in rows)
    cols = [c for c in df.columns if c.startswith("reward_")]
    ids = res["id"].tolist()
    np.testing.assert_allclose(res[cols].to_numpy(float), df.loc[ids, cols].to_numpy(float), atol=1e-5)


def test_first_start_on_demo_runs_shows_a_welcome_that_can_be_dismissed(tmp_path, monkeypatch):
    """Only shipped demo runs in the runs folder: Explore says what the demo shows and what to try; "Got
    it" hides it for the session. A folder with a run of the user's own shows no welcome."""
    from ui.fixture import make_run

    demo_dir = tmp_path / "demos"
    make_run(demo_dir, "demo-druglike-20250101-000000-0000", n=40)
    monkeypatch.setattr("ui.logic.folders.DEMO_DIR", demo_dir)
    monkeypatch.setenv("IRS_RUNS_DIR", str(tmp_path / "runs"))
    at = _app("explore")
    text = "\n".join(m.value for m in at.markdown)
    assert not at.exception and "Welcome." in text and "qed, sa, logp" in text
    at.button(key="explore_welcome_ok").click().run()
    assert "Welcome." not in "\n".join(m.value for m in at.markdown)
    make_run(tmp_path / "runs", "mine-20250101-000000-0009", n=20)
    assert "Welcome." not in "\n".join(m.value for m in _app("explore").markdown)
