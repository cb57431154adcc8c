"""Sweep grids: the command-line syntax, ties, pad=same, invalid combinations, grid files."""

from __future__ import annotations

import pytest

from cmsim.sweep.grid import GridError, expand, load_grid_file, parse_grid, shape_problem


def test_axes_ties_and_defaults():
    axes = parse_grid("conv2d", "h=8,16 w=h c=4 k=1,3 pad=same")
    assert axes == {"h": [8, 16], "w": "h", "c": [4], "k": [1, 3], "pad": "same"}
    shapes = expand("conv2d", axes).shapes
    assert [(s["h"], s["w"], s["k"], s["pad"]) for s in shapes] == [
        (8, 8, 1, 0),
        (8, 8, 3, 1),
        (16, 16, 1, 0),
        (16, 16, 3, 1),
    ]
    assert all(s["o"] == 32 and s["stride"] == 1 and s["c"] == 4 for s in shapes)  # defaults


def test_product_size_and_repeated_values():
    expansion = expand("fully_connected", parse_grid("fully_connected", "n=8,16,32,16 m=2,3"))
    assert len(expansion.shapes) == 6 and expansion.skipped == 0


def test_invalid_combinations_are_skipped_and_counted():
    # k=5 on a 4x4 input without padding: no output; pad 2 with k=1: padding-only outputs.
    expansion = expand("conv2d", parse_grid("conv2d", "h=4,8 w=h k=1,5 pad=0,2"))
    kept = {(s["h"], s["k"], s["pad"]) for s in expansion.shapes}
    assert kept == {(4, 1, 0), (8, 1, 0), (8, 5, 0), (4, 5, 2), (8, 5, 2)}
    assert expansion.skipped == 3
    assert "larger than the padded input" in shape_problem(
        "conv2d", {"h": 4, "w": 4, "k": 5, "stride": 1, "pad": 0}
    )


@pytest.mark.parametrize(
    "kernel, text, message",
    [
        ("conv2d", "q=1", "takes shape keys"),
        ("conv2d", "h=8,x", "not an integer or a key"),
        ("conv2d", "h=0", "must be positive"),
        ("conv2d", "h", "key=v1,v2"),
        ("conv2d", "h=8 h=16", "given twice"),
        ("conv2d", "w=w", "tie a key"),
        ("conv2d", "w=h h=c", "tie a key"),
        ("conv2d_1x1", "pad=same", "takes shape keys"),
        ("fully_connected", "n=same", "only pad"),
        ("softmax", "h=1", "unknown kernel"),
    ],
)
def test_bad_grids_are_one_line_errors(kernel, text, message):
    with pytest.raises(GridError, match=message):
        parse_grid(kernel, text)


GRID_FILE = """
variants = ["ref", "asm"]
boards = ["m4-ideal"]
seed = 4
models = ["a.tflite"]

[[grid]]
kernel = "depthwise_conv2d"
h = [6, 8]
w = "h"
c = 8
k = 3
pad = "same"

[[grid]]
kernel = "fully_connected"
shape = "n=16,32 m=4"
"""


def test_grid_file(tmp_path):
    path = tmp_path / "grid.toml"
    path.write_text(GRID_FILE)
    found = load_grid_file(path)
    assert found.variants == ["ref", "asm"] and found.boards == ["m4-ideal"]
    assert found.seed == 4 and found.models == ["a.tflite"]
    (k1, a1), (k2, a2) = found.grids
    assert (k1, a1) == ("depthwise_conv2d", {"h": [6, 8], "w": "h", "c": [8], "k": [3],
                                             "pad": "same"})  # fmt: skip
    assert (k2, a2) == ("fully_connected", {"n": [16, 32], "m": [4]})


@pytest.mark.parametrize(
    "text, message",
    [
        ("[[grid]]\nkernel = 'conv2d'\nh = [8, 'x']\n", "grid 1: grid value h='x'"),
        ("[[grid]]\nh = [8]\n", "grid 1: needs kernel"),
        ("colour = 3\n", "unknown keys"),
        ("boards = 'm4-ideal'\n", "boards must be a list"),
        ("seed = -1\n", "seed must be"),
        ("[[grid\n", "malformed grid file"),
    ],
)
def test_bad_grid_files(tmp_path, text, message):
    path = tmp_path / "grid.toml"
    path.write_text(text)
    with pytest.raises(GridError, match=message):
        load_grid_file(path)
    with pytest.raises(GridError, match="cannot read grid file"):
        load_grid_file(tmp_path / "missing.toml")
