"""DNA tokenizers: non-overlapping 4-mers (the shipped DNAGPT-2, as in the paper) or single nucleotides.

A 200-nt sequence is 50 four-mer tokens, so a model row is BOS + 50 tokens + EOS = 52 positions (202
with single nucleotides). The vocabulary is fixed, not learned from a corpus: ids 0..3 are PAD, BOS, EOS,
UNK (irs.tokenizer), then all 4^k k-mers over ACGT in lexicographic order. BOS/EOS are inserted by id,
never by parsing a string such as "[BOS]" (which is how the reference implementation's prompt became
unknown tokens). A trailing partial k-mer or any non-ACGT character encodes as UNK, so the model and the
proxies never see a malformed sequence as a clean one.

`canonicalize` defines validity for the whole domain: exactly 200 nt of A/C/G/T (after stripping
whitespace and upper-casing), else None. A generation that did not stop after 200 nt is invalid.
"""

from __future__ import annotations

import itertools
import re

from irs.tokenizer import SPECIALS, VocabTokenizer

SEQ_LEN = 200
K = 4
_VALID = re.compile(f"[ACGT]{{{SEQ_LEN}}}")


def kmer_tokenizer(k: int = K) -> VocabTokenizer:
    """Non-overlapping k-mers (pattern [ACGT]{k}); k=1 gives single nucleotides."""
    if not 1 <= k <= 6:
        raise ValueError(f"k must be in 1..6, got {k}")
    kmers = ["".join(p) for p in itertools.product("ACGT", repeat=k)]
    pattern = None if k == 1 else f"[ACGT]{{{k}}}"
    return VocabTokenizer(list(SPECIALS) + kmers, pattern, "", name=f"dna-{k}mer")


def dna_tokenizer() -> VocabTokenizer:
    """The tokenizer of the shipped DNAGPT-2 (4-mers; see README "DNA" for the measurement)."""
    return kmer_tokenizer(K)


def canonicalize(seq: str) -> str | None:
    """The sequence upper-cased without whitespace if it is exactly 200 nt of ACGT, else None."""
    if not isinstance(seq, str):
        return None
    s = "".join(seq.split()).upper()
    return s if _VALID.fullmatch(s) else None


def tokens_for(n_nt: int = SEQ_LEN, k: int = K) -> int:
    """Generated tokens needed for n_nt nucleotides plus EOS."""
    if n_nt % k:
        raise ValueError(f"{n_nt} nt is not a whole number of {k}-mers")
    return n_nt // k + 1
