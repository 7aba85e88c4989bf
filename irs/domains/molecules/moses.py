"""MOSES SMILES corpora (train 1.58M / test 176k), read from the `molsets` package's data files.

The `moses` package itself is never imported (its dependency pomegranate does not build); we only
locate its directory with importlib and read `moses/dataset/data/{train,test}.csv.gz` with pandas.
"""

from __future__ import annotations

import functools
from pathlib import Path

SPLITS = ("train", "test", "test_scaffolds")


def moses_data_dir() -> Path:
    from irs.paths import package_data

    return package_data("moses", "dataset", "data", install="pip install --no-deps molsets==0.3.1")


@functools.lru_cache(maxsize=4)
def _load(split: str) -> tuple[str, ...]:
    import pandas as pd

    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    df = pd.read_csv(moses_data_dir() / f"{split}.csv.gz", usecols=["SMILES"])
    return tuple(df["SMILES"].astype(str))


def moses_smiles(split: str = "train") -> list[str]:
    """All SMILES of one MOSES split, in file order."""
    return list(_load(split))


def moses_train() -> list[str]:
    return moses_smiles("train")


def moses_test() -> list[str]:
    return moses_smiles("test")
