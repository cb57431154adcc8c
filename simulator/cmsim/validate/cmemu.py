"""CMEmu's hardware dumps (TI CC2652, Cortex-M4F): read them and replay each configuration.

A test is a pair NAME.asm (YAML header + template, for the reader) and NAME.tzst: a zstd tar of
N.flash (the raw flash image as programmed, base 0) and N.dump (MessagePack: entry and exit
addresses, symbols, the configuration, and `mem_dump`, the arrays read back from the chip).
A configuration runs from `emulator_main` (SP from flash word 0) until the PC reaches
`emulator_exit`, as the chip did under its debugger (DEMCR.TRCENA set), on the board that
describes the chip; then every dumped array is read from the simulated memory and compared
byte for byte.
"""

from __future__ import annotations

import ast
import io
import re
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from cmsim.errors import CmsimError

if TYPE_CHECKING:
    from cmsim.machine import Machine

FLASH_BASE = 0x00000000


@dataclass(frozen=True)
class Dumped:
    """One array read back from the chip."""

    name: str
    address: int
    content: bytes


@dataclass(frozen=True)
class Configuration:
    """One configuration of one test: what to run and what the chip measured."""

    test: str  # path of the test relative to the corpus folder, without suffix
    index: int
    flash: bytes
    main: int
    exit: int
    settings: dict
    symbols: dict[str, int]
    arrays: tuple[Dumped, ...] = field(repr=False)
    # what the template sets the line buffer to: a literal `True`/`False` or a setting's name
    line_buffer_source: str | None = None

    @property
    def name(self) -> str:
        return f"{self.test}#{self.index}"

    @property
    def code(self) -> str:
        """Where the measured code ran, as the test declares it (`code`, or `code_memory`):
        `sram`, `flash`, `gpram`; `unspecified` for tests that place code in several memories
        (their measured code may be anywhere)."""
        for key in ("code", "code_memory"):
            if key in self.settings:
                return str(self.settings[key])
        return "unspecified"

    @property
    def line_buffer(self) -> bool:
        """The VIMS line buffer was on: as the template's `device:line_buffer_enabled` sets it
        (a literal, or the setting it names), else `lbEn`, default on."""
        source = self.line_buffer_source
        if source in ("True", "False"):
            return source == "True"
        if source is not None and source in self.settings:
            return bool(self.settings[source])
        return bool(self.settings.get("lbEn", self.settings.get("lb_en", True)))


def find_tests(folder: Path) -> list[Path]:
    """Every NAME.tzst below `folder`, sorted."""
    if not folder.is_dir():
        raise CmsimError(f"not a folder: {folder}")
    tests = sorted(folder.rglob("*.tzst"))
    if not tests:
        raise CmsimError(f"no CMEmu dumps (*.tzst) in {folder}")
    return tests


def read_test(path: Path, root: Path) -> Iterator[Configuration]:
    """The configurations of one NAME.tzst, in index order."""
    import msgpack
    import zstandard

    try:
        with path.open("rb") as stream:
            raw = zstandard.ZstdDecompressor().stream_reader(stream).read()
        archive = tarfile.open(fileobj=io.BytesIO(raw), mode="r:")
    except (OSError, tarfile.TarError, zstandard.ZstdError) as exc:
        raise CmsimError(f"{path}: not a CMEmu dump archive: {exc}") from None
    members = {Path(m.name).name: m for m in archive.getmembers() if m.isfile()}
    indices = sorted(int(n[: -len(".dump")]) for n in members if n.endswith(".dump"))
    test = str(path.relative_to(root).with_suffix(""))
    source = _line_buffer_source(path.with_suffix(".asm"))
    for index in indices:
        flash_member = members.get(f"{index}.flash")
        if flash_member is None:
            raise CmsimError(f"{path}: configuration {index} has no flash image")
        dump = msgpack.unpackb(
            archive.extractfile(members[f"{index}.dump"]).read(),
            raw=False,
            strict_map_key=False,
        )
        flash = archive.extractfile(flash_member).read()
        yield _configuration(test, index, flash, dump, path, source)


LINE_BUFFER_DIRECTIVE = re.compile(r"\{%\s*device:line_buffer_enabled\s*=\s*(\w+)\s*%\}")


def _line_buffer_source(template: Path) -> str | None:
    """What NAME.asm sets the VIMS line buffer to (some tests fix it whatever `lbEn` says)."""
    try:
        found = LINE_BUFFER_DIRECTIVE.search(template.read_text(errors="replace"))
    except OSError:
        return None
    return found.group(1) if found else None


def _configuration(
    test: str, index: int, flash: bytes, dump: dict, path: Path, source: str | None
) -> Configuration:
    try:
        settings = ast.literal_eval(dump["configuration_name"])
        arrays = tuple(
            Dumped(str(e["symbol_name"]), int(e["addr"]), bytes(e["content"]))
            for e in dump["mem_dump"]
        )
        return Configuration(
            test=test,
            index=index,
            flash=flash,
            main=int(dump["emulator_main_addr"]),
            exit=int(dump["emulator_exit_addr"]),
            settings=settings if isinstance(settings, dict) else {},
            symbols={str(k): int(v) for k, v in dump.get("symbols", {}).items()},
            arrays=arrays,
            line_buffer_source=source,
        )
    except (KeyError, TypeError, ValueError, SyntaxError) as exc:
        raise CmsimError(f"{path}: malformed dump {index}: {exc}") from None


# -- replaying a configuration -----------------------------------------------------------------

CYCLE_ARRAYS = frozenset({"times", "cyccnt", "cyccnts", "counter", "counters", "cycles"})
COUNTER_ARRAYS = frozenset(
    {
        "cpicnt",
        "cpicnts",
        "lsucnt",
        "lsucnts",
        "foldcnt",
        "foldcnts",
        "exccnt",
        "exccnts",
        "sleepcnt",
        "sleepcnts",
    }
)
DEFAULT_MAX_INSTRUCTIONS = 50_000_000


def array_kind(name: str) -> str:
    """`cycles` (CYCCNT deltas), `counters` (DWT profiling counters) or `values` (functional)."""
    if name in CYCLE_ARRAYS:
        return "cycles"
    if name in COUNTER_ARRAYS:
        return "counters"
    return "values"


@dataclass(frozen=True)
class ArrayResult:
    """One dumped array compared with the simulated memory after the run."""

    name: str
    kind: str
    words: int  # 32-bit words compared (bytes / 4, rounded up)
    differing: int  # words that differ
    first: tuple[int, int, int] | None  # (word index, chip value, cmsim value) of the first

    @property
    def matched(self) -> bool:
        return self.differing == 0


@dataclass(frozen=True)
class ConfigResult:
    """What one configuration gave."""

    name: str
    family: str
    code: str
    line_buffer: bool
    arrays: tuple[ArrayResult, ...]
    error: str | None = None

    def matched(self, kind: str) -> bool | None:
        """All arrays of a kind byte-exact (None when the configuration has none)."""
        chosen = [a for a in self.arrays if a.kind == kind]
        if self.error is not None:
            return False if chosen else None
        return all(a.matched for a in chosen) if chosen else None


def family(test: str) -> str:
    """The test family: its folder in the corpus (e.g. `instructions/memory`)."""
    parent = str(Path(test).parent)
    return parent if parent != "." else "(top)"


def image_of(config: Configuration):
    """The flash image as an executable segment at 0, with the dump's symbols."""
    from cmsim.image import Image, Segment

    segment = Segment(
        ".flash", FLASH_BASE, FLASH_BASE, config.flash, len(config.flash), True, False
    )
    return Image(Path(config.name), config.main | 1, [segment], dict(config.symbols), [])


def replay(
    config: Configuration,
    board,
    path: str = "fast",
    max_instructions: int = DEFAULT_MAX_INSTRUCTIONS,
) -> tuple[Machine, str | None]:
    """Run one configuration on `board` to its exit; returns the machine (its memory holds
    what cmsim computed) and the error that stopped the run early, if any."""
    from unicorn import UC_HOOK_CODE

    from cmsim.engine import Engine
    from cmsim.machine import Machine, Stop
    from cmsim.peripherals import DEMCR, DEMCR_TRCENA

    machine = Machine(image_of(config), board, stdout=io.BytesIO(), stderr=io.BytesIO())
    engine = Engine(machine, path=path, max_instructions=max_instructions)
    # The debugger that loaded the test enabled the trace unit (DWT counters count).
    machine.peripherals.registers[DEMCR] = DEMCR_TRCENA

    def at_exit(_uc, _address, _size, _data) -> None:
        machine.stop(Stop(exit_code=0))

    machine.uc.hook_add(UC_HOOK_CODE, at_exit, begin=config.exit, end=config.exit)
    try:
        engine.run(entry=config.main | 1)
    except CmsimError as exc:
        return machine, str(exc)
    return machine, None


def run_configuration(
    config: Configuration,
    board,
    path: str = "fast",
    max_instructions: int = DEFAULT_MAX_INSTRUCTIONS,
) -> ConfigResult:
    """Replay one configuration on `board` and compare every dumped array."""
    machine, error = replay(config, board, path, max_instructions)
    arrays = tuple(_compare(machine, dumped) for dumped in config.arrays)
    return ConfigResult(
        config.name, family(config.test), config.code, config.line_buffer, arrays, error
    )


def simulated(machine: Machine, dumped: Dumped) -> bytes:
    """The bytes of a dumped array as the replayed machine holds them (zeros if unmapped)."""
    size = len(dumped.content)
    try:
        return bytes(machine.uc.mem_read(dumped.address, size))
    except Exception:  # unmapped: every word differs
        return b"\0" * size


def _compare(machine, dumped: Dumped) -> ArrayResult:
    size = len(dumped.content)
    got = simulated(machine, dumped)
    words = (size + 3) // 4
    differing = 0
    first = None
    for k in range(words):
        a, b = dumped.content[4 * k : 4 * k + 4], got[4 * k : 4 * k + 4]
        if a != b:
            differing += 1
            if first is None:
                first = (k, int.from_bytes(a, "little"), int.from_bytes(b, "little"))
    return ArrayResult(dumped.name, array_kind(dumped.name), words, differing, first)


# -- a whole corpus ----------------------------------------------------------------------------


def parse_filters(texts: list[str]) -> dict[str, str]:
    """`key=value` filters on the configuration settings (e.g. code=sram)."""
    filters = {}
    for text in texts:
        key, sep, value = text.partition("=")
        if not sep or not key:
            raise CmsimError(f"bad filter {text!r}: use KEY=VALUE, e.g. code=sram")
        filters[key.strip()] = value.strip()
    return filters


def selected(config: Configuration, filters: dict[str, str]) -> bool:
    """Does the configuration match every filter (compared as text; lbEn also as true/false)?"""
    for key, value in filters.items():
        have = config.settings.get(key)
        if key == "code":
            have = config.code
        if str(have).lower() != value.lower():
            return False
    return True


def board_for(config: Configuration, board_name: str | None = None):
    """The board that describes the chip in this configuration: `cc2652`, or `cc2652-nolb` when
    the test turned the VIMS line buffer off (`lbEn: false`); `board_name` overrides."""
    from cmsim.board import load_board

    if board_name is not None:
        return load_board(board_name)
    return load_board("cc2652" if config.line_buffer else "cc2652-nolb")


def validate_folder(
    folder: Path,
    filters: dict[str, str] | None = None,
    board_name: str | None = None,
    path: str = "fast",
    progress=None,
) -> list[ConfigResult]:
    """Replay every selected configuration under `folder`; `progress(done, total, name)`."""
    folder = Path(folder)
    tests = find_tests(folder)
    results = []
    boards: dict[str, object] = {}
    for index, test in enumerate(tests):
        for config in read_test(test, folder):
            if not selected(config, filters or {}):
                continue
            key = board_name or ("lb" if config.line_buffer else "nolb")
            if key not in boards:
                boards[key] = board_for(config, board_name)
            results.append(run_configuration(config, boards[key], path))
        if progress is not None:
            progress(index + 1, len(tests), test.stem)
    return results


@dataclass
class FamilyRow:
    """Match counts of one (family, code placement)."""

    family: str
    code: str
    configs: int = 0
    cycles: int = 0  # configurations with every cycle-count array byte-exact
    with_counters: int = 0
    counters: int = 0  # of those with profiling-counter arrays, all byte-exact
    values: int = 0  # functional arrays all byte-exact (or none)

    def rate(self, part: str) -> float | None:
        total = self.with_counters if part == "counters" else self.configs
        return None if total == 0 else getattr(self, part) / total


def summarize(results: list[ConfigResult]) -> list[FamilyRow]:
    """One row per (family, placement), plus an `all` row per placement."""
    rows: dict[tuple[str, str], FamilyRow] = {}
    for r in results:
        code = r.code if r.code != "flash" else ("flash lb" if r.line_buffer else "flash no-lb")
        for fam in (r.family, "all"):
            row = rows.setdefault((fam, code), FamilyRow(fam, code))
            row.configs += 1
            row.cycles += r.matched("cycles") is not False
            counters = r.matched("counters")
            if counters is not None:
                row.with_counters += 1
                row.counters += counters
            row.values += r.matched("values") is not False
    return sorted(rows.values(), key=lambda row: (row.code, row.family == "all", row.family))


def array_differences(results: list[ConfigResult]) -> list[dict]:
    """Per array name: configurations that dump it, those where it differs, differing words."""
    table: dict[str, dict] = {}
    for r in results:
        for a in r.arrays:
            entry = table.setdefault(
                a.name, {"array": a.name, "kind": a.kind, "configs": 0, "differ": 0, "words": 0}
            )
            entry["configs"] += 1
            entry["differ"] += not a.matched
            entry["words"] += a.differing
    return sorted(table.values(), key=lambda e: (e["kind"], e["array"]))


def report(results: list[ConfigResult]) -> dict:
    """The JSON report: summary rows, per-array differences, every configuration."""
    return {
        "summary": [
            {
                **row.__dict__,
                "cycles_rate": row.rate("cycles"),
                "counters_rate": row.rate("counters"),
            }
            for row in summarize(results)
        ],
        "arrays": array_differences(results),
        "configurations": [
            {
                "name": r.name,
                "family": r.family,
                "code": r.code,
                "line_buffer": r.line_buffer,
                "error": r.error,
                "arrays": [
                    {
                        "name": a.name,
                        "kind": a.kind,
                        "words": a.words,
                        "differing": a.differing,
                        "first": a.first,
                    }
                    for a in r.arrays
                ],
            }
            for r in results
        ],
    }


def render(results: list[ConfigResult], console, arrays: bool = True) -> None:
    """Print the match rates per family and placement, then the differences per array."""
    from rich import box
    from rich.table import Table

    def pct(row: FamilyRow, part: str) -> str:
        rate = row.rate(part)
        if rate is None:
            return "-"
        total = row.with_counters if part == "counters" else row.configs
        return f"{getattr(row, part)}/{total} {100 * rate:5.1f}%"

    table = Table(
        box=box.SIMPLE_HEAD,
        title="CMEmu CC2652 dumps: configurations byte-exact (flash lb: VIMS line buffer on)",
    )
    for name in ("code in", "family", "configs", "cycle counts", "DWT counters", "values"):
        table.add_column(name, justify="left" if name in ("code in", "family") else "right")
    for row in summarize(results):
        style = "bold" if row.family == "all" else None
        table.add_row(
            row.code,
            row.family,
            str(row.configs),
            pct(row, "cycles"),
            pct(row, "counters"),
            pct(row, "values"),
            style=style,
        )
    console.print(table)
    if arrays:
        diff = Table(box=box.SIMPLE_HEAD, title="differences per array")
        for name in ("array", "kind", "configs", "differ", "differing words"):
            diff.add_column(name, justify="left" if name in ("array", "kind") else "right")
        for e in array_differences(results):
            diff.add_row(
                e["array"], e["kind"], str(e["configs"]), str(e["differ"]), str(e["words"])
            )
        console.print(diff)
    errors = [r for r in results if r.error]
    if errors:
        console.print(
            f"{len(errors)} configurations stopped with an error, e.g. {errors[0].name}: "
            f"{errors[0].error}"
        )
