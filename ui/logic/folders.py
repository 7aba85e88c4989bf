"""Run folders for the workbench: the demo runs (copied into the runs folder on first start) and opening a run folder from disk safely."""

from __future__ import annotations

import json
import logging
import os
import shutil
from collections.abc import Sequence
from pathlib import Path

from irs import paths
from irs.io import check_name, safe_join

log = logging.getLogger(__name__)

REPO = paths.ROOT
DEMO_DIR = REPO / "assets" / "demo_runs"


# ---- folders and the demo run ---------------------------------------------------------------------
def runs_root() -> Path:
    """The runs folder the app works in: $IRS_RUNS_DIR, else ./runs (resolved)."""
    from irs.runs import default_runs_dir

    return default_runs_dir().resolve()


def demo_runs(demo_dir: Path | None = None) -> list[Path]:
    """Run directories shipped under assets/demo_runs/ (each has a status.json)."""
    demo_dir = DEMO_DIR if demo_dir is None else demo_dir
    if not demo_dir.is_dir():
        return []
    return sorted(
        p for p in demo_dir.iterdir() if p.is_dir() and (p / "status.json").is_file() and not p.name.startswith(".")
    )


def _skip_on_copy(folder: str, names: list[str]) -> list[str]:
    """What a run copy leaves out: the worker's lock and cancel flag, hidden temporaries, and symlinks
    (a link could point outside the allowed folders; it is neither followed nor copied)."""
    return [n for n in names if n in ("lock", "cancel") or n.startswith(".") or os.path.islink(os.path.join(folder, n))]


def _copy_run(src: Path, root: Path) -> Path:
    """Copy a run directory into `root` under its own name; the copy appears complete or not at all."""
    name = check_name(src.name, "run folder name")
    dest = safe_join(root, name)
    if dest.exists():
        return dest
    root.mkdir(parents=True, exist_ok=True)
    tmp = safe_join(root, f".import-{name}")
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(src, tmp, ignore=_skip_on_copy)
    os.rename(tmp, dest)
    return dest


def install_demo_runs(root: Path | None = None, demo_dir: Path | None = None) -> list[str]:
    """Copy the shipped demo runs into the runs folder on first start (existing copies are kept, so a
    user's re-merged sets survive). Returns the demo run ids."""
    root = runs_root() if root is None else Path(root).resolve()
    ids = []
    for src in demo_runs(demo_dir):
        try:
            _copy_run(src, root)
            ids.append(src.name)
        except (OSError, ValueError) as e:
            log.warning("could not install demo run %s into %s: %s", src, root, e)
    return ids


DEMO_DOMAIN_ORDER = ("molecules", "dna", "text")  # the product's order: the first shown on a fresh start


def default_run_id(ids: list[str], demo_dir: Path | None = None) -> str | None:
    """The run a page opens without ?run=: the newest of the user's own runs (ids come newest first),
    else the shipped demo runs in the product's domain order (molecules first)."""
    demos = {}
    for p in demo_runs(demo_dir):
        try:
            demos[p.name] = json.loads((p / "status.json").read_text()).get("domain", "")
        except (OSError, ValueError):
            demos[p.name] = ""
    own = [i for i in ids if i not in demos]
    if own:
        return own[0]
    rank = {d: k for k, d in enumerate(DEMO_DOMAIN_ORDER)}
    shipped = [i for i in ids if i in demos]
    return min(shipped, key=lambda i: rank.get(demos[i], len(rank)), default=None)


def import_roots() -> list[Path]:
    """Folders a typed run path may come from: the runs folder, the shipped demo runs, and the folders
    listed in $IRS_IMPORT_ROOTS (os.pathsep-separated)."""
    roots = [runs_root(), DEMO_DIR.resolve()]
    extra = os.environ.get("IRS_IMPORT_ROOTS", "")
    roots += [Path(p).expanduser().resolve() for p in extra.split(os.pathsep) if p.strip()]
    return list(dict.fromkeys(roots))


def resolve_run_folder(text: str, roots: Sequence[Path] | None = None) -> Path:
    """A run folder typed by the user, validated: it must lie inside one of `roots` (symlinks and '..'
    resolved first, then re-checked with irs.io.safe_join), have a safe name and a status.json.
    Relative paths are taken relative to the runs folder, then to the repository. Raises ValueError."""
    roots = [Path(r).resolve() for r in (roots if roots is not None else import_roots())]
    text = (text or "").strip()
    if not text:
        raise ValueError("type the path of a run folder")
    if "\x00" in text or len(text) > 1024:
        raise ValueError("that path is not a valid folder name")
    raw = Path(text).expanduser()
    candidates = [raw] if raw.is_absolute() else [roots[0] / raw, REPO / raw, Path.cwd() / raw]
    for cand in candidates:
        p = cand.resolve()
        for root in roots:
            try:
                rel = p.relative_to(root)
            except ValueError:
                continue
            if not rel.parts:
                continue
            p = safe_join(root, *rel.parts)
            if not p.is_dir():
                raise ValueError(f"{text!r} is not a folder")
            check_name(p.name, "run folder name")
            if not (p / "status.json").is_file():
                raise ValueError(f"{p} is not a run folder (it has no status.json)")
            return p
    allowed = ", ".join(str(r) for r in roots)
    raise ValueError(
        f"{text!r} is outside the folders runs can be loaded from ({allowed}); "
        f"set IRS_IMPORT_ROOTS to allow another folder"
    )


def open_run_folder(path: Path, root: Path | None = None) -> str:
    """Make a validated run folder available in the runs folder (copy it in when it lives elsewhere);
    returns its run id."""
    root = runs_root() if root is None else Path(root).resolve()
    path = Path(path).resolve()
    if path.parent == root:
        return path.name
    if safe_join(root, check_name(path.name, "run folder name")).exists():
        raise ValueError(f"a run named {path.name!r} already exists in {root}; open it from the list")
    return _copy_run(path, root).name
