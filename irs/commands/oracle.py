"""`irs oracle calibrate | ranges | score`: rebuild the QM9 oracle's calibration and normalization ranges
(assets/molecules/oracle_calibration.json, norm_stats.json), or score SMILES (irs.domains.molecules.oracle)."""

from __future__ import annotations

import json


def add_parser(sub):
    from irs.domains.molecules.oracle import DEFAULT_N_CONF, DEFAULT_N_XTB, DEFAULT_SEED

    p = sub.add_parser(
        "oracle",
        help="rebuild the QM9 oracle's calibration and ranges, or score SMILES",
        description="Rebuild the QM9 oracle calibration and normalization ranges, or score SMILES.",
    )
    s2 = p.add_subparsers(dest="oracle_cmd", required=True, metavar="ACTION")
    c = s2.add_parser("calibrate", help="fit on QM9 training molecules; write assets/molecules/*.json")
    c.add_argument("--n-cal", type=int, default=3000, help="QM9 training molecules to fit on (default: 3000)")
    c.add_argument("--n-moses", type=int, default=1000, help="MOSES test molecules for the ranges (default: 1000)")
    c.add_argument(
        "--n-conf", type=int, default=DEFAULT_N_CONF, help=f"conformers per molecule (default: {DEFAULT_N_CONF})"
    )
    c.add_argument(
        "--n-xtb",
        type=int,
        default=DEFAULT_N_XTB,
        help=f"lowest-MMFF conformers that get GFN2-xTB (default: {DEFAULT_N_XTB})",
    )
    c.add_argument("--seed", type=int, default=DEFAULT_SEED, help="sampling and embedding seed (default: 0)")
    c.add_argument("--workers", type=int, default=None, help="worker processes (default: IRS_THREADS, else every core)")
    r = s2.add_parser("ranges", help="only remeasure the MOSES normalization ranges with the shipped calibration")
    r.add_argument("--n-moses", type=int, default=1000, help="MOSES test molecules (default: 1000)")
    r.add_argument("--seed", type=int, default=DEFAULT_SEED, help="MOSES sample seed (default: 0)")
    r.add_argument("--workers", type=int, default=None, help="worker processes (default: IRS_THREADS, else every core)")
    s = s2.add_parser("score", help="score SMILES given as arguments and print alpha, gap, u0")
    s.add_argument("smiles", nargs="+", help="SMILES strings (required)")
    p.set_defaults(func=run)
    return p


def run(args) -> int:
    from irs.domains.molecules.oracle import Calibration, QM9Oracle, calibrate, measure_ranges

    if args.oracle_cmd == "calibrate":
        for name in ("n_cal", "n_moses", "n_conf", "n_xtb"):
            if getattr(args, name) < 1:
                raise ValueError(f"--{name.replace('_', '-')} must be >= 1")
        res = calibrate(args.n_cal, args.n_moses, args.n_conf, args.seed, args.workers, args.n_xtb)
        summary = {
            "fit_agreement_train_sample": res["calibration"]["fit_agreement_train_sample"],
            "ranges": res["norm_stats"]["ranges"],
        }
        print(json.dumps(summary, indent=1))
        return 0
    if args.oracle_cmd == "ranges":
        if args.n_moses < 1:
            raise ValueError("--n-moses must be >= 1")
        stats = measure_ranges(Calibration.load(), args.n_moses, args.seed, args.workers)
        print(json.dumps({"ranges": stats["ranges"]}, indent=1))
        return 0
    res = QM9Oracle().score(args.smiles)
    for k, smi in enumerate(args.smiles):
        print(f"{smi}\talpha={res['alpha'][k]:.3f}\tgap={res['gap'][k]:.4f}\tu0={res['u0'][k]:.4f}\t{res['status'][k]}")
    return 0
