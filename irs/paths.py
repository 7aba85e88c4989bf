"""Where shipped things live. Relative asset paths (a domain's default model, say) are resolved against
the project root, so runs do not depend on the directory they were started from.

The root is $IRS_HOME when set; else the checkout this package lies in (it has assets/: a clone, or an
editable install); else, for a package installed into site-packages (which carries no assets), the
current directory, the project folder one works in."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path


def project_root() -> Path:
    env = os.environ.get("IRS_HOME")
    if env:
        return Path(env).expanduser().resolve()
    here = Path(__file__).resolve().parent.parent
    return here if (here / "assets").is_dir() else Path.cwd().resolve()


ROOT = project_root()
ASSETS = ROOT / "assets"


def resolve(spec: str) -> str:
    """An absolute path for a model directory spec; `tiny:*` specs pass through unchanged."""
    if spec.startswith("tiny:"):
        return spec
    p = Path(spec).expanduser()
    if p.is_absolute() or p.exists():
        return str(p.resolve())
    return str((ROOT / p).resolve())


def portable(spec: str) -> str:
    """`spec` relative to the repository root when it lies inside it (so that a record of it, such as a
    bench's fingerprint, does not change when the checkout moves); otherwise unchanged."""
    p = Path(spec)
    if not p.is_absolute():
        return spec
    try:
        return str(p.resolve().relative_to(ROOT))
    except ValueError:
        return spec


def package_data(package: str, *parts: str, install: str) -> Path:
    """A file or folder inside an installed package, found without importing it (some data packages do
    not import on today's libraries). FileNotFoundError says how to install it (`install`)."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"package {package!r} is not installed ({install})")
    p = Path(list(spec.submodule_search_locations)[0]).joinpath(*parts)
    if not p.exists():
        raise FileNotFoundError(f"missing {p} in the installed package {package!r}")
    return p
