"""Board profiles: memory regions, wait states and clock, as data (TOML or JSON files)."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import Any

from cmsim.errors import BoardError, shown
from cmsim.timing.cores import DEFAULT_CORE, Core, core_names, get_core

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

REGION_KINDS = ("flash", "sram", "ccm", "periph", "ppb")
MAX_BOARD_FILE = 1 << 20  # bytes

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
    # Code reads from the region are registered in the bus matrix (CC2652 SRAM over the System
    # bus): a read reaches the memory one cycle after the fetch unit presents it.
    fetch_registered: bool = False

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

    @property
    def core_spec(self) -> Core:
        """The board's core as data: ISA, -mcpu, features, timing module (timing/cores.py)."""
        return get_core(self.core)

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


def load_board(name_or_path: str, core: str | None = None) -> Board:
    """Load a preset by name (`m4-ideal`, `stm32f4`, ...) or a board file (.toml or .json);
    `core` (the CLI's --core) replaces the core the board names, for quick what-ifs."""
    board = _load_board(name_or_path)
    return board if core is None else with_core(board, core)


def with_core(board: Board, core: str) -> Board:
    """The board with another core (same memory map and clock); BoardError for an unknown one."""
    if core not in core_names():
        raise BoardError(f"unknown core {shown(core)!r} (known: {', '.join(core_names())})")
    return replace(board, core=core)


def _load_board(name_or_path: str) -> Board:
    if not isinstance(name_or_path, (str, os.PathLike)):
        raise BoardError(f"not a board name or file: {shown(repr(name_or_path))}")
    path = Path(name_or_path)
    try:
        is_file = path.suffix.lower() in (".toml", ".json") or path.exists()
    except OSError as exc:  # e.g. a name too long for the file system
        raise BoardError(f"cannot read board file {shown(path)}: {exc.strerror or exc}") from None
    if is_file:
        return board_from_file(path)
    if name_or_path not in preset_names():
        known = ", ".join(preset_names())
        raise BoardError(
            f"unknown board {shown(name_or_path)!r} (known: {known}; or pass a .toml/.json file)"
        )
    text = (resources.files("cmsim") / "boards" / f"{name_or_path}.toml").read_text()
    return board_from_dict(tomllib.loads(text), source=name_or_path)


def board_from_file(path: Path) -> Board:
    """Parse a user's board file; any problem becomes a one-line BoardError."""
    try:
        if not path.is_file():
            raise BoardError(f"board file not found: {shown(path)}")
        if path.stat().st_size > MAX_BOARD_FILE:
            raise BoardError(f"malformed board file {shown(path)}: larger than 1 MiB")
        text = path.read_text()
        data = json.loads(text) if path.suffix.lower() == ".json" else tomllib.loads(text)
    except OSError as exc:
        raise BoardError(f"cannot read board file {shown(path)}: {exc.strerror or exc}") from None
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise BoardError(f"malformed board file {shown(path)}: {shown(exc)}") from None
    return board_from_dict(data, source=shown(path))


# -- the schema: every field's type, range and default ---------------------------------------
#
# A field is (type, required, check): type is int, str, bool, list or dict (bool is not an
# int here); check(value) returns None or what the value must be ("an integer from 0 to 255").

Check = Callable[[Any], "str | None"]
U32 = 1 << 32
PPB_START, PPB_END = 0xE0000000, 0xE0100000  # the private peripheral bus (always the core's)
MAX_REGIONS = 32
MAX_ALIASES = 8
MAX_SPANS = 64  # regions and aliases in all (the C fast path's region table)
MAX_FLASH = 64 << 20  # bytes: more than any Cortex-M4 part has; flash starts erased (0xFF)
MAX_CACHE_LINES = 256  # the C fast path's cache size limit
MAX_WAIT_STATES = 255


def _int_range(low: int, high: int) -> Check:
    return lambda v: None if low <= v <= high else f"an integer from {low:,} to {high:,}"


def _choice(*allowed: str) -> Check:
    return lambda v: None if v in allowed else f"one of {', '.join(allowed)}"


def _page_multiple(v: int) -> str | None:
    if 0 <= v < U32 and v % 0x1000 == 0:
        return None
    return "a multiple of 4 KiB (0x1000) below 4 GiB"


def _power_of_two(v: int) -> str | None:
    return None if 4 <= v <= 4096 and v & (v - 1) == 0 else "a power of two from 4 to 4096"


def _text(v: str) -> str | None:
    return None if v.strip() and len(v) <= 64 else "a non-empty name of at most 64 characters"


def _any(_v: object) -> None:
    return None


BOARD_FIELDS: dict[str, tuple[type, bool, Check]] = {
    "name": (str, True, _text),
    "core": (str, False, _choice(*core_names())),
    "clock_hz": (int, True, _int_range(1, 10_000_000_000)),
    "description": (str, False, _any),
    "regions": (list, True, _any),
    "options": (dict, False, _any),
}
REGION_FIELDS: dict[str, tuple[type, bool, Check]] = {
    "name": (str, True, _text),
    "base": (int, True, _page_multiple),
    "size": (int, True, lambda v: _page_multiple(v) if v > 0 else "a positive multiple of 4 KiB"),
    "kind": (str, True, _choice(*REGION_KINDS)),
    "block": (str, False, _text),
    "aliases": (list, False, _any),
    "read_ws": (int, False, _int_range(0, MAX_WAIT_STATES)),
    "write_ws": (int, False, _int_range(0, MAX_WAIT_STATES)),
    "fetch_ws": (int, False, _int_range(0, MAX_WAIT_STATES)),
    "exec": (bool, False, _any),
    "device": (bool, False, _any),
    "line_bytes": (int, False, _power_of_two),
    "prefetch": (bool, False, _any),
    "icache_lines": (int, False, _int_range(0, MAX_CACHE_LINES)),
    "dcache_lines": (int, False, _int_range(0, MAX_CACHE_LINES)),
    "fetch_word_cycles": (int, False, _int_range(1, MAX_WAIT_STATES)),
    "bus": (str, False, lambda v: None if len(v) <= 64 else "a name of at most 64 characters"),
    "line_buffer": (bool, False, _any),
    "fetch_registered": (bool, False, _any),
}
OPTION_FIELDS: dict[str, dict[str, tuple[type, bool, Check]]] = {
    "fetch": {"unaligned_wide_run_penalty": (bool, False, _any)},
}
TYPE_NAMES = {
    int: "an integer",
    str: "a string",
    bool: "true or false",
    list: "a list",
    dict: "a table",
}


def _validated(data: Any, fields: dict[str, tuple[type, bool, Check]], where: str) -> dict:
    """The table `data` checked against `fields`; ValueError naming the field otherwise."""
    if not isinstance(data, dict):
        raise ValueError(f"{where or 'the top level'} must be a table, not {_short(data)}")
    unknown = sorted(str(k) for k in data if k not in fields)
    if unknown:
        raise ValueError(
            f"{where or 'the top level'} has unknown keys {unknown} (known: {', '.join(fields)})"
        )
    for key, (kind, required, check) in fields.items():
        name = f"{where}.{key}" if where else key
        if key not in data:
            if required:
                raise ValueError(f"missing key {name!r}")
            continue
        value = data[key]
        if isinstance(value, bool) != (kind is bool) or not isinstance(value, kind):
            raise ValueError(f"{name} must be {TYPE_NAMES[kind]}, not {_short(value)}")
        problem = check(value)
        if problem is not None:
            raise ValueError(f"{name} must be {problem}, not {_short(value)}")
    return data


def _short(value: Any) -> str:
    """A value as the user wrote it (integers in hex when large), cut to a few characters."""
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 0x1000:
        text = f"{value:#x}"
    elif isinstance(value, (dict, list)):
        text = "a table" if isinstance(value, dict) else "a list"
    else:
        text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def board_from_dict(data: Any, source: str) -> Board:
    """Validate parsed TOML/JSON data against the schema above and build a Board."""
    try:
        data = _validated(data, BOARD_FIELDS, "")
        regions = tuple(
            _region(r, f"regions[{k}]") for k, r in enumerate(data["regions"][: MAX_REGIONS + 1])
        )
        if not regions:
            raise ValueError("no regions")
        if len(regions) > MAX_REGIONS:
            raise ValueError(f"more than {MAX_REGIONS} regions")
        options = _validated(
            data.get("options", {}), dict.fromkeys(OPTION_FIELDS, (dict, False, _any)), "options"
        )
        for key, fields in OPTION_FIELDS.items():
            if key in options:
                _validated(options[key], fields, f"options.{key}")
        board = Board(
            name=data["name"],
            core=data.get("core", DEFAULT_CORE),
            clock_hz=data["clock_hz"],
            regions=regions,
            description=data.get("description", ""),
            options=dict(options),
        )
    except ValueError as exc:
        raise BoardError(f"malformed board file {source}: {exc}") from None
    _check_layout(board, source)
    return board


def _region(data: Any, where: str) -> Region:
    fields = dict(_validated(data, REGION_FIELDS, where))
    fields.setdefault("block", fields["name"])
    aliases = fields.get("aliases", [])
    if len(aliases) > MAX_ALIASES:
        raise ValueError(f"{where}.aliases: at most {MAX_ALIASES}")
    for k, alias in enumerate(aliases):
        if isinstance(alias, bool) or not isinstance(alias, int) or _page_multiple(alias):
            raise ValueError(
                f"{where}.aliases[{k}] must be a multiple of 4 KiB (0x1000) below 4 GiB, "
                f"not {_short(alias)}"
            )
    fields["aliases"] = tuple(aliases)
    region = Region(**fields)
    if region.kind == "flash" and region.size > MAX_FLASH:
        raise ValueError(
            f"{where}.size must be at most {MAX_FLASH:#x} (64 MiB) for flash, not {region.size:#x}"
        )
    for start in (region.base, *region.aliases):
        if start + region.size > U32:
            raise ValueError(f"{where} ({region.name!r}) extends past 4 GiB")
        inside_ppb = start < PPB_END and start + region.size > PPB_START
        if inside_ppb != (region.kind == "ppb") or (
            region.kind == "ppb" and not (start >= PPB_START and start + region.size <= PPB_END)
        ):
            raise ValueError(
                f"{where} ({region.name!r}): only a region of kind 'ppb' may lie in the private "
                f"peripheral bus 0x{PPB_START:08x}-0x{PPB_END - 1:08x}, and only there"
            )
    return region


def _check_layout(board: Board, source: str) -> None:
    spans = sum(1 + len(r.aliases) for r in board.regions)
    if spans > MAX_SPANS:
        raise BoardError(
            f"malformed board file {source}: {spans} regions and aliases, at most {MAX_SPANS}"
        )
    names = [r.name for r in board.regions]
    for name in names:
        if names.count(name) > 1:
            raise BoardError(f"malformed board file {source}: two regions named {name!r}")
    spans = sorted(
        (start, start + r.size, r.name) for r in board.regions for start in (r.base, *r.aliases)
    )
    for (_s1, e1, n1), (s2, _e2, n2) in zip(spans, spans[1:], strict=False):
        if s2 < e1:
            raise BoardError(f"malformed board file {source}: regions {n1!r} and {n2!r} overlap")
