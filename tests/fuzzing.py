"""Seeded mutators for the ELF loader and the board-file parser, and the check that every
mutant is answered cleanly: a result, or a CmsimError (one line, its exit code), never another
exception. Used by tests/test_image.py and tests/test_board.py (a few hundred cases) and by
tests/bench/fuzz.py (tens of thousands, with a watchdog against hangs).

A case is (kind, seed): the mutant is a pure function of it, so a failure found by the
benchmark reproduces with `python3 tests/bench/fuzz.py --kind elf --seed N --cases 1`.
"""

from __future__ import annotations

import io
import json
import random
import struct
import traceback
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BOARDS_DIR = ROOT / "simulator" / "cmsim" / "boards"
ELF_SEEDS = ("hello", "exitcode", "fault_read", "semihost_ops", "special/novectors")
RUN_LIMIT = 2_000  # instructions a mutated firmware may run

INTERESTING = (
    0,
    1,
    2,
    3,
    4,
    7,
    8,
    0x20,
    0x34,
    0x7F,
    0x80,
    0xFF,
    0x100,
    0x1000,
    0xFFFF,
    0x10000,
    0x7FFFFFFF,
    0x80000000,
    0xFFFFFFFE,
    0xFFFFFFFF,
    0x08000000,
    0x08000001,
    0x080FFFFC,
    0x20000000,
    0x2003FFFC,
    0x20040000,
    0x40000001,
    0xE0000000,
    0xE000ED88,
)
# ELF32 header fields (offset, size) and program/section header field offsets
ELF_HEADER_FIELDS = (
    (16, 2),
    (18, 2),
    (20, 4),
    (24, 4),
    (28, 4),
    (32, 4),
    (36, 4),
    (40, 2),
    (42, 2),
    (44, 2),
    (46, 2),
    (48, 2),
    (50, 2),
    (4, 1),
    (5, 1),
)
PHDR_FIELDS = (0, 4, 8, 12, 16, 20, 24, 28)
SHDR_FIELDS = (0, 4, 8, 12, 16, 20, 24, 28, 32, 36)


@dataclass
class Outcome:
    """How one mutant was answered: "ok" (a result), "error" (a CmsimError), or "crash" (any
    other exception, with its traceback)."""

    kind: str
    detail: str = ""


def _value(rng: random.Random, file_size: int) -> int:
    choice = rng.random()
    if choice < 0.6:
        return rng.choice(INTERESTING)
    if choice < 0.8:
        return max(0, file_size + rng.randint(-64, 64))
    return rng.getrandbits(32)


def _put(data: bytearray, offset: int, size: int, value: int) -> None:
    if 0 <= offset and offset + size <= len(data):
        data[offset : offset + size] = (value & ((1 << (8 * size)) - 1)).to_bytes(size, "little")


def mutate_elf(original: bytes, rng: random.Random) -> bytes:
    """One to four mutations of an ELF file: header, program header and section header fields
    set to boundary values, bytes flipped, the file cut or grown, the vector table's words."""
    data = bytearray(original)
    for _ in range(rng.randint(1, 4)):
        kind = rng.randrange(8)
        phoff, shoff = (struct.unpack_from("<I", original, off)[0] for off in (28, 32))
        phnum, shnum = (struct.unpack_from("<H", original, off)[0] for off in (44, 48))
        if kind == 0:
            offset, size = rng.choice(ELF_HEADER_FIELDS)
            _put(data, offset, size, _value(rng, len(data)))
        elif kind == 1 and phnum:
            entry = phoff + 32 * rng.randrange(phnum)
            _put(data, entry + rng.choice(PHDR_FIELDS), 4, _value(rng, len(data)))
        elif kind == 2 and shnum:
            entry = shoff + 40 * rng.randrange(shnum)
            _put(data, entry + rng.choice(SHDR_FIELDS), 4, _value(rng, len(data)))
        elif kind == 3:
            for _ in range(rng.randint(1, 16)):
                at = rng.randrange(len(data))
                data[at] ^= 1 << rng.randrange(8)
        elif kind == 4:
            del data[rng.randrange(len(data)) :]
        elif kind == 5:
            at = rng.randrange(len(data) + 1)
            data[at:at] = rng.randbytes(rng.randint(1, 64))
        elif kind == 6 and phnum:  # the first loaded words: a vector table's SP and reset
            offset = struct.unpack_from("<I", original, phoff + 4)[0]
            _put(data, offset + 4 * rng.randrange(4), 4, _value(rng, len(data)))
        elif kind == 7:
            at = rng.randrange(max(len(data) - 4, 1))
            _put(data, at, 4, rng.choice(INTERESTING))
    return bytes(data)


def _board_value(rng: random.Random):
    return rng.choice(
        [
            None,
            True,
            False,
            -1,
            0,
            1,
            0x1000,
            0xFFF,
            0xFFFFFFFF,
            1 << 40,
            -(1 << 40),
            1.5,
            float("nan"),
            "",
            "x",
            "0x1000",
            "sram",
            [],
            [0x1000],
            ["a"],
            {},
            {"k": 1},
            rng.getrandbits(32),
            rng.getrandbits(12) << 12,
        ]
    )


def _valid_values(rng: random.Random) -> list[tuple[str, object]]:
    """(field, value) pairs the schema accepts: boards that load, for the machine to run."""
    return [
        ("read_ws", rng.randrange(256)),
        ("write_ws", rng.randrange(256)),
        ("fetch_ws", rng.randrange(16)),
        ("icache_lines", rng.randrange(257)),
        ("dcache_lines", rng.randrange(257)),
        ("line_bytes", 1 << rng.randrange(2, 13)),
        ("prefetch", rng.random() < 0.5),
        ("exec", rng.random() < 0.5),
        ("device", rng.random() < 0.5),
        ("block", rng.choice(["flash", "sram", "x"])),
        ("kind", rng.choice(["flash", "sram", "ccm", "periph"])),
        ("aliases", [rng.getrandbits(8) << 24]),
        ("size", rng.choice([0x1000, 0x8000, 0x40000, 0x100000])),
    ]


def mutate_board(preset: dict, rng: random.Random) -> dict | list | str | int | None:
    """One to four structural mutations of a parsed board (values of every type, keys deleted
    or added, regions duplicated or moved); now and then the top level replaced."""
    board = json.loads(json.dumps(preset))
    if rng.random() < 0.03:
        return _board_value(rng)
    for _ in range(rng.randint(1, 4)):
        regions = board.get("regions") if isinstance(board, dict) else None
        kind = rng.randrange(7) if rng.random() < 0.5 else 7
        if kind == 7 and isinstance(regions, list) and regions:  # valid values, odd boards
            region = rng.choice(regions)
            if isinstance(region, dict):
                key, value = rng.choice(_valid_values(rng))
                region[key] = value
            continue
        if kind == 0 and isinstance(regions, list) and regions:
            region = rng.choice(regions)
            if isinstance(region, dict):
                region[rng.choice(list(region) + ["aliases", "read_ws", "colour"])] = _board_value(
                    rng
                )
        elif kind == 1 and isinstance(regions, list) and regions:
            region = rng.choice(regions)
            if isinstance(region, dict) and region:
                del region[rng.choice(list(region))]
        elif kind == 2:
            key = rng.choice(["name", "core", "clock_hz", "description", "regions", "options"])
            board[key] = _board_value(rng)
        elif kind == 3 and board:
            del board[rng.choice(list(board))]
        elif kind == 4 and isinstance(regions, list) and regions:
            copy = json.loads(json.dumps(rng.choice(regions)))
            if isinstance(copy, dict):
                copy["base"] = rng.getrandbits(20) << 12
                copy["name"] = f"r{rng.randrange(100)}"
            regions.insert(rng.randrange(len(regions) + 1), copy)
        elif kind == 5:
            board["options"] = {"fetch": _board_value(rng)}
            if rng.random() < 0.5:
                board["options"] = {"fetch": {"unaligned_wide_run_penalty": _board_value(rng)}}
        elif kind == 6 and isinstance(regions, list) and regions:
            region = rng.choice(regions)
            if isinstance(region, dict):
                region["size"] = rng.choice([0x1000, 0x100000, 0x4000000, 0x20000000])
                region["base"] = rng.getrandbits(20) << 12
    return board


def board_text(board, rng: random.Random, suffix: str) -> tuple[str, str]:
    """A board as a file's (text, suffix): JSON, or TOML when asked and TOML can say it (no
    nulls, tables of scalars and lists), now and then with its bytes damaged."""
    text = _toml(board) if suffix == ".toml" else None
    if text is None:
        suffix, text = ".json", json.dumps(board)
    if rng.random() < 0.1:
        raw = bytearray(text.encode())
        for _ in range(rng.randint(1, 8)):
            if raw:
                raw[rng.randrange(len(raw))] = rng.randrange(256)
        text = raw.decode("utf-8", errors="replace")
    return text, suffix


def _toml(board) -> str | None:
    """A small TOML writer for the shapes mutate_board makes; None when TOML cannot say it."""

    def scalar(value) -> str | None:
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, (int, float)) and value == value:
            return repr(value)
        if isinstance(value, str):
            return json.dumps(value)
        if isinstance(value, list) and all(scalar(v) is not None for v in value):
            return "[" + ", ".join(scalar(v) for v in value) + "]"
        return None

    if not isinstance(board, dict):
        return None
    lines: list[str] = []
    tables: list[str] = []
    for key, value in board.items():
        if key == "regions" and isinstance(value, list) and all(isinstance(r, dict) for r in value):
            for region in value:
                tables.append("[[regions]]")
                for k, v in region.items():
                    text = scalar(v)
                    if text is None:
                        return None
                    tables.append(f"{k} = {text}")
        elif key == "options" and isinstance(value, dict):
            for name, table in value.items():
                if not isinstance(table, dict):
                    return None
                tables.append(f"[options.{name}]")
                for k, v in table.items():
                    text = scalar(v)
                    if text is None:
                        return None
                    tables.append(f"{k} = {text}")
        else:
            text = scalar(value)
            if text is None:
                return None
            lines.append(f"{key} = {text}")
    return "\n".join(lines + tables) + "\n"


def run_elf(data: bytes, folder: Path, board_name: str = "m4-ideal", path: str = "fast"):
    """Load, map and run (up to RUN_LIMIT instructions) one ELF; the Outcome."""
    from cmsim.board import load_board
    from cmsim.engine import Engine
    from cmsim.errors import CmsimError
    from cmsim.image import load_image
    from cmsim.machine import Machine

    file = folder / "mutant.elf"
    file.write_bytes(data)
    try:
        image = load_image(file)
        machine = Machine(image, load_board(board_name), stdout=io.BytesIO(), stderr=io.BytesIO())
        Engine(machine, max_instructions=RUN_LIMIT, path=path).run()
    except CmsimError as exc:
        message = str(exc)
        if "\n" in message or not message:
            return Outcome("crash", f"not one line: {message!r}")
        return Outcome("error", message)
    except Exception:  # noqa: BLE001 - exactly what the fuzzer looks for
        return Outcome("crash", traceback.format_exc())
    return Outcome("ok")


def run_board(text: str, suffix: str, folder: Path, elf: Path):
    """Parse one board file and, when it is accepted, run `elf` on it briefly."""
    from cmsim.board import load_board
    from cmsim.engine import Engine
    from cmsim.errors import CmsimError
    from cmsim.image import load_image
    from cmsim.machine import Machine

    file = folder / f"mutant{suffix}"
    file.write_text(text)
    try:
        board = load_board(str(file))
        machine = Machine(load_image(elf), board, stdout=io.BytesIO(), stderr=io.BytesIO())
        Engine(machine, max_instructions=RUN_LIMIT).run()
    except CmsimError as exc:
        message = str(exc)
        if "\n" in message or not message:
            return Outcome("crash", f"not one line: {message!r}")
        return Outcome("error", message)
    except Exception:  # noqa: BLE001
        return Outcome("crash", traceback.format_exc())
    return Outcome("ok")


def presets() -> list[dict]:
    """The shipped boards as parsed data (the board fuzzer's starting points)."""
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib
    return [tomllib.loads(p.read_text()) for p in sorted(BOARDS_DIR.glob("*.toml"))]


def elf_case(seed: int, elves: dict[str, bytes], folder: Path) -> Outcome:
    """Fuzz case `seed` of the ELF loader (mutant of one of ELF_SEEDS, run on either path)."""
    rng = random.Random(seed)
    name = rng.choice(sorted(elves))
    mutant = mutate_elf(elves[name], rng)
    return run_elf(mutant, folder, path="reference" if rng.random() < 0.1 else "fast")


def board_case(seed: int, boards: list[dict], folder: Path, elf: Path) -> Outcome:
    """Fuzz case `seed` of the board parser (mutant of a preset, as TOML or JSON)."""
    rng = random.Random(seed)
    board = mutate_board(rng.choice(boards), rng)
    text, suffix = board_text(board, rng, rng.choice([".toml", ".json"]))
    return run_board(text, suffix, folder, elf)
