"""`cmsim bench --kernel`: one kernel, one shape, every variant checked against numpy."""

from __future__ import annotations

import csv
import io

import pytest

from cmsim.bench.runner import BenchError
from cmsim.bench.single import KERNELS, KernelCase, bench_kernel, macs, parse_shape
from cmsim.board import load_board
from cmsim.cli import main

SMALL = {
    "conv2d": "h=6,w=5,c=7,o=5,k=3,pad=1",
    "conv2d_1x1": "h=5,w=6,c=9,o=6,stride=2",
    "conv2d_rgb": "h=7,w=6,o=5,k=3,pad=1",
    "depthwise_conv2d": "h=6,w=7,c=9,k=3,stride=2,pad=1",
    "fully_connected": "n=37,m=5",
    "max_pool": "h=7,w=6,c=5,k=3,stride=2",
    "avg_pool": "h=7,w=6,c=5,k=2,stride=2",
    "relu": "h=3,w=5,c=7",
}


def test_every_kernel_has_a_small_case():
    assert set(SMALL) == set(KERNELS)


@pytest.mark.parametrize("kernel", KERNELS)
def test_every_variant_matches_golden_on_a_small_shape(firmware_dir, kernel: str):
    case = KernelCase(kernel, parse_shape(kernel, SMALL[kernel]), seed=3)
    result = bench_kernel(load_board("m4-ideal"), case, ("ref", "opt", "asm"))
    (row,) = result.layers
    assert row.matched == {"ref": True, "opt": True, "asm": True}
    assert all(cycles > 0 for cycles in row.cycles.values())
    assert row.macs == macs(case)


def test_macs_of_a_convolution():
    case = KernelCase("conv2d", parse_shape("conv2d", "h=8,w=8,c=4,o=2,k=3,pad=1"))
    assert macs(case) == 8 * 8 * 2 * 3 * 3 * 4


@pytest.mark.parametrize(
    ("kernel", "text", "message"),
    [
        ("conv3d", "", "unknown kernel"),
        ("relu", "o=3", "takes shape keys h, w, c; not 'o'"),
        ("conv2d", "h=0", "must be a positive integer"),
        ("conv2d", "h=x", "must be a positive integer"),
    ],
)
def test_bad_shapes(kernel: str, text: str, message: str):
    with pytest.raises(BenchError, match=message):
        parse_shape(kernel, text)


def test_cli_kernel_bench_csv(capfd, firmware_dir):
    assert main(["bench", "--kernel", "fully_connected", "--shape", "n=64,m=8", "--csv"]) == 0
    rows = list(csv.reader(io.StringIO(capfd.readouterr().out)))
    assert rows[0][0] == "layer" and rows[1][0] == "fully_connected"
    assert rows[1][2] == "512" and rows[1][-1] == "match"


def test_cli_kernel_bench_errors_are_one_line(capfd, firmware_dir):
    assert main(["bench", "--kernel", "conv2d_rgb", "--shape", "k=40"]) == 2
    err = capfd.readouterr().err
    assert err.count("\n") == 1 and "does not fit size 32" in err
    assert main(["bench", "--shape", "h=4"]) == 2
    assert "--shape goes with --kernel" in capfd.readouterr().err
