"""ELF -> Image: loadable segments, symbols, function ranges, entry point (pyelftools)."""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from pathlib import Path

from elftools.common.exceptions import ELFError
from elftools.elf.constants import P_FLAGS
from elftools.elf.elffile import ELFFile

from cmsim.errors import ImageError

EM_ARM = "EM_ARM"


@dataclass(frozen=True)
class Segment:
    """A PT_LOAD segment: bytes written at its load address (LMA), as a flash programmer does."""

    name: str  # the sections it carries, e.g. ".text" or ".data"
    load_address: int
    virtual_address: int
    data: bytes
    memory_size: int
    executable: bool
    writable: bool


@dataclass(frozen=True)
class Function:
    """A function symbol with its address range (Thumb bit cleared)."""

    name: str
    start: int
    end: int


@dataclass
class Image:
    """Everything cmsim needs from a firmware ELF."""

    path: Path
    entry: int
    segments: list[Segment]
    symbols: dict[str, int]
    functions: list[Function]
    section_sizes: dict[str, int] = field(default_factory=dict)
    _starts: list[int] = field(default_factory=list, repr=False)

    def __post_init__(self) -> None:
        self.functions.sort(key=lambda f: f.start)
        self._starts = [f.start for f in self.functions]

    def function_at(self, address: int) -> Function | None:
        """The function whose range holds `address`, or None."""
        index = bisect.bisect_right(self._starts, address & ~1) - 1
        if index >= 0 and address & ~1 < self.functions[index].end:
            return self.functions[index]
        return None

    def function_name(self, address: int) -> str | None:
        """The name of the function holding `address`, or None."""
        function = self.function_at(address)
        return function.name if function else None

    def symbol(self, name: str) -> int:
        """Address of a symbol (Thumb bit kept for functions); ImageError when absent."""
        try:
            return self.symbols[name]
        except KeyError:
            raise ImageError(f"{self.path.name}: no symbol {name!r}") from None

    def read(self, address: int, length: int) -> bytes | None:
        """Bytes of the loaded image at a load address, or None when not fully inside a segment."""
        for segment in self.segments:
            offset = address - segment.load_address
            if 0 <= offset and offset + length <= len(segment.data):
                return segment.data[offset : offset + length]
        return None


def load_image(path: str | Path) -> Image:
    """Read a 32-bit little-endian ARM ELF; raise ImageError with one clear line otherwise."""
    path = Path(path)
    if not path.exists():
        raise ImageError(f"no such file: {path}")
    if not path.is_file():
        raise ImageError(f"not a file: {path}")
    with path.open("rb") as stream:
        if stream.read(4) != b"\x7fELF":
            raise ImageError(f"{path}: not an ELF file")
        stream.seek(0)
        try:
            return _read_elf(path, ELFFile(stream))
        except ELFError as exc:
            raise ImageError(f"{path}: malformed ELF: {exc}") from None


def _read_elf(path: Path, elf: ELFFile) -> Image:
    if elf.elfclass != 32:
        raise ImageError(f"{path}: {elf.elfclass}-bit ELF; cmsim runs 32-bit Arm Cortex-M ELFs")
    if elf["e_machine"] != EM_ARM:
        raise ImageError(
            f"{path}: ELF for {elf['e_machine']}, not Arm; build with arm-none-eabi-gcc"
        )
    if not elf.little_endian:
        raise ImageError(f"{path}: big-endian ELF; cmsim runs little-endian Cortex-M firmware")
    segments = _segments(elf)
    if not segments:
        raise ImageError(f"{path}: no loadable segments")
    symbols, functions = _symbols(elf)
    sizes = {
        s.name: s["sh_size"]
        for s in elf.iter_sections()
        if s["sh_flags"] & 0x2  # SHF_ALLOC
    }
    return Image(path, elf["e_entry"], segments, symbols, functions, sizes)


def _segments(elf: ELFFile) -> list[Segment]:
    segments = []
    for index, segment in enumerate(elf.iter_segments()):
        if segment["p_type"] != "PT_LOAD" or segment["p_memsz"] == 0:
            continue
        names = [s.name for s in elf.iter_sections() if s.name and segment.section_in_segment(s)]
        segments.append(
            Segment(
                name=",".join(names) or f"#{index}",
                load_address=segment["p_paddr"],
                virtual_address=segment["p_vaddr"],
                data=segment.data(),
                memory_size=segment["p_memsz"],
                executable=bool(segment["p_flags"] & P_FLAGS.PF_X),
                writable=bool(segment["p_flags"] & P_FLAGS.PF_W),
            )
        )
    return segments


def _symbols(elf: ELFFile) -> tuple[dict[str, int], list[Function]]:
    table = elf.get_section_by_name(".symtab")
    symbols: dict[str, int] = {}
    functions: dict[int, Function] = {}
    if table is None:
        return symbols, []
    for symbol in table.iter_symbols():
        if not symbol.name or symbol["st_shndx"] == "SHN_UNDEF" or symbol.name.startswith("$"):
            continue
        value = symbol["st_value"]
        symbols.setdefault(symbol.name, value)
        kind = symbol["st_info"]["type"]
        if kind == "STT_FUNC" and symbol["st_size"] > 0:
            start = value & ~1
            # Aliases share an address: keep the global name (e.g. NMI_Handler -> Default_Handler).
            if start not in functions or symbol["st_info"]["bind"] == "STB_GLOBAL":
                functions[start] = Function(symbol.name, start, start + symbol["st_size"])
    return symbols, list(functions.values())

