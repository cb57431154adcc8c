"""ELF loading: segments, symbols, function ranges, and every kind of bad file."""

from __future__ import annotations

import shutil
import subprocess
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


def test_functions_without_size_reach_the_next_function_symbol(elf):
    # firmware/tests/nosize.S: main, add_loop and shift_twice follow each other and carry no
    # .size (st_size 0); Default_Handler (from startup.c, sized) comes right after them.
    image = load_image(elf("nosize"))
    main, add_loop, shift_twice = (
        image.function_at(image.symbol(n)) for n in ("main", "add_loop", "shift_twice")
    )
    assert [f.name for f in (main, add_loop, shift_twice)] == ["main", "add_loop", "shift_twice"]
    assert main.end == add_loop.start and add_loop.end == shift_twice.start
    assert shift_twice.end == image.symbol("Default_Handler") & ~1
    assert not any(f.sized for f in (main, add_loop, shift_twice))
    assert image.function_at(image.symbol("Default_Handler")).sized


def test_function_without_size_ends_with_its_section(tmp_path: Path):
    source = tmp_path / "last.S"
    source.write_text(
        ".syntax unified\n.thumb\n.text\n.global f\n.type f, %function\n.thumb_func\n"
        "f:\n  nop\n  nop\n  bx lr\n"
    )
    compiler = shutil.which("arm-none-eabi-gcc")
    if compiler is None:
        pytest.skip("arm-none-eabi-gcc is not installed")
    elf = tmp_path / "last.elf"
    subprocess.run(
        [
            compiler,
            "-mcpu=cortex-m4",
            "-mthumb",
            "-nostdlib",
            "-Wl,-e,f",
            "-Wl,-Ttext=0x08000000",
            str(source),
            "-o",
            str(elf),
        ],
        check=True,
    )
    image = load_image(elf)
    function = image.function_at(0x08000000)
    assert function.name == "f" and not function.sized
    assert function.end == 0x08000000 + image.section_sizes[".text"]


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


# -- hostile files (issue 14: malformed segments, ARM-state code, unreadable files) ----------


def _program_header(data: bytes, index: int) -> int:
    """File offset of program header `index` (ELF32: e_phoff at 28, e_phentsize at 42)."""
    phoff = int.from_bytes(data[28:32], "little")
    size = int.from_bytes(data[42:44], "little")
    return phoff + index * size


def _patched(tmp_path: Path, source: Path, index: int, field_offset: int, value: int) -> Path:
    data = bytearray(source.read_bytes())
    at = _program_header(data, index) + field_offset
    data[at : at + 4] = value.to_bytes(4, "little")
    path = tmp_path / "patched.elf"
    path.write_bytes(bytes(data))
    return path


def test_segment_data_past_the_end_of_the_file_is_malformed(tmp_path: Path, elf):
    source = elf("hello")
    size = source.stat().st_size
    path = _patched(tmp_path, source, 0, 4, size - 16)  # p_offset: 16 bytes before the end
    with pytest.raises(ImageError, match=r"malformed ELF: PT_LOAD #0's .* lie past the end"):
        load_image(path)


def test_overlapping_segments_are_malformed(tmp_path: Path, elf):
    source = elf("kernel_harness")  # .text at 0x08000000, .data loaded right after it
    path = _patched(tmp_path, source, 1, 12, 0x08000100)  # .data's p_paddr inside .text
    with pytest.raises(ImageError, match=r"malformed ELF: segments .* overlap at 0x08000100"):
        load_image(path)


def test_more_file_bytes_than_memory_bytes_is_malformed(tmp_path: Path, elf):
    path = _patched(tmp_path, elf("hello"), 0, 20, 4)  # p_memsz smaller than p_filesz
    with pytest.raises(ImageError, match="bytes in the file but 4 in memory"):
        load_image(path)


def _cross_compile(tmp_path: Path, *flags: str) -> Path:
    source = tmp_path / "app.c"
    source.write_text("int main(void) { return 3; }\nvoid _start(void) { main(); for (;;); }\n")
    out = tmp_path / "app.elf"
    command = ["arm-none-eabi-gcc", *flags, "-O2", "-nostdlib", "-Wl,-Ttext=0x08000000"]
    subprocess.run([*command, "-o", str(out), str(source)], check=True, capture_output=True)
    return out


def test_cortex_a_elf_is_refused_from_its_build_attributes(tmp_path: Path):
    path = _cross_compile(tmp_path, "-marm", "-mcpu=cortex-a7")
    with pytest.raises(ImageError, match=r"built for a Cortex-A \(application profile\) core"):
        load_image(path)


def test_arm_state_elf_without_attributes_is_refused_from_its_mapping_symbols(tmp_path: Path):
    path = _cross_compile(tmp_path, "-marm", "-mcpu=cortex-a7")
    subprocess.run(
        ["arm-none-eabi-objcopy", "--remove-section", ".ARM.attributes", str(path)], check=True
    )
    with pytest.raises(ImageError, match=r"ARM-state code at 0x08000000 \(mapping symbol \$a\)"):
        load_image(path)


def test_arm7tdmi_elf_is_refused(tmp_path: Path):
    path = _cross_compile(tmp_path, "-marm", "-mcpu=arm7tdmi")
    with pytest.raises(ImageError, match=r"built for ARM state"):
        load_image(path)


def test_thumb_elf_for_cortex_m0_is_accepted(tmp_path: Path):
    image = load_image(_cross_compile(tmp_path, "-mthumb", "-mcpu=cortex-m0"))
    assert image.entry & 1


def test_unreadable_and_over_long_names_are_one_clear_error(tmp_path: Path):
    with pytest.raises(ImageError, match="cannot read .*: File name too long"):
        load_image("x" * 5000 + ".elf")
    with pytest.raises(ImageError, match=r"cannot read /proc/self/mem: Input/output error"):
        load_image("/proc/self/mem")
    long_message = str(pytest.raises(ImageError, load_image, "y" * 5000).value)
    assert len(long_message) < 300, "a long name is cut in the middle"


# -- fuzzing (tests/fuzzing.py; tests/bench/fuzz.py runs tens of thousands) ---------------------


def test_mutated_elves_are_answered_cleanly(firmware_dir, tmp_path: Path):
    """300 seeded mutants of the test firmware (headers, program and section headers, bytes,
    lengths, vector tables): each loads and runs, or stops with a one-line CmsimError; never
    another exception."""
    import fuzzing

    elves = {n: (firmware_dir / f"{n}.elf").read_bytes() for n in fuzzing.ELF_SEEDS}
    outcomes = [fuzzing.elf_case(seed, elves, tmp_path) for seed in range(300)]
    crashes = [(seed, o.detail) for seed, o in enumerate(outcomes) if o.kind == "crash"]
    assert crashes == []
    kinds = {o.kind for o in outcomes}
    assert kinds == {"ok", "error"}, "both loadable and refused mutants were made"
