"""Hardware validation: run recorded hardware measurements through cmsim and compare."""
