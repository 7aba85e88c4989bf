"""The `irs` command: a root that only dispatches to one module per subcommand in irs/commands/.

Each module exposes `add_parser(subparsers)` (returns its parser) and `run(args) -> int`.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

# Subcommand name -> module under irs.commands. Keep this list explicit.
COMMANDS: dict[str, str] = {
    "pretrain": "pretrain",
    "train-proxies": "train_proxies",
    "run": "run",
    "status": "status",
    "cancel": "cancel",
    "queue": "queue",
    "resume": "resume",
    "sample": "sample",
    "evaluate": "evaluate",
    "export": "export",
    "train-oracle": "train_oracle",
    "bench": "bench",
    "import-model": "import_model",
    "reward-stats": "reward_stats",
    "oracle": "oracle",
}


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="irs", description="IterativeRS: multi-objective fine-tuning by iterative reward soups."
    )
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging (default: info)")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for mod in COMMANDS.values():
        importlib.import_module(f"irs.commands.{mod}").add_parser(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        from irs import env

        env.check()  # a bad IRS_* setting stops every command before it writes anything
        return int(args.func(args) or 0)
    except (ValueError, OSError) as e:  # bad input, a missing or unwritable file, a full disk: no traceback
        print(f"irs {args.command}: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
