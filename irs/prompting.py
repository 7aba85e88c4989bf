"""Prompts for evaluation sampling in prompt domains (Domain.prompts, the text domain).

`eval_contexts(domain, n)` gives the prompt record of each of n final samples: the test split in its
order, cycled (row i answers record i mod len(split)). Deterministic, so the worker, `irs sample`, the
app's re-merges and the bench all pair the same candidates with the same documents. None for domains
without prompts (their samples start from BOS).

`prompt_texts(contexts, prefix)` puts a prefix before every document's prompt inside the same user
message (the chat template is applied once, around both): RiC's desired-score tokens
(irs.algorithms.ric), so every sample has its own document and the same score prefix.
"""

from __future__ import annotations


def eval_contexts(domain, n: int, split: str = "test") -> list[dict] | None:
    if getattr(domain, "prompts", None) is None:
        return None
    recs = domain.prompts(split)
    if not recs:
        raise ValueError(f"domain {domain.name!r} has no prompts in split {split!r}")
    return [recs[i % len(recs)] for i in range(n)]


def contexts_by_id(domain, ids, splits=("test", "val", "train")) -> list[dict]:
    """The prompt record of each prompt id (a candidate table's `prompt_id` column), looked up in `splits`
    in that order. ValueError names ids no split has."""
    ids = [str(i) for i in ids]
    found: dict[str, dict] = {}
    for split in splits:
        if all(i in found for i in ids):
            break
        for rec in domain.prompts(split) or []:
            found.setdefault(str(rec["id"]), rec)
    missing = [i for i in dict.fromkeys(ids) if i not in found]
    if missing:
        raise ValueError(f"domain {domain.name!r} has no prompt record with id(s) {missing[:5]}")
    return [found[i] for i in ids]


PREFIX_SEPARATOR = "\n"


def with_prefix(prefix: str | None, prompt: str) -> str:
    """One user message: `prefix` (RiC's score tokens), a newline, then the document's prompt."""
    return prompt if not prefix else prefix + PREFIX_SEPARATOR + prompt


def prompt_texts(contexts: list[dict] | None, prefix: str | None = None) -> list[str] | None:
    return None if contexts is None else [with_prefix(prefix, c["prompt"]) for c in contexts]
