"""A real browser drives the workbench: Debian chromium (/usr/bin/chromium) through the `playwright` Python
package (never `playwright install`). The app runs as `streamlit run app.py` on a free localhost port with
IRS_RUNS_DIR pointing to a temporary copy of the demo run (the shipped assets/demo_runs/ run, else a
synthetic molecules run from ui.fixture). Checks: no request leaves localhost; a box selection on a
Pareto plot shows the selected molecules; the 3D viewer's canvas renders; the SDF download parses with
RDKit. Screenshots go to .screenshots/ (look at them).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
SHOTS = ROOT / ".screenshots"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--headless",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--enable-unsafe-swiftshader",
]  # software WebGL for the 3D viewer without a GPU


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _demo_run(root: Path) -> tuple[str, str]:
    """Copy the shipped demo run(s) into root (or build synthetic ones); return the run ids to open: a
    molecules run (the main test) and a DNA run (the motif view)."""
    sys.path.insert(0, str(ROOT))
    from ui.fixture import make_dna_run, make_run
    from ui.logic import demo_runs

    # extra runs for the screenshots of the other pages: a live one, a failed one, two seeds of RS
    make_run(root, "live-20240101-000000-0001", n=20, state="running")
    make_run(
        root,
        "broken-20240101-000000-0002",
        n=20,
        state="failed",
        error="RuntimeError: CUDA out of memory at step 3 (example)",
    )
    for seed in (1, 2):
        make_run(root, f"rs-20240101-00000{seed}-0003", n=80, method="rewarded_soups", seed=seed, offset=400 * seed)
    shipped = [p for p in demo_runs() if (p / "candidates.parquet").is_file()]
    for p in shipped:
        shutil.copytree(p, root / p.name)

    def domain_of(p: Path) -> str:
        import tomllib

        return tomllib.loads((p / "config.toml").read_text()).get("domain", "")

    mol = next((p.name for p in shipped if domain_of(p) == "molecules"), None) or make_run(root, n=300).name
    dna = next((p.name for p in shipped if domain_of(p) == "dna"), None) or make_dna_run(root, n=120).name
    return mol, dna


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"{CHROMIUM} not installed (apt-get install chromium)")
    pytest.importorskip("playwright")
    runs = tmp_path_factory.mktemp("runs")
    run_id, dna_run_id = _demo_run(runs)
    port = _free_port()
    env = dict(os.environ, IRS_RUNS_DIR=str(runs), IRS_THREADS="1")
    log = open(runs.parent / "streamlit.log", "w")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "streamlit",
            "run",
            "app.py",
            "--server.port",
            str(port),
            "--server.address",
            "localhost",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://localhost:{port}"
    try:
        deadline = time.time() + 90
        while True:
            try:
                urllib.request.urlopen(f"{url}/_stcore/health", timeout=2)
                break
            except OSError:
                if proc.poll() is not None or time.time() > deadline:
                    raise RuntimeError(
                        f"streamlit did not start: {(runs.parent / 'streamlit.log').read_text()}"
                    ) from None
                time.sleep(0.3)
        yield {"url": url, "run_id": run_id, "dna_run_id": dna_run_id, "runs": runs, "port": port}
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


def _is_local(url: str, port: int) -> bool:
    return url.startswith((f"http://localhost:{port}", f"ws://localhost:{port}", "data:", "blob:", "about:"))


def _box_select_pareto(page) -> None:
    """Drag a box (plotly's select mode) around the Pareto points of the first pairwise plot."""
    x0, y0, x1, y1 = _box_around_pareto(page)
    page.mouse.move(x0, y0)
    page.mouse.down()
    page.mouse.move((x0 + x1) / 2, (y0 + y1) / 2, steps=5)
    page.mouse.move(x1, y1, steps=5)
    page.mouse.up()


def _box_around_pareto(page) -> tuple[float, float, float, float]:
    """Page pixel box around the Pareto points of the first subplot (from plotly's own axis mapping)."""
    return page.evaluate("""() => {
        const gd = document.querySelector('.js-plotly-plot');
        const tr = gd._fullData.find(t => t.name.endsWith('Pareto-optimal') && (t.xaxis || 'x') === 'x');
        const xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis;
        const xs = Array.from(tr.x), ys = Array.from(tr.y);
        const pad = (a) => { const lo = Math.min(...a), hi = Math.max(...a); const d = (hi - lo) * 0.08 + 1e-3;
                             return [lo - d, hi + d]; };
        const [x0, x1] = pad(xs), [y0, y1] = pad(ys);
        const r = gd.getBoundingClientRect();
        const px = v => r.left + xa._offset + xa.l2p(Math.min(Math.max(v, xa.range[0]), xa.range[1]));
        const py = v => r.top + ya._offset + ya.l2p(Math.min(Math.max(v, ya.range[0]), ya.range[1]));
        return [px(x0), py(y1), px(x1), py(y0)];
    }""")


def test_explore_in_browser(app, browser):
    from PIL import Image
    from rdkit import Chem

    SHOTS.mkdir(exist_ok=True)
    page = browser.new_page(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
    external = []
    page.on("request", lambda r: None if _is_local(r.url, app["port"]) else external.append(r.url))
    page.set_default_timeout(60_000)

    # the root URL shows Explore on a default run, its id in the URL (here the newest of the user's runs;
    # with demo runs only, the molecules demo: ui.logic.default_run_id, tested in test_app.py)
    page.goto(app["url"] + "/")
    page.wait_for_function(
        "() => { const gd = document.querySelector('.js-plotly-plot');"
        " return gd && gd._fullData && gd._fullData.length > 0; }"
    )
    page.wait_for_function("() => location.search.includes('run=')")
    # the molecules demo run, by its URL
    page.goto(f"{app['url']}/?run={app['run_id']}")
    page.wait_for_selector(".js-plotly-plot .scatterlayer .trace")
    page.wait_for_function("id => location.search.includes('run=' + id)", arg=app["run_id"])  # id kept in URL
    page.wait_for_timeout(1000)
    page.screenshot(path=str(SHOTS / "explore_start.png"))

    # box-select around the Pareto points of the first pairwise plot
    _box_select_pareto(page)
    n_sel = page.wait_for_function("""() => {
        const h = [...document.querySelectorAll('h3')].map(h => h.innerText.match(/Selection \\((\\d+)\\)/))
                                                         .find(m => m);
        return h && +h[1] > 0 ? +h[1] : null; }""").json_value()
    assert n_sel > 0
    # the focused molecule's SMILES and 2D depictions appear
    page.locator("[data-testid='stSelectbox']", has_text="Focus").first.wait_for()
    page.wait_for_timeout(500)
    page.locator("[data-testid='stCode'] code").first.wait_for()
    codes = [t.strip() for t in page.locator("[data-testid='stCode'] code").all_inner_texts()]
    smiles = [t for t in codes if len(t) > 5 and Chem.MolFromSmiles(t) is not None]
    assert smiles, f"no selected SMILES shown; code blocks: {codes}"
    imgs = page.locator("[data-testid='stImage'] img")
    imgs.first.wait_for()
    assert imgs.count() >= 1

    # the 3D viewer: an iframe whose 3Dmol canvas has drawn something
    frame_el = page.locator("iframe").first
    frame_el.wait_for()
    frame = frame_el.content_frame
    canvas = frame.locator("canvas")
    canvas.wait_for()
    page.wait_for_timeout(1500)
    _scroll_to(frame_el)
    frame_el.screenshot(path=str(SHOTS / "viewer3d.png"))
    img = Image.open(SHOTS / "viewer3d.png").convert("L")
    lo, hi = img.getextrema()
    assert hi - lo > 60, f"3D canvas looks empty (grey levels {lo}..{hi})"
    page.screenshot(path=str(SHOTS / "explore_selection.png"))

    # download the selection as SDF and parse it with RDKit
    _scroll_to(page.get_by_text("Selection (", exact=False).last)
    page.locator("label", has_text=f"Selection ({n_sel})").last.click()
    page.locator("label", has_text="SDF").last.click()
    button = page.get_by_role("button", name="Download")
    _scroll_to(button.last)
    page.wait_for_timeout(500)
    page.screenshot(path=str(SHOTS / "explore_export.png"))
    with page.expect_download(timeout=120_000) as dl:
        page.get_by_role("button", name="as SDF").last.click()
    path = SHOTS / "selection.sdf"
    dl.value.save_as(path)
    mols = [m for m in Chem.SDMolSupplier(str(path), removeHs=False)]
    assert len(mols) >= 1 and all(m is not None for m in mols)
    assert all(m.GetConformer().Is3D() for m in mols)
    assert {"run_id", "pareto", "SMILES"} <= set(mols[0].GetPropNames())

    # the other pages render without errors
    rs = "rs-20240101-000001-0003,rs-20240101-000002-0003"
    for shot, path, wait in (
        ("runs", f"runs?run={app['run_id']}", ".js-plotly-plot"),
        ("runs_live", "runs?run=live-20240101-000000-0001", ".js-plotly-plot"),
        ("runs_failed", "runs?run=broken-20240101-000000-0002", "[data-testid='stAlert']"),
        ("compare", f"compare?runs={app['run_id']},{rs}", ".js-plotly-plot"),
        ("design", "design", "text=Objective preset"),
    ):
        page.goto(f"{app['url']}/{path}")
        page.locator(wait).first.wait_for()
        page.wait_for_timeout(1500)
        assert page.locator("[data-testid='stException']").count() == 0, shot
        page.screenshot(path=str(SHOTS / f"{shot}.png"))
        if shot == "runs_failed":
            assert "out of memory" in " ".join(page.locator("[data-testid='stAlert']").all_inner_texts())
    assert not external, f"requests left localhost: {external[:5]}"


def test_dna_motif_view_in_browser(app, browser):
    """A DNA run: box-select the Pareto points, the focused sequence shows its marker-motif hits as coloured
    spans with a legend, and the candidate table has the top-hits column."""
    SHOTS.mkdir(exist_ok=True)
    page = browser.new_page(viewport={"width": 1400, "height": 1100})
    external = []
    page.on("request", lambda r: None if _is_local(r.url, app["port"]) else external.append(r.url))
    page.set_default_timeout(60_000)
    page.goto(f"{app['url']}/?run={app['dna_run_id']}")
    page.wait_for_function(
        "() => { const gd = document.querySelector('.js-plotly-plot');"
        " return gd && gd._fullData && gd._fullData.length > 0; }"
    )
    page.wait_for_timeout(1000)
    _box_select_pareto(page)
    view = page.locator(".irs-seqview").first
    view.wait_for()
    page.wait_for_timeout(1000)
    assert page.locator("[data-testid='stException']").count() == 0
    page.screenshot(path=str(SHOTS / "dna_explore_selection.png"))
    _scroll_to(view)
    view.screenshot(path=str(SHOTS / "dna_sequence_view.png"))
    seq = "".join(view.locator("pre").inner_text().split()[1::2])
    assert len(seq) == 200 and set(seq) <= set("ACGT")
    spans = view.locator(".irs-hit")
    if spans.count():  # the focused site has hits of the chosen cell types (most sites do)
        bg = spans.first.evaluate("e => getComputedStyle(e).backgroundColor")
        assert bg not in ("rgba(0, 0, 0, 0)", "transparent"), bg
        assert spans.first.get_attribute("data-motif") in view.inner_text()  # named in the legend
    assert (
        "top hits" in page.locator("[data-testid='stDataFrame']").last.inner_text()
        or page.get_by_text("top hits").count() > 0
    )
    assert not external, f"requests left localhost: {external[:5]}"


# ---- the workbench's defects, each in the browser, and the chemist's path ----------------------------
def _new_page(browser, app, **kw):
    page = browser.new_page(viewport={"width": 1400, "height": 1000}, **kw)
    page.set_default_timeout(90_000)
    external = []
    page.on("request", lambda r: None if _is_local(r.url, app["port"]) else external.append(r.url))
    return page, external


def _scroll_to(locator, tries: int = 6) -> None:
    """Scroll an element into view, again if a Streamlit rerun replaced it meanwhile (the locator re-resolves)."""
    from playwright.sync_api import Error as PlaywrightError

    for i in range(tries):
        try:
            locator.scroll_into_view_if_needed(timeout=20_000)
            return
        except PlaywrightError as e:
            if i == tries - 1 or not any(k in str(e) for k in ("not attached", "not visible", "Timeout")):
                raise
            time.sleep(0.5)


def _wait_plot(page) -> None:
    page.wait_for_function(
        "() => { const gd = document.querySelector('.js-plotly-plot');"
        " return gd && gd._fullData && gd._fullData.length > 0; }"
    )


def _n_selected(page) -> int:
    return (
        page.wait_for_function("""() => {
        const h = [...document.querySelectorAll('h3')].map(h => h.innerText.match(/Selection \\((\\d+)\\)/))
                                                         .find(m => m);
        return h ? +h[1] + 1 : null; }""").json_value()
        - 1
    )


def _wait_selected(page, cond: str = "n > 0", timeout: float = 30_000) -> int:
    return (
        page.wait_for_function(
            f"""() => {{
        const h = [...document.querySelectorAll('h3')].map(h => h.innerText.match(/Selection \\((\\d+)\\)/))
                                                         .find(m => m);
        if (!h) return null; const n = +h[1]; return ({cond}) ? n + 1 : null; }}""",
            timeout=timeout,
        ).json_value()
        - 1
    )


def _click_first_pareto_point(page) -> None:
    x, y = page.evaluate("""() => { const gd = document.querySelector('.js-plotly-plot');
        const tr = gd._fullData.find(t => t.name.endsWith('Pareto-optimal') && (t.xaxis || 'x') === 'x');
        const xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis; const r = gd.getBoundingClientRect();
        return [r.left + xa._offset + xa.l2p(tr.x[0]), r.top + ya._offset + ya.l2p(tr.y[0])]; }""")
    page.mouse.click(x, y)


def test_explore_url_opens_without_page_not_found_and_the_first_drag_selects(app, browser):
    """Defect 2: /explore?run=ID showed a "Page not found" modal that swallowed the first box drag."""
    page, external = _new_page(browser, app)
    page.goto(f"{app['url']}/explore?run={app['run_id']}")
    _wait_plot(page)
    dialogs = []
    for _ in range(12):  # the modal used to appear within a second of the first render
        dialogs += page.locator("[role='dialog']").all_inner_texts()
        page.wait_for_timeout(250)
    assert not dialogs, dialogs
    assert page.get_by_role("combobox", name="Run").first.input_value() == app["run_id"]
    _box_select_pareto(page)
    assert _wait_selected(page) > 0
    for path in ("runs", "compare", "design"):  # every page is addressable with the run in the query
        page.goto(f"{app['url']}/{path}?run={app['run_id']}")
        page.locator("h1").first.wait_for()
        page.wait_for_timeout(800)
        assert page.locator("[role='dialog']").count() == 0, path
    assert not external


def test_clicking_one_point_selects_it(app, browser):
    """Defect 3: a click selected nothing (Streamlit sets clickmode 'event' while the drag selects)."""
    page, _ = _new_page(browser, app)
    page.goto(f"{app['url']}/explore?run={app['run_id']}")
    _wait_plot(page)
    page.get_by_role("radio", name="Click points").click()
    page.wait_for_function("() => document.querySelector('.js-plotly-plot')._fullLayout.clickmode === 'event+select'")
    page.wait_for_timeout(500)
    _click_first_pareto_point(page)
    assert _wait_selected(page) == 1
    page.screenshot(path=str(SHOTS / "explore_click.png"))


def test_ticking_a_table_row_leaves_the_table_where_it_was(app, browser):
    """Defect 7: ticking the first row inserted the selection panel above the table and pushed it down."""
    page, _ = _new_page(browser, app)
    page.goto(f"{app['url']}/explore?run={app['run_id']}")
    _wait_plot(page)
    grid = page.locator("[data-testid='stDataFrame']").first
    _scroll_to(grid)
    page.wait_for_timeout(1500)
    before = grid.bounding_box()
    # the first data row's checkbox: left edge of the grid, one header row down
    page.mouse.click(before["x"] + 18, before["y"] + 35 + 62 / 2 + 4)
    assert _wait_selected(page) == 1
    page.wait_for_timeout(2000)  # the 3D view and the 2D depictions have rendered
    after = grid.bounding_box()
    assert abs(after["y"] - before["y"]) < 5, (before, after)


def test_runs_overview_follows_progress_and_new_runs_without_a_refresh(app, browser):
    """Defect 5: the overview stayed at its first render (0 % while the detail said step 12), and a run
    launched elsewhere appeared only after a refresh."""
    import json

    sys.path.insert(0, str(ROOT))
    from irs.io import atomic_write_json
    from ui.fixture import make_run

    rid = "watched-20240102-000000-0007"
    path = make_run(app["runs"], rid, n=20)

    def status(step: int) -> None:
        st_ = json.loads((path / "status.json").read_text())
        now = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())
        st_.update(
            state="running",
            phase="training",
            step=step,
            total_steps=40,
            pid=os.getpid(),
            host=socket.gethostname(),
            heartbeat=now,
            updated=now,
            finished=None,
        )
        atomic_write_json(path / "status.json", st_)

    status(12)
    page, _ = _new_page(browser, app)
    page.goto(f"{app['url']}/runs?run={rid}")
    overview = page.locator("[data-testid='stDataFrame']").first
    overview.wait_for()
    page.wait_for_function("() => document.body.innerText.includes('step 12 of 40')")
    status(20)
    new = make_run(app["runs"], "elsewhere-20240103-000000-0008", n=10).name
    # the overview is a canvas grid: read its cells through the glide grid's accessible table
    page.wait_for_function(
        't => [...document.querySelectorAll(\'[data-testid="stDataFrame"] [role="gridcell"]\')]'
        ".some(c => c.innerText.includes(t))",
        arg="20 / 40",
        timeout=20_000,
    )
    page.wait_for_function(
        't => [...document.querySelectorAll(\'[data-testid="stDataFrame"] [role="gridcell"]\')]'
        ".some(c => c.innerText.includes(t))",
        arg=new,
        timeout=20_000,
    )
    page.screenshot(path=str(SHOTS / "runs_overview_live.png"))
    shutil.rmtree(path)
    shutil.rmtree(app["runs"] / new)


def test_chemist_path_launch_watch_open_click_select_filter_export(app, browser, tmp_path):
    """Design → launch a small drug-likeness run → watch it on Runs → "Explore candidates" opens *that*
    run → click one point → box-select → substructure filter → export the Pareto set as SDF → the file
    holds, once each, the filtered run's Pareto set computed by the library from its candidate table."""
    from rdkit import Chem

    sys.path.insert(0, str(ROOT))
    from irs.candidates import pareto_front
    from irs.domains.molecules.properties import query_mask

    page, external = _new_page(browser, app, accept_downloads=True)
    page.set_default_timeout(180_000)
    page.goto(f"{app['url']}/design")
    page.get_by_text("Objective preset").first.wait_for()
    page.get_by_role("combobox", name="Objective preset").click()
    page.get_by_role("option", name="druglike").click()
    page.get_by_text("qed · maximize").first.wait_for()
    for label, value in (("T · total steps", "2"), ("batch size", "8")):
        box = page.get_by_role("spinbutton", name=label)
        box.fill(value)
        box.press("Enter")
        page.wait_for_timeout(600)
    page.get_by_text("Advanced settings").click()
    box = page.get_by_role("spinbutton", name="K · final candidates")
    box.fill("48")
    box.press("Enter")
    page.wait_for_timeout(800)
    page.get_by_role("button", name="Launch run").click()
    page.wait_for_url("**/runs?run=*")
    run_id = page.url.split("run=")[1].split("&")[0]
    page.screenshot(path=str(SHOTS / "chemist_runs_live.png"))
    # the live view reruns the page when the run is done, which brings the button
    page.get_by_role("button", name="Explore candidates").wait_for(timeout=300_000)
    page.screenshot(path=str(SHOTS / "chemist_runs_done.png"))
    page.get_by_role("button", name="Explore candidates").click()
    page.wait_for_url(f"**/explore?run={run_id}")
    _wait_plot(page)
    assert page.get_by_role("combobox", name="Run").first.input_value() == run_id  # defect 1: that run

    page.get_by_role("radio", name="Click points").click()
    page.wait_for_function("() => document.querySelector('.js-plotly-plot')._fullLayout.clickmode === 'event+select'")
    page.wait_for_timeout(500)
    _click_first_pareto_point(page)
    assert _wait_selected(page) == 1
    page.get_by_role("radio", name="Box select").click()
    page.wait_for_function("() => document.querySelector('.js-plotly-plot')._fullLayout.dragmode === 'select'")
    page.wait_for_timeout(500)
    _box_select_pareto(page)
    assert _wait_selected(page) >= 1

    # re-merge: a second candidate set, so the exported Pareto set must be one front over both sets
    page.get_by_role("spinbutton", name="Samples").last.fill("64")
    page.get_by_role("spinbutton", name="Samples").last.press("Enter")
    page.wait_for_timeout(800)
    page.get_by_role("button", name="Re-merge and sample").click()
    page.get_by_text("Added set").wait_for(timeout=180_000)
    _wait_plot(page)

    page.get_by_text("Structure and property filters").click()
    sub = page.get_by_role("textbox", name="Substructure (SMARTS or SMILES)")
    sub.fill("c1ccccc1")
    sub.press("Enter")
    page.get_by_text("Filtered: contains c1ccccc1").wait_for()
    page.locator("label", has_text="Pareto set").last.click()
    page.locator("label", has_text="SDF").last.click()
    page.wait_for_timeout(1000)
    _scroll_to(page.get_by_role("button", name="as SDF").last)
    page.screenshot(path=str(SHOTS / "chemist_export.png"))
    with page.expect_download(timeout=120_000) as dl:
        page.get_by_role("button", name="as SDF").last.click()
    path = tmp_path / "pareto.sdf"
    dl.value.save_as(path)
    got = [m.GetProp("SMILES") for m in Chem.SDMolSupplier(str(path)) if m is not None]

    from ui.logic import load_table

    df = load_table(app["runs"] / run_id)
    assert len(set(df["set"])) == 2  # final and the re-merge
    keep = query_mask(df["canonical"].where(df["valid"], None).tolist(), "c1ccccc1")
    want = df.loc[pareto_front(df[keep]), "canonical"].tolist()
    assert len(got) == len(set(got)) and sorted(got) == sorted(want) and want
    assert not external
    # defect 9: SDF builds and re-merges no longer fill the log with "missing ScriptRunContext"
    assert "missing ScriptRunContext" not in (app["runs"].parent / "streamlit.log").read_text()


def test_markdown_in_the_url_renders_as_text(app, browser):
    """A run id from the URL with Markdown in it is shown as written: no link, no image, no request."""
    import urllib.parse

    evil = "**x** [Session expired, log in](http://evil.example/) ![i](http://evil.example/i.png) :red[alarm]"
    page, external = _new_page(browser, app)
    page.goto(f"{app['url']}/explore?run={urllib.parse.quote(evil)}")
    _wait_plot(page)
    page.get_by_text("is not listed here").first.wait_for()
    caption = page.get_by_text("is not listed here").first.inner_text().replace("\u200b", "")
    assert "**x** [Session expired, log in](http://evil.example/)" in caption and ":red[alarm]" in caption
    assert page.locator("a[href*='evil.example'], img[src*='evil.example']").count() == 0
    assert not external


def test_chemistry_views_render_and_parallel_coordinates_select(app, browser):
    """The molecules views a chemist reads (screenshots in .screenshots/): structure and property filters,
    the scaffold view, the run diagnostics, and parallel coordinates, where a box over one axis selects."""
    page, external = _new_page(browser, app)
    page.goto(f"{app['url']}/explore?run={app['run_id']}")
    _wait_plot(page)
    page.get_by_role("radio", name="Parallel coordinates").click()
    page.wait_for_function(
        "() => { const gd = document.querySelector('.js-plotly-plot');"
        " return gd && gd._fullData.some(t => t.mode === 'lines'); }"
    )
    page.wait_for_timeout(1000)
    x0, y0, x1, y1 = page.evaluate("""() => { const gd = document.querySelector('.js-plotly-plot');
        const xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis; const r = gd.getBoundingClientRect();
        const px = v => r.left + xa._offset + xa.l2p(v), py = v => r.top + ya._offset + ya.l2p(v);
        return [px(-0.15), py(1.02), px(0.15), py(0.6)]; }""")
    page.mouse.move(x0, y0)
    page.mouse.down()
    page.mouse.move((x0 + x1) / 2, (y0 + y1) / 2, steps=5)
    page.mouse.move(x1, y1, steps=5)
    page.mouse.up()
    assert _wait_selected(page) > 0
    _scroll_to(page.locator(".js-plotly-plot").first)
    page.screenshot(path=str(SHOTS / "explore_parallel.png"))
    page.get_by_text("Structure and property filters").click()
    page.get_by_role("textbox", name="Substructure (SMARTS or SMILES)").wait_for()
    _scroll_to(page.get_by_text("Structure and property filters"))
    page.screenshot(path=str(SHOTS / "explore_filters.png"))
    header = (
        't => [...document.querySelectorAll(\'[data-testid="stDataFrame"] [role="columnheader"]\')]'
        ".some(h => h.innerText.includes(t))"
    )
    for toggle, shot, col in (
        ("Scaffolds (Bemis-Murcko)", "explore_scaffolds", "scaffold"),
        ("Run diagnostics", "explore_diagnostics", "IntDiv"),
    ):
        page.get_by_text(toggle).first.click()
        page.wait_for_function(header, arg=col, timeout=120_000)
        page.wait_for_timeout(1500)
        _scroll_to(page.get_by_text(toggle).first)
        page.mouse.wheel(0, 350)
        page.wait_for_timeout(800)
        page.screenshot(path=str(SHOTS / f"{shot}.png"))
    assert page.locator("[data-testid='stException']").count() == 0
    assert not external
