"""The bench's manifest (<bench_dir>/manifest.json): each (label, seed) -> its run and the wall-time spans spent on it."""

from __future__ import annotations

import json
import logging
import time
from datetime import datetime, timezone
from pathlib import Path

from irs.io import atomic_write_json

log = logging.getLogger(__name__)


# ---- manifest ---------------------------------------------------------------------------------------
def _now() -> float:
    return time.time()


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


class Manifest:
    """<bench_dir>/manifest.json, written atomically after every change."""

    def __init__(self, path: Path, header: dict):
        """`header`: what the bench's runs depend on; its fingerprint must match the stored one."""
        self.path = path
        if "fingerprint" not in header:
            header = {**header, "fingerprint": json.dumps(header, sort_keys=True, default=str)}
        if path.is_file():
            self.data = json.loads(path.read_text())
            if self.data.get("header", {}).get("fingerprint") != header["fingerprint"]:
                raise ValueError(
                    f"{path} belongs to a different bench (config, algo or K "
                    f"differ); use another --bench-dir or delete it"
                )
        else:
            self.data = {"header": header, "runs": {}, "sessions": []}

    def save(self) -> None:
        atomic_write_json(self.path, self.data)

    def start_session(self, command: str | None) -> list:
        """Record a bench session ([start, end]; the caller updates the end) and the command behind it."""
        session = [_now(), None]
        self.data["sessions"].append(session)
        cmds = self.data.setdefault("commands", [])
        if command and command not in cmds:
            cmds.append(command)
        self.save()
        return session

    def entry(self, key: str) -> dict:
        return self.data["runs"].setdefault(key, {})


def _spans_total(spans) -> float:
    return float(sum(e - s for s, e in spans if e is not None))
