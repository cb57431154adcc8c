"""Cortex-M cores other than the M4 (issue 16): the core as board data, the instruction set
each core has (what faults), and each core's timing rules, every rule by a microbenchmark whose
expected cycles come from shared/timing/other-cores.md (or the source named with the rule in
simulator/cmsim/timing/cortex_m33.py, cortex_m3.py, cortex_m0plus.py), asserted on both engine
paths. The M4's own rules stay in test_microbench.py."""

from __future__ import annotations

import functools
import json
from pathlib import Path

import pytest
from conftest import FIRMWARE

from cmsim import exceptions as X
from cmsim.bench.runner import build_firmware, build_target, make_arguments
from cmsim.board import load_board
from cmsim.cli import main
from cmsim.engine import Engine
from cmsim.errors import BoardError, FirmwareFault
from cmsim.image import load_image
from cmsim.machine import Machine
from cmsim.timing import cores

PATHS = ["reference", "fast"]
REPO = FIRMWARE.parent


def firmware_for(board: str) -> Path:
    """The board's firmware build folder (built with its core's -mcpu, as `cmsim bench` does)."""
    return build_firmware(load_board(board), FIRMWARE)


@functools.cache
def microbench(board: str, elf: str, path: str) -> dict[str, int]:
    """Run a microbenchmark ELF of the board's build; {ID: cycles of BODY}."""
    machine = Machine(load_image(firmware_for(board) / f"{elf}.elf"), load_board(board))
    result = Engine(machine, path=path).run()
    assert result.exit_code == 0
    values = {}
    for line in result.output.decode().splitlines():
        label, value = line.split()
        values[label] = int(value)
    assert values.pop("EMPTY") == 0  # the harness correction is right for this core
    return values


# -- the core is part of the board -----------------------------------------------------------


def test_presets_name_their_core():
    expected = {
        "m4-ideal": "cortex-m4",
        "m33-ideal": "cortex-m33",
        "m3-ideal": "cortex-m3",
        "m0plus-ideal": "cortex-m0plus",
        "stm32f4": "cortex-m4",
    }
    for name, core in expected.items():
        assert load_board(name).core == core


def test_core_override_keeps_the_memory_map():
    board = load_board("stm32f4", "cortex-m33")
    assert board.core == "cortex-m33" and board.regions == load_board("stm32f4").regions
    with pytest.raises(BoardError, match="unknown core 'cortex-m9'"):
        load_board("m4-ideal", "cortex-m9")


def test_firmware_is_built_with_the_cores_mcpu():
    """The M4 keeps its build folders (its images and baselines do not move); other cores get
    their own, with ref kernels only where the DSP extension is missing."""
    assert make_arguments(load_board("m4-ideal")) == [
        "BOARD=m4-ideal",
        "LD_BOARD=m4-ideal",
        "CORE=cortex-m4",
    ]
    assert build_target(load_board("stm32f4")) == "stm32f4"
    assert make_arguments(load_board("m33-ideal"))[::2] == ["BOARD=m4-ideal-m33", "CORE=cortex-m33"]
    assert "DSP=0" in make_arguments(load_board("m3-ideal"))
    assert make_arguments(load_board("m0plus-ideal"))[-2:] == ["DSP=0", "THUMB2=0"]
    assert not (firmware_for("m3-ideal") / "cifar10_opt.elf").exists()
    assert (firmware_for("m3-ideal") / "cifar10_ref.elf").exists()


def test_cli_core_flag(capfd):
    elf = firmware_for("m4-ideal") / "m3_microbench.elf"
    assert main(["run", str(elf), "--core", "cortex-m3"]) == 0
    out, _err = capfd.readouterr()
    assert "M3-MUL-MLA 4" in out  # the M3's MLA, on the m4-ideal memory map
    assert main(["run", str(elf), "--core", "cortex-m7"]) == 2
    _out, err = capfd.readouterr()
    assert "invalid choice: 'cortex-m7'" in err and "Traceback" not in err


# -- instruction sets ------------------------------------------------------------------------


@pytest.mark.parametrize("path", PATHS)
def test_dsp_instruction_on_an_m3_is_undefined(path):
    """SMLAD on an ARMv7-M core without the DSP extension: UsageFault UNDEFINSTR."""
    elf = firmware_for("m4-ideal") / "microbench.elf"  # M4 firmware: SMLAD in MB-09
    engine = Engine(Machine(load_image(elf), load_board("m3-ideal")), path=path)
    with pytest.raises(FirmwareFault, match="'smlad r5, r6, r7, r5' is not in the cortex-m3's"):
        engine.run()


@pytest.mark.parametrize("path", PATHS)
def test_thumb2_instruction_on_an_m0plus_is_undefined(path):
    """A 32-bit Thumb-2 instruction on ARMv6-M: UNDEFINSTR before it executes."""
    elf = firmware_for("m4-ideal") / "hello.elf"
    engine = Engine(Machine(load_image(elf), load_board("m0plus-ideal")), path=path)
    with pytest.raises(FirmwareFault, match="not in the cortex-m0plus's instruction set"):
        engine.run()


def test_instruction_set_tables():
    image = load_image(firmware_for("m4-ideal") / "m33_microbench.elf")
    decode = Engine(Machine(image, load_board("m4-ideal"))).decode
    address = image.symbol("b_res_mac_chain") & ~1
    found = []
    for _ in range(12):
        found.append(decode(address))
        address += found[-1].size
    smlad = next(i for i in found if i.text.startswith("smlad"))
    push = found[0]  # push {r4-r11, lr}: a 32-bit encoding, fine on ARMv7-M only
    assert push.size == 4
    assert not cores.lacks(cores.get_core("cortex-m4"), smlad)
    assert not cores.lacks(cores.get_core("cortex-m33"), smlad)
    assert cores.lacks(cores.get_core("cortex-m3"), smlad)
    assert cores.lacks(cores.get_core("cortex-m0plus"), push)
    assert not cores.lacks(cores.get_core("cortex-m3"), push)


def test_m0plus_has_no_cycle_counter():
    """ARMv6-M has no DWT CYCCNT: cyccnt.c sees it stand still (exit 1); SysTick counts."""
    elf = firmware_for("m0plus-ideal") / "cyccnt.elf"
    result = Engine(Machine(load_image(elf), load_board("m0plus-ideal"))).run()
    assert result.exit_code == 1
    elf = firmware_for("m0plus-ideal") / "systick.elf"
    assert Engine(Machine(load_image(elf), load_board("m0plus-ideal"))).run().exit_code == 0


# -- timing rules ------------------------------------------------------------------------------

# (ID printed by m33_microbench.S, rule, expected cycles of BODY, where the number comes from)
M33 = [
    ("M33-LS-1a", "M33-LS-1", 4, "4 loads x 1 [M jnk0le RP2350: loads issue every cycle]"),
    ("M33-LS-1b", "M33-LS-1", 4, "LDRD 2 + STRD 2 [M jnk0le]"),
    ("M33-LS-1c", "M33-LS-1", 8, "LDM 4 regs 4 + STM 4 regs 4 [M jnk0le]"),
    ("M33-LS-USEa", "M33-LS-USE", 3, "LDR 1 + stall 1 + ADDS 1 [M jnk0le: load-to-use 2]"),
    ("M33-LS-USEb", "M33-LS-USE", 3, "LDR 1 + stall 1 + dependent LDR 1 [M, address use]"),
    ("M33-LS-USEc", "M33-LS-USE", 2, "LDR 1 + STR of it 1 [M jnk0le: load to store 1]"),
    ("M33-LS-USEd", "M33-LS-USE", 2, "LDR 1 + MLA accumulating it 1 [M jnk0le]"),
    ("M33-LS-USEe", "M33-LS-USE", 3, "LDR 1 + stall 1 + MLA multiplying it 1 [M jnk0le]"),
    ("M33-RES-2a", "M33-RES-2", 4, "4 chained SMLAD accumulators, 1 each [M jnk0le]"),
    ("M33-RES-2b", "M33-RES-2", 3, "SMLAD 1 + stall 1 + ADD.W of its result 1 [M jnk0le]"),
    ("M33-RES-2c", "M33-RES-2", 6, "SXTB16 and shifted ADD.W, each 1 + stall 1 + user 1 [M]"),
    ("M33-MULS", "M33-MULS", 2, "MULS.N 2 [D Arm KA001260; M jnk0le]"),
    ("M33-PAIRa", "M33-PAIR", 4, "ADDS NOP ADDS NOP NOP NOP: two NOPs dual issue [M jnk0le]"),
    ("M33-PAIRb", "M33-PAIR", 2, "ADDS 1 + IT 0 (dual issued) + failed MOVEQ 1 [M jnk0le]"),
    ("M33-BR-1a", "M33-BR-1", 12, "2 + 4 SUBS + 3 BNE taken 2 + last 0 [M jnk0le]"),
    ("M33-BR-1b", "M33-BR-1", 13, "2 + 4 (SUBS+ADD) + 3 BNE paired 1 + last 0 [M jnk0le]"),
]
M3 = [
    ("M3-MUL-MLA", "M3-MUL-MLA", 4, "MLA 2 + MLS 2 [D Arm M3 TRM; M CMEmu CC2650]"),
    ("M3-MUL-LONGa", "M3-MUL-LONG", 9, "LDR 1 + LDR 2 + ADDS 1 + UMULL 5 [D TRM 3-5, (B,B)]"),
    ("M3-MUL-LONGb", "M3-MUL-LONG", 11, "LDR 1 + LDR 2 + ADDS 1 + SMLAL 7 [D TRM 4-7]"),
    ("M3-LS-WB", "M3-LS-WB", 4, "post-indexed LDR 2 + LDR 2, no pipelining [M jnk0le F103]"),
]
M0PLUS = [
    ("M0P-1", "M0P-1", 6, "4 ALU x 1 + 2 MULS x 1 [D M0+ TRM table 3.1]"),
    ("M0P-LSa", "M0P-LS", 7, "LDR 2 + LDR 2 + STR 2 + ADDS 1 [D]"),
    ("M0P-LSb", "M0P-LS", 11, "LDM 3 regs 4 + SUBS 1 + PUSH 2 regs 3 + POP 3 [D]"),
    ("M0P-BRa", "M0P-BR", 7, "B taken 2 + BL 3 + BX LR 2 [D]"),
    ("M0P-BRb", "M0P-BR", 11, "BL 3 + PUSH 3 + POP {r4, pc} 3 + 2 [D; N counts PC: I]"),
    ("M0P-BRc", "M0P-BR", 12, "MOVS 1 + 4 SUBS + 3 BNE taken 2 + BNE not taken 1 [D]"),
    ("M0P-SYS", "M0P-SYS", 6, "DMB 3 + ISB 3 [D]"),
]


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("bench,rule,expected,why", M33, ids=[m[0] for m in M33])
def test_m33_rule(path, bench, rule, expected, why):
    assert microbench("m33-ideal", "m33_microbench", path)[bench] == expected, (rule, why)


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("bench,rule,expected,why", M3, ids=[m[0] for m in M3])
def test_m3_rule(path, bench, rule, expected, why):
    assert microbench("m3-ideal", "m3_microbench", path)[bench] == expected, (rule, why)


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("bench,rule,expected,why", M0PLUS, ids=[m[0] for m in M0PLUS])
def test_m0plus_rule(path, bench, rule, expected, why):
    assert microbench("m0plus-ideal", "v6m_microbench", path)[bench] == expected, (rule, why)


def test_the_m4_times_the_same_bodies_by_its_own_rules():
    """The M3 benchmarks on the M4: MLA 1 (M4-MUL-1), UMULL/SMLAL 1, and M4-LS-PIPE pairs the
    writeback load with a load from another base (only a use of the updated base stops it)."""
    values = microbench("m4-ideal", "m3_microbench", "fast")
    assert values == {"M3-MUL-MLA": 2, "M3-MUL-LONGa": 5, "M3-MUL-LONGb": 5, "M3-LS-WB": 3}


@pytest.mark.parametrize("board", ["m33-ideal", "m3-ideal", "m0plus-ideal"])
@pytest.mark.parametrize("elf", ["matmul", "exceptions", "systick", "calls_mixed"])
def test_fast_and_reference_paths_agree_on_every_core(board, elf):
    path = firmware_for(board) / f"{elf}.elf"
    if not path.exists():  # exceptions.S is Thumb-2 assembly: no ARMv6-M build
        pytest.skip(f"{elf} is not built for {board}")
    runs = []
    for engine_path in PATHS:
        result = Engine(Machine(load_image(path), load_board(board)), path=engine_path).run()
        runs.append((result.exit_code, result.cycles, result.instructions))
    assert runs[0] == runs[1]
    assert runs[0][0] == 0


def test_annotate_names_the_cores_rules(capfd):
    elf = firmware_for("m33-ideal") / "m33_microbench.elf"
    assert main(["annotate", str(elf), "b_use_alu", "--board", "m33-ideal"]) == 0
    out, _err = capfd.readouterr()
    assert "M33-LS-USE" in out
    elf = firmware_for("m0plus-ideal") / "v6m_microbench.elf"
    assert main(["annotate", str(elf), "b_branch", "--board", "m0plus-ideal"]) == 0
    out, _err = capfd.readouterr()
    assert "M0P-BR" in out


def test_usagefault_kinds_are_the_architectures():
    assert X.UNDEFINSTR != X.NOCP


def test_bench_boards_prints_one_table_across_cores(capfd):
    """`cmsim bench --boards`: one row per layer, a column per board and variant, n/a where the
    core has no DSP extension; the M4's numbers are its committed baseline's."""
    assert main(["bench", "--boards", "m4-ideal,m0plus-ideal", "--markdown"]) == 0
    out, _err = capfd.readouterr()
    lines = out.splitlines()
    assert lines[0].startswith("| layer | m4-ideal ref | m4-ideal opt | m4-ideal asm |")
    total = lines[-1].split(" | ")
    baseline = json.loads((REPO / "traces" / "baseline-m4-ideal.json").read_text())["totals"]
    assert total[1:4] == [f"{baseline[v]:,}" for v in ("ref", "opt", "asm")]
    assert total[4].strip("| ").replace(",", "").isdigit()  # m0plus-ideal ref
    assert [cell.strip("| ") for cell in total[5:]] == ["n/a", "n/a"]


def test_a_core_what_if_has_its_own_baseline(capfd):
    # `cmsim check --core X` must not compare another core's cycles with the M4 baseline.
    assert main(["check", "--core", "cortex-m33"]) == 2
    _out, err = capfd.readouterr()
    assert "no baseline at" in err and "baseline-m4-ideal-cortex-m33.json" in err
    assert main(["check", "--core", "cortex-m4", "--variants", "ref"]) == 0
    out, _err = capfd.readouterr()
    assert "no regression against" in out and "baseline-m4-ideal.json" in out  # its own core
