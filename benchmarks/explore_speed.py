"""Explore-page speed with 10,000 candidates, measured in a real browser (Debian chromium via playwright).

    .venv/bin/python benchmarks/explore_speed.py [--n 10000] [--reps 5] [--keep DIR] [--cpu-load]

1. Builds a finished molecules/druglike run with N candidates (ui.fixture: MOSES test molecules scored by
   irs.candidates; --keep DIR reuses/keeps it, since scoring 10k molecules takes a while).
2. Starts `streamlit run app.py` on a free localhost port with IRS_RUNS_DIR pointing at it.
0. Fresh start: the new server's first request (/explore?run=ID in a new browser) -> plot rendered
   (target <= 5 s), and -> the candidate table with structure images and property columns drawn.
3. Opens /?run=ID (the root forwards to Explore) 2 x REPS times after one warm-up, alternating a fresh
   browser context (cold: Streamlit's and plotly's JS fetched and compiled again) and one shared context
   (warm: a browser that has opened the app before), and times request -> the pairwise plot rendered
   (plotly has drawn every trace: `_fullData` set and the WebGL canvas present). Target: <= 2 s. Also
   request -> the table's property columns drawn.
4. Box-selects the first plot's Pareto points and times mouse-up -> the 3D viewer's canvas drawn for the
   new selection; then changes the focused molecule and times that too. Target: <= 1 s.
Also prints the server-side cost of building the figure (irs.plots.pareto_scatter) and its JSON size.
This is a benchmark, not a test: it prints numbers and exits 0.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--headless",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--enable-unsafe-swiftshader",
]


def run_id(n: int) -> str:
    return f"bench-explore-{n}-20250101-000000-0000"


# the table's structure-image column: drawn in the same pass as its property columns (which the grid
# virtualizes off screen); the image cells hold the depictions
TABLE_DRAWN = """() => [...document.querySelectorAll('[data-testid="stDataFrame"] [role="columnheader"]')]
    .some(h => h.innerText.includes('structure'))"""
PLOT_DRAWN = """() => { const gd = document.querySelector('.js-plotly-plot');
    return !!(gd && gd._fullData && gd._fullData.length && gd.querySelector('.gl-container canvas, .scatterlayer .trace')); }"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def build_run(root: Path, n: int) -> None:
    from ui.fixture import make_run

    if (root / run_id(n) / "candidates.parquet").is_file():
        return
    t0 = time.perf_counter()
    make_run(root, run_id(n), n=n)
    print(f"built a {n}-candidate run in {time.perf_counter() - t0:.1f} s")


def server_side(root: Path, n: int) -> None:
    import plotly.io as pio

    from irs.candidates import objective_names
    from irs.plots import pareto_scatter
    from ui.logic import load_table, top_k_ids, weighted_score

    df = load_table(root / run_id(n))
    names = objective_names(df)
    t0 = time.perf_counter()
    score = weighted_score(df, names, [1.0] * len(names))
    top = top_k_ids(df, score, 10)
    fig = pareto_scatter(df[df["valid"] & ~df["duplicate"]], names, top=top)
    t1 = time.perf_counter()
    js = pio.to_json(fig, validate=False)
    t2 = time.perf_counter()
    print(
        f"server: score+top k+figure {1000 * (t1 - t0):.0f} ms, to_json {1000 * (t2 - t1):.0f} ms, "
        f"{len(js) / 1e6:.2f} MB, traces {[t.type for t in fig.data][:1]} x {len(fig.data)}"
    )


def box_around_pareto(page):
    return page.evaluate("""() => {
        const gd = document.querySelector('.js-plotly-plot');
        const tr = gd._fullData.find(t => t.name.endsWith('Pareto-optimal') && (t.xaxis || 'x') === 'x');
        const xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis;
        const pad = (a) => { const lo = Math.min(...a), hi = Math.max(...a); const d = (hi - lo) * 0.05 + 1e-3;
                             return [lo - d, hi + d]; };
        const [x0, x1] = pad(Array.from(tr.x)), [y0, y1] = pad(Array.from(tr.y));
        const r = gd.getBoundingClientRect();
        const px = v => r.left + xa._offset + xa.l2p(Math.min(Math.max(v, xa.range[0]), xa.range[1]));
        const py = v => r.top + ya._offset + ya.l2p(Math.min(Math.max(v, ya.range[0]), ya.range[1]));
        return [px(x0), py(y1), px(x1), py(y0)];
    }""")


def viewer_ready(page, marker: str | None, timeout_ms: int = 30_000) -> None:
    """Wait until the 3D iframe shows a canvas and its document differs from `marker`."""
    page.wait_for_function(
        """(marker) => { const f = document.querySelector('iframe');
        if (!f || !f.contentDocument) return false;
        const doc = f.contentDocument; const c = doc.querySelector('canvas');
        const key = (f.srcdoc || '').length + ':' + (f.srcdoc || '').slice(-400);
        return !!c && c.width > 0 && key !== marker; }""",
        arg=marker,
        timeout=timeout_ms,
    )


def viewer_marker(page) -> str | None:
    return page.evaluate("""() => { const f = document.querySelector('iframe');
        return f ? (f.srcdoc || '').length + ':' + (f.srcdoc || '').slice(-400) : null; }""")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=10_000, help="candidates in the run (default 10000)")
    ap.add_argument("--reps", type=int, default=5, help="timed page loads of each kind, cold and warm (default 5)")
    ap.add_argument("--keep", default=None, help="runs folder to build into and reuse (default: a temp dir)")
    ap.add_argument("--cpu-load", action="store_true", help="also print the machine's load average")
    args = ap.parse_args(argv)
    from playwright.sync_api import sync_playwright

    tmp = None
    if args.keep:
        root = Path(args.keep).resolve()
        root.mkdir(parents=True, exist_ok=True)
    else:
        tmp = tempfile.TemporaryDirectory(prefix="irs-bench-")
        root = Path(tmp.name)
    build_run(root, args.n)
    server_side(root, args.n)
    port = _free_port()
    env = dict(os.environ, IRS_RUNS_DIR=str(root))
    t_start = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    url = f"http://localhost:{port}"
    try:
        for _ in range(300):
            try:
                urllib.request.urlopen(f"{url}/_stcore/health", timeout=2)
                break
            except OSError:
                time.sleep(0.3)
        t_ready = time.perf_counter() - t_start
        with sync_playwright() as p:
            b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            # fresh start: a new server's first page (imports, demo install, first script run) in a new browser
            first = b.new_context(viewport={"width": 1400, "height": 1000}).new_page()
            t0 = time.perf_counter()
            first.goto(f"{url}/explore?run={run_id(args.n)}")
            first.wait_for_function(PLOT_DRAWN, timeout=180_000)
            fresh = time.perf_counter() - t0
            print(
                f"fresh start: server process -> healthy {t_ready:.2f} s; first request -> plot {fresh:.2f} s "
                f"(target <= 5 s)"
            )
            # the candidate table with structure images and property columns (descriptors of its rows)
            t0 = time.perf_counter()
            first.wait_for_function(TABLE_DRAWN, timeout=180_000)
            table_first = fresh + time.perf_counter() - t0
            print(f"first request -> table with property columns {table_first:.2f} s")
            first.context.close()
            loads, tables = {"cold": [], "warm": []}, []
            warm_ctx = b.new_context(viewport={"width": 1400, "height": 1000})
            page = None
            for rep in range(2 * args.reps + 1):
                # cold: a fresh browser context (empty HTTP cache); warm: one shared context, like a user's
                # browser that has loaded the app before (Streamlit's and plotly's JS come from its cache)
                kind = "cold" if rep % 2 == 0 else "warm"
                ctx = b.new_context(viewport={"width": 1400, "height": 1000}) if kind == "cold" else warm_ctx
                page = ctx.new_page()
                t0 = time.perf_counter()
                page.goto(f"{url}/?run={run_id(args.n)}")  # Explore is the default page: its URL is /
                page.wait_for_selector("h1", timeout=120_000)
                shell = time.perf_counter() - t0
                page.wait_for_function(PLOT_DRAWN, timeout=120_000)
                dt = time.perf_counter() - t0
                page.wait_for_function(TABLE_DRAWN, timeout=120_000)
                tables.append(time.perf_counter() - t0)
                label = "warm-up" if rep == 0 else f"{kind} load"
                print(f"{label}: request -> page title {shell:.2f} s, -> plot rendered {dt:.2f} s")
                if rep:
                    loads[kind].append(dt)
                if rep < 2 * args.reps:
                    page.close()
                    if kind == "cold":
                        ctx.close()
            # selection -> 3D view, on the last page, once it has finished loading
            page.get_by_role("button", name="Download").first.wait_for(timeout=120_000)
            page.wait_for_timeout(1000)
            x0, y0, x1, y1 = box_around_pareto(page)
            page.mouse.move(x0, y0)
            page.mouse.down()
            page.mouse.move(x1, y1, steps=4)
            t0 = time.perf_counter()
            page.mouse.up()
            viewer_ready(page, None, 60_000)
            sel_dt = time.perf_counter() - t0
            n_sel = page.evaluate("""() => ([...document.querySelectorAll('h3')].map(h => h.innerText)
                                      .find(t => t.startsWith('Selection')) || '')""")
            print(f"box selection ({n_sel}) -> 3D view drawn: {sel_dt:.2f} s")
            focus = []
            opts = page.locator("[data-testid='stSelectbox']", has_text="Focus").first
            for k in range(3):
                marker = viewer_marker(page)
                opts.click()
                page.get_by_role("option").nth(k + 1).click()
                t0 = time.perf_counter()
                viewer_ready(page, marker, 30_000)
                focus.append(time.perf_counter() - t0)
            print("focus change -> 3D view redrawn: " + ", ".join(f"{x:.2f} s" for x in focus))
            errors = page.locator("[data-testid='stException']").count()
            print(f"exceptions shown on the page: {errors}")  # a figure of a broken page is no figure
            b.close()
        if args.cpu_load:
            print(f"load average (1, 5, 15 min): {os.getloadavg()} on {os.cpu_count()} CPUs")
        med = {k: statistics.median(v) for k, v in loads.items()}
        print(
            f"SUMMARY n={args.n}: fresh start -> first plot {fresh:.2f} s (target <= 5 s); request -> plot "
            f"median {med['warm']:.2f} s with a warm browser cache, {med['cold']:.2f} s cold (target <= 2 s); "
            f"request -> table with property columns median {statistics.median(tables[1:] or tables):.2f} s "
            f"(first {table_first:.2f} s); selection -> 3D {sel_dt:.2f} s, "
            f"focus -> 3D median {statistics.median(focus):.2f} s (target <= 1 s)"
        )
    finally:
        proc.terminate()
        proc.wait(10)
        if tmp is not None:
            tmp.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
