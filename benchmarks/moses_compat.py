"""Two APIs that molsets 0.3.1 (MOSES's own metric code) needs and today's libraries removed.

Used by the benchmarks only (`benchmarks/molgpt2_quality.py`), never by the library `irs`:
- `rdkit.six.iteritems` (imported by moses/metrics/SA_Score/sascorer.py; rdkit dropped `rdkit.six`);
- `pandas.DataFrame.append` (moses/metrics/utils.py builds its filter list with it; pandas 2 removed it),
  restored as `pd.concat` with the same semantics for the one call it makes;
- and one fix: Frag and Scaf compare fragment/scaffold *count* vectors with scipy's cosine, which under
  today's NumPy multiplies their int64 dot products and overflows on 30,000 samples ("math domain
  error", or a silently wrong value after an overflow warning). The vectors are cast to float64 first.
`get_all_metrics()` and `fraction_valid()` import moses after installing both, so callers need nothing else.
"""

from __future__ import annotations

import sys
import types


def install() -> None:
    if "rdkit.six" not in sys.modules:
        six = types.ModuleType("rdkit.six")
        six.iteritems = lambda d, **kw: iter(d.items(**kw))
        sys.modules["rdkit.six"] = six
        import rdkit

        rdkit.six = six
    import pandas as pd

    if not hasattr(pd.DataFrame, "append"):

        def append(self, other, ignore_index=False, sort=False):
            return pd.concat([self, other], ignore_index=ignore_index, sort=sort)

        pd.DataFrame.append = append


def get_all_metrics(*args, **kwargs):
    """moses.metrics.get_all_metrics (molsets 0.3.1), after install()."""
    install()
    import moses.metrics.metrics as mm
    import numpy as np
    from moses.metrics import get_all_metrics as _get
    from scipy.spatial.distance import cosine

    mm.cos_distance = lambda u, v: cosine(np.asarray(u, dtype=np.float64), np.asarray(v, dtype=np.float64))

    return _get(*args, **kwargs)


def fraction_valid(smiles):
    """moses.metrics.metrics.fraction_valid (MOSES's `valid`: RDKit parses and sanitizes), after install()."""
    install()
    from moses.metrics.metrics import fraction_valid as _valid

    return _valid(smiles)
