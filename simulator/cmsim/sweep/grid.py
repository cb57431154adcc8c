"""Sweep grids: `h=8,16,32 w=h c=8,16 k=1,3 pad=same` (or a TOML grid file) -> kernel shapes.

An axis is a key of the kernel's shape (cmsim.bench.single.SHAPE_KEYS) with a list of values,
the name of another key (`w=h`: w takes h's value in every shape), or for `pad` the word `same`
(pad = k // 2, the output as large as the input at stride 1). Keys not given keep the kernel's
default. Every combination is a shape; combinations that cannot run (a window larger than the
padded input, padding as wide as the window) are skipped and counted, not errors.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from pathlib import Path

from cmsim.bench.golden import output_size
from cmsim.bench.single import KERNELS, SHAPE_KEYS
from cmsim.errors import CmsimError

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

SAME = "same"


class GridError(CmsimError):
    """A grid or grid file that cannot be read: unknown kernel or key, bad value."""


@dataclass
class Expansion:
    """The shapes of one grid, in grid order, and how many combinations were skipped."""

    kernel: str
    shapes: list[dict[str, int]]
    skipped: int = 0


@dataclass
class GridFile:
    """A TOML grid file: grids for several kernels, and optional sweep settings."""

    grids: list[tuple[str, dict]] = field(default_factory=list)
    models: list[str] = field(default_factory=list)
    variants: list[str] | None = None
    boards: list[str] | None = None
    seed: int | None = None


def parse_grid(kernel: str, text: str) -> dict:
    """`"h=8,16 w=h c=8"` -> {"h": [8, 16], "w": "h", "c": [8]}; GridError on a bad axis."""
    _check_kernel(kernel)
    axes: dict = {}
    for item in text.split():
        key, sep, value = item.partition("=")
        if not sep or not value:
            raise GridError(f"grid item {item!r}: write key=v1,v2,... or key=other_key")
        if key in axes:
            raise GridError(f"grid key {key!r} given twice")
        if value in SHAPE_KEYS[kernel] or value == SAME:
            axes[key] = value
        else:
            axes[key] = [_int(key, v) for v in value.split(",")]
    check_axes(kernel, axes)
    return axes


def check_axes(kernel: str, axes: dict) -> None:
    """GridError unless every axis names a key of the kernel and holds valid values."""
    _check_kernel(kernel)
    keys = SHAPE_KEYS[kernel]
    for key, values in axes.items():
        if key not in keys:
            raise GridError(f"{kernel} takes shape keys {', '.join(keys)}; not {key!r}")
        if isinstance(values, str):
            if values == SAME and (key != "pad" or "k" not in keys):
                raise GridError(f"{key}=same: only pad can be 'same' (pad = k // 2)")
            if values != SAME and (values == key or isinstance(axes.get(values), str)):
                raise GridError(f"{key}={values}: tie a key to a key that has values")
            continue
        if not isinstance(values, list) or not values:
            raise GridError(f"grid key {key!r} needs a list of integers")
        for value in values:
            if isinstance(value, bool) or not isinstance(value, int):
                raise GridError(f"grid value {key}={value!r} is not an integer")
            if value < 0 or (value == 0 and key != "pad"):
                raise GridError(f"grid value {key}={value} must be positive")


def expand(kernel: str, axes: dict) -> Expansion:
    """Every valid shape of the grid (defaults for the keys it does not name)."""
    check_axes(kernel, axes)
    free = {k: _unique(v) for k, v in axes.items() if not isinstance(v, str)}
    shapes: list[dict[str, int]] = []
    seen: set[tuple] = set()
    skipped = 0
    for combination in itertools.product(*free.values()):
        shape = dict(SHAPE_KEYS[kernel])
        shape.update(zip(free, combination, strict=True))
        for key, value in axes.items():
            if value == SAME:
                shape[key] = shape["k"] // 2
            elif isinstance(value, str):
                shape[key] = shape[value]
        if shape_problem(kernel, shape) is not None:
            skipped += 1
            continue
        identity = tuple(shape.items())
        if identity not in seen:
            seen.add(identity)
            shapes.append(shape)
    return Expansion(kernel, shapes, skipped)


def shape_problem(kernel: str, shape: dict[str, int]) -> str | None:
    """Why the shape cannot run (None when it can)."""
    if "stride" not in shape:
        return None  # fully connected, relu: any positive size runs
    k, stride, pad = shape.get("k", 1), shape["stride"], shape.get("pad", 0)
    if pad >= k:
        return f"padding {pad} as wide as the {k}x{k} window: outputs made of padding only"
    for size in (shape["h"], shape["w"]):
        if output_size(size, k, stride, pad) <= 0:
            return f"the {k}x{k} window is larger than the padded input ({size} + 2 * {pad})"
    return None


def load_grid_file(path: str | Path) -> GridFile:
    """Read a TOML grid file (see the README); GridError naming the file on any problem."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text())
    except OSError as exc:
        raise GridError(f"cannot read grid file {path}: {exc.strerror or exc}") from None
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise GridError(f"malformed grid file {path}: {exc}") from None
    known = {"grid", "models", "variants", "boards", "seed"}
    unknown = sorted(set(data) - known)
    if unknown:
        raise GridError(f"grid file {path}: unknown keys {unknown} (known: {sorted(known)})")
    found = GridFile(
        models=_strings(data, "models", path) or [],
        variants=_strings(data, "variants", path),
        boards=_strings(data, "boards", path),
        seed=data.get("seed"),
    )
    if found.seed is not None and (not isinstance(found.seed, int) or found.seed < 0):
        raise GridError(f"grid file {path}: seed must be a non-negative integer")
    grids = data.get("grid", [])
    if not isinstance(grids, list):
        raise GridError(f"grid file {path}: write each grid as a [[grid]] table")
    for index, table in enumerate(grids, 1):
        found.grids.append(_grid_table(table, f"grid file {path}, grid {index}"))
    return found


def _grid_table(table: object, where: str) -> tuple[str, dict]:
    if not isinstance(table, dict) or not isinstance(table.get("kernel"), str):
        raise GridError(f'{where}: needs kernel = "..." ({", ".join(KERNELS)})')
    entries = dict(table)
    kernel = entries.pop("kernel")
    try:
        if "shape" in entries:  # the command line's syntax in one string
            axes = parse_grid(kernel, str(entries.pop("shape")))
            axes.update(entries)
        else:
            axes = {k: ([v] if isinstance(v, int) else v) for k, v in entries.items()}
        check_axes(kernel, axes)
    except GridError as exc:
        raise GridError(f"{where}: {exc}") from None
    return kernel, axes


def _strings(data: dict, key: str, path: Path) -> list[str] | None:
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise GridError(f"grid file {path}: {key} must be a list of strings")
    return value


def _check_kernel(kernel: str) -> None:
    if kernel not in SHAPE_KEYS:
        raise GridError(f"unknown kernel {kernel!r} (known: {', '.join(KERNELS)})")


def _int(key: str, text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise GridError(f"grid value {key}={text!r} is not an integer or a key") from None


def _unique(values: list[int]) -> list[int]:
    return list(dict.fromkeys(values))
