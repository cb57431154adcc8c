"""Board profiles: memory regions, wait states and clock, as data (TOML or JSON files)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from cmsim.errors import BoardError

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

REGION_KINDS = ("flash", "sram", "ccm", "periph", "ppb")

# Bit-band (ARMv7-M, Cortex-M3/M4): each bit of the first MiB of SRAM and of the peripheral
# space has a word in a 32 MiB alias window: (target base, alias base).
BITBAND_WINDOWS = ((0x20000000, 0x22000000), (0x40000000, 0x42000000))
BITBAND_TARGET_SIZE = 0x100000
BITBAND_ALIAS_SIZE = 32 * BITBAND_TARGET_SIZE
BITBAND_CORES = ("cortex-m3", "cortex-m4")


def bitband_target(address: int) -> tuple[int, int] | None:
    """The (byte address, bit) a bit-band alias word stands for, or None outside the windows."""
    for target, alias in BITBAND_WINDOWS:
        offset = address - alias
        if 0 <= offset < BITBAND_ALIAS_SIZE:
            return target + (offset >> 5), (offset >> 2) & 7
    return None


@dataclass(frozen=True)
class Region:
    """One memory region of a board (shared/timing/cortex-m4.md §9.1, M4-MEM-1)."""

    name: str
    base: int
    size: int
    kind: str
    block: str
    aliases: tuple[int, ...] = ()
    read_ws: int = 0
    write_ws: int = 0
    fetch_ws: int = 0
    exec: bool = True
    device: bool = False
    line_bytes: int = 16
    prefetch: bool = False
    icache_lines: int = 0
    dcache_lines: int = 0
    # Bus model (issue 13): cycles per 32-bit word of instruction fetch from the region (1: the
    # core's own rate), and the bus it sits on: a data access to a region on the same named bus
    # as the code being fetched holds the fetch up (empty: no contention modelled).
    fetch_word_cycles: int = 1
    bus: str = ""
    # With fetch_word_cycles > 1: a one-line buffer in front of the region (TI VIMS): words of
    # the buffered line take 1 cycle, another line fetch_ws to fill.
    line_buffer: bool = False

    @property
    def end(self) -> int:
        return self.base + self.size

    def contains(self, address: int, length: int = 1) -> bool:
        """True when [address, address + length) lies in the region or one of its aliases."""
        for start in (self.base, *self.aliases):
            if start <= address and address + length <= start + self.size:
                return True
        return False


@dataclass(frozen=True)
class Board:
    """A board profile: the core, its clock and its memory map."""

    name: str
    core: str
    clock_hz: int
    regions: tuple[Region, ...]
    description: str = ""
    options: dict[str, Any] = field(default_factory=dict)

    def region_at(self, address: int, length: int = 1) -> Region | None:
        """The region holding [address, address + length), or None."""
        for region in self.regions:
            if region.contains(address, length):
                return region
        return None

    def bitband_windows(self) -> list[tuple[int, int]]:
        """(target base, alias base) of the bit-band windows this board has: the core has
        bit-banding and a region holds the window's target."""
        if self.core not in BITBAND_CORES:
            return []
        return [(t, a) for t, a in BITBAND_WINDOWS if self.region_at(t) is not None]

    def first_sram(self) -> Region:
        """The first SRAM region: where a firmware without a vector table gets its stack."""
        for region in self.regions:
            if region.kind == "sram":
                return region
        raise BoardError(f"board {self.name!r} has no sram region")


def preset_names() -> list[str]:
    """Names of the boards shipped with cmsim."""
    folder = resources.files("cmsim") / "boards"
    return sorted(p.name[: -len(".toml")] for p in folder.iterdir() if p.name.endswith(".toml"))


def load_board(name_or_path: str) -> Board:
    """Load a preset by name (`m4-ideal`, `stm32f4`, ...) or a board file (.toml or .json)."""
    path = Path(name_or_path)
    if path.suffix.lower() in (".toml", ".json") or path.exists():
        return board_from_file(path)
    if name_or_path not in preset_names():
        known = ", ".join(preset_names())
        raise BoardError(
            f"unknown board {name_or_path!r} (known: {known}; or pass a .toml/.json file)"
        )
    text = (resources.files("cmsim") / "boards" / f"{name_or_path}.toml").read_text()
    return board_from_dict(tomllib.loads(text), source=name_or_path)


def board_from_file(path: Path) -> Board:
    """Parse a user's board file; any problem becomes a one-line BoardError."""
    if not path.is_file():
        raise BoardError(f"board file not found: {path}")
    try:
        text = path.read_text()
        data = json.loads(text) if path.suffix.lower() == ".json" else tomllib.loads(text)
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise BoardError(f"malformed board file {path}: {exc}") from None
    return board_from_dict(data, source=str(path))


def board_from_dict(data: Any, source: str) -> Board:
    """Validate and build a Board from parsed TOML/JSON data."""
    if not isinstance(data, dict):
        raise BoardError(f"malformed board file {source}: top level must be a table")
    try:
        regions = tuple(_region(r) for r in data["regions"])
        board = Board(
            name=str(data["name"]),
            core=str(data.get("core", "cortex-m4")),
            clock_hz=_positive_int(data["clock_hz"], "clock_hz"),
            regions=regions,
            description=str(data.get("description", "")),
            options=dict(data.get("options", {})),
        )
    except KeyError as exc:
        raise BoardError(f"malformed board file {source}: missing key {exc.args[0]!r}") from None
    except (TypeError, ValueError) as exc:
        raise BoardError(f"malformed board file {source}: {exc}") from None
    if not regions:
        raise BoardError(f"malformed board file {source}: no regions")
    _check_overlaps(board, source)
    return board


def _positive_int(value: Any, key: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"{key} must be a positive integer, got {value!r}")
    return value


def _region(data: Any) -> Region:
    if not isinstance(data, dict):
        raise ValueError("each region must be a table")
    known = set(Region.__dataclass_fields__)
    unknown = set(data) - known
    if unknown:
        raise ValueError(f"region {data.get('name', '?')!r}: unknown keys {sorted(unknown)}")
    fields = dict(data)
    fields.setdefault("block", fields.get("name"))
    fields["aliases"] = tuple(fields.get("aliases", ()))
    region = Region(**fields)
    if region.kind not in REGION_KINDS:
        raise ValueError(f"region {region.name!r}: kind must be one of {REGION_KINDS}")
    if region.base % 0x1000 or region.size % 0x1000 or region.size <= 0:
        raise ValueError(f"region {region.name!r}: base and size must be multiples of 4 KiB")
    if any(a % 0x1000 for a in region.aliases):
        raise ValueError(f"region {region.name!r}: aliases must be multiples of 4 KiB")
    if region.end > 1 << 32:
        raise ValueError(f"region {region.name!r} extends past 4 GiB")
    return region


def _check_overlaps(board: Board, source: str) -> None:
    spans = sorted(
        (start, start + r.size, r.name) for r in board.regions for start in (r.base, *r.aliases)
    )
    for (_s1, e1, n1), (s2, _e2, n2) in zip(spans, spans[1:], strict=False):
        if s2 < e1:
            raise BoardError(f"malformed board file {source}: regions {n1!r} and {n2!r} overlap")
