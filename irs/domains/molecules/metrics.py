"""MOSES distribution metrics for generated SMILES: validity, uniqueness@k, novelty, FCD/Test.

Definitions (as in the MOSES benchmark, Polykovskiy et al. 2020):
- validity: share of generated strings that are valid molecules (`chem.canonicalize`: RDKit parses and
  sanitizes it and it is one connected molecule; MOSES molecules are all single-fragment).
- uniqueness@k: among the valid molecules of the first k samples, the share of distinct canonical SMILES.
- novelty: among the distinct valid molecules, the share whose canonical SMILES is not in the MOSES
  training set. The training SMILES are compared as stored in the file (MOSES canonicalized them with
  an older RDKit; today's RDKit writes a different string for 1 of a 5,000-molecule sample, so the
  effect on novelty is ~1e-4).
- FCD/Test: Fréchet ChemNet Distance between the valid generated molecules and the MOSES test set,
  with `fcd-torch` (ChemNet weights ship inside the package; nothing is downloaded). The reference is
  either MOSES's own precomputed test statistics (`test_stats.npz`, the full 176k test set; default) or a
  seeded subsample of the test SMILES.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np

from irs.domains.molecules.chem import canonicalize

log = logging.getLogger(__name__)


def canonical_list(smiles: Sequence[str]) -> list[str | None]:
    return [canonicalize(s) for s in smiles]


def validity(canon: Sequence[str | None]) -> float:
    if not len(canon):
        raise ValueError("validity of an empty sample is undefined")
    return sum(c is not None for c in canon) / len(canon)


def uniqueness(canon: Sequence[str | None], k: int = 10_000) -> float:
    valid = [c for c in canon[:k] if c is not None]
    return len(set(valid)) / len(valid) if valid else float("nan")


def novelty(canon: Sequence[str | None], train: set[str]) -> float:
    uniq = {c for c in canon if c is not None}
    return sum(c not in train for c in uniq) / len(uniq) if uniq else float("nan")


def moses_test_fcd_stats() -> dict[str, np.ndarray]:
    """MOSES's precomputed ChemNet statistics (mu, sigma) of the full test set, shipped with `molsets`."""
    from irs.domains.molecules.moses import moses_data_dir

    d = np.load(moses_data_dir() / "test_stats.npz", allow_pickle=True)["stats"].item()  # trusted package file
    return {"mu": np.asarray(d["FCD"]["mu"]), "sigma": np.asarray(d["FCD"]["sigma"])}


def fcd(generated: Sequence[str], reference: Sequence[str] | None = None, n_jobs: int = 1) -> float:
    """FCD between valid `generated` SMILES and `reference` SMILES (None: MOSES precomputed test stats)."""
    import torch
    from fcd_torch import FCD

    gen = [s for s in generated if s is not None]
    if len(gen) < 2:
        return float("nan")
    threads = torch.get_num_threads()
    model = FCD(device="cpu", n_jobs=n_jobs, batch_size=512)
    torch.set_num_threads(threads)
    pgen = model.precalc(gen)
    pref = moses_test_fcd_stats() if reference is None else model.precalc(list(reference))
    return float(model.metric(pref, pgen))


def moses_metrics(
    samples: Sequence[str],
    train: set[str] | None = None,
    k: int = 10_000,
    fcd_reference: Sequence[str] | None = None,
    with_fcd: bool = True,
) -> dict:
    """All four metrics for a list of generated strings. `train`: the MOSES train SMILES as a set."""
    if train is None:
        from irs.domains.molecules.moses import moses_train

        train = set(moses_train())
    canon = canonical_list(samples)
    out = {
        "n_samples": len(samples),
        "validity": validity(canon),
        f"uniqueness@{k}": uniqueness(canon, k),
        "novelty": novelty(canon, train),
        "n_valid": sum(c is not None for c in canon),
        "n_unique_valid": len({c for c in canon if c is not None}),
    }
    if with_fcd:
        out["fcd_test"] = fcd([c for c in canon if c is not None], fcd_reference)
    return out
