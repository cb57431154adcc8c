"""Replays the whole CMEmu CC2652 corpus (shared/validation/cmemu-cc2652) and prints the match
rates per family and placement, the differences per array, and the fast path's speed.

Usage: .venv/bin/python tests/bench/validate_cmemu.py [FOLDER] [--json OUT.json] [--filter K=V]
(the same as `cmsim validate cmemu FOLDER`, plus the time it took; about 3 minutes on 2 cores).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from rich.console import Console

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "simulator"))

from cmsim.validate import cmemu  # noqa: E402

DEFAULT = ROOT.parent / "shared" / "validation" / "cmemu-cc2652"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", nargs="?", default=str(DEFAULT))
    parser.add_argument("--json", metavar="OUT.json")
    parser.add_argument("--filter", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--path", choices=("fast", "reference"), default="fast")
    args = parser.parse_args()
    console = Console(width=110)
    begin = time.perf_counter()
    results = cmemu.validate_folder(
        Path(args.folder), cmemu.parse_filters(args.filter), path=args.path
    )
    seconds = time.perf_counter() - begin
    cmemu.render(results, console)
    console.print(f"{len(results)} configurations in {seconds:.0f} s ({args.path} path)")
    if args.json:
        Path(args.json).write_text(json.dumps(cmemu.report(results), indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
