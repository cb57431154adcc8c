"""Sweep rows as files: CSV, JSON lines, Parquet, and a latency lookup table.

Rows are sorted canonically (model, operator, kernel, shape by its numbers, board, variant in
ref/opt/asm order), so any two runs of one sweep, wherever they ran, write the same rows in the
same order. The lookup table maps `kernel/shape/variant/board` (or `model/operator/variant/
board`) to cycles for the rows that matched the golden model:

    lut = json.load(open("sweep/latency.json"))
    lut["conv2d/h=16,w=16,c=8,o=16,k=3,stride=1,pad=1/asm/stm32f4"]
"""

from __future__ import annotations

import csv
import dataclasses
import json
from pathlib import Path

from cmsim.bench.results import ALL_VARIANTS
from cmsim.sweep.points import Row

COLUMNS = [f.name for f in dataclasses.fields(Row)]
FILES = {"csv": "rows.csv", "jsonl": "rows.jsonl", "parquet": "rows.parquet", "lut": "latency.json"}


def finish_rows(rows: list[Row]) -> list[Row]:
    """Fill in each row's speedup over the ref row of the same point; sort canonically."""
    ref = {_group(r): r.cycles for r in rows if r.variant == "ref" and r.ok}
    for row in rows:
        base = ref.get(_group(row))
        row.speedup = base / row.cycles if base and row.ok and row.cycles else None
    return sorted(rows, key=sort_key)


def _group(row: Row) -> tuple:
    return (row.model, row.operator, row.kernel, row.shape, row.board, row.seed)


def sort_key(row: Row) -> tuple:
    operator_index = int(row.operator.split()[0]) if row.operator[:1].isdigit() else -1
    shape = tuple((key, int(value)) for key, _, value in _pairs(row.shape))
    known = ALL_VARIANTS
    variant = known.index(row.variant) if row.variant in known else len(known)
    return (row.model, operator_index, row.kernel, shape, row.board, variant, row.seed)


def _pairs(shape: str) -> list[tuple[str, str, str]]:
    """ "h=8,w=8" -> [("h", "=", "8"), ...] (model shapes, free text, sort as one string)."""
    parts = [item.partition("=") for item in shape.split(",") if item]
    if all(sep and value.isdigit() for _, sep, value in parts):
        return parts
    return [(shape, "=", "0")]


def lut_key(row: Row) -> str:
    if row.model:
        return f"{row.model}/{row.operator}/{row.variant}/{row.board}"
    return f"{row.kernel}/{row.shape}/{row.variant}/{row.board}"


def latency_table(rows: list[Row]) -> dict[str, int]:
    """Key -> cycles of every row that matched its golden model."""
    return {lut_key(r): r.cycles for r in rows if r.ok and r.cycles is not None}


def write_outputs(rows: list[Row], folder: str | Path) -> dict[str, Path]:
    """Write the four files into `folder` (created); returns their paths by kind."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = {kind: folder / name for kind, name in FILES.items()}
    records = [dataclasses.asdict(r) for r in rows]
    with paths["csv"].open("w", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows({k: ("" if v is None else v) for k, v in rec.items()} for rec in records)
    with paths["jsonl"].open("w") as out:
        out.writelines(json.dumps(rec) + "\n" for rec in records)
    _write_parquet(records, paths["parquet"])
    paths["lut"].write_text(json.dumps(latency_table(rows), indent=0) + "\n")
    return paths


def _write_parquet(records: list[dict], path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    types = {
        "cycles": pa.int64(),
        "macs": pa.int64(),
        "seed": pa.int64(),
        "cycles_per_mac": pa.float64(),
        "speedup": pa.float64(),
        "host_seconds": pa.float64(),
    }
    schema = pa.schema([(name, types.get(name, pa.string())) for name in COLUMNS])
    pq.write_table(pa.Table.from_pylist(records, schema=schema), path)


def read_rows(path: str | Path) -> list[Row]:
    """Rows back from a rows.jsonl file."""
    with Path(path).open() as lines:
        return [Row(**json.loads(line)) for line in lines if line.strip()]
