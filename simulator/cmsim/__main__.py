"""`python -m cmsim` is the same as the `cmsim` command."""

from cmsim.launch import main

raise SystemExit(main())
