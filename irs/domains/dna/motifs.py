"""JASPAR motif scanning (pyjaspar): PWM log-odds best hits on both strands, hit lists for the sequence
view, and the interpretable DNA objectives (best hit of a chosen motif; GC content in a window).

A motif's position weight matrix comes from its JASPAR count matrix (pinned by versioned matrix id, so the
release does not matter): frequencies smoothed with a pseudocount of 1% per base, then
log2(p / 0.25) against a uniform background. A window's score is the sum of the per-position log-odds
(bits); the relative score is (score - min) / (max - min) over all possible words. The minus strand is
scanned with the reverse-complement matrix; a hit's (start, end) is always on the given (plus) strand,
0-based, end exclusive, so `seq[start:end]` is the site (reverse-complemented when strand is "-").
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

if False:  # typing only: pandas is imported where it is used
    import pandas as pd  # noqa: F401

log = logging.getLogger(__name__)

JASPAR_RELEASE = "JASPAR2026"  # the release whose database file pyjaspar ships; ids below are versioned
# Motif name -> JASPAR matrix id (DESIGN.md §3 for K562/HepG2; common lineage factors for the others).
MOTIF_IDS = {
    "GATA1": "MA0035.5",
    "GATA1::TAL1": "MA0140.3",  # K562 (erythroid)
    "HNF4A": "MA0114.5",
    "HNF1A": "MA0046.3",
    "FOXA2": "MA0047.4",
    "CEBPA": "MA0102.5",  # HepG2 (liver)
    "SPI1": "MA0080.7",
    "IRF4": "MA1419.2",
    "EBF1": "MA0154.5",
    "NFKB1": "MA0105.4",  # GM12878 (B cell)
    "POU5F1::SOX2": "MA0142.1",  # hESC
    "CTCF": "MA0139.2",  # ubiquitous insulator
}
CELL_MOTIFS = {
    "K562": ("GATA1", "GATA1::TAL1"),
    "HepG2": ("HNF4A", "HNF1A", "FOXA2", "CEBPA"),
    "GM12878": ("SPI1", "IRF4", "EBF1", "NFKB1"),
    "hESC": ("POU5F1::SOX2",),
}
PSEUDO = 0.01
_CODE = np.full(256, -1, dtype=np.int8)
for _i, _c in enumerate("ACGT"):
    _CODE[ord(_c)] = _i


@dataclass(frozen=True)
class Motif:
    name: str
    matrix_id: str
    pssm: np.ndarray  # [L, 4] log-odds in bits, columns A, C, G, T

    @property
    def length(self) -> int:
        return self.pssm.shape[0]

    @property
    def max_score(self) -> float:
        return float(self.pssm.max(1).sum())

    @property
    def min_score(self) -> float:
        return float(self.pssm.min(1).sum())

    @property
    def consensus(self) -> str:
        return "".join("ACGT"[i] for i in self.pssm.argmax(1))


class MotifHit(NamedTuple):
    name: str
    start: int
    end: int
    strand: str  # "+" or "-"
    score: float  # log-odds, bits


def pssm_from_counts(counts: np.ndarray) -> np.ndarray:
    """[L, 4] counts (A, C, G, T) -> [L, 4] log2-odds against a uniform background."""
    counts = np.asarray(counts, dtype=np.float64)
    if counts.ndim != 2 or counts.shape[1] != 4 or (counts < 0).any():
        raise ValueError(f"counts must be a non-negative [L, 4] matrix, got shape {counts.shape}")
    freq = counts / counts.sum(1, keepdims=True)
    p = (freq + PSEUDO) / (1.0 + 4 * PSEUDO)
    return np.log2(p / 0.25)


_LOCAL = threading.local()


def _jaspar():
    """pyjaspar's database, one per thread: its SQLite connection may only be used by the thread that
    opened it (the app's sessions run in their own threads; motifs themselves are cached process-wide)."""
    db = getattr(_LOCAL, "db", None)
    if db is None:
        import warnings

        from pyjaspar import jaspardb

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            db = _LOCAL.db = jaspardb(release=JASPAR_RELEASE)
    return db


@functools.cache
def get_motif(name: str) -> Motif:
    """A motif by name (a key of MOTIF_IDS) or by JASPAR matrix id (e.g. "MA0139.2")."""
    matrix_id = MOTIF_IDS.get(name, name)
    if not matrix_id.startswith("MA"):
        raise ValueError(f"unknown motif {name!r}; choose from {sorted(MOTIF_IDS)} or give a JASPAR id")
    m = _jaspar().fetch_motif_by_id(matrix_id)
    if m is None:
        raise ValueError(f"JASPAR has no matrix {matrix_id!r} (release {JASPAR_RELEASE})")
    counts = np.array([m.counts[b] for b in "ACGT"], dtype=np.float64).T
    return Motif(name if name in MOTIF_IDS else m.name, matrix_id, pssm_from_counts(counts))


def motif_from_pssm(name: str, pssm: np.ndarray) -> Motif:
    """A motif from an explicit log-odds matrix (tests, user-defined motifs)."""
    pssm = np.asarray(pssm, dtype=np.float64)
    if pssm.ndim != 2 or pssm.shape[1] != 4:
        raise ValueError(f"pssm must be [L, 4], got {pssm.shape}")
    return Motif(name, "custom", pssm)


def _as_motif(m) -> Motif:
    return m if isinstance(m, Motif) else get_motif(m)


def encode(seqs: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Equal-length ACGT sequences -> int8 codes [n, L] and a validity mask [n] (rows with other letters
    or another length are invalid and coded 0)."""
    n = len(seqs)
    L = max((len(s) for s in seqs), default=0)
    out = np.zeros((n, L), dtype=np.int8)
    ok = np.zeros(n, dtype=bool)
    for i, s in enumerate(seqs):
        if not isinstance(s, str) or len(s) != L:
            continue
        c = _CODE[np.frombuffer(s.encode("ascii", "replace"), dtype=np.uint8)]
        if (c >= 0).all():
            out[i], ok[i] = c, True
    return out, ok


def scan(codes: np.ndarray, motif: Motif) -> tuple[np.ndarray, np.ndarray]:
    """Log-odds of every window on both strands: ([n, W] plus, [n, W] minus), W = L - len + 1."""
    n, L = codes.shape
    k = motif.length
    W = L - k + 1
    if W <= 0:
        return np.full((n, 0), -np.inf), np.full((n, 0), -np.inf)
    rc = motif.pssm[::-1, ::-1]
    plus = np.zeros((n, W))
    minus = np.zeros((n, W))
    for j in range(k):
        cols = codes[:, j : j + W]
        plus += motif.pssm[j][cols]
        minus += rc[j][cols]
    return plus, minus


def best_hits(seqs: Sequence[str], motif) -> dict[str, np.ndarray]:
    """Best hit per sequence: {"score" (bits, NaN if invalid), "start", "strand" (+1/-1), "rel"}.
    Sequences of unequal length are scored in groups of equal length."""
    motif = _as_motif(motif)
    n = len(seqs)
    out = {
        "score": np.full(n, np.nan),
        "start": np.full(n, -1),
        "strand": np.zeros(n, np.int8),
        "rel": np.full(n, np.nan),
    }
    by_len: dict[int, list[int]] = {}
    for i, s in enumerate(seqs):
        if isinstance(s, str) and len(s) >= motif.length:
            by_len.setdefault(len(s), []).append(i)
    for idx in by_len.values():
        codes, ok = encode([seqs[i] for i in idx])
        plus, minus = scan(codes, motif)
        both = np.concatenate([plus, minus], axis=1)
        arg = both.argmax(1)
        W = plus.shape[1]
        rows = np.asarray(idx)[ok]
        best = both[np.arange(len(idx)), arg][ok]
        out["score"][rows] = best
        out["start"][rows] = (arg % W)[ok]
        out["strand"][rows] = np.where(arg < W, 1, -1)[ok]
        out["rel"][rows] = (best - motif.min_score) / (motif.max_score - motif.min_score)
    return out


def motif_hits(seq: str, motifs, min_rel: float = 0.85, top: int = 3) -> list[MotifHit]:
    """Hits of `motifs` (names, JASPAR ids or Motif objects) in one sequence, for highlighting.

    Per motif: windows on either strand with relative score >= min_rel, best first, at most `top`
    non-overlapping ones (the best strand/offset wins an overlap). Returned sorted by start. Empty for an
    invalid sequence.
    """
    if not 0.0 <= min_rel <= 1.0:
        raise ValueError(f"min_rel must be in [0, 1], got {min_rel}")
    if top < 1:
        raise ValueError(f"top must be >= 1, got {top}")
    codes, ok = encode([seq])
    if not ok[0]:
        return []
    hits: list[MotifHit] = []
    for m in motifs:
        m = _as_motif(m)
        plus, minus = scan(codes, m)
        if plus.shape[1] == 0:
            continue
        lo, hi = m.min_score, m.max_score
        cands = [(float(s), i, "+") for i, s in enumerate(plus[0])] + [
            (float(s), i, "-") for i, s in enumerate(minus[0])
        ]
        cands = [c for c in cands if (c[0] - lo) / (hi - lo) >= min_rel]
        cands.sort(key=lambda c: (-c[0], c[1], c[2]))
        taken: list[MotifHit] = []
        for s, i, strand in cands:
            if len(taken) >= top:
                break
            if any(i < h.end and h.start < i + m.length for h in taken):
                continue
            taken.append(MotifHit(m.name, i, i + m.length, strand, round(s, 3)))
        hits.extend(taken)
    return sorted(hits, key=lambda h: (h.start, h.name, h.strand))


def cell_motifs(cells: Sequence[str]) -> list[str]:
    """Motif names associated with the given cell types (see CELL_MOTIFS), without repeats."""
    out: list[str] = []
    for c in cells:
        if c not in CELL_MOTIFS:
            raise ValueError(f"unknown cell type {c!r}; choose from {sorted(CELL_MOTIFS)}")
        out += [m for m in CELL_MOTIFS[c] if m not in out]
    return out


def motifs_for_objectives(names: Sequence[str]) -> list[str]:
    """Motifs to highlight for a run's objectives: each activity objective ("k562", "hepg2", ...) brings
    its cell type's motifs, each motif objective ("motif_gata1") its own motif; others bring none."""
    by_cell = {c.lower(): c for c in CELL_MOTIFS}
    by_obj = {objective_name(m): m for m in MOTIF_IDS}
    out: list[str] = []
    for n in names:
        new = list(CELL_MOTIFS[by_cell[n]]) if n in by_cell else [by_obj[n]] if n in by_obj else []
        out += [m for m in new if m not in out]
    return out


def annotate(
    seqs: Sequence[str], cells: Sequence[str] = ("K562", "HepG2", "GM12878"), min_rel: float = 0.85, top: int = 3
) -> list[list[MotifHit]]:
    """motif_hits for each sequence, with the motifs of `cells` (for the candidate table's hit column)."""
    motifs = [get_motif(m) for m in cell_motifs(cells)]
    return [motif_hits(s, motifs, min_rel, top) if isinstance(s, str) else [] for s in seqs]


HIT_COLUMNS = ("row", "motif", "cell", "start", "end", "strand", "score", "rel")


def motif_cells(cells: Sequence[str]) -> dict[str, str]:
    """Motif name -> the (first of the given) cell type it marks, for the motifs of `cells` (CELL_MOTIFS)."""
    out: dict[str, str] = {}
    for c in cells:
        for m in cell_motifs([c]):
            out.setdefault(m, c)
    return out


def scan_hits(
    seqs: Sequence, cells: Sequence[str] = ("K562", "HepG2", "GM12878"), min_rel: float = 0.85, per_motif: int = 3
) -> pd.DataFrame:
    """Marker-motif hits of `cells` (CELL_MOTIFS) in many sequences at once, as one long table.

    Columns HIT_COLUMNS: `row` (position in `seqs`), `motif`, `cell` (the cell type the motif marks),
    `start`, `end` (0-based, end exclusive, plus strand), `strand` ("+"/"-"), `score` (log-odds bits,
    rounded to 3 decimals), `rel` (relative score in [0, 1]). Per sequence and motif: windows with
    relative score >= min_rel, best first, at most `per_motif` non-overlapping ones -- exactly what
    `motif_hits` returns for one sequence, but every motif is scanned over all sequences in one numpy
    pass (2,000 sequences x 11 motifs take well under a second). Invalid sequences (not A/C/G/T, or
    not a string) have no hits. Rows are sorted by row, then score (best first)."""
    import pandas as pd

    if not 0.0 <= min_rel <= 1.0:
        raise ValueError(f"min_rel must be in [0, 1], got {min_rel}")
    if per_motif < 1:
        raise ValueError(f"per_motif must be >= 1, got {per_motif}")
    owner = motif_cells(cells)
    motifs = [get_motif(m) for m in owner]
    by_len: dict[int, list[int]] = {}
    for i, q in enumerate(seqs):
        if isinstance(q, str) and q:
            by_len.setdefault(len(q), []).append(i)
    parts = []
    for idx in by_len.values():
        codes, ok = encode([seqs[i] for i in idx])
        rows_of = np.asarray(idx)
        for m in motifs:
            plus, minus = scan(codes, m)
            W = plus.shape[1]
            if W == 0:
                continue
            lo, hi = m.min_score, m.max_score
            both = np.stack([plus, minus], 1)  # [n, 2, W]
            rel = (both - lo) / (hi - lo)
            r, strand, pos = np.nonzero((rel >= min_rel) & ok[:, None, None])
            if len(r) == 0:
                continue
            sc = both[r, strand, pos]
            # motif_hits' order: best score first, then start, then "+" before "-"
            order = np.lexsort((strand, pos, -sc, r))
            r, strand, pos, sc = r[order], strand[order], pos[order], sc[order]
            keep = np.zeros(len(r), bool)
            taken: list[int] = []
            prev = -1
            for j in range(len(r)):
                if r[j] != prev:
                    prev, taken = r[j], []
                if len(taken) >= per_motif:
                    continue
                p0 = pos[j]
                if any(p0 < t + m.length and t < p0 + m.length for t in taken):
                    continue
                taken.append(p0)
                keep[j] = True
            r, strand, pos, sc = r[keep], strand[keep], pos[keep], sc[keep]
            parts.append(
                pd.DataFrame(
                    {
                        "row": rows_of[r],
                        "motif": m.name,
                        "cell": owner[m.name],
                        "start": pos,
                        "end": pos + m.length,
                        "strand": np.where(strand == 0, "+", "-"),
                        "score": np.round(sc, 3),
                        "rel": np.round((sc - lo) / (hi - lo), 4),
                    }
                )
            )
    if not parts:
        return pd.DataFrame(
            {
                c: pd.Series(dtype=t)
                for c, t in zip(
                    HIT_COLUMNS, ("int64", "object", "object", "int64", "int64", "object", "float64", "float64")
                )
            }
        )
    out = pd.concat(parts, ignore_index=True)
    out[["row", "start", "end"]] = out[["row", "start", "end"]].astype("int64")
    return out.sort_values(["row", "score", "start"], ascending=[True, False, True], kind="stable", ignore_index=True)


def top_hits_text(hits: pd.DataFrame, n_rows: int, top: int = 3) -> list[str]:
    """Per row 0..n_rows-1, the `top` best hits of a scan_hits table as compact text, best first:
    "GATA1 +38-48 (8.1); HNF4A -121-133 (7.3)" (strand, then 1-based inclusive positions, then bits).
    Empty text for a row without hits."""
    out = [""] * n_rows
    if len(hits) == 0:
        return out
    best = hits.sort_values(["row", "score"], ascending=[True, False], kind="stable").groupby("row").head(top)
    for row, g in best.groupby("row", sort=False):
        if 0 <= row < n_rows:
            out[int(row)] = "; ".join(
                f"{m} {s}{a + 1}-{b} ({v:.1f})"
                for m, s, a, b, v in zip(g["motif"], g["strand"], g["start"], g["end"], g["score"])
            )
    return out


def format_hits(hits: Sequence[MotifHit]) -> str:
    """Compact text for a table cell: "GATA1 12-19(+) 9.1; HNF4A 40-49(-) 11.3"."""
    return "; ".join(f"{h.name} {h.start}-{h.end}({h.strand}) {h.score:.1f}" for h in hits)


def objective_name(motif_name: str) -> str:
    """A safe objective name for a motif: "motif_gata1", "motif_gata1_tal1"."""
    return "motif_" + "".join(ch if ch.isalnum() else "_" for ch in motif_name.lower()).replace("__", "_")
