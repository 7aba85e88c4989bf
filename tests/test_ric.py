"""Rewards-in-Context (irs/algorithms/ric.py): prompts carry the scores, SFT learns, the preference
prompt steers the samples the expected way, and save/load is exact (online round included).

Toy domain, a 2-layer 64-wide GPT-2, a few thousand labelled strings: the whole file runs in ~20 s.
"""

import math

import numpy as np
import pytest
import torch

from irs.algorithms import make_trainer
from irs.algorithms.ric import (
    RiCTrainer,
    conditioned_tokenizer,
    desired_scores,
    levels_of,
    parse_prompt,
    prompt_for,
    prompt_text,
    quantile_mask,
    ric_prompt,
)
from irs.config import RunConfig
from irs.domains.toy import tokenizer as toy_tokenizer

NAMES = ["frac_a", "frac_b", "length"]


def cfg(T=6, **ric) -> RunConfig:
    return RunConfig.from_dict(
        {
            "name": "ric",
            "domain": "toy",
            "model": "tiny:gpt2",
            "method": "ric",
            "seed": 0,
            "objectives": [{"name": n, "weight": 1.0} for n in NAMES],
            "rl": {"batch_size": 32, "lr": 3e-3, "bf16": "off"},
            "merge": {"total_steps": T},
            "ric": {"max_examples": 3000, **ric},
        }
    )


def test_prompt_encodes_and_decodes_scores():
    tok = conditioned_tokenizer(toy_tokenizer(), 3, 11)
    base = toy_tokenizer().vocab_size
    assert conditioned_tokenizer(tok, 3, 11).vocab == tok.vocab  # idempotent
    levels = levels_of(np.array([0.0, 0.34, 1.0]), 11)
    assert levels.tolist() == [0, 3, 10]
    p = prompt_text(levels)
    assert p == "<o0><v0><o1><v3><o2><v10>" and parse_prompt(p) == [0, 3, 10]
    ids = tok.encode(p + "abca", add_bos=True, add_eos=True)
    assert len(ids) == 1 + 6 + 4 + 1
    assert all(i >= base for i in ids[1:7]) and all(2 < i < base for i in ids[7:11])  # new tokens, then text
    assert tok.decode(ids[1:]) == p + "abca"
    with pytest.raises(ValueError, match="not a RiC prompt"):
        parse_prompt("<o1><v3>")


def test_preference_to_score_mapping():
    lo, hi = np.zeros(3), np.ones(3)
    assert np.allclose(desired_scores([1, 1, 1], lo, hi, 2.0), 1 / math.sqrt(3))  # paper: p = 2
    assert np.allclose(desired_scores([1, 1, 1], lo, hi, math.inf), 1.0)  # RiC's L-inf rule
    assert np.allclose(desired_scores([0.6, 0.2, 0.2], lo, hi, math.inf), [1.0, 0.6, 0.6])
    d = desired_scores([1, 0, 0], [0.1, 0.2, 0.3], [0.9, 0.8, 0.7], 2.0)
    assert np.allclose(d, [0.9, 0.2, 0.3])
    assert prompt_for([1, 0, 0], lo, hi, 2.0, 11) == "<o0><v10><o1><v0><o2><v0>"
    with pytest.raises(ValueError, match="weights"):
        desired_scores([-1, 1, 1], lo, hi)
    assert quantile_mask(np.array([[0.1, 0.9], [0.5, 0.1], [0.0, 0.0]]), 0.6).tolist() == [True, True, False]


def test_config_rejects_bad_ric_fields():
    with pytest.raises(ValueError, match="ric.p"):
        RiCTrainer(cfg(p=0.5))
    with pytest.raises(ValueError, match="ric.online_rounds"):
        RiCTrainer(cfg(T=3, online_rounds=3))
    with pytest.raises(ValueError, match="ric.unknown"):
        RunConfig.from_dict({"ric": {"unknown": 1}})


@pytest.fixture(scope="module")
def trained():
    torch.manual_seed(0)
    tr = make_trainer(cfg(T=80))
    assert isinstance(tr, RiCTrainer)
    recs = []
    tr.on_record = recs.append
    tr.run()
    return tr, recs


def test_sft_lowers_the_loss_and_finishes(trained):
    tr, recs = trained
    losses = [r["loss"] for r in recs if r["type"] == "step"]
    assert len(losses) == 80 and tr.done and tr.schedule.t == 80
    assert np.mean(losses[-10:]) < 0.6 * np.mean(losses[:5])
    assert all(r["expert"] == "ric" for r in recs)
    assert tr.objectives[0].n_scored == 0  # offline SFT makes no reward queries
    states = tr.final_expert_states()
    assert len(states) == 1 and set(states[0]) <= {n for n, _ in tr.model.named_parameters()}
    assert ric_prompt(tr.final_model()) == tr.sampling_prompt == "<o0><v6><o1><v6><o2><v6>"


def test_preference_prompt_steers_samples(trained):
    """Asking for frac_a (w = 1,0,0) must give more 'a' than asking for frac_b, and vice versa; a fixed
    seed, 256 samples each: the gap is large (~0.96 measured), the test asks for 0.3."""
    tr, _ = trained
    means = {}
    for w in ([1, 0, 0], [0, 1, 0]):
        s = tr.sample(256, w, generator=torch.Generator().manual_seed(1))
        texts = [t or "" for t in s.texts]
        means[tuple(w)] = (
            np.nanmean([t.count("a") / len(t) for t in texts if t]),
            np.nanmean([t.count("b") / len(t) for t in texts if t]),
        )
    a_pref, b_pref = means[(1, 0, 0)], means[(0, 1, 0)]
    assert a_pref[0] - b_pref[0] > 0.3 and b_pref[1] - a_pref[1] > 0.3


def test_save_load_is_exact_with_an_online_round(tmp_path):
    c = cfg(T=6, online_rounds=1, online_samples=64, quantile=0.5)
    ref = RiCTrainer(c)
    ref_recs = []
    ref.on_record = ref_recs.append
    ref.run()

    a = RiCTrainer(cfg(T=6, online_rounds=1, online_samples=64, quantile=0.5))
    stop = {"at": 4}
    a.run(should_stop=lambda: a.schedule.t >= stop["at"])  # the online round ran at step 3
    assert a.rounds_done == 1 and len(a.online_texts) > 0
    a.save(tmp_path / "ck")
    b = RiCTrainer(cfg(T=6, online_rounds=1, online_samples=64, quantile=0.5)).load(tmp_path / "ck")
    assert b.online_texts == a.online_texts and np.array_equal(b.online_R, a.online_R)
    b_recs = []
    b.on_record = b_recs.append
    b.run()
    ref_steps = [r for r in ref_recs if r["type"] == "step"][4:]
    b_steps = [r for r in b_recs if r["type"] == "step"]
    assert [r["loss"] for r in b_steps] == [r["loss"] for r in ref_steps]
    for (n, p), (_, q) in zip(ref.model.state_dict().items(), b.model.state_dict().items()):
        assert torch.equal(p, q), n
    online = [r for r in ref_recs if r["type"] == "online"]
    assert len(online) == 1 and online[0]["reward_queries"] == 64 * 3
    assert sum(o.n_scored for o in b.objectives) == sum(o.n_scored for o in ref.objectives) == 64 * 3


def test_both_trainers_offer_the_surface_the_worker_uses():
    """irs.algorithms.RunTrainer: the worker reads these members directly (no getattr probes)."""
    from irs.algorithms import RunTrainer, make_trainer

    for extra in ({}, {"method": "ric", "ric": {"max_examples": 40}}):
        cfg = RunConfig.from_dict(
            {
                "name": "p",
                "domain": "toy",
                "model": "tiny:gpt2",
                "seed": 0,
                "rl": {"batch_size": 8, "bf16": "off"},
                "merge": {"total_steps": 2, "merge_every": 1},
                **extra,
            }
        )
        tr = make_trainer(cfg)
        assert isinstance(tr, RunTrainer), type(tr).__name__
        assert isinstance(tr.lora, bool) and (tr.sampling_prompt is None) == (cfg.method != "ric")
