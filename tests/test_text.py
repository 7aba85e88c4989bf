"""The text domain (paper 5.3 offline): chat tokenizer adapter, SmolLM2 import, rewards, context-aware
objectives, prompts through the trainer, LoRA experts and merges, SFT, and a whole tiny run."""

import copy
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from irs.config import RunConfig, validate

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def tok():
    from irs.domains.text import gguf_tokenizer

    return gguf_tokenizer()


def _tiny_cfg(**over):
    d = {
        "name": "t",
        "domain": "text",
        "model": "tiny:llama",
        "seed": 0,
        "n_final_samples": 4,
        "rl": {"batch_size": 4, "max_new_tokens": 6, "algo": "rloo", "rloo_k": 2, "ppo_epochs": 1, "lr": 1e-3},
        "merge": {"total_steps": 2, "merge_every": 1},
    }
    for k, v in over.items():
        d[k] = {**d.get(k, {}), **v} if isinstance(v, dict) else v
    return RunConfig.from_dict(d)


def _trainer(cfg, tok):
    from irs.algorithms.trainer import Trainer
    from irs.rl.policy import build_model

    model, _ = build_model("tiny:llama", tok, seed=cfg.seed)
    return Trainer(cfg, model=model, tokenizer=tok)


# ---- tokenizer adapter ---------------------------------------------------------------------------------
def test_chat_tokenizer_template_ids_round_trip_and_save(tok, tmp_path):
    from irs.checkpoint import load_tokenizer

    assert tok.hf.convert_ids_to_tokens(tok.eos_id) == "<|im_end|>"
    assert len({tok.pad_id, tok.bos_id, tok.eos_id}) == 3 and tok.vocab_size == 49152
    ids = tok.encode("Summarize this.", add_bos=True)
    text = tok.hf.decode(ids)
    assert text.startswith("<|im_start|>system") and "<|im_start|>user\nSummarize this.<|im_end|>" in text
    assert text.endswith("<|im_start|>assistant\n")  # generation prompt: the reply starts right here
    plain = "They propose a graph network (GCN) for VQA."
    body = tok.encode(plain, add_bos=False, add_eos=True)
    assert body[-1] == tok.eos_id and tok.eos_id not in body[:-1]
    # decode stops at EOS and skips PAD/BOS, like VocabTokenizer
    assert tok.decode([tok.bos_id] + body + tok.encode("junk after the end", add_bos=False) + [tok.pad_id]) == plain
    tok.save(tmp_path)
    back = load_tokenizer(tmp_path)
    assert type(back).__name__ == "ChatTokenizer"
    assert (back.pad_id, back.bos_id, back.eos_id) == (tok.pad_id, tok.bos_id, tok.eos_id)
    assert back.encode("Summarize this.") == ids


def test_sampler_with_chat_prompts_per_row(tok):
    from irs.rl.policy import build_model
    from irs.rl.sampler import sample

    model, _ = build_model("tiny:llama", tok, seed=0)
    prompts = ["short", "a much longer prompt with several more words in it"]
    s = sample(model, tok, 2, max_new_tokens=5, prompt=prompts, generator=torch.Generator().manual_seed(0))
    for row, mask, p in zip(s.prompt_ids, s.prompt_mask, prompts):
        assert row[mask].tolist() == tok.encode(p)  # left-padded, templated per row
    assert not torch.isin(s.tokens[s.mask], torch.tensor([tok.pad_id, tok.bos_id])).any()


# ---- model import ----------------------------------------------------------------------------------------
@pytest.mark.slow
def test_import_smollm2_writes_a_plain_model_dir(tmp_path, monkeypatch):
    """The default model directory is imported on first use (build_model), atomically, from the package."""
    from irs.checkpoint import load_model_dir
    from irs.model_import import SMOLLM2, package_file, sha256_of
    from irs.rl.policy import build_model
    from irs.rl.sampler import sample

    out = tmp_path / "smol"
    monkeypatch.setitem(SMOLLM2, "default_out", out)
    build_model(str(out))
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary left behind
    names = {p.name for p in out.iterdir()}
    assert {"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", "provenance.json"} <= names
    assert not [n for n in names if n.endswith((".bin", ".pt", ".gguf"))]
    prov = json.loads((out / "provenance.json").read_text())
    gguf = package_file(SMOLLM2["package"], SMOLLM2["file"])
    assert prov["gguf_sha256"] == sha256_of(gguf) and prov["version"] == "0.1.2" and "Q4_1" in prov["quantization"]
    model, t = load_model_dir(out)
    assert type(model).__name__ == "LlamaForCausalLM" and 134e6 < sum(p.numel() for p in model.parameters()) < 136e6
    s = sample(model, t, 1, max_new_tokens=8, temperature=0, prompt="What is the capital of France?")
    assert "Paris" in s.texts[0]  # the dequantized weights are the instruct model's


# ---- rewards ---------------------------------------------------------------------------------------------
def test_rewards_on_hand_made_cases():
    from irs.domains.text import DOMAIN
    from irs.domains.text.rewards import load_stats

    rec = DOMAIN.prompts("train")[0]
    objs = {o.name: o for o in DOMAIN.oracle()}
    assert set(objs) == {"faithfulness", "quality", "conciseness", "rouge_l"} and all(
        o.needs_context for o in objs.values()
    )
    unrelated = "The weather in the mountains was cold and rainy for most of the week in March."
    copy_ref, copy_src = rec["reference"], rec["source_sentences"][0]
    ctx = [rec, rec, rec]
    r = {n: o.reward([copy_ref, unrelated, copy_src], ctx) for n, o in objs.items()}
    assert r["rouge_l"][0] == pytest.approx(1.0) and r["rouge_l"][1] < 0.2
    assert r["quality"][0] > r["quality"][1] + 0.5
    assert r["faithfulness"][2] == pytest.approx(1.0) and r["faithfulness"][1] < r["faithfulness"][0]
    long = " ".join(["word"] * 500)
    c = objs["conciseness"].reward([copy_ref, long], [rec, rec])
    assert c[0] > 0.8 and c[1] == 0.0
    st = load_stats()
    assert st["split"] == "train" and st["faithfulness"]["lo"] < st["faithfulness"]["hi"]


@pytest.mark.slow
def test_shipped_reward_stats_are_reproducible():
    from irs.domains.text.rewards import compute_stats, load_stats

    st = load_stats()
    fresh = compute_stats("train")
    for k in ("faithfulness", "quality", "conciseness"):
        assert fresh[k]["lo"] == pytest.approx(st[k]["lo"], abs=1e-4) and fresh[k]["hi"] == pytest.approx(
            st[k]["hi"], abs=1e-4
        )


def test_splits_prompts_and_lengths(tok):
    from irs.domains.text import DOMAIN

    splits = {s: DOMAIN.prompts(s) for s in ("train", "val", "test")}
    assert [len(v) for v in splits.values()] == [100, 50, 100]
    ids = [set(r["id"] for r in v) for v in splits.values()]
    assert not (ids[0] & ids[1]) and not (ids[0] & ids[2]) and not (ids[1] & ids[2])
    n_tok = [len(tok.encode(r["prompt"])) for r in splits["test"]]
    assert max(n_tok) + 32 < 320  # prompt + 32 new tokens stays short for CPU RL
    assert all(len(r["reference"].split()) <= 30 for r in splits["train"])


# ---- context-aware objectives and the candidate table ---------------------------------------------------
def test_context_objective_path_and_candidate_columns():
    from irs.candidates import evaluate_table, score_candidates
    from irs.domains.text import DOMAIN
    from irs.objectives import Objective

    seen = []

    def scorer(cands, ctxs):
        seen.append((list(cands), [c["id"] for c in ctxs]))
        return np.array([float(c["id"] == "a") + len(x) / 100 for x, c in zip(cands, ctxs)])

    o = Objective("ctx", scorer, 0.0, 2.0, needs_context=True)
    with pytest.raises(ValueError, match="context"):
        o.raw(["x"])
    recs = [
        {"id": "a", "prompt": "p", "source": "s" * 900, "reference": "r"},
        {"id": "b", "prompt": "q", "source": "t", "reference": "u"},
    ]
    texts = ["same", "same", "same", "  "]
    ctx = [recs[0], recs[1], recs[0], recs[1]]
    df = score_candidates(texts, DOMAIN, [o], contexts=ctx)
    assert list(df.columns[:4]) == ["candidate", "prompt_id", "source", "reference"]
    assert list(df["prompt_id"]) == ["a", "b", "a", "b"] and len(df["source"][0]) == 600
    # same summary of two papers: two candidates (scored against each); the repeat for "a" is a duplicate
    assert list(df["duplicate"]) == [False, False, True, False] and list(df["valid"]) == [True, True, True, False]
    assert df["ctx"][0] == pytest.approx(1.04) and df["ctx"][1] == pytest.approx(0.04)
    assert seen == [(["same", "same"], ["a", "b"])]
    assert evaluate_table(df)["n_unique"] == 2
    with pytest.raises(ValueError, match="contexts"):
        score_candidates(texts, DOMAIN, [o])


# ---- trainer: prompts, LoRA, SFT, save/restore ----------------------------------------------------------
@pytest.mark.slow
def test_trainer_draws_train_prompts_per_row_deterministically(tok):
    from irs.domains.text import DOMAIN

    cfg = _tiny_cfg()
    runs = []
    for _ in range(2):
        tr = _trainer(copy.deepcopy(cfg), tok)
        assert tr.lora and type(tr.experts[0].model).__name__.startswith("Peft")
        got = []
        orig = tr._step_reward  # what every expert step scores its samples with

        def score(ex, texts, contexts=None, t=None, _o=orig, _g=got):
            _g.append([c["id"] for c in contexts])
            return _o(ex, texts, contexts, t)

        tr._step_reward = score
        prompts_seen = []
        orig_sample = tr.rollout_samples

        def rollout(ex, contexts=None, _o=orig_sample, _p=prompts_seen):
            s = _o(ex, contexts)
            _p.append((s, contexts))
            return s

        tr.rollout_samples = rollout
        tr.run()
        runs.append(got)
        train_ids = {r["id"] for r in DOMAIN.prompts("train")}
        for ids in got:  # rloo_k = 2: 2 prompts x 2 summaries per step, consecutive
            assert len(ids) == 4 and ids[0] == ids[1] and ids[2] == ids[3] and set(ids) <= train_ids
        for s, ctx in prompts_seen:  # each row was generated from its own record's templated prompt
            for row, mask, c in zip(s.prompt_ids, s.prompt_mask, ctx):
                assert row[mask].tolist() == tok.encode(c["prompt"])
    assert len(runs[0]) == 6 and runs[0] == runs[1]  # 2 steps x 3 experts, same draws
    assert len({tuple(x) for x in runs[0]}) > 1  # each step/expert draws its own prompts


@pytest.mark.slow
def test_lora_trainer_final_merge_equals_average_of_dense_experts_and_resumes(tok, tmp_path):
    from irs.algorithms.merging import merge_state_dicts

    cfg = _tiny_cfg(
        merge={"total_steps": 3, "merge_every": 1},
        lora={"r": 4, "alpha": 8.0},
        sft={"steps": 2, "lr": 1e-3, "batch_size": 2},
    )
    tr = _trainer(copy.deepcopy(cfg), tok)
    tr.run(should_stop=lambda: tr.schedule.t == 2)  # two merges folded into the base so far
    assert tr.schedule.t == 2
    tr.save(tmp_path / "ck")
    assert (tmp_path / "ck" / "ref.safetensors").is_file() and (tmp_path / "ck" / "base.safetensors").is_file()
    from safetensors import safe_open

    with safe_open(str(tmp_path / "ck" / "base.safetensors"), "pt") as f:  # only the adapted layers' base
        assert sorted(f.keys()) and all(
            k.endswith(("q_proj.base_layer.weight", "v_proj.base_layer.weight")) for k in f.keys()
        )
    with safe_open(str(tmp_path / "ck" / "expert_0.safetensors"), "pt") as f:  # adapters only
        assert all("lora_" in k for k in f.keys())
    tr.run()
    # the merged dense model is the λ-average of the experts' dense weights W + B·A
    states = tr.final_expert_states()
    assert set(states[0]) and all(k.endswith("proj.weight") for k in states[0])
    assert any(not torch.equal(states[0][k], states[1][k]) for k in states[0])
    expected = merge_state_dicts(states, tr.last_lambdas)
    final = tr.final_model()
    assert type(final).__name__ == "LlamaForCausalLM"
    got = final.state_dict()
    for k, v in expected.items():
        torch.testing.assert_close(got[k], v, atol=1e-6, rtol=1e-5)
    # the KL reference is the SFT model, frozen: not the random init, not the merged policy
    init, _ = __import__("irs.rl.policy", fromlist=["build_model"]).build_model("tiny:llama", tok, seed=0)
    ref = tr.ref.state_dict()
    assert any(not torch.equal(ref[k], v) for k, v in init.state_dict().items())
    assert any(not torch.equal(ref[k], v) for k, v in expected.items())
    # resume from step 2: identical final weights
    tr2 = _trainer(copy.deepcopy(cfg), tok).load(tmp_path / "ck")
    tr2.run()
    for a, b in zip(tr.final_model().state_dict().values(), tr2.final_model().state_dict().values()):
        assert torch.equal(a, b)


def test_sft_lowers_loss_on_references(tok):
    from irs.config import LoRAConfig, SFTConfig
    from irs.domains.text import DOMAIN
    from irs.rl.policy import build_model
    from irs.rl.sft import sft

    model, _ = build_model("tiny:llama", tok, seed=0)
    recs = DOMAIN.prompts("train")[:2]
    out, st = sft(model, tok, recs, SFTConfig(steps=8, lr=1e-2, batch_size=2))
    assert st["loss_last"] < st["loss_first"] - 0.5
    # with LoRA the adapter is folded in: a plain model comes back, different from the input
    before = {k: v.clone() for k, v in out.state_dict().items()}
    out2, _ = sft(out, tok, recs, SFTConfig(steps=2, lr=1e-2, batch_size=2), lora=LoRAConfig(r=4, alpha=8.0))
    assert type(out2).__name__ == "LlamaForCausalLM" and not any("lora" in k for k in out2.state_dict())
    assert any(not torch.equal(before[k], v) for k, v in out2.state_dict().items())


def test_sft_elsewhere_is_refused():  # (RiC on text: tests/test_ric_text.py)
    with pytest.raises(ValueError, match="sft.steps"):
        from irs.algorithms.trainer import Trainer

        Trainer(
            RunConfig.from_dict(
                {
                    "domain": "toy",
                    "model": "tiny:gpt2",
                    "sft": {"steps": 1},
                    "merge": {"total_steps": 1, "merge_every": 1},
                    "rl": {"batch_size": 2},
                }
            )
        )
    with pytest.raises(ValueError, match="lora.enabled"):
        validate(RunConfig.from_dict({"lora": {"enabled": "yes"}}), ["a"])


# ---- configs and a whole run ----------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["text-aclsum.toml", "text-llama3b-gpu.toml"])
def test_example_configs_validate(name, tmp_path, monkeypatch):
    from irs.config import lora_enabled
    from irs.domains import get_domain
    from irs.model_import import SMOLLM2
    from irs.runs.control import check_config

    # a fresh checkout has no imported SmolLM2: the config is still valid (the worker imports it)
    monkeypatch.setitem(SMOLLM2, "default_out", tmp_path / "not-yet-imported")
    import irs.domains.text as text

    monkeypatch.setattr(text.DOMAIN, "default_model", str(tmp_path / "not-yet-imported"))
    if "gpu" not in name:
        check_config(RunConfig.load(ROOT / "examples" / name))
    else:
        with pytest.raises(ValueError, match="not a model directory"):
            check_config(RunConfig.load(ROOT / "examples" / name))

    cfg = RunConfig.load(ROOT / "examples" / name)
    dom = get_domain(cfg.domain)
    validate(cfg, [o.name for o in dom.objectives(cfg.preset)])
    assert cfg.objective_names == ["faithfulness", "quality", "conciseness"] and lora_enabled(cfg, dom)
    assert cfg.rl.max_new_tokens == 32 and cfg.sft.steps > 0
    if "gpu" in name:
        from irs.algorithms.schedule import candidate_lambdas

        assert (cfg.merge.total_steps, cfg.merge.merge_every, cfg.nproc, cfg.merge.lambdas) == (160, 40, 3, "selective")
        grid = candidate_lambdas("selective", np.asarray(cfg.weights), [0, 1, 2], np.random.default_rng(0), None, 8)
        assert len(grid) == 7


@pytest.mark.slow
def test_tiny_text_run_end_to_end(tok, tmp_path, monkeypatch):
    import irs.domains.text as text
    from irs.runs import load_candidates, sample_candidates
    from irs.runs.store import RunStore
    from irs.runs.worker import execute

    monkeypatch.setattr(text, "tokenizer", lambda: tok)  # the GGUF tokenizer: no model import needed
    cfg = _tiny_cfg(sft={"steps": 1, "lr": 1e-3, "batch_size": 2}, n_final_samples=6)
    run = RunStore(tmp_path).create(cfg)
    assert execute(run.path) == "done", run.read_status().get("error")
    df = load_candidates(run)
    assert len(df) == 6 and {
        "prompt_id",
        "source",
        "reference",
        "rouge_l",
        "reward_rouge_l",
        "reward_faithfulness",
        "reward_quality",
        "reward_conciseness",
    } <= set(df.columns)
    from irs.domains.text import DOMAIN

    test = DOMAIN.prompts("test")
    assert list(df["prompt_id"]) == [r["id"] for r in test[:6]]
    assert list(df["reference"]) == [r["reference"] for r in test[:6]]
    info = json.loads((run.experts_dir / "experts.json").read_text())
    assert info["partial"] is True
    re = sample_candidates(run, 3, lambdas="0.6,0.2,0.2")  # re-merge of LoRA experts
    assert list(re["prompt_id"]) == [r["id"] for r in test[:3]] and re["set"][0].startswith("remerge")
