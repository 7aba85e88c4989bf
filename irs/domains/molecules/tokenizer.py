"""SMILES tokenizer: the regex of Schwaller et al. (Molecular Transformer) over a fixed vocabulary.

Tokens are bracket atoms ([nH], [C@@H], [NH3+]), two-letter organic atoms (Br, Cl), single atoms,
bonds, branches, ring closures (digits and %nn). Ids 0..3 are PAD, BOS, EOS, UNK (irs.tokenizer). The
vocabulary covers MOSES train and QM9, so the pretraining corpus and the proxy labels encode without UNK.
"""

from __future__ import annotations

import functools

from irs.domains.molecules.moses import moses_train
from irs.tokenizer import VocabTokenizer

# No capturing groups: `re.findall` must return whole tokens.
SMILES_PATTERN = r"\[[^\]]+]|Br?|Cl?|N|O|S|P|F|I|b|c|n|o|s|p|\(|\)|\.|=|#|-|\+|\\|\/|:|~|@|\?|>|\*|\$|%[0-9]{2}|[0-9]"


def qm9_smiles() -> list[str]:
    """SMILES column of the QM9 files shipped in `qm9pack` (qm9pack.get_data() is broken; not used)."""
    import pandas as pd

    from irs.paths import package_data

    d = package_data("qm9pack", "data", install="pip install qm9pack==1.0.3")
    parts = sorted(d.glob("qm9_part*.csv"))
    if not parts:
        raise FileNotFoundError(f"no qm9_part*.csv in {d}")
    return [s for p in parts for s in pd.read_csv(p, usecols=["SMILES"])["SMILES"].astype(str)]


@functools.lru_cache(maxsize=1)
def smiles_tokenizer() -> VocabTokenizer:
    """Build the SMILES vocabulary over MOSES train + QM9 (takes ~20 s; model dirs store the result)."""
    return VocabTokenizer.from_corpus(moses_train() + qm9_smiles(), pattern=SMILES_PATTERN, name="smiles")


def smiles_tokenizer_from_vocab(tokens: list[str]) -> VocabTokenizer:
    """A SMILES tokenizer over an explicit token list (tests; specials are prepended)."""
    from irs.tokenizer import SPECIALS

    return VocabTokenizer(list(SPECIALS) + sorted(set(tokens) - set(SPECIALS)), SMILES_PATTERN, name="smiles")


def pretrain_corpus():
    """(texts, tokenizer) for `irs pretrain --domain molecules`: MOSES train SMILES."""
    return moses_train(), smiles_tokenizer()
