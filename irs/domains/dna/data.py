"""The DNA corpus: 47,872 real 200-bp DNase I hypersensitive sites (DHS) shipped in `dnadiffusion`.

Each site is specific to one of four cell types (K562, HepG2, GM12878, hESC; 11,968 each). The split is
by chromosome: val = chr1, test = chr2, train = every other chromosome (39,254 sites). The file's own
`data_label` column names chr1 "test" and chr2 "validation", the reverse of its README; we split on the
`chr` column so that the held-out chromosome for every reported test figure is chr2, as documented.

The package is never imported (its dependencies are not installed); the file is found via
`irs.paths.package_data`. Also here: reverse complement and a dinucleotide-preserving shuffle
(Altschul & Erickson 1985), used for oracle negatives and by the tests.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np

DATA_FILE = "K562_hESCT0_HepG2_GM12878_12k_sequences_per_group.txt"
SEQ_LEN = 200
# Short cell-type names, in the oracle's output order, and the file's per-cell columns.
CELL_TYPES = ("K562", "HepG2", "GM12878", "hESC")
TAG_TO_CELL = {
    "K562_ENCLB843GMH": "K562",
    "HepG2_ENCLB029COU": "HepG2",
    "GM12878_ENCLB441ZZZ": "GM12878",
    "hESCT0_ENCLB449ZZZ": "hESC",
}
SPLIT_CHROMS = {"val": "chr1", "test": "chr2"}
_COMPLEMENT = str.maketrans("ACGT", "TGCA")


def data_path() -> Path:
    from irs.paths import package_data

    return package_data("dnadiffusion", "data", DATA_FILE, install="pip install --no-deps dnadiffusion")


@functools.lru_cache(maxsize=1)
def load_sites():
    """All sites as a DataFrame: dhs_id, chr, sequence, cell (short name), split (train/val/test)."""
    import pandas as pd

    df = pd.read_csv(data_path(), sep="\t", usecols=["dhs_id", "chr", "sequence", "TAG"])
    unknown = set(df["TAG"]) - set(TAG_TO_CELL)
    if unknown:
        raise ValueError(f"unexpected TAG values in {DATA_FILE}: {sorted(unknown)}")
    df["cell"] = df["TAG"].map(TAG_TO_CELL)
    df["split"] = np.where(
        df["chr"] == SPLIT_CHROMS["val"], "val", np.where(df["chr"] == SPLIT_CHROMS["test"], "test", "train")
    )
    df["sequence"] = df["sequence"].str.upper()
    bad = ~df["sequence"].str.fullmatch(f"[ACGT]{{{SEQ_LEN}}}")
    if bad.any():
        raise ValueError(f"{int(bad.sum())} sequences in {DATA_FILE} are not {SEQ_LEN} nt of ACGT")
    return df.drop(columns=["TAG"]).reset_index(drop=True)


def split(part: str):
    """Rows of one split ("train", "val" = chr1, "test" = chr2)."""
    if part not in ("train", "val", "test"):
        raise ValueError(f"split must be 'train', 'val' or 'test', got {part!r}")
    df = load_sites()
    return df[df["split"] == part].reset_index(drop=True)


def sequences(part: str) -> list[str]:
    return split(part)["sequence"].tolist()


def reverse_complement(seq: str) -> str:
    return seq.translate(_COMPLEMENT)[::-1]


def gc_content(seq: str) -> float:
    return (seq.count("G") + seq.count("C")) / len(seq) if seq else float("nan")


def dinucleotide_shuffle(seq: str, rng: np.random.Generator) -> str:
    """A uniformly random sequence with exactly the same dinucleotide counts and first/last letters
    (Altschul & Erickson 1985: random Eulerian path via a random last-edge arborescence)."""
    n = len(seq)
    if n <= 2:
        return seq
    edges: dict[str, list[str]] = {}
    for a, b in zip(seq[:-1], seq[1:]):
        edges.setdefault(a, []).append(b)
    last = seq[-1]
    while True:  # random spanning arborescence towards `last`: each vertex's last exit edge
        last_edge = {}
        ok = True
        for v in edges:
            if v == last:
                continue
            # the last exit of v must lead towards `last`; pick it at random, then check for cycles
            last_edge[v] = edges[v][rng.integers(len(edges[v]))]
        for v in last_edge:
            seen, u = set(), v
            while u != last:
                if u in seen or u not in last_edge:
                    ok = False
                    break
                seen.add(u)
                u = last_edge[u]
            if not ok:
                break
        if ok:
            break
    order: dict[str, list[str]] = {}
    for v, outs in edges.items():
        rest = list(outs)
        if v in last_edge:
            rest.remove(last_edge[v])
        rng.shuffle(rest)
        if v in last_edge:
            rest.append(last_edge[v])
        order[v] = rest
    out, u = [seq[0]], seq[0]
    pos = {v: 0 for v in order}
    for _ in range(n - 1):
        nxt = order[u][pos[u]]
        pos[u] += 1
        out.append(nxt)
        u = nxt
    return "".join(out)


def dinucleotide_counts(seq: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    for i in range(len(seq) - 1):
        d = seq[i : i + 2]
        counts[d] = counts.get(d, 0) + 1
    return counts


def pretrain_corpus(k: int | None = None):
    """(texts, tokenizer) for `irs pretrain --domain dna`: the train split plus the reverse complement of
    every training site (strand augmentation; DHS are unstranded), in a fixed interleaved order."""
    from irs.domains.dna.tokenizer import K, kmer_tokenizer

    train = sequences("train")
    texts = [s for seq in train for s in (seq, reverse_complement(seq))]
    return texts, kmer_tokenizer(K if k is None else k)
