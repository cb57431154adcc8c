"""Board profiles: presets, lookups, user board files and their errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cmsim.board import load_board, preset_names
from cmsim.errors import BoardError


def test_presets_are_shipped():
    assert {"m4-ideal", "stm32f4", "stm32f4-noart"} <= set(preset_names())


def test_m4_ideal_memory_map():
    board = load_board("m4-ideal")
    assert board.clock_hz == 168_000_000 and board.core == "cortex-m4"
    flash = board.region_at(0x08000000)
    assert flash.name == "flash" and flash.size == 1 << 20 and flash.read_ws == 0
    assert board.region_at(0x00000100) is flash, "flash is aliased at 0"
    assert board.region_at(0x2003FFFC, 4).name == "sram"
    assert board.region_at(0x2003FFFE, 4) is None, "an access may not straddle the end"
    assert board.region_at(0xE0001004).kind == "ppb"
    assert board.region_at(0x60000000) is None


def test_stm32f4_has_wait_states_ccm_and_art():
    board = load_board("stm32f4")
    flash = board.region_at(0x08000000)
    assert (flash.read_ws, flash.fetch_ws, flash.line_bytes) == (5, 5, 16)
    assert flash.prefetch and flash.icache_lines == 64 and flash.dcache_lines == 8
    ccm = board.region_at(0x10000000)
    assert ccm.kind == "ccm" and not ccm.exec and ccm.size == 64 << 10
    assert board.region_at(0x2001C000).name == "sram2"
    noart = load_board("stm32f4-noart").region_at(0x08000000)
    assert not noart.prefetch and noart.icache_lines == 0 and noart.read_ws == 5


def test_unknown_board_name_lists_the_presets():
    with pytest.raises(BoardError, match="unknown board 'm7-fast'.*m4-ideal"):
        load_board("m7-fast")


TOML_BOARD = """
name = "tiny"
clock_hz = 48_000_000
[[regions]]
name = "flash"
base = 0x00000000
size = 0x10000
kind = "flash"
[[regions]]
name = "sram"
base = 0x20000000
size = 0x4000
kind = "sram"
read_ws = 1
"""


def test_user_toml_board(tmp_path: Path):
    path = tmp_path / "tiny.toml"
    path.write_text(TOML_BOARD)
    board = load_board(str(path))
    assert board.name == "tiny" and board.clock_hz == 48_000_000
    assert board.region_at(0x20000000).read_ws == 1
    assert board.region_at(0x20000000).block == "sram", "block defaults to the region name"


def test_user_json_board(tmp_path: Path):
    path = tmp_path / "tiny.json"
    regions = [{"name": "ram", "base": 0x20000000, "size": 0x8000, "kind": "sram"}]
    path.write_text(json.dumps({"name": "j", "clock_hz": 1_000_000, "regions": regions}))
    assert load_board(str(path)).first_sram().name == "ram"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("name = ", "malformed board file"),
        ('name = "x"\nclock_hz = 1\n', "missing key 'regions'"),
        ('name = "x"\nclock_hz = -5\nregions = []\n', "clock_hz must be an integer from 1 to"),
        ('name = "x"\nclock_hz = 5\nregions = []\n', "no regions"),
        (
            'name = "x"\nclock_hz = 5\n[[regions]]\nname="a"\nbase=0\nsize=0x1000\nkind="dram"\n',
            "kind must be one of",
        ),
        (
            'name = "x"\nclock_hz = 5\n[[regions]]\nname="a"\nbase=0x10\nsize=0x1000\n'
            'kind="sram"\n',
            "regions\\[0\\].base must be a multiple of 4 KiB",
        ),
        (
            'name = "x"\nclock_hz = 5\n[[regions]]\nname="a"\nbase=0\nsize=0x1000\nkind="sram"\n'
            "colour = 1\n",
            "unknown keys",
        ),
        (
            'name = "x"\nclock_hz = 5\n[[regions]]\nname="a"\nbase=0\nsize=0x2000\nkind="sram"\n'
            '[[regions]]\nname="b"\nbase=0x1000\nsize=0x1000\nkind="sram"\n',
            "overlap",
        ),
    ],
)
def test_malformed_board_files(tmp_path: Path, text: str, message: str):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(BoardError, match=message):
        load_board(str(path))


def test_missing_board_file(tmp_path: Path):
    with pytest.raises(BoardError, match="board file not found"):
        load_board(str(tmp_path / "absent.toml"))


def test_board_without_sram_has_no_default_stack(tmp_path: Path):
    path = tmp_path / "flash_only.toml"
    path.write_text(
        'name="f"\nclock_hz=1\n[[regions]]\nname="f"\nbase=0\nsize=0x1000\nkind="flash"\n'
    )
    with pytest.raises(BoardError, match="no sram region"):
        load_board(str(path)).first_sram()


def test_cc2652_memory_map_and_bus_model():
    """TI CC2652 (SWCU185): flash 352 KiB at 0 behind the VIMS, GPRAM 8 KiB, SRAM 80 KiB, 48 MHz;
    SRAM fetched at one word per 2 cycles over the System bus (CMEmu-HW mul.tzst), flash words
    at 3 cycles without the line buffer (the nolb variant) and 1 from the buffered line."""
    board = load_board("cc2652")
    assert board.clock_hz == 48_000_000
    flash, gpram, sram = (board.region_at(a) for a in (0x0, 0x11000000, 0x20000000))
    assert (flash.size, gpram.size, sram.size) == (352 * 1024, 8 * 1024, 80 * 1024)
    assert (sram.fetch_word_cycles, sram.bus) == (2, "system")
    assert board.region_at(0x40000000).bus == "system"
    assert (flash.fetch_word_cycles, flash.line_buffer) == (3, True)
    assert load_board("cc2652-nolb").region_at(0).line_buffer is False


@pytest.mark.parametrize("name", ["m4-ideal", "stm32f4", "stm32f4-noart", "cc2652"])
def test_every_cortex_m4_board_has_its_bit_band_windows(name):
    """ARMv7-M bit-band: SRAM bits at 0x22000000, peripheral bits at 0x42000000."""
    board = load_board(name)
    assert board.bitband_windows() == [(0x20000000, 0x22000000), (0x40000000, 0x42000000)]


def test_bit_band_alias_addresses():
    from cmsim.board import bitband_target

    assert bitband_target(0x22000000) == (0x20000000, 0)
    assert bitband_target(0x22000000 + 32 * 0x10 + 4 * 5) == (0x20000010, 5)
    assert bitband_target(0x43FFFFFC) == (0x400FFFFF, 7)
    assert bitband_target(0x24000000) is None


GOOD_REGION = {"name": "ram", "base": 0x20000000, "size": 0x8000, "kind": "sram"}


def _json_board(tmp_path: Path, region: dict | None = None, **top) -> Path:
    data = {"name": "j", "clock_hz": 1_000_000, "regions": [{**GOOD_REGION, **(region or {})}]}
    data.update(top)
    path = tmp_path / "board.json"
    path.write_text(json.dumps(data))
    return path


@pytest.mark.parametrize(
    ("region", "top", "message"),
    [
        ({"size": 4096.0}, {}, r"regions\[0\].size must be an integer, not 4096.0"),
        ({"read_ws": "5"}, {}, r"regions\[0\].read_ws must be an integer, not '5'"),
        ({"read_ws": -3}, {}, r"regions\[0\].read_ws must be an integer from 0 to 255, not -3"),
        ({"write_ws": True}, {}, r"regions\[0\].write_ws must be an integer, not True"),
        ({"base": -4096}, {}, r"regions\[0\].base must be a multiple of 4 KiB .*, not -0x1000"),
        ({"base": "0x20000000"}, {}, r"regions\[0\].base must be an integer, not '0x20000000'"),
        ({"aliases": [-4096]}, {}, r"regions\[0\].aliases\[0\] must be a multiple of 4 KiB"),
        ({"dcache_lines": -1}, {}, r"regions\[0\].dcache_lines must be an integer from 0 to 256"),
        (
            {"icache_lines": 100000},
            {},
            r"regions\[0\].icache_lines must be an integer from 0 to 256",
        ),
        ({"line_bytes": 0}, {}, r"regions\[0\].line_bytes must be a power of two from 4 to 4096"),
        (
            {"kind": "dram"},
            {},
            r"regions\[0\].kind must be one of flash, sram, ccm, periph, ppb, not 'dram'",
        ),
        (
            {"base": 0xE0000000},
            {},
            r"regions\[0\] \('ram'\): only a region of kind 'ppb' may lie in the private",
        ),
        ({"name": None}, {}, r"regions\[0\].name must be a string, not None"),
        ({"exec": 1}, {}, r"regions\[0\].exec must be true or false, not 1"),
        ({}, {"name": None}, r"name must be a string, not None"),
        ({}, {"name": ""}, r"name must be a non-empty name"),
        ({}, {"regions": 5}, r"regions must be a list, not 5"),
        ({}, {"regions": [5]}, r"regions\[0\] must be a table, not 5"),
        ({}, {"clock_hz": 1.5e8}, r"clock_hz must be an integer, not 150000000.0"),
        (
            {},
            {"core": "cortex-m7"},
            r"core must be one of cortex-m4, cortex-m33, cortex-m3, cortex-m0plus, not 'cortex-m7'",
        ),
        ({}, {"options": {"fetch": 5}}, r"options.fetch must be a table, not 5"),
        ({}, {"options": {"speed": {}}}, r"options has unknown keys \['speed'\]"),
        (
            {},
            {"options": {"fetch": {"unaligned_wide_run_penalty": "yes"}}},
            r"options.fetch.unaligned_wide_run_penalty must be true or false, not 'yes'",
        ),
        ({}, {"colour": "blue"}, r"the top level has unknown keys \['colour'\]"),
    ],
)
def test_every_field_is_checked_by_the_schema(tmp_path: Path, region, top, message):
    path = _json_board(tmp_path, region, **top)
    with pytest.raises(BoardError, match=rf"malformed board file .*board.json: {message}"):
        load_board(str(path))


def test_duplicate_region_names_and_unreadable_files(tmp_path: Path):
    path = tmp_path / "twice.json"
    regions = [GOOD_REGION, {**GOOD_REGION, "base": 0x30000000}]
    path.write_text(json.dumps({"name": "t", "clock_hz": 1, "regions": regions}))
    with pytest.raises(BoardError, match="two regions named 'ram'"):
        load_board(str(path))
    with pytest.raises(BoardError, match="cannot read board file .*: File name too long"):
        load_board("b" * 5000 + ".toml")
    path.write_bytes(b"\xff\xfe not text")
    with pytest.raises(BoardError, match="malformed board file"):
        load_board(str(path))


def test_mutated_board_files_are_answered_cleanly(firmware_dir, tmp_path: Path):
    """300 seeded mutants of the preset boards (every field with values of every type, keys
    removed and added, regions duplicated and moved, damaged text) in TOML and JSON: each is
    refused with one line, or accepted and runs hello.elf (or stops with a one-line error);
    never another exception."""
    import fuzzing

    boards = fuzzing.presets()
    hello = firmware_dir / "hello.elf"
    outcomes = [fuzzing.board_case(seed, boards, tmp_path, hello) for seed in range(300)]
    crashes = [(seed, o.detail) for seed, o in enumerate(outcomes) if o.kind == "crash"]
    assert crashes == []
    assert {o.kind for o in outcomes} == {"ok", "error"}
