"""Wall time of one full run, as a scientist launches it, with the stages read from the run's log.

    .venv/bin/python benchmarks/run_time.py [examples/molecules-qm9.toml] [--out docs/results/run_time.json]

Runs `irs run CONFIG` (a background worker, waited for) in a temporary run store with an empty
calibration cache, so the figure is a first run on a fresh machine: start-up and the bf16 probe, the
starting model's calibration (512 samples scored by the proxies and the oracle; cached for later runs
of the same model), the T training steps, and the K final candidates sampled and oracle-scored. The
issue "Speed close to the machine's limit" asks for ≤ 10 minutes on 2 cores for examples/molecules-qm9.toml.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

STAMP = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) ")
# (stage, the log line that ends it)
MARKS = (
    ("start-up and bf16 probe", "rl.bf16 ="),
    ("calibration (512 samples, proxies and oracle)", "calibrated normalization on"),
    ("training", "checkpoint at step {T}"),
    ("final samples and oracle scoring", "scored "),
    ("writing results", ": done"),
)


def stages(log_text: str, total_steps: int, t_start: float) -> dict[str, float]:
    """Seconds per stage from the worker's log (a stage absent from the log is left out)."""
    out, prev = {}, t_start
    lines = log_text.splitlines()
    for name, mark in MARKS:
        mark = mark.format(T=total_steps)
        hit = next((ln for ln in lines if mark in ln and STAMP.match(ln)), None)
        if hit is None:
            continue
        t = dt.datetime.strptime(STAMP.match(hit).group(1), "%Y-%m-%d %H:%M:%S,%f").timestamp()
        out[name] = round(t - prev, 1)
        prev = t
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("config", nargs="?", default="examples/molecules-qm9.toml")
    ap.add_argument("--out", default=str(ROOT / "docs/results/run_time.json"))
    args = ap.parse_args(argv)
    from irs.config import RunConfig
    from irs.io import atomic_write_json

    cfg = RunConfig.load(args.config)
    with tempfile.TemporaryDirectory(prefix="irs-run-time-") as tmp:
        env = dict(os.environ, IRS_CACHE_DIR=str(Path(tmp) / "cache"))
        load = os.getloadavg()
        t0 = time.time()
        proc = subprocess.run(
            [sys.executable, "-m", "irs.cli", "run", args.config, "--runs-dir", str(Path(tmp) / "runs")],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
        )
        wall = time.time() - t0
        if proc.returncode != 0:
            print(proc.stdout[-2000:], proc.stderr[-2000:], file=sys.stderr)
            return proc.returncode
        log_text = next((Path(tmp) / "runs").glob("*/log.txt")).read_text()
    parts = stages(log_text, cfg.merge.total_steps, t0)
    out = {
        "command": "python benchmarks/run_time.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "config": args.config,
        "cores": len(os.sched_getaffinity(0)),
        "irs_threads": os.environ.get("IRS_THREADS", ""),
        "loadavg_before": [round(x, 2) for x in load],
        "loadavg_after": [round(x, 2) for x in os.getloadavg()],
        "bf16_choice": next((ln.split("INFO __main__: ")[-1] for ln in log_text.splitlines() if "rl.bf16 =" in ln), ""),
        "wall_s": round(wall, 1),
        "stages_s": parts,
        "meets_target_600s": wall <= 600,
    }
    atomic_write_json(args.out, out)
    print(f"{args.config}: {wall:.0f} s wall on {out['cores']} cores (load before {load[0]:.1f})")
    for k, v in parts.items():
        print(f"  {k:48s} {v:7.1f} s")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
