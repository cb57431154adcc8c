"""`cmsim sweep`: cycles of many (kernel, shape, variant, board) points or models, in parallel.

grid (shapes) -> plan (tasks with content keys) -> cache | executor (local processes, or a Dask
cluster) -> points (each run where it lands) -> output (CSV, JSON lines, Parquet, lookup table)
and plot. command holds the command line.
"""
