"""MolGPT-2 pieces: SMILES tokenizer, the pretraining loop (loss falls, save/reload/resume), proxy heads."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from irs.checkpoint import load_model_dir
from irs.domains.molecules.tokenizer import SMILES_PATTERN, smiles_tokenizer_from_vocab
from irs.tokenizer import VocabTokenizer

ROOT = Path(__file__).resolve().parents[1]
TRICKY = ["CC(Cl)Br", "c1ccc2[nH]ccc2c1", "N[C@@H](C)C(=O)O", "C%10CCCCC%10", "O=[N+][O-]", "C#N", "C/C=C/C"]
CORPUS = [
    "CCO",
    "CCN",
    "c1ccccc1",
    "CC(=O)O",
    "CCCl",
    "CCBr",
    "c1ccncc1",
    "CC(C)O",
    "OCCO",
    "NCCN",
    "c1ccc(O)cc1",
    "CC(N)=O",
    "C1CCCCC1",
    "CCOC(C)=O",
    "c1ccc2[nH]ccc2c1",
    "CC#N",
]


def _tok(texts=TRICKY + CORPUS) -> VocabTokenizer:
    probe = VocabTokenizer(["<pad>", "<bos>", "<eos>", "<unk>"], SMILES_PATTERN)
    return smiles_tokenizer_from_vocab([t for s in texts for t in probe.tokenize(s)])


def test_tokenizer_round_trips_and_splits_atoms():
    tok = _tok()
    for s in TRICKY:
        ids = tok.encode(s, add_bos=True, add_eos=True)
        assert tok.unk_id not in ids
        assert tok.decode(ids) == s
    assert tok.tokenize("CC(Cl)Br") == ["C", "C", "(", "Cl", ")", "Br"]
    assert tok.tokenize("c1ccc2[nH]ccc2c1")[6] == "[nH]"
    assert "[C@@H]" in tok.tokenize("N[C@@H](C)C(=O)O")
    assert tok.tokenize("C%10CCCCC%10").count("%10") == 2


def test_empty_prompt_is_bos_and_decode_stops_at_eos():
    tok = _tok()
    assert tok.encode("") == [tok.bos_id]
    ids = tok.encode("CCO", add_eos=True) + tok.encode("Cl", add_bos=False)
    assert tok.decode(ids) == "CCO"
    assert tok.encode("CXC")[2] == tok.unk_id  # unknown characters stay visible as UNK


def _tiny_cfg(**kw):
    from irs.pretrain import PretrainConfig

    base = dict(
        n_layer=1,
        n_embd=32,
        n_head=2,
        max_len=24,
        batch_size=16,
        lr=3e-3,
        min_lr=3e-4,
        warmup=5,
        steps=40,
        seed=0,
        bf16=False,
        log_every=1000,
        threads=2,
    )
    return PretrainConfig(**{**base, **kw})


def _corpus_loss(model, data, pad_id):
    x = torch.from_numpy(data.astype(np.int64))
    with torch.no_grad():
        return float(model(input_ids=x, labels=x.masked_fill(x == pad_id, -100)).loss)


def test_pretrain_lowers_loss_saves_reloads_and_resumes(tmp_path):
    from irs.pretrain import build_model, encode_corpus, pretrain

    tok, cfg = _tok(), _tiny_cfg()
    texts = CORPUS * 8
    data = encode_corpus(texts, tok, cfg.max_len)
    assert (data[:, 0] == tok.bos_id).all() and (data == tok.eos_id).sum() == len(data)
    before = _corpus_loss(build_model(cfg, tok.vocab_size, tok).eval(), data, tok.pad_id)
    out, ckpt = tmp_path / "model", tmp_path / "ckpt"
    model = pretrain(texts, tok, cfg, out, ckpt_dir=ckpt, meta={"command": "test"}, save_dtype=torch.float32)
    after = _corpus_loss(model.eval(), data, tok.pad_id)
    assert after < before - 0.5, (before, after)

    reloaded, tok2 = load_model_dir(out)
    x = torch.tensor([tok.encode("c1ccccc1", add_eos=True)])
    assert torch.equal(model(input_ids=x).logits, reloaded.eval()(input_ids=x).logits)
    assert tok2.vocab == tok.vocab
    meta = json.loads((out / "meta.json").read_text())
    assert meta["steps"] == 40 and meta["tokens"] > 0 and meta["command"] == "test"

    # resume: continue the same run to 50 steps from the checkpoint (a new step budget is allowed)
    pretrain(texts, tok, _tiny_cfg(steps=50), tmp_path / "model2", ckpt_dir=ckpt, resume=True, meta={"command": "more"})
    state = json.loads((ckpt / "state.json").read_text())
    assert state["step"] == 50 and [c["from_step"] for c in state["commands"]] == [0, 40]
    assert [c["command"] for c in json.loads((tmp_path / "model2" / "meta.json").read_text())["commands"]] == [
        "test",
        "more",
    ]

    # another model size or another vocabulary: refused, naming the mismatch, the checkpoint untouched
    import dataclasses

    from irs.tokenizer import SPECIALS, VocabTokenizer

    before = {p.name: p.read_bytes() for p in ckpt.iterdir()}
    with pytest.raises(ValueError, match="n_embd"):
        pretrain(
            texts,
            tok,
            dataclasses.replace(_tiny_cfg(steps=60), n_embd=2 * _tiny_cfg().n_embd),
            tmp_path / "m3",
            ckpt_dir=ckpt,
            resume=True,
        )
    other = VocabTokenizer(list(SPECIALS) + list("ACGT"), None, "", name="dna-like")
    with pytest.raises(ValueError, match="another vocabulary"):
        pretrain(["ACGT", "GGCA"] * 8, other, _tiny_cfg(steps=60), tmp_path / "m4", ckpt_dir=ckpt, resume=True)
    assert {p.name: p.read_bytes() for p in ckpt.iterdir()} == before and not (tmp_path / "m3").exists()


def test_proxy_head_learns_and_roundtrips(tmp_path):
    from irs.checkpoint import save_model_dir
    from irs.objectives.proxy import Backbone, HeadConfig, ProxyModel, ProxySpec, pooled, regression_metrics, train_head
    from irs.pretrain import build_model

    tok = _tok()
    model = build_model(_tiny_cfg(), tok.vocab_size, tok)
    save_model_dir(model, tok, tmp_path / "bb")
    bb = Backbone.load(tmp_path / "bb")
    rng = np.random.default_rng(0)
    texts = ["".join(rng.choice(["C", "O", "N", "Cl"], size=rng.integers(1, 12))) for _ in range(600)]
    y = np.array([t.count("C") - 0.5 * t.count("O") for t in texts], dtype=np.float64)
    f = bb.features(texts)
    assert f["ok"].all()
    cfg = HeadConfig(pooling="mean", hidden=(64,), epochs=40, patience=40, lr=3e-3)
    head, info = train_head(pooled(f, "mean")[:500], y[:500], pooled(f, "mean")[500:], y[500:], cfg)
    spec = ProxySpec(
        "toy", "mean", cfg.hidden, head.x_mean.shape[0], info["y_mean"], info["y_std"], str(tmp_path / "bb"), "unused"
    )
    proxy = ProxyModel(bb, head, spec)
    pred = proxy.predict(texts[500:])
    assert regression_metrics(pred, y[500:])["pearson_r"] > 0.9
    odd = proxy.predict(["", "CXC", "C" * 40, "CCO"])
    assert np.isnan(odd[:3]).all() and np.isfinite(odd[3])
    proxy.save(tmp_path / "heads")
    again = ProxyModel.load(tmp_path / "heads", "toy", backbone=bb)
    np.testing.assert_allclose(again.predict(texts[500:]), pred, rtol=1e-6)


@pytest.mark.skipif(not (ROOT / "assets/molecules/molgpt2/model.safetensors").is_file(), reason="no shipped MolGPT-2")
def test_shipped_molgpt2_loads_and_encodes_qm9_tokens():
    model, tok = load_model_dir(ROOT / "assets/molecules/molgpt2")
    assert model.config.vocab_size == tok.vocab_size and tok.encode("") == [tok.bos_id]
    for s in ["CC(Cl)Br", "c1ccc2[nH]ccc2c1", "C[NH3+]", "OC1=C(O)C(=O)OC=N1"]:
        assert tok.unk_id not in tok.encode(s)
    x = torch.tensor([tok.encode("c1ccccc1", add_eos=True)])
    assert torch.isfinite(model(input_ids=x).logits).all()


@pytest.mark.skipif(not (ROOT / "assets/molecules/proxies/alpha.json").is_file(), reason="no shipped proxy heads")
def test_shipped_qm9_proxies_score():
    from irs.domains.molecules.proxies import qm9_proxy_objectives

    objs = qm9_proxy_objectives()
    assert [o.name for o in objs] == ["alpha", "gap", "u0"]
    raw = objs[0].raw(["CCCCCCO", "CO", "not a (smiles"])
    assert raw[0] > raw[1] and np.isnan(raw[2])  # bigger molecule, larger polarizability


def test_pretrain_init_from_continues_a_model_directory(tmp_path):
    """--init-from: the source's weights, its data position and its meta.json commands carry over; another
    size or vocabulary is refused before anything is written."""
    import dataclasses

    from irs.pretrain import encode_corpus, pretrain

    tok, cfg = _tok(), _tiny_cfg(steps=20)
    texts = CORPUS * 8
    src = tmp_path / "src"
    pretrain(texts, tok, cfg, src, ckpt_dir=tmp_path / "c1", meta={"command": "first"}, save_dtype=torch.float32)
    data = encode_corpus(texts, tok, cfg.max_len)
    base_loss = _corpus_loss(load_model_dir(src)[0].eval(), data, tok.pad_id)
    out = tmp_path / "next"
    model = pretrain(
        texts,
        tok,
        _tiny_cfg(steps=15, lr=1e-3),
        out,
        ckpt_dir=tmp_path / "c2",
        meta={"command": "second"},
        save_dtype=torch.float32,
        init_from=src,
    )
    assert _corpus_loss(model.eval(), data, tok.pad_id) < base_loss  # it continued, not restarted
    meta = json.loads((out / "meta.json").read_text())
    assert meta["steps"] == 35 and [c.get("command") for c in meta["commands"]] == ["first", None, "second"]
    assert meta["commands"][1] == {"init_from": str(src), "source_steps": 20}
    assert meta["tokens"] > json.loads((src / "meta.json").read_text())["tokens"]
    with pytest.raises(ValueError, match="the model has"):
        pretrain(
            texts, tok, dataclasses.replace(cfg, n_embd=64), tmp_path / "bad", ckpt_dir=tmp_path / "c3", init_from=src
        )
    assert not (tmp_path / "bad").exists() and not (tmp_path / "c3").exists()


def test_pretrain_init_from_a_shallower_model_grows_it_function_preservingly(tmp_path):
    """--init-from with a deeper n_layer: the grown model computes exactly the source's logits before
    training (new blocks start as the identity), then trains; a shallower n_layer is refused."""
    import dataclasses

    from irs.pretrain import build_model, init_weights, pretrain

    tok, cfg = _tok(), _tiny_cfg(steps=10, n_layer=2)
    texts = CORPUS * 8
    src = tmp_path / "src"
    pretrain(texts, tok, cfg, src, ckpt_dir=tmp_path / "c1", save_dtype=torch.float32)
    deep = dataclasses.replace(cfg, n_layer=cfg.n_layer * 2 + 1)
    grown = build_model(deep, tok.vocab_size, tok)
    init_weights(grown, src, deep, tok)
    x = torch.tensor([tok.encode("CCOc1ccccc1", add_eos=True)])
    want = load_model_dir(src)[0].eval()(input_ids=x).logits
    assert torch.allclose(grown.eval()(input_ids=x).logits, want, atol=1e-5)
    model = pretrain(
        texts, tok, dataclasses.replace(deep, steps=5), tmp_path / "deep", ckpt_dir=tmp_path / "c2", init_from=src
    )
    assert model.config.n_layer == deep.n_layer
    assert not torch.allclose(model.eval()(input_ids=x).logits.float(), want, atol=1e-3)  # it trained
    with pytest.raises(ValueError, match="only a deeper n_layer"):
        pretrain(
            texts, tok, dataclasses.replace(cfg, n_layer=1), tmp_path / "bad", ckpt_dir=tmp_path / "c3", init_from=src
        )
    assert not (tmp_path / "bad").exists()
