"""M4-FE-1, runs of unaligned 32-bit instructions: off by default (the spec's choice), on with
the board option `[options.fetch] unaligned_wide_run_penalty = true`."""

from __future__ import annotations

import io
from importlib import resources

import pytest

from cmsim.board import load_board
from cmsim.engine import Engine
from cmsim.image import load_image
from cmsim.machine import Machine


@pytest.fixture(scope="module")
def board_with_fe1(tmp_path_factory):
    text = resources.files("cmsim.boards").joinpath("m4-ideal.toml").read_text()
    text = text.replace('name = "m4-ideal"', 'name = "m4-ideal-fe1"')
    text += "\n[options.fetch]\nunaligned_wide_run_penalty = true\n"
    path = tmp_path_factory.mktemp("boards") / "m4-ideal-fe1.toml"
    path.write_text(text)
    return str(path)


def deltas(elf, board: str, path: str) -> list[int]:
    image = load_image(elf("unaligned_runs"))
    machine = Machine(image, load_board(board), stdout=io.BytesIO())
    engine = Engine(machine, path=path)
    assert engine.run().exit_code == 0
    return [machine.read_word(image.symbols["results"] + 4 * k) for k in range(4)]


@pytest.mark.parametrize("path", ["reference", "fast"])
def test_unaligned_wide_runs(elf, board_with_fe1, path):
    # Each case: LDR CYCCNT (2, not pipelined with what follows) + the run + nothing.
    # 1: three ADD.W (1 each); 2: three LDR.W (2 after the PPB load, pipelined 1, last 2:
    # M4-LS-PIPE, M4-MEM-BLOCK); 3: four LDR.W; 4: two runs of two ADD.W around ADDS, NOP.
    default = [2 + 3, 2 + 1 + 1 + 2, 2 + 1 + 1 + 1 + 2, 2 + 6]
    assert deltas(elf, "m4-ideal", path) == default
    # With M4-FE-1: the 3rd instruction of a run costs +1, or the 4th when the first three are
    # single loads or stores; runs broken by 16-bit instructions are never charged.
    assert deltas(elf, board_with_fe1, path) == [5 + 1, 6, 7 + 1, 8]
