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
        ('name = "x"\nclock_hz = -5\nregions = []\n', "clock_hz must be a positive integer"),
        ('name = "x"\nclock_hz = 5\nregions = []\n', "no regions"),
        (
            'name = "x"\nclock_hz = 5\n[[regions]]\nname="a"\nbase=0\nsize=0x1000\nkind="dram"\n',
            "kind must be one of",
        ),
        (
            'name = "x"\nclock_hz = 5\n[[regions]]\nname="a"\nbase=0x10\nsize=0x1000\n'
            'kind="sram"\n',
            "multiples of 4 KiB",
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
