"""Fault injection: bad configs, kills, corruptions, special output paths and Markdown/HTML probes.

    .venv/bin/python benchmarks/reliability.py [--kills 10] [--dist-kills 2] [--seed 0] [--no-browser]
                                               [--out docs/results/reliability.json]

1. Configs: every field of a valid tiny config, top level and per section, is given each of a list of
   wrong values (wrong types, fractions for counts, negatives, inf, nan, huge sizes, booleans, lists), plus
   whole-file faults (empty, not TOML, unknown keys). `irs run` reads configs with irs.runs.load_config
   first, before any folder exists; each case is: refused cleanly (ValueError naming the field), accepted
   (the value is legal for that field, e.g. 0 = "all" for merge.subset_size), refused without naming the
   field, or crashed (any other exception). The runs folder must stay empty throughout.
2. Kills: toy runs (T = 6, m = 2, K = 64) spawned as detached workers and SIGKILLed at random points
   (a random step plus a random delay: building, training, checkpointing, saving, sampling, scoring),
   once or twice each, resumed until done, then compared with an uninterrupted run of the same config:
   final/, experts/ and candidates.parquet bit-identical. The same with nproc = 3 (torchrun, gloo).
3. Corruptions of a finished run's files (flipped bytes, truncation, garbage JSON, missing keys or columns),
   each read the way a user reaches it (`irs sample`, `irs export`, `irs status`, resume): detected = a
   clear error (exit 2) or a resume that notes the damage and falls back to a good checkpoint.
4. Special --out targets of `irs export`: a character device, a FIFO, a symlink, a directory, a missing
   folder: refused (exit 2) with the target unchanged.
5. Markdown/HTML probes in /explore?run=... opened in headless chromium (skipped without /usr/bin/chromium):
   rendered as text = the probe's text is on the page, no link, image or emphasis came from it, and no
   request left localhost.
Prints a table and writes the JSON. A benchmark, not a test: it exits 0 and reports what it found.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import math
import os
import random
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("IRS_THREADS", "1")
os.environ.setdefault("IRS_BF16", "off")
os.environ.setdefault("IRS_MAX_RUNS", "8")

BASE = {
    "name": "rel",
    "domain": "toy",
    "model": "tiny:gpt2",
    "seed": 0,
    "n_final_samples": 64,
    "objectives": [
        {"name": "frac_a", "weight": 0.5},
        {"name": "frac_b", "weight": 0.25},
        {"name": "length", "weight": 0.25},
    ],
    "rl": {"algo": "ppo", "batch_size": 8, "ppo_epochs": 1, "lr": 1e-3, "bf16": "off"},
    "merge": {"total_steps": 6, "merge_every": 2},
}
BAD_VALUES = ["x", 2.5, -1, 0, 1e12, math.inf, math.nan, True, [1, "a"], {"a": 1}, ""]


def _toml(d: dict) -> str:
    import tomli_w

    return tomli_w.dumps(d)


def _cli(argv: list[str]) -> tuple[int, str]:
    from irs.cli import main

    err, out = io.StringIO(), io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
        try:
            rc = main(argv)
        except SystemExit as e:
            rc = e.code if isinstance(e.code, int) else 2
    return rc, err.getvalue() + out.getvalue()


# ---- 1. configs ----------------------------------------------------------------------------------
def configs(tmp: Path) -> dict:
    from irs.config import RunConfig
    from irs.runs import load_config

    defaults = RunConfig.from_dict(BASE).to_dict()
    cases = []
    for section, fields in defaults.items():
        if isinstance(fields, dict):
            for key in fields:
                cases += [((section, key), v) for v in BAD_VALUES]
        elif section != "objectives":
            cases += [((None, section), v) for v in BAD_VALUES]
    for v in BAD_VALUES:
        cases.append((("objectives", "weight"), v))
    runs_dir = tmp / "runs"
    out = {"tried": 0, "refused_cleanly": 0, "accepted": 0, "refused_unnamed": [], "crashed": []}
    whole = {
        "empty file": "",
        "not TOML": "name = [",
        "unknown key": 'name = "x"\nbogus = 1\n',
        "unknown section key": "[rl]\nbatchsize = 8\n",
    }
    for label, text in whole.items():
        p = tmp / "c.toml"
        p.write_text(text)
        out["tried"] += 1
        try:
            load_config(p)
            out["accepted"] += 1
            out.setdefault("accepted_cases", []).append(label)
        except ValueError:
            out["refused_cleanly"] += 1
        except Exception as e:  # noqa: BLE001 - counting what is not clean is the point
            out["crashed"].append(f"{label}: {type(e).__name__}: {e}")
    for (section, key), v in cases:
        d = json.loads(json.dumps(BASE))
        if section == "objectives":
            d["objectives"][0]["weight"] = v
        elif section is None:
            d[key] = v
        else:
            d.setdefault(section, {})[key] = v
        p = tmp / "c.toml"
        try:
            p.write_text(_toml(d))
        except (TypeError, ValueError):  # TOML cannot hold it (e.g. a mixed list): not a case
            continue
        out["tried"] += 1
        field = key if section in (None, "objectives") else f"{section}.{key}"
        try:
            load_config(p)
            out["accepted"] += 1
            out.setdefault("accepted_cases", []).append(f"{field} = {v!r}")
        except ValueError as e:
            msg = str(e).replace("\\", "")
            if key in msg or field in msg:
                out["refused_cleanly"] += 1
            else:
                out["refused_unnamed"].append(f"{field} = {v!r}: {e}")
        except Exception as e:  # noqa: BLE001
            out["crashed"].append(f"{field} = {v!r}: {type(e).__name__}: {e}")
    out["runs_folder_untouched"] = not runs_dir.exists()
    return out


# ---- 2. kills ------------------------------------------------------------------------------------
def _same(a, b) -> bool:
    import pandas as pd
    import torch

    from irs.checkpoint import load_tensors

    def tens(p):
        return load_tensors(p)

    ta, tb = tens(a.final_dir / "model.safetensors"), tens(b.final_dir / "model.safetensors")
    if ta.keys() != tb.keys() or not all(torch.equal(ta[k], tb[k]) for k in ta):
        return False
    for f in sorted(p.name for p in a.experts_dir.glob("expert_*.safetensors")):
        ea, eb = tens(a.experts_dir / f), tens(b.experts_dir / f)
        if ea.keys() != eb.keys() or not all(torch.equal(ea[k], eb[k]) for k in ea):
            return False
    try:
        pd.testing.assert_frame_equal(pd.read_parquet(a.candidates_path), pd.read_parquet(b.candidates_path))
    except AssertionError:
        return False
    return True


def kills(tmp: Path, n_runs: int, nproc: int, rng: random.Random) -> dict:
    from irs.config import RunConfig
    from irs.runs import RunError, resume_run, start_run, wait_run

    cfg = dict(BASE, nproc=nproc, name=f"kill{nproc}")
    store = tmp / f"kills{nproc}"
    ref = start_run(RunConfig.from_dict(cfg), store)
    assert wait_run(ref)["state"] == "done", ref.log_path.read_text()[-2000:]
    res = {
        "nproc": nproc,
        "runs": n_runs,
        "kills": 0,
        "resumed_to_done": 0,
        "bit_identical": 0,
        "kill_phases": {},
        "failures": [],
    }
    T = cfg["merge"]["total_steps"]
    for _ in range(n_runs):
        run = start_run(RunConfig.from_dict(cfg), store)
        for _ in range(rng.choice([1, 2])):
            target, delay = rng.randint(0, T), rng.uniform(0.0, 0.4)
            since, end = None, time.monotonic() + 600
            while time.monotonic() < end:
                st = run.read_status()
                if st["state"] in ("done", "failed", "cancelled"):
                    break
                if since is None and st["state"] == "running" and (st.get("step") or 0) >= target:
                    since = time.monotonic()
                if since is not None and time.monotonic() - since >= delay:
                    res["kill_phases"][st.get("phase")] = res["kill_phases"].get(st.get("phase"), 0) + 1
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(run.proc.pid, signal.SIGKILL)
                    run.proc.wait()
                    res["kills"] += 1
                    break
                time.sleep(0.01)
            if run.read_status()["state"] == "done":
                break
            time.sleep(0.5)  # torchrun's ranks go down with their group
            try:
                resume_run(run)
            except RunError as e:  # it finished just before the kill, or a worker survived the kill
                if run.status()["state"] != "done":
                    res["failures"].append(f"{run.id}: resume refused after a kill: {e}")
                break
        st = wait_run(run)
        refused = any(f.startswith(run.id) for f in res["failures"])
        if st["state"] != "done" and not refused:
            res["failures"].append(f"{run.id}: {st['state']} {st.get('error')}")
        if st["state"] != "done" or refused:
            continue
        res["resumed_to_done"] += 1
        if _same(ref, run):
            res["bit_identical"] += 1
        else:
            res["failures"].append(f"{run.id}: differs from the uninterrupted run")
    return res


# ---- 3. corruptions ------------------------------------------------------------------------------
def _flip(p: Path, n: int = 64) -> None:
    b = bytearray(p.read_bytes())
    mid = len(b) // 2
    b[mid : mid + n] = bytes(255 - x for x in b[mid : mid + n])
    p.write_bytes(bytes(b))


def _truncate(p: Path, keep: float = 0.6) -> None:
    b = p.read_bytes()
    p.write_bytes(b[: int(len(b) * keep)])


def corruptions(tmp: Path) -> dict:
    import pandas as pd

    from irs.config import RunConfig
    from irs.runs import RunStore
    from irs.runs.worker import execute

    store = RunStore(tmp / "corrupt")
    ref = store.create(RunConfig.from_dict(dict(BASE, name="ref", n_final_samples=16)))
    assert execute(ref.path) == "done"

    def copy(name: str):
        rid = f"{name}-20250101-000000-{abs(hash(name)) % 0xFFFF:04x}"
        shutil.copytree(ref.path, store.root / rid)
        stj = json.loads((store.root / rid / "status.json").read_text())
        stj["run_id"] = rid
        (store.root / rid / "status.json").write_text(json.dumps(stj))
        return store.get(rid)

    def cli_refuses(argv):
        rc, text = _cli(argv + ["--runs-dir", str(store.root)])
        return rc == 2 and "Traceback" not in text

    def sample(run):
        return cli_refuses(["sample", run.id, "--n", "4", "--out", str(tmp / "s.csv")])

    def export(run):
        return cli_refuses(["export", run.id, "--format", "csv", "--out", str(tmp / "e.csv")])

    def status(run):
        return cli_refuses(["status", run.id])

    def resume_falls_back(run, damage):
        for p in ("final", "experts", "candidates.parquet"):
            (run.path / p).is_dir() and shutil.rmtree(run.path / p)
            (run.path / p).is_file() and (run.path / p).unlink()
        stj = json.loads(run.status_path.read_text())
        stj.update(state="failed", phase="training", error="killed")
        run.status_path.write_text(json.dumps(stj))
        damage(run)
        ok = execute(run.path) == "done"
        notes = " ".join(run.status().get("notes") or [])
        return ok and "damaged" in notes and _same(ref, run)

    newest = lambda r: r.checkpoints_dir / r.latest_checkpoint()["dir"]  # noqa: E731
    cases = {
        "checkpoint expert file, 64 bytes flipped (resume)": lambda r: resume_falls_back(
            r, lambda r: _flip(newest(r) / "expert_1.safetensors")
        ),
        "checkpoint expert file truncated (resume)": lambda r: resume_falls_back(
            r, lambda r: _truncate(newest(r) / "expert_0.safetensors")
        ),
        "final model, 64 bytes flipped (sample)": lambda r: (_flip(r.final_dir / "model.safetensors"), sample(r))[1],
        "final model truncated (sample)": lambda r: (_truncate(r.final_dir / "model.safetensors"), sample(r))[1],
        "final expert flipped (sample --lambdas)": lambda r: (
            _flip(r.experts_dir / "expert_2.safetensors"),
            cli_refuses(["sample", r.id, "--lambdas", "1,1,1", "--n", "4", "--out", str(tmp / "x.csv")]),
        )[1],
        "experts.json not JSON (sample --lambdas)": lambda r: (
            (r.experts_dir / "experts.json").write_text("{"),
            cli_refuses(["sample", r.id, "--lambdas", "1,1,1", "--n", "4", "--out", str(tmp / "x.csv")]),
        )[1],
        "experts.json without files (sample --lambdas)": lambda r: (
            (r.experts_dir / "experts.json").write_text('{"names": []}'),
            cli_refuses(["sample", r.id, "--lambdas", "1,1,1", "--n", "4", "--out", str(tmp / "x.csv")]),
        )[1],
        "candidates.parquet truncated (export)": lambda r: (_truncate(r.candidates_path), export(r))[1],
        "candidates.parquet missing a column (export)": lambda r: (
            r.candidates_path.write_bytes(pd.read_parquet(r.candidates_path).drop(columns=["valid"]).to_parquet()),
            export(r),
        )[1],
        "status.json not JSON (status)": lambda r: (r.status_path.write_text("{"), status(r))[1],
        "status.json step is text (status)": lambda r: (
            r.status_path.write_text(json.dumps({**json.loads(r.status_path.read_text()), "step": "many"})),
            status(r),
        )[1],
        "config.toml not TOML (sample)": lambda r: ((r.path / "config.toml").write_text("name = ["), sample(r))[1],
        "final config.json garbage (sample)": lambda r: ((r.final_dir / "config.json").write_text("{"), sample(r))[1],
    }
    out = {"tried": 0, "detected": 0, "missed": []}
    for label, case in cases.items():
        out["tried"] += 1
        try:
            ok = bool(case(copy(label.split(" ")[0].replace(".", "").replace("/", "") + str(out["tried"]))))
        except Exception as e:  # noqa: BLE001
            ok = False
            label = f"{label}: {type(e).__name__}: {e}"
        if ok:
            out["detected"] += 1
        else:
            out["missed"].append(label)
    return out, ref, store


# ---- 4. special --out targets ----------------------------------------------------------------------
def special_outputs(tmp: Path, ref, store) -> dict:
    d = tmp / "outs"
    d.mkdir()
    fifo, link, target, folder = d / "fifo", d / "link.csv", d / "target.csv", d / "folder"
    os.mkfifo(fifo)
    target.write_text("keep me\n")
    link.symlink_to(target)
    folder.mkdir()
    targets = {
        "character device /dev/full": Path("/dev/full"),
        "character device /dev/null": Path("/dev/null"),
        "FIFO": fifo,
        "symlink to a file": link,
        "directory": folder,
        "missing parent folder": d / "no" / "such" / "x.csv",
    }
    out = {"tried": 0, "refused": 0, "not_refused": []}
    for label, p in targets.items():
        if (
            not p.parent.exists()
            and label != "missing parent folder"
            or (label.startswith("character") and not p.exists())
        ):
            continue
        before = (
            (p.lstat().st_mode, p.read_bytes() if p.is_file() and not p.is_symlink() else None)
            if p.exists() or p.is_symlink()
            else None
        )
        out["tried"] += 1
        rc, text = _cli(["export", ref.id, "--format", "csv", "--out", str(p), "--runs-dir", str(store.root)])
        after = (
            (p.lstat().st_mode, p.read_bytes() if p.is_file() and not p.is_symlink() else None)
            if p.exists() or p.is_symlink()
            else None
        )
        unchanged = before == after and target.read_text() == "keep me\n" and not (d / "no").exists()
        if rc == 2 and unchanged and "Traceback" not in text:
            out["refused"] += 1
        else:
            out["not_refused"].append(f"{label}: exit {rc}, unchanged {unchanged}")
        if label.startswith("character"):
            assert stat.S_ISCHR(p.lstat().st_mode)
    return out


# ---- 5. Markdown / HTML probes -----------------------------------------------------------------------
# probe -> the text an element would hold if the probe were interpreted (link text, bold text, ...)
PROBES = {
    "**bold**": "bold",
    "_it_": "it",
    "[Session expired, log in](http://evil.example/)": "Session expired, log in",
    "![x](http://evil.example/x.png)": "",
    "<img src=http://evil.example/y.png>": "",
    "<b>b</b>": "b",
    ":red[alarm]": "alarm",
    "`code`": "code",
    "# Heading": "Heading",
    "<script>alert(1)</script>": "alert(1)",
    "$x^2$": "x2",
    "> quote": "quote",
    "~~struck~~": "struck",
    "O=[N+]([O-])c1ccccc1**x**": "x",
}
MADE = """(want) => [...document.querySelectorAll('[data-testid="stMainBlockContainer"] *')].filter(e =>
    (e.tagName === 'IMG' && (e.src || '').includes('evil')) || e.tagName === 'SCRIPT' && (e.textContent || '').includes('alert')
    || e.classList.contains('katex') || (want && e.children.length === 0 && (e.textContent || '').trim() === want
        && ['A', 'STRONG', 'EM', 'B', 'CODE', 'H1', 'BLOCKQUOTE', 'DEL', 'SPAN', 'P'].includes(e.tagName)
        && !(e.tagName === 'P' && !e.closest('blockquote')))).map(e => e.tagName)"""


CONTROL_APP = """import streamlit as st
st.markdown("Run " + st.query_params.get("run", "") + " is not listed here")  # raw Markdown: the control
"""


@contextlib.contextmanager
def _serve(script: Path, env: dict):
    """`streamlit run script` on a free localhost port; yields the port once it answers."""
    import urllib.request

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "streamlit",
            "run",
            str(script),
            "--server.port",
            str(port),
            "--server.headless",
            "true",
            "--browser.gatherUsageStats",
            "false",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(240):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=1)
                break
            except OSError:
                time.sleep(0.5)
        yield port
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def _probe_pages(browser, port: int, path: str) -> dict:
    import urllib.parse

    out = {"tried": 0, "as_text": 0, "interpreted": []}
    for probe, want in PROBES.items():
        page = browser.new_page()
        external = []
        page.on("request", lambda r, ext=external: None if f":{port}" in r.url else ext.append(r.url))
        page.goto(f"http://127.0.0.1:{port}/{path}?run={urllib.parse.quote(probe)}")
        page.get_by_text("is not listed here").first.wait_for(timeout=60_000)
        page.wait_for_timeout(300)
        text = page.get_by_text("is not listed here").first.inner_text().replace("\u200b", "")
        made = page.evaluate(MADE, want)
        out["tried"] += 1
        if probe in text and not external and not made:
            out["as_text"] += 1
        else:
            out["interpreted"].append(
                {"probe": probe, "tags": made, "external": external[:2], "text_found": probe in text}
            )
        page.close()
    return out


def markdown_probes(tmp: Path) -> dict:
    """The app's Explore page with each probe as ?run=, and, as a control that the check can fail, a
    one-line page that passes the same value to st.markdown unescaped."""
    if not Path("/usr/bin/chromium").exists():
        return {"skipped": "no /usr/bin/chromium"}
    from playwright.sync_api import sync_playwright

    from ui.fixture import make_run

    runs = tmp / "probe_runs"
    make_run(runs, n=30)
    control = tmp / "control_app.py"
    control.write_text(CONTROL_APP)
    env = dict(os.environ, IRS_RUNS_DIR=str(runs))
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox", "--headless", "--disable-gpu"])
        try:
            with _serve(ROOT / "app.py", env) as port:
                out = _probe_pages(b, port, "explore")
            with _serve(control, env) as port:
                ctl = _probe_pages(b, port, "")
        finally:
            b.close()
    out["control_raw_markdown_interpreted"] = ctl["tried"] - ctl["as_text"]
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--kills", type=int, default=10, help="single-process runs to kill (default: 10)")
    ap.add_argument("--dist-kills", type=int, default=2, help="nproc = 3 runs to kill (default: 2)")
    ap.add_argument("--seed", type=int, default=0, help="seed of the kill points (default: 0)")
    ap.add_argument("--no-browser", action="store_true", help="skip the Markdown probes (default: run them)")
    ap.add_argument(
        "--out",
        default=str(ROOT / "docs/results/reliability.json"),
        help="JSON results (default: docs/results/reliability.json)",
    )
    args = ap.parse_args()
    import logging

    logging.disable(logging.WARNING)
    rng = random.Random(args.seed)
    res = {"command": "benchmarks/reliability.py " + " ".join(sys.argv[1:])}
    t0 = time.time()
    with tempfile.TemporaryDirectory(prefix="irs-rel-") as d:
        tmp = Path(d)
        res["configs"] = configs(tmp)
        print("configs", {k: (len(v) if isinstance(v, list) else v) for k, v in res["configs"].items()}, flush=True)
        res["corruptions"], ref, store = corruptions(tmp)
        print("corruptions", res["corruptions"], flush=True)
        res["special_outputs"] = special_outputs(tmp, ref, store)
        print("special --out", res["special_outputs"], flush=True)
        res["kills_single"] = kills(tmp, args.kills, 1, rng)
        print("kills nproc=1", res["kills_single"], flush=True)
        if args.dist_kills:
            res["kills_nproc3"] = kills(tmp, args.dist_kills, 3, rng)
            print("kills nproc=3", res["kills_nproc3"], flush=True)
        if not args.no_browser:
            res["markdown_probes"] = markdown_probes(tmp)
            print("markdown", res["markdown_probes"], flush=True)
    res["wall_s"] = round(time.time() - t0, 1)
    c, k1, k3 = res["configs"], res["kills_single"], res.get("kills_nproc3")
    co, so, mp = res["corruptions"], res["special_outputs"], res.get("markdown_probes", {})
    print("\n| check | tried | clean |")
    print("|---|---|---|")
    print(
        f"| bad configs refused naming the field (or legal) | {c['tried']} | {c['refused_cleanly']} refused + "
        f"{c['accepted']} legal; {len(c['refused_unnamed'])} unnamed, {len(c['crashed'])} crashed |"
    )
    for k in (k1, k3):
        if k:
            print(
                f"| kills, nproc = {k['nproc']} ({k['runs']} runs) | {k['kills']} kills | {k['resumed_to_done']} "
                f"resumed to done, {k['bit_identical']} bit-identical |"
            )
    print(f"| corruptions detected | {co['tried']} | {co['detected']} |")
    print(f"| special --out targets refused | {so['tried']} | {so['refused']} |")
    if "tried" in mp:
        print(
            f"| Markdown/HTML probes shown as text | {mp['tried']} | {mp['as_text']} (control, raw st.markdown: "
            f"{mp['control_raw_markdown_interpreted']} interpreted) |"
        )
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(res, indent=1, default=str) + "\n")
    print(f"wrote {args.out} ({res['wall_s']} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
