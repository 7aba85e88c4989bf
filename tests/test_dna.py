"""DNA domain: 4-mer tokenizer round trip with BOS/EOS, the exactly-200-nt validity rule, the
dinucleotide shuffle, motif scanning on both strands, GC objective, oracle/proxy loading and shapes
(skipped when the shipped assets are absent), and FASTA export of a scored DNA table."""

import re
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from irs.domains.dna import data
from irs.domains.dna import motifs as M
from irs.domains.dna import objectives as O
from irs.domains.dna.tokenizer import canonicalize, dna_tokenizer, kmer_tokenizer, tokens_for

ROOT = Path(__file__).resolve().parents[1]
ORACLE = ROOT / "assets/dna/oracle/oracle.json"
PROXIES = ROOT / "assets/dna/proxies/k562.json"
MODEL = ROOT / "assets/dna/dnagpt2/model.safetensors"


def _rand_seq(rng, n=200):
    return "".join(rng.choice(list("ACGT"), n))


def test_tokenizer_round_trip_bos_eos():
    tok = dna_tokenizer()
    assert tok.vocab_size == 4 + 256 and tok.vocab[:4] == ["<pad>", "<bos>", "<eos>", "<unk>"]
    seq = _rand_seq(np.random.default_rng(0))
    ids = tok.encode(seq, add_bos=True, add_eos=True)
    assert len(ids) == 52 and ids[0] == tok.bos_id and ids[-1] == tok.eos_id
    assert tok.unk_id not in ids and tok.decode(ids) == seq
    assert tok.decode(ids[:-1] + [tok.eos_id, *ids[1:5]]) == seq  # decoding stops at the first EOS
    # BOS is inserted by id, never parsed from text: a "[BOS]"-style string is unknown, not BOS
    assert tok.bos_id not in tok.encode("[BOS]", add_bos=False)
    # a trailing partial k-mer or a non-ACGT letter is UNK, so such text never encodes cleanly
    assert tok.encode("ACGTA", add_bos=False) == [tok.token_to_id["ACGT"], tok.unk_id]
    assert tok.unk_id in tok.encode("ACGN", add_bos=False)
    nt = kmer_tokenizer(1)
    assert nt.vocab_size == 8 and nt.decode(nt.encode(seq, add_eos=True)) == seq
    assert tokens_for() == 51


def test_validity_exactly_200_nt():
    seq = _rand_seq(np.random.default_rng(1))
    assert canonicalize(seq) == seq
    assert canonicalize(seq.lower()) == seq and canonicalize(seq[:100] + "\n" + seq[100:]) == seq
    assert canonicalize(seq[:-1]) is None and canonicalize(seq + "A") is None and canonicalize(seq + "ACGT") is None
    assert canonicalize(seq[:-1] + "N") is None and canonicalize(seq[:-5] + "<unk>") is None
    assert canonicalize("") is None and canonicalize(None) is None


def test_dinucleotide_shuffle_preserves_counts():
    rng = np.random.default_rng(2)
    for seq in [_rand_seq(rng), "ACGT" * 50, "AAAAACCCCCGGGGGTTTTT" * 10, "ATATATATGC"]:
        out = data.dinucleotide_shuffle(seq, rng)
        assert len(out) == len(seq) and out[0] == seq[0] and out[-1] == seq[-1]
        assert data.dinucleotide_counts(out) == data.dinucleotide_counts(seq)
    seq = _rand_seq(rng)
    assert len({data.dinucleotide_shuffle(seq, rng) for _ in range(5)}) > 1  # actually shuffles
    assert data.reverse_complement("AACGTT") == "AACGTT" and data.reverse_complement("AAAC") == "GTTT"


def test_motif_scan_finds_planted_site_and_strand():
    rng = np.random.default_rng(3)
    # a sharp synthetic motif: 3 bits for the consensus letter, -3 otherwise
    word = "GATTACAGG"
    pssm = np.full((len(word), 4), -3.0)
    for j, ch in enumerate(word):
        pssm[j, "ACGT".index(ch)] = 3.0
    motif = M.motif_from_pssm("TEST", pssm)
    bg = "".join(rng.choice(list("AC"), 200))  # A/C background: cannot contain the G/T-rich word
    plus = bg[:37] + word + bg[37 + len(word) :]
    minus = bg[:120] + data.reverse_complement(word) + bg[120 + len(word) :]
    for seq, start, strand in [(plus, 37, "+"), (minus, 120, "-")]:
        hits = M.motif_hits(seq, [motif], min_rel=0.9)
        assert [(h.name, h.start, h.end, h.strand) for h in hits] == [("TEST", start, start + len(word), strand)]
        assert hits[0].score == pytest.approx(motif.max_score)
        best = M.best_hits([seq, bg[:150]], motif)  # unequal lengths are scored in groups
        assert best["start"][0] == start and best["strand"][0] == (1 if strand == "+" else -1)
        assert best["rel"][0] == pytest.approx(1.0) and best["rel"][1] < 0.9
    assert M.motif_hits("ACGN" * 50, [motif]) == []
    assert M.format_hits(M.motif_hits(plus, [motif])).startswith("TEST 37-46(+)")


def test_jaspar_motif_and_objectives():
    gata = M.get_motif("GATA1")
    assert gata.matrix_id == "MA0035.5" and gata.length == 7
    assert gata.consensus in ("CTAATCT", "CTTATCT") or "GATA" in data.reverse_complement(gata.consensus)
    site = data.reverse_complement(gata.consensus)  # the minus-strand form scores the same
    seq = "C" * 50 + site + "C" * (150 - len(site))
    hits = M.motif_hits(seq, ["GATA1"])
    assert hits and hits[0].start == 50 and hits[0].strand == "-"
    obj = O.motif_objective("GATA1", canonicalize)
    raw = obj.raw([seq, "C" * 200, "ACGT"])
    assert raw[0] == pytest.approx(gata.max_score) and raw[1] < raw[0] and np.isnan(raw[2])
    gc = O.gc_objective(canonicalize=canonicalize)
    r = gc.raw(["GC" * 100, "AT" * 100, "GCAT" * 50, "bad"])
    assert r[:3].tolist() == [1.0, 0.0, 0.5] and np.isnan(r[3])
    assert gc.reward(["GCAT" * 50])[0] == 1.0 and gc.reward(["AT" * 100])[0] == 0.0
    with pytest.raises(ValueError, match="cell type"):
        M.cell_motifs(["liver"])


def test_domain_registered_and_motif_preset():
    from irs.domains import get_domain

    d = get_domain("dna")
    assert d.default_preset == "3cell" and set(d.presets) == {"3cell", "3cell-cnn", "specificity", "motifs"}
    assert d.max_new_tokens == 51 and d.export_formats == ("fasta",)
    objs = d.objectives("motifs")
    assert [o.name for o in objs] == ["motif_gata1", "motif_hnf4a", "motif_spi1", "gc"]
    assert d.oracle("motifs")[0].name == "motif_gata1"  # exact objectives evaluate themselves


@pytest.mark.skipif(not ORACLE.is_file(), reason="assets/dna/oracle not built (irs train-oracle --domain dna)")
def test_oracle_loads_and_scores():
    from irs.domains.dna.oracle import load_oracle

    oracle = load_oracle()
    seqs = data.sequences("test")[:6]
    p = oracle.predict(seqs + ["ACGT", seqs[0].lower()])
    assert p.shape == (8, 4) and np.isnan(p[6]).all() and np.allclose(p[7], p[0])
    assert np.all((p[:6] >= 0) & (p[:6] <= 1))
    # strand-symmetric by construction (logits averaged over both strands)
    assert np.allclose(oracle.predict([data.reverse_complement(s) for s in seqs]), p[:6], atol=1e-5)
    assert min(v["auroc"] for v in oracle.info["test"]["per_cell"].values()) > 0.7


@pytest.mark.skipif(
    not (PROXIES.is_file() and MODEL.is_file()),
    reason="assets/dna/proxies or assets/dna/dnagpt2 not built (irs train-proxies --domain dna)",
)
def test_proxy_objectives_shapes():
    from irs.domains import get_domain

    objs = get_domain("dna").objectives("specificity")
    assert [(o.name, o.goal) for o in objs] == [("k562", "max"), ("hepg2", "min")]
    seqs = data.sequences("test")[:4] + ["ACGT" * 49 + "ACG"]
    for o in objs:
        raw = o.raw(seqs)
        assert raw.shape == (5,) and np.isnan(raw[4]) and np.all((raw[:4] >= 0) & (raw[:4] <= 1))


@pytest.mark.skipif(not (ORACLE.is_file() and MODEL.is_file()), reason="assets/dna/oracle or dnagpt2 not built")
def test_cnn_proxy_learns_the_oracles_logits_and_ships_them_in_fp16(tmp_path):
    from irs.checkpoint import load_model_dir
    from irs.domains.dna.oracle import load_oracle
    from irs.domains.dna.proxy_cnn import CONFIG, fresh_samples, load_proxy, train_cnn_proxy

    res = train_cnn_proxy(
        out_dir=tmp_path / "p",
        results_path=None,
        n_real=2000,
        n_generated=40,
        n_fresh=64,
        cfg=replace(CONFIG, epochs=4),
    )
    proxy, oracle = load_proxy(tmp_path / "p"), load_oracle()
    assert proxy.cell_types == oracle.cell_types and res["subset"]["n"] == 2040
    assert res["best_epoch"] == max(res["history"], key=lambda h: h["val_mean_r"])["epoch"]
    assert set(res["cells"]) == {"k562", "hepg2", "gm12878", "hesc"} and proxy.info["cells"] == res["cells"]
    # the shipped fp16 weights, loaded back, give the figure computed before saving: the label
    # standardization is folded into the last layer, so the proxy outputs the oracle's logits
    model, tok = load_model_dir(MODEL.parent)
    fresh = fresh_samples(model, tok, 64)
    p, q = proxy.predict(fresh + ["ACGT"]), oracle.predict(fresh)
    assert np.isnan(p[-1]).all() and len(fresh) == res["fresh_samples"]["n_distinct_valid"]
    assert np.corrcoef(p[:-1, 0], q[:, 0])[0, 1] == pytest.approx(res["cells"]["k562"]["fresh_r_probability"], abs=1e-6)
    seqs = data.sequences("test")[:300]
    assert (
        np.corrcoef(proxy.predict(seqs)[:, 0], oracle.predict(seqs)[:, 0])[0, 1] > 0.15
    )  # learned: noise is r ~ 0 ± 0.06


def test_the_3cell_cnn_preset_trains_on_the_cnn_proxy_and_is_scored_by_the_oracle():
    from irs.domains import get_domain

    dom = get_domain("dna")
    assert "3cell-cnn" in dom.presets and "3cell-cnn" in dom.proxy_presets
    if not (ROOT / "assets/dna/proxy_cnn/proxy.json").is_file() or not ORACLE.is_file():
        pytest.skip("assets/dna/proxy_cnn not built (python -m irs.domains.dna.proxy_cnn)")
    train, oracle = dom.objectives("3cell-cnn"), dom.oracle("3cell-cnn")
    assert [o.name for o in train] == [o.name for o in oracle] == ["k562", "hepg2", "gm12878"]
    assert all("CNN proxy" in o.description for o in train) and all("oracle" in o.description for o in oracle)
    seqs = data.sequences("test")[:64]
    P, Q = np.column_stack([o.raw(seqs) for o in train]), np.column_stack([o.raw(seqs) for o in oracle])
    assert not np.allclose(P, Q) and min(np.corrcoef(P[:, j], Q[:, j])[0, 1] for j in range(3)) > 0.5


def test_fasta_export_carries_scores(tmp_path):
    from irs.candidates import score_candidates
    from irs.domains import get_domain
    from irs.export import export

    d = get_domain("dna")
    objs = O.motif_objective("GATA1", canonicalize), O.gc_objective(canonicalize=canonicalize)
    seqs = data.sequences("test")[:3] + ["ACGT" * 10]
    table = score_candidates(seqs, d, list(objs), set_name="final")
    path = tmp_path / "cands.fasta"
    assert export(table, "fasta", path, domain="dna", run_id="dna-run") == 3  # the invalid row is skipped
    lines = path.read_text().splitlines()
    assert len(lines) == 6 and lines[1::2] == seqs[:3]
    for i, header in enumerate(lines[0::2]):
        m = re.fullmatch(
            r">cand_(\d+) pareto=[01] motif_gata1=(\S+) gc=(\S+) reward_motif_gata1=\S+ "
            r"reward_gc=\S+ run=dna-run",
            header,
        )
        assert m, header
        assert float(m.group(2)) == pytest.approx(table.loc[int(m.group(1)), "motif_gata1"], rel=1e-5)
        assert float(m.group(3)) == pytest.approx(data.gc_content(seqs[i]), rel=1e-5)


def test_motifs_for_objectives():
    assert M.motifs_for_objectives(["k562", "motif_hnf4a", "gc"]) == ["GATA1", "GATA1::TAL1", "HNF4A"]
    assert M.objective_name("GATA1::TAL1") == "motif_gata1_tal1"
