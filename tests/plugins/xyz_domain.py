"""A domain that lives only in tests/: strings over {x, y, z}. Registered with IRS_DOMAINS="xyz=xyz_domain"
(tests/test_plugin_domain.py), it proves that a new domain needs nothing outside its own module."""

from __future__ import annotations

import numpy as np

from irs.domains.base import Domain, exact_rewards
from irs.objectives import Objective
from irs.tokenizer import SPECIALS, VocabTokenizer

ALPHABET = "xyz"


def tokenizer() -> VocabTokenizer:
    return VocabTokenizer(list(SPECIALS) + list(ALPHABET), None, "", name="xyz")


def _share(ch: str):
    return lambda cands: np.array([s.count(ch) / len(s) if s else np.nan for s in cands], dtype=float)


def _objectives():
    return [
        Objective("share_x", _share("x"), 0.0, 1.0, "max", description="share of x", bounds=(0.0, 1.0)),
        Objective("share_z", _share("z"), 0.0, 1.0, "max", description="share of z", bounds=(0.0, 1.0)),
    ]


def labelled_data(preset, objectives, n, seed):
    rng = np.random.default_rng(seed)
    texts = ["".join(rng.choice(list(ALPHABET), size=int(rng.integers(1, 12)))) for _ in range(n or 200)]
    return texts, exact_rewards(objectives, texts)


DOMAIN = Domain(
    name="xyz",
    description="Strings over {x, y, z} (a test plugin).",
    default_model="tiny:gpt2",
    presets={"default": _objectives},
    default_preset="default",
    canonicalize=lambda s: s if s and set(s) <= set(ALPHABET) else None,
    export_formats=("fasta",),
    max_new_tokens=12,
    tokenizer=tokenizer,
    labelled_data=labelled_data,
)
