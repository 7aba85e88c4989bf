"""Copy a finished run into assets/demo_runs/ for the workbench's first start, lean enough for git:
weights as fp16 safetensors, no checkpoints (a shipped demo run is finished and never resumed).
--no-weights ships the run without its final model and experts (a text run's 135M-parameter model is too
large for git): the workbench shows and exports its candidates, but cannot re-merge or re-sample it.

    .venv/bin/python scripts/ship_demo.py runs/<RUN_ID> [--dest assets/demo_runs] [--no-weights]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

import torch

from irs.checkpoint import load_tensors, save_tensors
from irs.io import atomic_write_json
from irs.paths import portable
from irs.runs.store import Run

KEEP = ("config.toml", "status.json", "metrics.jsonl", "candidates.parquet")
OPTIONAL = ("calibration.json",)  # the run's reward scale (runs since calibrated normalization)


def portable_model(config: Path) -> None:
    """Write the config's model path relative to the checkout (a shipped run must load from any clone)."""
    import tomllib

    model = tomllib.loads(config.read_text()).get("model") or ""
    rel = portable(model)
    if rel != model:
        text = config.read_text()
        line = f"model = {json.dumps(model)}\n"
        if line not in text:
            raise SystemExit(f"{config}: cannot find the line {line.strip()!r} to rewrite")
        config.write_text(text.replace(line, f"model = {json.dumps(rel)}\n", 1))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run_dir", help="a finished run directory")
    ap.add_argument("--dest", default="assets/demo_runs", help="destination folder (default: assets/demo_runs)")
    ap.add_argument("--no-weights", action="store_true", help="leave out final/ and experts/ (default: ship them)")
    a = ap.parse_args(argv)
    run = Run(a.run_dir)
    if run.read_status().get("state") != "done":
        print(f"run {run.id} is not done", file=sys.stderr)
        return 2
    out = Path(a.dest) / run.id
    tmp = out.with_name(f".{out.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    for name in KEEP:
        shutil.copy2(run.path / name, tmp / name)
    portable_model(tmp / "config.toml")
    for name in OPTIONAL:
        if (run.path / name).is_file():
            shutil.copy2(run.path / name, tmp / name)
    if a.no_weights:
        status = json.loads((tmp / "status.json").read_text())
        status["notes"] = list(status.get("notes") or []) + [
            "shipped without weights (scripts/ship_demo.py --no-weights): candidates only, no re-merge"
        ]
        atomic_write_json(tmp / "status.json", status)
    for sub in () if a.no_weights else ("final", "experts"):
        (tmp / sub).mkdir()
        for f in (run.path / sub).iterdir():
            if f.suffix == ".safetensors":
                half = {k: v.half() if v.is_floating_point() else v for k, v in load_tensors(f).items()}
                save_tensors(half, tmp / sub / f.name)
            else:
                shutil.copy2(f, tmp / sub / f.name)
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)
    size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    print(f"shipped {run.id} to {out} ({size / 1e6:.1f} MB)")
    return 0


if __name__ == "__main__":
    torch.set_num_threads(1)
    sys.exit(main())
