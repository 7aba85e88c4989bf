"""Copy the PMO table into the README and print the figures its text quotes.

Run after `irs bench --suite pmo --report-only`:

    .venv/bin/python scripts/pmo_readme.py [--check]

It replaces the rows between the README's PMO TABLE markers with the table of docs/results/pmo.md,
then prints, from docs/results/pmo.json: the runs finished per seed, each method's sum per seed where
a seed covers all tasks, and the largest gap between two seeds of the same run. `--check` writes
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

ROOT = Path(__file__).resolve().parents[1]
BEGIN, END = "<!-- PMO TABLE -->", "<!-- /PMO TABLE -->"


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
    auc = {(r["task"], r["method"], r["seed"]): r["auc_top10"] for r in rows}
    same_run: dict[tuple[str, str], dict[int, float]] = defaultdict(dict)
    for (task, method, seed), v in auc.items():
        same_run[task, method][seed] = v
    gaps = [
        (abs(a - b), task, method, sa, sb)
        for (task, method), aucs in same_run.items()
        for (sa, a), (sb, b) in itertools.combinations(sorted(aucs.items()), 2)
    ]
    if gaps:
        gap, task, method, sa, sb = max(gaps)
        n = sum(len(aucs) > 1 for aucs in same_run.values())
        lines.append(
            f"largest seed-to-seed gap over {n} repeated runs: {gap:.3f} ({task} {method}, seeds {sa} and {sb})"
        )
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
        tmp = readme_path.with_suffix(".md.tmp")
        tmp.write_text(updated)
        tmp.replace(readme_path)
        print("README.md: PMO table updated")
    return 0


if __name__ == "__main__":
    sys.exit(main())
