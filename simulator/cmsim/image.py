"""ELF -> Image: loadable segments, symbols, function ranges, entry point (pyelftools)."""

from __future__ import annotations

import bisect
import io
import os
from dataclasses import dataclass, field
from pathlib import Path

from elftools.elf.constants import P_FLAGS
from elftools.elf.elffile import ELFFile
from elftools.elf.sections import ARMAttributesSection, SymbolTableSection

from cmsim.errors import ImageError, shown

EM_ARM = "EM_ARM"
SHF_ALLOC = 0x2
MAX_ELF_BYTES = 1 << 28  # 256 MiB: far above any firmware with debug information
MAX_SECTIONS = 10_000
MAX_SEGMENTS = 256
PROFILES = {ord("A"): "application", ord("R"): "real-time"}  # Tag_CPU_arch_profile values
# Tag_CPU_arch values of M-profile architectures (v6-M, v6S-M, v7E-M, v8-M baseline/mainline,
# v8.1-M mainline); v7 (10) is M-profile too when the profile tag says so.
M_PROFILE_ARCHS = {10, 11, 12, 13, 16, 17, 21}


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
    """A function symbol with its address range (Thumb bit cleared).

    `sized` is False for a symbol without `.size` (hand-written assembly): its range then runs
    to the next function symbol or the end of its section."""

    name: str
    start: int
    end: int
    sized: bool = True


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
    if not isinstance(path, (str, os.PathLike)):
        raise ImageError(f"not a file name: {shown(repr(path))}")
    path = Path(path)
    try:
        if not path.exists():
            raise ImageError(f"no such file: {shown(path)}")
        if not path.is_file():
            raise ImageError(f"not a file: {shown(path)}")
        if path.stat().st_size > MAX_ELF_BYTES:
            raise ImageError(f"{shown(path)}: {path.stat().st_size:,} bytes is no firmware ELF")
        data = path.read_bytes()
    except OSError as exc:  # permission denied, read error, name too long...
        raise ImageError(f"cannot read {shown(path)}: {exc.strerror or exc}") from None
    if data[:4] != b"\x7fELF":
        raise ImageError(f"{shown(path)}: not an ELF file")
    try:
        return _read_elf(path, ELFFile(io.BytesIO(data)), len(data))
    except ImageError:
        raise
    except Exception as exc:  # noqa: BLE001 - pyelftools raises many kinds on hostile input
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ImageError(f"{shown(path)}: malformed ELF: {shown(reason)}") from None


def _read_elf(path: Path, elf: ELFFile, file_size: int) -> Image:
    name = shown(path)
    if elf.elfclass != 32:
        raise ImageError(f"{name}: {elf.elfclass}-bit ELF; cmsim runs 32-bit Arm Cortex-M ELFs")
    if elf["e_machine"] != EM_ARM:
        raise ImageError(
            f"{name}: ELF for {elf['e_machine']}, not Arm; build with arm-none-eabi-gcc"
        )
    if not elf.little_endian:
        raise ImageError(f"{name}: big-endian ELF; cmsim runs little-endian Cortex-M firmware")
    sections = _sections(elf, file_size, name)
    _check_profile(elf, sections, name)
    segments = _segments(elf, sections, file_size, name)
    if not segments:
        raise ImageError(f"{name}: no loadable segments")
    symbols, functions, arm_code = _symbols(sections)
    if arm_code is not None:
        raise ImageError(
            f"{name}: ARM-state code at 0x{arm_code:08x} (mapping symbol $a); a Cortex-M runs "
            "Thumb code only: build with -mthumb -mcpu=cortex-m4"
        )
    sizes = {s.name: s["sh_size"] for s in sections if s["sh_flags"] & SHF_ALLOC}
    return Image(path, elf["e_entry"], segments, symbols, functions, sizes)


def _sections(elf: ELFFile, file_size: int, name: str) -> list:
    """Every section, each checked to lie inside the file (pyelftools reads them lazily and
    would otherwise loop over a symbol table that claims gigabytes)."""
    if elf.num_sections() > MAX_SECTIONS:
        raise ImageError(f"{name}: malformed ELF: {elf.num_sections():,} sections")
    sections = list(elf.iter_sections())
    for section in sections:
        if section["sh_type"] == "SHT_NOBITS":
            continue
        if section["sh_offset"] + section["sh_size"] > file_size:
            raise ImageError(
                f"{name}: malformed ELF: section {shown(section.name or '?')!r} lies past the "
                f"end of the file ({file_size:,} bytes)"
            )
    return sections


def _check_profile(elf: ELFFile, sections: list, name: str) -> None:
    """Refuse code built for an application or real-time profile core (ARM state), from the
    build attributes the toolchain records (.ARM.attributes: Tag_CPU_arch_profile)."""
    for section in sections:
        if not isinstance(section, ARMAttributesSection):
            continue
        tags = {}
        for sub in section.iter_subsections():
            for subsub in sub.iter_subsubsections():
                for attribute in subsub.iter_attributes():
                    tags[attribute.tag] = attribute.value
        profile = tags.get("TAG_CPU_ARCH_PROFILE")
        if profile in PROFILES:
            raise ImageError(
                f"{name}: built for a Cortex-{chr(profile)} ({PROFILES[profile]} profile) core; "
                "cmsim runs Cortex-M (Thumb) firmware: build with -mthumb -mcpu=cortex-m4"
            )
        arch = tags.get("TAG_CPU_ARCH")
        if tags.get("TAG_ARM_ISA_USE") and arch is not None and arch not in M_PROFILE_ARCHS:
            raise ImageError(
                f"{name}: built for ARM state (Tag_ARM_ISA_use, architecture #{arch}); "
                "cmsim runs Cortex-M (Thumb) firmware: build with -mthumb -mcpu=cortex-m4"
            )


def _segments(elf: ELFFile, sections: list, file_size: int, name: str) -> list[Segment]:
    if elf.num_segments() > MAX_SEGMENTS:
        raise ImageError(f"{name}: malformed ELF: {elf.num_segments():,} program headers")
    segments = []
    for index, segment in enumerate(elf.iter_segments()):
        if segment["p_type"] != "PT_LOAD" or segment["p_memsz"] == 0:
            continue
        _check_segment(segment, index, file_size, name)
        names = [s.name for s in sections if s.name and segment.section_in_segment(s)]
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
    _check_overlaps(segments, name)
    return segments


def _check_segment(segment, index: int, file_size: int, name: str) -> None:
    offset, size, memsz = segment["p_offset"], segment["p_filesz"], segment["p_memsz"]
    if offset + size > file_size:
        raise ImageError(
            f"{name}: malformed ELF: PT_LOAD #{index}'s {size:,} bytes at file offset "
            f"0x{offset:x} lie past the end of the file ({file_size:,} bytes)"
        )
    if size > memsz:
        raise ImageError(
            f"{name}: malformed ELF: PT_LOAD #{index} has {size:,} bytes in the file but "
            f"{memsz:,} in memory"
        )
    for key in ("p_vaddr", "p_paddr"):
        if segment[key] + memsz > 1 << 32:
            raise ImageError(
                f"{name}: malformed ELF: PT_LOAD #{index} at 0x{segment[key]:08x} "
                f"({memsz:,} bytes) wraps past 4 GiB"
            )


def _check_overlaps(segments: list[Segment], name: str) -> None:
    """Two PT_LOADs may not share bytes, where they are loaded (LMA) or where they run (VMA)."""
    for kind, spans in (
        ("load", [(s.load_address, s.load_address + len(s.data), s.name) for s in segments]),
        ("run", [(s.virtual_address, s.virtual_address + s.memory_size, s.name) for s in segments]),
    ):
        spans = sorted(span for span in spans if span[1] > span[0])
        for (_s1, e1, n1), (s2, _e2, n2) in zip(spans, spans[1:], strict=False):
            if s2 < e1:
                raise ImageError(
                    f"{name}: malformed ELF: segments {shown(n1)} and {shown(n2)} overlap at "
                    f"0x{s2:08x} ({kind} addresses)"
                )


def _symbols(sections: list) -> tuple[dict[str, int], list[Function], int | None]:
    """Symbols, function ranges, and the address of ARM-state code if a mapping symbol ($a)
    marks some."""
    table = next(
        (s for s in sections if s.name == ".symtab" and isinstance(s, SymbolTableSection)), None
    )
    symbols: dict[str, int] = {}
    functions: dict[int, Function] = {}
    unsized: dict[int, tuple[str, int]] = {}  # start -> (name, end of its section)
    arm_code = None
    if table is None:
        return symbols, [], None
    for symbol in table.iter_symbols():
        if not symbol.name or symbol["st_shndx"] == "SHN_UNDEF":
            continue
        if symbol.name.startswith("$"):
            if symbol.name in ("$a", "$a.0") or symbol.name.startswith("$a."):
                arm_code = symbol["st_value"] if arm_code is None else arm_code
            continue
        value = symbol["st_value"]
        symbols.setdefault(symbol.name, value)
        if symbol["st_info"]["type"] != "STT_FUNC":
            continue
        start = value & ~1
        if symbol["st_size"] > 0:
            # Aliases share an address: keep the global name (e.g. NMI_Handler -> Default_Handler).
            if start not in functions or symbol["st_info"]["bind"] == "STB_GLOBAL":
                functions[start] = Function(symbol.name, start, start + symbol["st_size"])
        elif start not in unsized or symbol["st_info"]["bind"] == "STB_GLOBAL":
            unsized[start] = (symbol.name, _section_end(sections, symbol["st_shndx"], start))
    return symbols, [*functions.values(), *_extents(unsized, functions)], arm_code


def _section_end(sections: list, index, start: int) -> int:
    """The end address of the section holding a symbol (just past `start` if unknown)."""
    if isinstance(index, int) and 0 < index < len(sections):
        section = sections[index]
        end = section["sh_addr"] + section["sh_size"]
        if section["sh_addr"] <= start < end:
            return end
    return start + 2


def _extents(unsized: dict[int, tuple[str, int]], sized: dict[int, Function]) -> list[Function]:
    """Functions without `.size` (hand-written assembly usually has none) reach up to the next
    function symbol or the end of their section, so profiles and annotate can see them."""
    starts = sorted({*unsized, *sized})
    extents = []
    for start, (name, section_end) in unsized.items():
        if start in sized:
            continue
        following = starts[bisect.bisect_right(starts, start) :]
        end = min(following[0], section_end) if following else section_end
        extents.append(Function(name, start, max(end, start + 2), sized=False))
    return extents
