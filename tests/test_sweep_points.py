"""One sweep point: bit-exact check, cycles independent of the points run before, errors as rows."""

from __future__ import annotations

from conftest import build_firmware

from cmsim.bench.single import KernelCase, bench_kernel, macs
from cmsim.board import load_board
from cmsim.sweep.keys import file_digest
from cmsim.sweep.points import ERROR, MATCH, Firmware, Point, run_task


def _firmware(board: str) -> Firmware:
    elf = build_firmware("stm32f4" if board == "stm32f4" else "m4-ideal") / "kernel_harness.elf"
    return Firmware(file_digest(elf), str(elf))


def _point(kernel: str, shape: dict, variant: str, board: str) -> Point:
    return Point(kernel, tuple(shape.items()), variant, board)


CONV = {"h": 6, "w": 6, "c": 4, "o": 4, "k": 3, "stride": 1, "pad": 1}
FC = {"n": 48, "m": 6}


def test_a_point_is_bench_kernel_on_a_cold_machine():
    """bench --kernel runs ref first in a fresh harness: the same cycles as the sweep's point,
    on a board with ART caches, whatever the process ran before."""
    board = load_board("stm32f4")
    firmware = _firmware("stm32f4")
    want = bench_kernel(board, KernelCase("conv2d", CONV), ("ref",)).layers[0].cycles["ref"]
    run_task(_point("fully_connected", FC, "asm", "stm32f4"), board, firmware)  # warms caches
    (row,) = run_task(_point("conv2d", CONV, "ref", "stm32f4"), board, firmware)
    assert row.cycles == want
    assert row.golden == MATCH and row.error == ""
    assert row.macs == macs(KernelCase("conv2d", CONV)) == 6 * 6 * 4 * 9 * 4
    assert row.cycles_per_mac == row.cycles / row.macs
    assert row.host_seconds > 0


def test_cycles_do_not_depend_on_the_order_of_points():
    board = load_board("stm32f4")
    firmware = _firmware("stm32f4")
    points = [_point("conv2d", CONV, v, "stm32f4") for v in ("ref", "opt", "asm")]
    points.append(_point("fully_connected", FC, "opt", "stm32f4"))
    forward = [run_task(p, board, firmware)[0].cycles for p in points]
    backward = [run_task(p, board, firmware)[0].cycles for p in reversed(points)]
    assert forward == backward[::-1]


def test_a_failing_point_is_a_row_and_the_next_one_runs():
    board = load_board("m4-ideal")
    firmware = _firmware("m4-ideal")
    huge = _point("fully_connected", {"n": 400_000, "m": 2}, "opt", "m4-ideal")
    (row,) = run_task(huge, board, firmware)
    assert row.golden == ERROR and row.cycles is None
    assert "out of sram" in row.error
    (after,) = run_task(_point("fully_connected", FC, "opt", "m4-ideal"), board, firmware)
    assert after.golden == MATCH


def test_shipped_firmware_is_written_once_and_gives_the_same_row():
    """What a cluster worker gets: the ELF's bytes, not a path on this machine."""
    board = load_board("m4-ideal")
    local = _firmware("m4-ideal")
    shipped = local.shipped()
    assert shipped.data is not None and shipped.local_path() != local.local_path()
    assert file_digest(shipped.local_path()) == local.digest
    point = _point("conv2d", CONV, "asm", "m4-ideal")
    (a,), (b,) = run_task(point, board, local), run_task(point, board, shipped)
    assert (a.cycles, a.golden) == (b.cycles, b.golden)
