"""Copy the PMO table into the README and print the figures its text quotes.

Run after `irs bench --suite pmo --report-only`:

    .venv/bin/python scripts/pmo_readme.py [--check]

It replaces the rows between the README's PMO TABLE markers with the table of docs/results/pmo.md,
then prints, from docs/results/pmo.json: the runs finished per seed, each method's sum per seed where
a seed covers all tasks, and every gap above 0.021 between two seeds of the same run. `--check` writes
nothing and exits 1 when the README's table differs from the report's.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from collections import defaultdict
from pathlib import Path

from irs.bench.pmo import METHODS, ORDER, seed_sums, seed_sums_line
from irs.io import atomic_write_text

ROOT = Path(__file__).resolve().parents[1]
BEGIN, END = "<!-- PMO TABLE -->", "<!-- /PMO TABLE -->"
GAP = 0.021  # the README calls gaps below this seed-to-seed noise


def table_rows(report: str) -> list[str]:
    rows = [line for line in report.splitlines() if line.startswith("|")]
    if not rows:
        raise SystemExit("docs/results/pmo.md has no table: run `irs bench --suite pmo --report-only` first")
    return rows


def replace_table(readme: str, rows: list[str]) -> str:
    head, sep, rest = readme.partition(BEGIN)
    _, sep2, tail = rest.partition(END)
    if not sep or not sep2:
        raise SystemExit(f"README.md lacks the {BEGIN} ... {END} markers")
    return head + BEGIN + "\n" + "\n".join(rows) + "\n" + END + tail


def seed_figures(results: dict) -> list[str]:
    rows = results["rows"]
    lines = []
    for seed in sorted({r["seed"] for r in rows}):
        runs = [r for r in rows if r["seed"] == seed]
        lines.append(f"seed {seed}: {len(runs)} runs, {len({r['task'] for r in runs})} of {len(ORDER)} tasks")
    by_seed = seed_sums(rows, ORDER, METHODS)
    if by_seed:
        lines.append(seed_sums_line(by_seed))
    same_run: dict[tuple[str, str], dict[int, float]] = defaultdict(dict)
    for r in rows:
        same_run[r["task"], r["method"]][r["seed"]] = r["auc_top10"]
    gaps = sorted(
        (
            (abs(a - b), task, method, sa, sb)
            for (task, method), aucs in same_run.items()
            for (sa, a), (sb, b) in itertools.combinations(sorted(aucs.items()), 2)
        ),
        reverse=True,
    )
    n = sum(len(aucs) > 1 for aucs in same_run.values())
    wide = [g for g in gaps if g[0] > GAP]
    lines.append(f"{n} runs repeated over seeds; {len(wide)} seed-to-seed gaps above {GAP}:")
    lines += [f"  {gap:.3f} {task} {method} (seeds {sa} and {sb})" for gap, task, method, sa, sb in wide]
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if the README is stale")
    args = parser.parse_args()
    readme_path = ROOT / "README.md"
    readme = readme_path.read_text()
    updated = replace_table(readme, table_rows((ROOT / "docs/results/pmo.md").read_text()))
    for line in seed_figures(json.loads((ROOT / "docs/results/pmo.json").read_text())):
        print(line)
    if args.check:
        print("README table is", "current" if updated == readme else "stale")
        return int(updated != readme)
    if updated != readme:
        atomic_write_text(readme_path, updated)
        print("README.md: PMO table updated")
    return 0


if __name__ == "__main__":
    sys.exit(main())
