"""RiC on the text domain: score tokens added to the chat tokenizer (prompt-only, saved and reloaded with
the model), training rows = chat-templated (score prefix + document) -> reference with the loss on the
reference only, labelled data scored with context, and a whole tiny run sampled per test document."""

import json

import numpy as np
import pytest
import torch

from irs.config import RunConfig


@pytest.fixture(scope="module")
def tok():
    """The text domain's chat tokenizer: from the imported model directory, or read from the packaged GGUF
    file on a fresh checkout (so these tests run in CI too, without the 50 s model import)."""
    from irs.domains.text import tokenizer

    return tokenizer()


def _cfg(**over):
    d = {
        "name": "rt",
        "domain": "text",
        "method": "ric",
        "model": "tiny:llama",
        "seed": 0,
        "n_final_samples": 4,
        "rl": {"batch_size": 4, "max_new_tokens": 6, "lr": 1e-3},
        "merge": {"total_steps": 2, "merge_every": 1},
        "ric": {"batch_size": 3, "max_examples": 4},
    }
    for k, v in over.items():
        d[k] = {**d.get(k, {}), **v} if isinstance(v, dict) else v
    return RunConfig.from_dict(d)


def _hand_labelled(n=3):
    from irs.domains.text import DOMAIN

    recs = DOMAIN.prompts("train")[:n]
    R = np.array([[0.1, 0.5, 1.0], [0.9, 0.2, 0.0], [0.45, 0.75, 0.3]])[:n]
    return [r["reference"] for r in recs], R, recs


def test_score_tokens_added_never_sampled_and_round_trip(tok, tmp_path):
    from irs.algorithms.ric import conditioned_tokenizer, conditioning_tokens
    from irs.checkpoint import load_model_dir, save_model_dir
    from irs.rl.policy import build_model
    from irs.rl.sampler import sample

    base_n = tok.vocab_size
    ct = conditioned_tokenizer(tok, 3, 11)
    assert tok.vocab_size == base_n and tok.prompt_only == []  # the domain's tokenizer is untouched
    assert ct.vocab_size == base_n + 14 and ct.prompt_only == conditioning_tokens(3, 11)
    assert ct.prompt_only_ids == list(range(base_n, base_n + 14))
    assert conditioned_tokenizer(ct, 3, 11).prompt_only_ids == ct.prompt_only_ids  # idempotent
    # the prefix tokenizes to one id per token, also inside the chat template; decoding drops them
    ids = ct.encode("<o0><v7><o1><v3>", add_bos=False)
    assert ids == [base_n, base_n + 3 + 7, base_n + 1, base_n + 3 + 3]
    assert ct.decode(ct.encode("<o2><v10>Hello", add_bos=False)) == "Hello"
    assert ids[0] in ct.encode("<o0><v7>\nSummarize.", add_bos=True)

    model, _ = build_model("tiny:llama", ct, seed=0)
    assert model.get_input_embeddings().weight.shape[0] == ct.vocab_size
    banned = torch.tensor(ct.prompt_only_ids)
    h = model.lm_head.register_forward_hook(
        lambda m, i, out: out.index_add(-1, banned, torch.full((*out.shape[:-1], len(banned)), 100.0, dtype=out.dtype))
    )  # the score tokens would win
    s = sample(
        model,
        ct,
        6,
        max_new_tokens=5,
        prompt="<o0><v7>\nSummarize.",
        generator=torch.Generator().manual_seed(0),
        bf16=False,
    )
    h.remove()
    assert not np.isin(s.tokens[s.mask].numpy(), ct.prompt_only_ids).any()

    save_model_dir(model, ct, tmp_path / "m")
    m2, t2 = load_model_dir(tmp_path / "m")
    assert type(t2).__name__ == "ChatTokenizer"
    assert t2.vocab_size == ct.vocab_size and t2.prompt_only == ct.prompt_only
    assert t2.prompt_only_ids == ct.prompt_only_ids and (t2.pad_id, t2.bos_id, t2.eos_id) == (
        ct.pad_id,
        ct.bos_id,
        ct.eos_id,
    )
    assert t2.encode("<o1><v2>\nx", add_bos=True) == ct.encode("<o1><v2>\nx", add_bos=True)
    assert torch.equal(m2.get_input_embeddings().weight, model.get_input_embeddings().weight)


def test_training_rows_are_chat_templated_prefix_plus_document_with_loss_on_reference(tok):
    from irs.algorithms.ric import RiCTrainer, levels_of, parse_prompt, prompt_text
    from irs.prompting import with_prefix
    from irs.rl.policy import build_model

    cfg = _cfg()
    model, _ = build_model("tiny:llama", tok, seed=0)
    old_rows = model.get_input_embeddings().weight.detach().clone()
    texts, R, recs = _hand_labelled()
    tr = RiCTrainer(cfg, model=model, tokenizer=tok, labelled=(texts, R, recs))
    V = tr.tokenizer.vocab_size
    W = tr.model.get_input_embeddings().weight.detach()
    assert W.shape[0] == V == tok.vocab_size + 3 + cfg.ric.n_bins
    assert torch.equal(W[: tok.vocab_size], old_rows)  # old rows kept
    new = W[tok.vocab_size :]
    assert new.abs().sum() > 0 and not torch.allclose(new[0], new[1])  # mean + seeded noise
    assert tr.contextual and tr.labelled_ctx == recs

    x, y = tr.batch(0)
    assert x.shape[0] == 3
    seen = set()
    for row, lab in zip(x.tolist(), y.tolist()):
        real = [i for i in row if i != tr.tokenizer.pad_id]
        first = next(j for j, v in enumerate(lab) if v != -100)
        target = [v for v in lab if v != -100]
        k = next(i for i, r in enumerate(recs) if tr.tokenizer.encode(r["reference"], add_bos=False) == target[:-1])
        seen.add(k)
        assert target[-1] == tr.tokenizer.eos_id and tr.tokenizer.hf.convert_ids_to_tokens(target[-1]) == "<|im_end|>"
        prefix = prompt_text(levels_of(R[k], cfg.ric.n_bins))
        assert parse_prompt(prefix) == levels_of(R[k], cfg.ric.n_bins).tolist()
        prompt = tr.tokenizer.encode(with_prefix(prefix, recs[k]["prompt"]), add_bos=True)
        assert real[:first] == prompt and real[first:] == target  # loss exactly on reference + EOS
        text = tr.tokenizer.hf.decode(prompt)
        assert text.count("<|im_start|>user") == 1 and text.index(prefix) < text.index(recs[k]["prompt"][:30])
    assert seen == {0, 1, 2}
    rec = tr.sft_step(0)
    assert rec["tokens"] == int((y != -100).sum()) and np.isfinite(rec["loss"])


def test_text_labelled_data_is_scored_with_context_without_counting_queries():
    from irs.algorithms.ric import labelled_examples
    from irs.domains.text import DOMAIN
    from irs.domains.text.rewards import objectives

    objs = objectives()
    texts, R, ctx = labelled_examples("text", "default", objs, 4, 0)
    assert len(texts) == len(ctx) == 4 and R.shape == (4, 3)
    assert [c["reference"] for c in ctx] == texts and {c["id"] for c in ctx} <= {
        r["id"] for r in DOMAIN.prompts("train")
    }
    assert all(o.n_scored == 0 for o in objs)
    expect = np.column_stack([o.reward(texts, ctx) for o in objectives()])  # fresh objectives, same scores
    assert np.allclose(R, expect)


def test_online_round_generates_per_train_document_and_resumes(tok, tmp_path):
    from irs.algorithms.ric import RiCTrainer
    from irs.rl.policy import build_model

    cfg = _cfg(ric={"online_rounds": 1, "online_samples": 4, "quantile": 0.0})
    texts, R, recs = _hand_labelled()
    mk = lambda: RiCTrainer(
        cfg, model=build_model("tiny:llama", tok, seed=0)[0], tokenizer=tok, labelled=(texts, R, recs)
    )
    tr = mk()
    got = []
    tr.on_record = got.append
    tr.run()
    online = [r for r in got if r["type"] == "online"]
    assert len(online) == 1 and online[0]["n_generated"] == 4 and online[0]["reward_queries"] == 12
    assert len(tr.online_ctx) == len(tr.online_texts) == online[0]["n_kept"]
    train_ids = {r["id"] for r in tr.domain.prompts("train")}
    assert all(c["id"] in train_ids for c in tr.online_ctx)
    tr.save(tmp_path / "ck")
    back = mk().load(tmp_path / "ck")
    assert [c["id"] for c in back.online_ctx] == [c["id"] for c in tr.online_ctx]
    assert back.online_texts == tr.online_texts and back.done


def test_tiny_ric_text_run_samples_each_test_document_with_the_prefix(tok, tmp_path, monkeypatch):
    import irs.domains.text as text
    import irs.rl.sampler as sampler
    from irs.checkpoint import load_model_dir
    from irs.runs import load_candidates, sample_candidates
    from irs.runs.store import RunStore
    from irs.runs.worker import execute

    monkeypatch.setattr(text, "tokenizer", lambda: tok)
    prompts_seen = []
    orig = sampler.sample

    def spy(*a, **k):
        prompts_seen.append(k.get("prompt"))
        return orig(*a, **k)

    monkeypatch.setattr(sampler, "sample", spy)
    from irs.runs.control import check_config

    cfg = _cfg()
    check_config(cfg)  # as `irs run` does: the preset's objectives are written into the stored config
    run = RunStore(tmp_path).create(cfg)
    assert execute(run.path) == "done", run.read_status().get("error")
    df = load_candidates(run)
    test = text.DOMAIN.prompts("test")
    assert len(df) == 4 and list(df["prompt_id"]) == [r["id"] for r in test[:4]]
    assert list(df["reference"]) == [r["reference"] for r in test[:4]]
    assert {"candidate", "source", "rouge_l", "reward_faithfulness", "reward_quality", "reward_conciseness"} <= set(
        df.columns
    )
    assert list(df.columns[:4]) == ["candidate", "prompt_id", "source", "reference"]

    model, t2 = load_model_dir(run.final_dir)
    meta = model.config.ric
    assert t2.prompt_only_ids and t2.vocab_size == model.get_input_embeddings().weight.shape[0]
    final_prompts = prompts_seen[-1]
    assert final_prompts == [meta["prompt"] + "\n" + r["prompt"] for r in test[:4]]
    steps = [r for r in run.metrics() if r.get("type") == "step"]
    assert len(steps) == 2 and all(r["batch"] == 3 for r in steps)

    re = sample_candidates(run, 3, weights="0.6,0.2,0.2")
    assert list(re["prompt_id"]) == [r["id"] for r in test[:3]] and re["set"][0] == "ric 0.60/0.20/0.20"
    from irs.algorithms.ric import ric_prompt

    p = ric_prompt(model, [0.6, 0.2, 0.2])
    assert prompts_seen[-1] == [p + "\n" + r["prompt"] for r in test[:3]]
    assert json.loads((run.final_dir / "irs_tokenizer.json").read_text())["prompt_only"] == t2.prompt_only
