"""A toy string domain for tests and the smoke run: strings over {a, b, c}, three cheap objectives.

The objectives conflict (more 'a' means fewer 'b'), so the Pareto front is non-trivial, and each is
instant to compute. The model is a tiny randomly initialised GPT-2 (`tiny:gpt2`).
"""

from __future__ import annotations

import numpy as np

from irs.domains.base import Domain, exact_rewards
from irs.objectives import Objective
from irs.tokenizer import SPECIALS, VocabTokenizer

ALPHABET = "abc"


def tokenizer() -> VocabTokenizer:
    return VocabTokenizer(list(SPECIALS) + list(ALPHABET), None, "", name="toy")


def _frac(ch: str):
    def score(cands):
        return np.array([s.count(ch) / len(s) if s else np.nan for s in cands], dtype=float)

    return score


def _length(cands):
    return np.array([float(len(s)) if s else np.nan for s in cands], dtype=float)


def _objectives():
    return [
        Objective("frac_a", _frac("a"), 0.0, 1.0, "max", description="fraction of 'a' characters", bounds=(0.0, 1.0)),
        Objective("frac_b", _frac("b"), 0.0, 1.0, "max", description="fraction of 'b' characters", bounds=(0.0, 1.0)),
        Objective("length", _length, 0.0, 16.0, "target", target=(0.4, 0.6), description="length near 8 characters"),
    ]


def labelled_data(preset, objectives, n: int, seed: int):
    """RiC's labelled data: random strings over {a, b, c} (random length, Dirichlet character mix), scored
    exactly; n = 0 means 5,000."""
    rng = np.random.default_rng([seed, 4242])
    n = n or 5000
    alphabet = np.array(list(ALPHABET))
    lengths = rng.integers(1, 17, size=n)
    mix = rng.dirichlet([0.5, 0.5, 0.5], size=n)
    texts = ["".join(rng.choice(alphabet, size=int(L), p=p)) for L, p in zip(lengths, mix)]
    return texts, exact_rewards(objectives, texts)


DOMAIN = Domain(
    name="toy",
    description="Strings over {a,b,c}; objectives count characters. For tests and the smoke run.",
    default_model="tiny:gpt2",
    presets={"default": _objectives},
    default_preset="default",
    canonicalize=lambda s: s if s and set(s) <= set(ALPHABET) else None,
    export_formats=("fasta",),
    max_new_tokens=16,
    tokenizer=tokenizer,
    labelled_data=labelled_data,
)
