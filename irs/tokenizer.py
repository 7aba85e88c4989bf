"""Tokenizer protocol shared by every domain, plus a small vocabulary-based implementation.

A tokenizer maps a candidate string (a SMILES, a DNA sequence, ...) to ids and back. Every sequence the
policy sees starts with BOS; generation stops at EOS; PAD only fills batches and is always masked.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Sequence
from pathlib import Path

from irs.io import atomic_write_text

SPECIALS = ("<pad>", "<bos>", "<eos>", "<unk>")


def ids_before_eos(ids, eos_id: int, skip) -> list[int]:
    """The ids before the first EOS, without those in `skip` (what every tokenizer's decode keeps)."""
    out = []
    for i in ids:
        i = int(i)
        if i == eos_id:
            break
        if i not in skip:
            out.append(i)
    return out


class VocabTokenizer:
    """Regex-split tokenizer over a fixed vocabulary. Ids 0..3 are PAD, BOS, EOS, UNK.

    `pattern` is a regex whose `findall` splits a string into tokens; `None` means one token per
    character. `joiner` glues decoded tokens back together ("" for SMILES and DNA). `prompt_only`:
    tokens that may appear in prompts but are never generated (RiC's score tokens); the sampler bans
    `prompt_only_ids` as it bans PAD and BOS.
    """

    def __init__(
        self,
        vocab: list[str],
        pattern: str | None = None,
        joiner: str = "",
        name: str = "vocab",
        prompt_only: Sequence[str] = (),
    ):
        if list(vocab[: len(SPECIALS)]) != list(SPECIALS):
            raise ValueError(f"vocab must start with {SPECIALS}, got {vocab[:4]}")
        if len(set(vocab)) != len(vocab):
            raise ValueError("vocab has duplicate tokens")
        self.vocab = list(vocab)
        self.pattern = pattern
        self.joiner = joiner
        self.name = name
        self._re = re.compile(pattern) if pattern else None
        self.token_to_id = {t: i for i, t in enumerate(self.vocab)}
        self.pad_id, self.bos_id, self.eos_id, self.unk_id = 0, 1, 2, 3
        missing = [t for t in prompt_only if t not in self.token_to_id]
        if missing:
            raise ValueError(f"prompt_only tokens not in the vocab: {missing[:5]}")
        self.prompt_only = list(prompt_only)
        self.prompt_only_ids = [self.token_to_id[t] for t in self.prompt_only]

    @property
    def vocab_size(self) -> int:
        return len(self.vocab)

    def tokenize(self, text: str) -> list[str]:
        if self._re is None:
            return list(text)
        toks = self._re.findall(text)
        if self.joiner.join(toks) != text:  # the regex skipped characters: keep them visible as UNK
            return [t for t in re.split(f"({self.pattern})", text) if t]
        return toks

    def encode(self, text: str, add_bos: bool = True, add_eos: bool = False) -> list[int]:
        ids = [self.token_to_id.get(t, self.unk_id) for t in self.tokenize(text)]
        return ([self.bos_id] if add_bos else []) + ids + ([self.eos_id] if add_eos else [])

    def decode(self, ids) -> str:
        """Decode up to the first EOS, skipping BOS/PAD."""
        kept = ids_before_eos(ids, self.eos_id, (self.pad_id, self.bos_id))
        return self.joiner.join(self.vocab[i] if 0 <= i < len(self.vocab) else SPECIALS[3] for i in kept)

    def save(self, directory: str | os.PathLike) -> None:
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        payload = {"name": self.name, "vocab": self.vocab, "pattern": self.pattern, "joiner": self.joiner}
        if self.prompt_only:
            payload["prompt_only"] = self.prompt_only
        atomic_write_text(d / "tokenizer.json", json.dumps(payload, indent=1))

    @classmethod
    def load(cls, directory: str | os.PathLike) -> VocabTokenizer:
        p = Path(directory) / "tokenizer.json"
        if not p.is_file():
            raise FileNotFoundError(f"no tokenizer.json in {directory}")
        d = json.loads(p.read_text())
        return cls(d["vocab"], d.get("pattern"), d.get("joiner", ""), d.get("name", "vocab"), d.get("prompt_only", ()))

    @classmethod
    def from_corpus(
        cls, texts, pattern: str | None = None, joiner: str = "", name: str = "vocab", min_count: int = 1
    ) -> VocabTokenizer:
        counts: dict[str, int] = {}
        tmp = cls(list(SPECIALS), pattern, joiner, name)
        for t in texts:
            for tok in tmp.tokenize(t):
                counts[tok] = counts.get(tok, 0) + 1
        toks = sorted(t for t, c in counts.items() if c >= min_count and t not in SPECIALS)
        return cls(list(SPECIALS) + toks, pattern, joiner, name)
