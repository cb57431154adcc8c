"""`python -m cmsim` is the same as the `cmsim` command."""

from cmsim.cli import main

raise SystemExit(main())
