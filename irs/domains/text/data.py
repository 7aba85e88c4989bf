"""ACLSum (the `aclsum` package): 250 ACL papers, each with reference summaries of three aspects
(challenge, approach, outcome) and its abstract, introduction and conclusion split into sentences. The
package's own splits are used: train 100, val 50, test 100 papers.

The task summarizes one aspect, the paper's *approach*, from its title and abstract. Why one aspect and
not the concatenation: each aspect's reference is one sentence of at most 25 words (median 23), which
fits the paper's 32-token summary budget (App. B.3); the three concatenated (~70 words) would not. The
abstract (median 138 words) is cut to `MAX_SOURCE_WORDS` so that the chat-templated prompt plus 32 new
tokens stays near 200 tokens: fast enough for RL on a CPU.

The data files are read directly (`aclsum/dataset/<split>.jsonl`, found via the package's metadata);
the package is not imported (it needs `sienna`, which is not installed).
"""

from __future__ import annotations

import functools
import json
import re

from irs.model_import import package_file

SPLITS = ("train", "val", "test")
ASPECT = "approach"
MAX_SOURCE_WORDS = 120
INSTRUCTION = "Summarize the approach of this paper in one sentence of at most 25 words."


def detokenize(text: str) -> str:
    """Undo the corpus' space-separated punctuation ("method , which ( BERT ) ." -> "method, which (BERT).")."""
    text = re.sub(r"\s+([,.;:!?%)\]}])", r"\1", text)
    text = re.sub(r"([(\[{])\s+", r"\1", text)
    text = re.sub(r"\s+(n't|'s|'re|'ve|'ll|'d)\b", r"\1", text)
    return re.sub(r"\s+", " ", text).strip()


def split_sentences(text: str) -> list[str]:
    return [s for s in re.split(r"(?<=[.!?])\s+", text.strip()) if s]


def truncate_words(sentences: list[str], max_words: int) -> list[str]:
    """Whole sentences up to max_words words; the first sentence is cut if it alone is longer."""
    out, n = [], 0
    for s in sentences:
        w = s.split()
        if n + len(w) > max_words:
            if not out:
                out.append(" ".join(w[:max_words]))
            break
        out.append(s)
        n += len(w)
    return out


@functools.cache
def raw_split(split: str) -> tuple[dict, ...]:
    if split not in SPLITS:
        raise ValueError(f"split {split!r}: choose from {SPLITS}")
    path = package_file("aclsum", f"{split}.jsonl")
    return tuple(json.loads(line) for line in path.read_text().splitlines() if line.strip())


@functools.cache
def _records(split: str, max_source_words: int) -> tuple[dict, ...]:
    out = []
    for d in raw_split(split):
        sents = truncate_words([detokenize(s) for s in d["sentences"]["abstract"]], max_source_words)
        title = detokenize(d["title"])
        source = " ".join(sents)
        out.append(
            {
                "id": d["id"],
                "title": title,
                "source": source,
                "source_sentences": sents,
                "reference": detokenize(d["summary"][ASPECT]),
                "prompt": f"{INSTRUCTION}\n\nTitle: {title}\nAbstract: {source}",
            }
        )
    return tuple(out)


def prompts(split: str, max_source_words: int = MAX_SOURCE_WORDS) -> list[dict]:
    """Prompt records of a split (Domain.prompts): id, prompt (the user message), source (the abstract
    as shown, at most max_source_words words), source_sentences, reference (the approach summary), title."""
    return [dict(r) for r in _records(split, max_source_words)]
