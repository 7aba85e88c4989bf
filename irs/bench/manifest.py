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
        self.path = path
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

    def entry(self, key: str) -> dict:
        return self.data["runs"].setdefault(key, {})


def _spans_total(spans) -> float:
    return float(sum(e - s for s, e in spans if e is not None))
