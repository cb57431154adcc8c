"""The `cmsim` console script. It imports the CLI (numpy, Unicorn, Capstone: most of a
second) under a guard, so that Ctrl-C while Python is still loading exits 130 with one line,
as it does later, instead of a traceback."""

from __future__ import annotations

import sys


def main() -> int:
    """Entry point of the `cmsim` command; returns the process exit code."""
    try:
        from cmsim.cli import main as cli_main
    except KeyboardInterrupt:
        try:
            if "--json" in sys.argv[1:]:
                print('{"error": "interrupted (Ctrl-C)", "exit_code": 130}', flush=True)
            sys.stderr.write("cmsim: error: interrupted (Ctrl-C)\n")
        except (OSError, AttributeError, ValueError):
            pass
        return 130
    return cli_main()
