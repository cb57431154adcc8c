"""Run the CIFAR-10 application firmware per kernel variant and collect per-layer results.

Each build marks every layer as a named region (firmware/common/cmsim_marker.h). When a
layer's region ends, the runner reads that layer's output buffer from simulated memory and
compares it bit for bit with the numpy golden model; the region's cycles are the layer's cost.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from cmsim.bench import cifar10
from cmsim.bench.results import VARIANTS, BenchResult, Footprint, LayerResult
from cmsim.board import Board
from cmsim.engine import Engine
from cmsim.errors import CmsimError
from cmsim.image import Image, load_image
from cmsim.machine import Machine
from cmsim.timing.cores import DEFAULT_CORE

REPO_ROOT = Path(__file__).resolve().parents[3]
FIRMWARE_DIR = REPO_ROOT / "firmware"
STACK_FILL = 0xA5
MAX_INSTRUCTIONS = 2_000_000_000
# Boards whose memory map differs get their own linker script; the others use m4-ideal's.
LINKER_BOARDS = {
    "stm32f4": "stm32f4",
    "stm32f4-noart": "stm32f4",
    "stm32f207": "stm32f2",
    "stm32g0b1": "stm32g0b1",
}


class BenchError(CmsimError):
    """The benchmark could not run: no firmware sources, no cross compiler, a failed build."""


@dataclass
class VariantRun:
    """What one build produced."""

    layer_cycles: dict[str, int] = field(default_factory=dict)
    layer_outputs: dict[str, np.ndarray] = field(default_factory=dict)
    total_cycles: int = 0
    instructions: int = 0
    footprint: Footprint | None = None
    output: str = ""


def linker_board(board: Board) -> str:
    return LINKER_BOARDS.get(board.name, "m4-ideal")


def build_target(board: Board) -> str:
    """The firmware build folder's name: the linker board, and the core when it is not the
    M4 (firmware is built with the core's -mcpu: build/m4-ideal-m33 for m33-ideal)."""
    target = linker_board(board)
    if board.core == DEFAULT_CORE:
        return target
    return f"{target}-{board.core.removeprefix('cortex-')}"


def make_arguments(board: Board) -> list[str]:
    """`make` variables that build the firmware for the board's memory map and core."""
    core = board.core_spec
    arguments = [f"BOARD={build_target(board)}", f"LD_BOARD={linker_board(board)}"]
    arguments.append(f"CORE={core.mcpu}")
    if not core.dsp:
        arguments.append("DSP=0")  # the ref kernels only (opt/asm need the DSP extension)
    if core.arch == "v6m":
        arguments.append("THUMB2=0")  # no Thumb-2: C test programs and tests/v6m_*.S only
    return arguments


def build_firmware(board: Board, firmware_dir: Path = FIRMWARE_DIR) -> Path:
    """Build (incrementally) the firmware for the board's linker script; return the build dir."""
    if not (firmware_dir / "Makefile").is_file():
        raise BenchError(f"firmware sources not found at {firmware_dir}: run from a cmsim checkout")
    if shutil.which("arm-none-eabi-gcc") is None:
        raise BenchError("arm-none-eabi-gcc not found: install gcc-arm-none-eabi (see README)")
    target = build_target(board)
    done = subprocess.run(
        ["make", "-s", "-j2", *make_arguments(board), f"PYTHON={sys.executable}"],
        cwd=firmware_dir,
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["unknown error"])[-1]
        raise BenchError(f"firmware build failed for BOARD={target}: {last}")
    return firmware_dir / "build" / target


def _output_symbol(layer_index: int) -> str:
    """ReLUs work in place: their output is the previous layer's buffer."""
    layers = cifar10.NETWORK
    while layers[layer_index].kind == "relu":
        layer_index -= 1
    return f"{layers[layer_index].name}_out"


def _fill_stack(machine: Machine, image: Image) -> tuple[int, int]:
    low, high = image.symbol("__stack_limit"), image.symbol("__stack_top")
    machine.uc.mem_write(low, bytes([STACK_FILL]) * (high - low))
    return low, high


def _peak_stack(machine: Machine, low: int, high: int) -> int:
    data = bytes(machine.uc.mem_read(low, high - low))
    untouched = len(data) - len(data.lstrip(bytes([STACK_FILL])))
    return (high - low) - untouched


def footprint_of(image: Image, peak_stack: int, scratch: int, arena: int = 0) -> Footprint:
    """Flash = code + constants + .data's load image; RAM = .data + .bss."""
    sizes = image.section_sizes
    ram = sizes.get(".data", 0) + sizes.get(".bss", 0)
    flash = sum(size for name, size in sizes.items() if name not in (".bss",))
    return Footprint(flash, ram, peak_stack, scratch, arena)


# A layer's output when its region ends: (region name, machine, image) -> array, or None when
# the region is not a layer (e.g. "inference").
OutputReader = Callable[[str, Machine, Image], "np.ndarray | None"]


def run_variant(
    elf: Path,
    board: Board,
    read_output: OutputReader,
    on_layer: Callable[[str], None] | None = None,
    arena: int = 0,
) -> VariantRun:
    """Run one build to completion, collecting each layer region's cycles and output."""
    image = load_image(elf)
    machine = Machine(image, board)
    engine = Engine(machine, max_instructions=MAX_INSTRUCTIONS)
    low, high = _fill_stack(machine, image)
    run = VariantRun()
    open_regions: list[tuple[str, int]] = []

    def on_marker(name: str | None, cycle: int) -> None:
        if name is not None:
            open_regions.append((name, cycle))
            return
        if not open_regions:
            return
        region, start = open_regions.pop()
        if region == "inference":
            run.total_cycles = cycle - start
            return
        output = read_output(region, machine, image)
        if output is not None:
            run.layer_outputs[region] = output
            run.layer_cycles[region] = cycle - start
            if on_layer:
                on_layer(region)

    machine.marker_listeners.append(on_marker)
    result = engine.run()
    run.output = result.output.decode("utf-8", errors="replace")
    run.instructions = result.instructions
    if result.exit_code not in (0, 1):  # 1 = scores differ: still report per layer
        raise BenchError(f"{elf.name} exited with {result.exit_code}: {run.output.strip()}")
    run.footprint = footprint_of(
        image, _peak_stack(machine, low, high), _scratch_bytes(run.output), arena
    )
    return run


def _cifar10_output(region: str, machine: Machine, image: Image) -> np.ndarray | None:
    index = {layer.name: i for i, layer in enumerate(cifar10.NETWORK)}.get(region)
    if index is None:
        return None
    layer = cifar10.NETWORK[index]
    address = image.symbol(_output_symbol(index))
    raw = bytes(machine.uc.mem_read(address, int(np.prod(layer.out_shape))))
    return np.frombuffer(raw, np.int8).reshape(layer.out_shape)


def _scratch_bytes(output: str) -> int:
    for word, after in zip(output.split(), output.split()[1:], strict=False):
        if word == "scratch" and after.isdigit():
            return int(after)
    return 0


# Layers whose ReLU the CMSIS-NN build fuses into their clamp (cifar10.c, CMSIM_FUSE_RELU):
# ReLU layer -> the layer before it.
FUSED_RELUS = {
    layer.name: cifar10.NETWORK[i - 1].name
    for i, layer in enumerate(cifar10.NETWORK)
    if layer.kind == "relu"
}


DSP_VARIANTS = ("opt", "asm", "cmsis-nn")  # built on the DSP extension's instructions


def core_variants(board: Board, variants: tuple[str, ...]) -> tuple[tuple[str, ...], list[str]]:
    """The variants the board's core can run (ref everywhere; opt, asm and cmsis-nn only with
    the DSP extension), and a note naming the others as n/a (none on a DSP core)."""
    core = board.core_spec
    if core.dsp:
        return variants, []
    kept = tuple(v for v in variants if v not in DSP_VARIANTS)
    dropped = [v for v in variants if v in DSP_VARIANTS]
    if not dropped:
        return kept, []
    return kept, [f"{', '.join(dropped)}: n/a on {core.name} (no DSP extension)"]


def run_bench(
    board: Board,
    variants: tuple[str, ...] = VARIANTS,
    progress: Callable[[str, str], None] | None = None,
    cmsis_nn_elf: Path | None = None,
) -> BenchResult:
    """The default workload: every variant of the CIFAR-10 firmware on `board`.

    The firmware embeds the parameters of cifar10.DEFAULT_SEED (generated at build time).
    The `cmsis-nn` variant runs `cmsis_nn_elf` (cmsim.cmsis_nn), whose ReLUs are fused.
    """
    begin = time.perf_counter()
    variants, unavailable = core_variants(board, variants)
    build = build_firmware(board)
    golden = cifar10.run_golden(cifar10.make_model())
    layers = [
        LayerResult(layer.name, layer.kind, layer.shape_text, layer.macs)
        for layer in cifar10.NETWORK
    ]
    rows = {layer.name: layer for layer in layers}
    result = BenchResult("cifar10", board.name, board.clock_hz, list(variants), layers)
    result.notes.extend(unavailable)
    for variant in variants:
        fused = variant == "cmsis-nn"
        elf = cmsis_nn_elf if fused else build / f"cifar10_{variant}.elf"
        if elf is None:
            raise BenchError("the cmsis-nn variant needs a CMSIS-NN checkout (--cmsis-nn PATH)")
        run = run_variant(
            elf,
            board,
            _cifar10_output,
            (lambda name, v=variant: progress(v, name)) if progress else None,
        )
        fused_into = {p: r for r, p in FUSED_RELUS.items()} if fused else {}
        for layer in layers:
            if fused and layer.name in FUSED_RELUS:
                continue
            if layer.name not in run.layer_cycles:
                raise BenchError(f"{elf.name} never finished layer {layer.name}")
            want = golden[fused_into.get(layer.name, layer.name)]
            layer.cycles[variant] = run.layer_cycles[layer.name]
            layer.matched[variant] = bool(np.array_equal(run.layer_outputs[layer.name], want))
        for relu, producer in FUSED_RELUS.items() if fused else ():
            rows[relu].cycles[variant] = 0
            rows[relu].matched[variant] = rows[producer].matched[variant]
        if fused:
            pairs = ", ".join(f"{r} into {p}" for r, p in FUSED_RELUS.items())
            result.notes.append(f"cmsis-nn: ReLU fused into the layer before ({pairs}): 0 cycles")
        result.totals[variant] = run.total_cycles
        assert run.footprint is not None
        result.footprints[variant] = run.footprint
    result.host_seconds = time.perf_counter() - begin
    return result
