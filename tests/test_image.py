"""ELF loading: segments, symbols, function ranges, and every kind of bad file."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

from cmsim.errors import ImageError
from cmsim.image import load_image


def test_hello_image_has_segments_symbols_and_functions(elf):
    image = load_image(elf("hello"))
    assert image.entry & 1, "Thumb entry point keeps bit 0"
    assert image.entry & ~1 == image.symbol("Reset_Handler") & ~1
    text = image.segments[0]
    assert text.load_address == 0x08000000 and text.executable and ".text" in text.name
    main = image.function_at(image.symbol("main"))
    assert main is not None and main.name == "main" and main.end > main.start
    assert image.function_name(main.end - 2) == "main"
    assert image.function_at(0x20000000) is None


def test_aliased_handlers_are_named_by_the_global_symbol(elf):
    image = load_image(elf("hello"))
    assert image.function_name(image.symbol("Default_Handler")) == "Default_Handler"


def test_read_returns_loaded_bytes(elf):
    image = load_image(elf("hello"))
    vector = image.read(0x08000000, 8)
    assert vector is not None
    assert int.from_bytes(vector[4:], "little") == image.symbol("Reset_Handler")
    assert image.read(0x07FFFFFC, 8) is None


def test_missing_symbol_is_a_clear_error(elf):
    with pytest.raises(ImageError, match="no symbol 'nope'"):
        load_image(elf("hello")).symbol("nope")


def test_missing_file():
    with pytest.raises(ImageError, match="no such file"):
        load_image("/nonexistent/firmware.elf")


def test_directory_is_not_a_file(tmp_path: Path):
    with pytest.raises(ImageError, match="not a file"):
        load_image(tmp_path)


def test_text_file_is_not_an_elf(tmp_path: Path):
    path = tmp_path / "notes.elf"
    path.write_text("hello, I am not an ELF\n")
    with pytest.raises(ImageError, match="not an ELF file"):
        load_image(path)


def test_truncated_elf_is_malformed(tmp_path: Path, elf):
    path = tmp_path / "cut.elf"
    path.write_bytes(elf("hello").read_bytes()[:40])
    with pytest.raises(ImageError, match="malformed ELF|no loadable"):
        load_image(path)


def test_64_bit_elf_is_rejected():
    # The Python interpreter running the tests is a real 64-bit ELF on Linux.
    with pytest.raises(ImageError, match="64-bit ELF"):
        load_image(Path(sys.executable).resolve())


def test_elf_for_another_architecture_is_rejected(tmp_path: Path, elf):
    path = tmp_path / "x86.elf"
    shutil.copy(elf("hello"), path)
    data = bytearray(path.read_bytes())
    data[18:20] = (3).to_bytes(2, "little")  # e_machine = EM_386
    path.write_bytes(bytes(data))
    with pytest.raises(ImageError, match="ELF for EM_386, not Arm"):
        load_image(path)
