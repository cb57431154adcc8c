"""The machine: reset, run to exit, faults with PC and function, the instruction limit."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from unicorn.arm_const import UC_ARM_REG_R1

from cmsim.board import load_board
from cmsim.engine import Engine
from cmsim.errors import FirmwareFault, ImageError, LimitReached
from cmsim.image import load_image
from cmsim.machine import Machine

M4 = load_board("m4-ideal")


def machine_for(path: Path, board=M4) -> Machine:
    return Machine(load_image(path), board, stdout=io.BytesIO(), stderr=io.BytesIO())


def test_reset_takes_sp_and_pc_from_the_vector_table(elf):
    machine = machine_for(elf("hello"))
    machine.reset()
    registers = machine.registers
    assert registers["sp"] == 0x20040000, "word 0: top of the 256 KiB SRAM"
    assert registers["pc"] == machine.image.symbol("Reset_Handler") & ~1
    assert registers["lr"] == 0xFFFFFFFF


def test_reset_without_vector_table_starts_at_the_entry(elf):
    machine = machine_for(elf("special/novectors"))
    machine.reset()
    assert machine.registers["pc"] == machine.image.entry & ~1 == 0x20000000
    result = Engine(machine).run()
    assert result.exit_code == 7, "the program checks SP == top of SRAM before exiting 7"


def test_hello_prints_and_exits_zero(elf):
    machine = machine_for(elf("hello"))
    result = Engine(machine).run()
    assert result.exit_code == 0
    assert result.output == b"Hello from Cortex-M4!\n2 + 40 = 42\n"
    assert result.instructions > 50
    assert result.host_seconds > 0


def test_exit_code_is_returned(elf):
    assert Engine(machine_for(elf("exitcode"))).run().exit_code == 55


def test_runs_are_deterministic(elf):
    first = Engine(machine_for(elf("cyccnt"))).run()
    second = Engine(machine_for(elf("cyccnt"))).run()
    assert (first.cycles, first.instructions, first.output) == (
        second.cycles,
        second.instructions,
        second.output,
    )


def test_firmware_reads_a_cycle_counter_that_advances(elf):
    result = Engine(machine_for(elf("cyccnt"))).run()
    assert result.exit_code == 0
    printed = int(result.output.decode().split("cycles: ")[1])
    assert 0 < printed < result.cycles


def test_unmapped_read_reports_pc_function_and_address(elf):
    machine = machine_for(elf("fault_read"))
    with pytest.raises(FirmwareFault) as caught:
        Engine(machine).run()
    fault = caught.value
    assert fault.function == "read_unmapped" and fault.address == 0x60000000
    assert machine.image.function_name(fault.pc) == "read_unmapped"
    assert "read from unmapped memory" in str(fault)


def test_undefined_instruction(elf):
    with pytest.raises(
        FirmwareFault,
        match=r"undefined instruction \(UsageFault UNDEFINSTR\) at pc=0x\w{8} in undefined_",
    ):
        Engine(machine_for(elf("fault_udf"))).run()


def test_bad_pc_names_the_target_and_the_caller(elf):
    with pytest.raises(FirmwareFault) as caught:
        Engine(machine_for(elf("fault_badpc"))).run()
    assert caught.value.pc == 0x30000000
    assert "bad PC" in str(caught.value) and "in main" in str(caught.value)


def test_write_to_flash_is_a_fault(elf):
    machine = machine_for(elf("hello"))
    machine.reset()
    machine.uc.mem_write(0x20000000, bytes.fromhex("0a60"))  # str r2, [r1]
    machine.uc.mem_write(0x20000002, bytes.fromhex("00bf"))
    machine.uc.reg_write(UC_ARM_REG_R1, 0x08000100)
    with pytest.raises(FirmwareFault, match="write to read-only memory.*address 0x08000100"):
        machine.run(start=0x20000000)


def test_unknown_semihosting_operation_is_a_fault(elf):
    with pytest.raises(FirmwareFault, match=r"unsupported semihosting operation 0x12.*in sh_call"):
        Engine(machine_for(elf("unknown_semihost"))).run()


def test_instruction_limit_reports_pc_and_function(elf):
    engine = Engine(machine_for(elf("spin")), max_instructions=5000)
    with pytest.raises(LimitReached) as caught:
        engine.run()
    assert caught.value.function == "spin_forever" and caught.value.limit == 5000
    assert engine.instructions <= 5000


def test_segment_outside_the_board_is_named(tmp_path: Path, elf):
    board_file = tmp_path / "far.toml"
    board_file.write_text(
        'name = "far"\nclock_hz = 1000000\n'
        '[[regions]]\nname = "flash"\nbase = 0x09000000\nsize = 0x10000\nkind = "flash"\n'
        '[[regions]]\nname = "sram"\nbase = 0x20000000\nsize = 0x10000\nkind = "sram"\n'
    )
    with pytest.raises(
        ImageError,
        match=r"segment .text.* at 0x08000000-0x[0-9a-f]{8} lies outside"
        r" the memory of board 'far'",
    ):
        machine_for(elf("hello"), load_board(str(board_file)))


def test_initial_sp_outside_ram_faults_at_the_first_push(tmp_path: Path, elf):
    """A real part takes the SP from vector word 0 whatever it is, and faults when it first
    pushes: so does cmsim, and the fault names the stack pointer."""
    data = bytearray(elf("hello").read_bytes())
    image = load_image(elf("hello"))
    offset = data.find(image.read(0x08000000, 8))  # the vector table in the file
    data[offset : offset + 4] = (0x30000000).to_bytes(4, "little")
    path = tmp_path / "badsp.elf"
    path.write_bytes(bytes(data))
    machine = machine_for(path)
    machine.reset()
    assert machine.registers["sp"] == 0x30000000, "not silently replaced"
    with pytest.raises(FirmwareFault, match=r"stack pointer 0x30000000 lies outside RAM"):
        Engine(machine).run()


def test_a_jump_into_erased_flash_meets_0xffffffff_at_once(elf):
    """Flash past the image reads 0xFF as on an erased part (not zeros, which would run as
    MOVS r0, r0 to the end of the region)."""
    machine = machine_for(elf("hello"))
    assert machine.read_word(0x080F0000) == 0xFFFFFFFF
    assert machine.read_word(0x000F0000) == 0xFFFFFFFF, "the alias shows the same bytes"
