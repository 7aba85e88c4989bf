"""Atomic file writes and safe path handling, used by every writer in the library."""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import tempfile
from pathlib import Path

_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write `data` to `path` so that readers see the old file or the new one, never a torn one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    umask = os.umask(0)
    os.umask(umask)
    os.fchmod(fd, 0o666 & ~umask)  # mkstemp makes 0600; give the file the usual permissions
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def json_clean(obj):
    """A copy of `obj` that is strict JSON: NaN and inf become null, numpy scalars Python numbers, tuples lists."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: json_clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_clean(v) for v in obj]
    item = getattr(obj, "item", None)  # numpy scalars (np.float32, np.int64, np.bool_)
    if item is not None and getattr(obj, "shape", None) == ():
        return json_clean(item())
    return obj


def atomic_write_json(path: str | os.PathLike, obj) -> None:
    """Strict JSON (json_clean: no bare NaN, which other JSON readers refuse), written atomically."""
    atomic_write_text(path, json.dumps(json_clean(obj), indent=1, sort_keys=True, allow_nan=False))


def replace_dir(tmp: str | os.PathLike, dest: str | os.PathLike) -> None:
    """Put the finished folder `tmp` at `dest`, replacing what is there: the old folder is moved aside
    first and removed only after the rename, so a crash leaves either the old or the new folder whole."""
    tmp, dest = Path(tmp), Path(dest)
    old = dest.with_name(f".{dest.name}.old")
    shutil.rmtree(old, ignore_errors=True)
    if dest.exists():
        os.replace(dest, old)
    os.replace(tmp, dest)
    shutil.rmtree(old, ignore_errors=True)


def check_name(name: str, what: str = "name") -> str:
    """Validate a user-supplied file or run name: no separators, no '..', no hidden files."""
    if not isinstance(name, str) or not _SAFE_NAME.fullmatch(name) or ".." in name:  # fullmatch: no trailing newline
        raise ValueError(f"invalid {what} {name!r}: use letters, digits, '.', '_' or '-' (no '/' or '..')")
    return name


def check_output_path(path: str | os.PathLike, folder_must_exist: bool = True) -> Path:
    """A file path that may be written (atomically, through a temporary file beside it): whatever is at
    the path must be a regular file (not a symlink, folder, device or FIFO, which a rename would silently
    replace), and, with folder_must_exist (what a command's --out needs), its folder must exist.
    ValueError says what is wrong; nothing is created."""
    p = Path(path)
    if folder_must_exist and not p.parent.is_dir():
        raise ValueError(f"cannot write {str(p)!r}: folder {str(p.parent)!r} does not exist")
    if p.is_symlink() or (p.exists() and not p.is_file()):
        kind = "a symlink" if p.is_symlink() else "a folder" if p.is_dir() else "not a regular file"
        raise ValueError(f"cannot write {str(p)!r}: it is {kind}; choose a regular file path")
    return p


def safe_join(root: str | os.PathLike, *parts: str) -> Path:
    """Join `parts` under `root` and refuse any result that escapes `root` (symlinks resolved)."""
    root_r = Path(root).resolve()
    p = root_r.joinpath(*parts).resolve()
    if p != root_r and root_r not in p.parents:
        raise ValueError(f"path {'/'.join(parts)!r} escapes {root_r}")
    return p
