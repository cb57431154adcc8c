"""cmsim.harness: calling firmware functions with numpy buffers, cycles, stack, faults."""

from __future__ import annotations

import numpy as np
import pytest

from cmsim.bench import golden
from cmsim.bench import kernels as K
from cmsim.errors import FirmwareFault
from cmsim.harness import OUTPUT_FILL, Harness, HarnessError
from cmsim.model.quant import softmax_parameters


def test_call_in_place_and_read_back(harness: Harness) -> None:
    harness.free()
    data = harness.put(np.array([-5, 3, -1, 7, -8], dtype=np.int8))
    result = harness.call("nn_relu_ref", data, 5, -2)
    assert result.value == 0
    assert harness.read(data).tolist() == [-2, 3, -1, 7, -2]
    assert result.function == "nn_relu_ref"
    assert result.instructions > 5 and result.cycles >= result.instructions


def test_cycles_are_those_of_the_call_alone(harness: Harness) -> None:
    # harness_add2 is `adds r0, r0, r1; bx lr`: two instructions, nothing of the harness's own.
    probe = harness.call("harness_add2", 40, 2)
    assert (probe.value, probe.instructions) == (42, 2)
    assert probe.cycles >= 2 and probe.stack_bytes == 0
    harness.free()
    data = harness.put(np.zeros(64, dtype=np.int8))
    opt = harness.call("nn_relu_opt", data, 64, 0)
    again = harness.call("nn_relu_opt", data, 64, 0)
    assert opt.cycles == again.cycles and opt.instructions == again.instructions  # deterministic
    longer = harness.call("nn_relu_ref", data, 64, 0)
    shorter = harness.call("nn_relu_ref", data, 32, 0)
    assert longer.instructions > shorter.instructions


def test_register_and_stack_arguments(harness: Harness) -> None:
    result = harness.call("harness_weighted_sum", 1, 2, 3, 4, 5, -6)
    assert result.value == 1 + 4 + 9 + 16 + 25 - 36
    assert harness.call("harness_weighted_sum", 0, 0, 0, 0, 0, 1 << 28).value == 6 << 28
    assert harness.call("harness_weighted_sum", -1, 0, 0, 0, 0, 0).value == -1  # signed r0


def test_stack_arguments_and_struct_pointers(harness: Harness) -> None:
    # conv2d takes seven arguments: three go on the stack (bias, output, scratch).
    harness.free()
    rng = np.random.default_rng(0)
    x = rng.integers(-128, 128, (4, 4, 2)).astype(np.int8)
    w = rng.integers(-128, 128, (3, 3, 3, 2)).astype(np.int8)
    bias = np.array([100, -100, 5000], dtype=np.int32)
    q = K.ConvQuant(np.full(3, 1 << 30, np.int32), np.full(3, -6, np.int32), 3, -1)
    got, result, scratch = K.conv2d(harness, "opt", x, w, bias, q, pad=(1, 1), out_size=(4, 4))
    want = golden.conv2d(
        x, w, bias, q.multiplier, q.shift, pad=(1, 1), input_offset=3, output_offset=-1
    )
    np.testing.assert_array_equal(got, want)
    assert scratch == 2 * 3 * 3 * 2 * 2
    assert result.stack_bytes > 0


def test_peak_stack_is_measured(harness: Harness) -> None:
    harness.free()
    data = harness.put(np.zeros(8, dtype=np.int8))
    leaf = harness.call("nn_relu_ref", data, 8, 0)  # a leaf with few registers: no stack
    harness.free()
    x = np.zeros((3, 3, 1), np.int8)
    _, conv, _ = K.conv2d(
        harness,
        "ref",
        x,
        np.ones((1, 1, 1, 1), np.int8),
        np.zeros(1),
        K.ConvQuant(np.full(1, 1 << 30), np.zeros(1), 0, 0),
        out_size=(3, 3),
    )
    assert leaf.stack_bytes <= conv.stack_bytes
    assert 16 <= conv.stack_bytes <= 256  # pushes callee-saved registers, no big frames


def test_buffers_in_flash_and_sram(harness: Harness) -> None:
    harness.free()
    weights = harness.put(np.arange(16, dtype=np.int8), "flash")
    board_flash = next(r for r in harness.board.regions if r.kind == "flash")
    assert board_flash.contains(weights.address, weights.nbytes)
    assert harness.read(weights).tolist() == list(range(16))
    out = harness.alloc((2, 3), np.int16)
    assert harness.read(out).view(np.uint8).ravel().tolist() == [OUTPUT_FILL] * 12
    with pytest.raises(HarnessError, match="unknown region"):
        harness.alloc(4, np.int8, "ccm")


def test_out_of_memory_and_unknown_function(harness: Harness) -> None:
    harness.free()
    with pytest.raises(HarnessError, match="out of sram"):
        harness.alloc(harness.sram_free + 1)
    with pytest.raises(HarnessError, match="no function"):
        harness.call("no_such_kernel")
    with pytest.raises(HarnessError, match="32 bits"):
        harness.call("nn_relu_ref", 1 << 40, 0, 0)


def test_fault_inside_a_call_names_the_function(harness: Harness) -> None:
    harness.free()
    with pytest.raises(FirmwareFault) as info:
        harness.call("nn_relu_ref", 0x3000_0000, 4, 0)  # unmapped memory
    assert info.value.function == "nn_relu_ref"
    assert info.value.address == 0x3000_0000
    # The machine stays usable after a fault.
    data = harness.put(np.array([-1], dtype=np.int8))
    assert harness.call("nn_relu_ref", data, 1, 0).value == 0
    assert harness.read(data).tolist() == [0]


def test_runaway_call_hits_the_limit(firmware_dir) -> None:
    from cmsim.errors import LimitReached

    small = Harness(firmware_dir / "kernel_harness.elf", call_limit=100)
    data = small.put(np.zeros(1000, dtype=np.int8))
    with pytest.raises(LimitReached):
        small.call("nn_relu_ref", data, 1000, 0)
    assert small.call("nn_relu_ref", data, 4, 0).value == 0  # the next call starts afresh


@pytest.mark.parametrize("variant", K.VARIANTS)
def test_scratch_and_stack_of_every_kernel(harness: Harness, variant: str) -> None:
    """Each kernel's scratch query and peak stack are measured and plausible."""
    rng = np.random.default_rng(1)
    x = rng.integers(-128, 128, (6, 6, 8)).astype(np.int8)
    q8 = K.ConvQuant(np.full(8, 1 << 30, np.int32), np.full(8, -8, np.int32), 1, 0)
    stacks = {}
    for kernel, weights in [
        ("conv2d", np.ones((8, 3, 3, 8), np.int8)),
        ("conv2d_1x1", np.ones((8, 1, 1, 8), np.int8)),
        ("depthwise_conv2d", np.ones((3, 3, 8), np.int8)),
    ]:
        harness.free()
        k = weights.shape[1] if kernel != "depthwise_conv2d" else 3
        pad = (k // 2, k // 2)
        _, result, scratch = K.conv2d(
            harness, variant, x, weights, np.zeros(8), q8, pad=pad, out_size=(6, 6), kernel=kernel
        )
        expected = {"conv2d": 2 * 2 * 9 * 8, "conv2d_1x1": 2 * 2 * 8, "depthwise_conv2d": 0}
        assert scratch == (0 if variant == "ref" else expected[kernel])
        stacks[kernel] = result.stack_bytes
    harness.free()
    _, result, scratch = K.fully_connected(
        harness, variant, x.reshape(1, -1)[:, :40], np.ones((3, 40), np.int8), np.zeros(3), q8
    )
    assert scratch == (0 if variant == "ref" else 80)
    stacks["fully_connected"] = result.stack_bytes
    harness.free()
    for kind in ("max", "avg"):
        _, pooled = K.pool(harness, variant, kind, x, (2, 2), (2, 2), (0, 0), (3, 3))
        stacks[f"{kind}_pool"] = pooled.stack_bytes
    stacks["softmax"] = K.softmax(harness, variant, x[0], *softmax_parameters(0.1, 1.0))[
        1
    ].stack_bytes
    stacks["add"] = K.add(
        harness,
        variant,
        x,
        x,
        a_offset=0,
        a_multiplier=1 << 30,
        a_shift=0,
        b_offset=0,
        b_multiplier=1 << 30,
        b_shift=0,
        output_offset=0,
        output_multiplier=1 << 30,
        output_shift=-20,
    )[1].stack_bytes
    for name, used in stacks.items():
        assert 0 <= used <= 512, f"{name}: {used} bytes of stack"
    assert max(stacks.values()) > 0


def test_stm32f4_board_weights_in_flash() -> None:
    """A board with flash wait states and 128 KiB SRAM: its own harness build, same results."""
    from conftest import build_firmware

    board_harness = Harness(build_firmware("stm32f4") / "kernel_harness.elf", board="stm32f4")
    assert board_harness.stack_top == 0x2002_0000  # the stm32f4 linker script's RAM end
    rng = np.random.default_rng(3)
    x = rng.integers(-128, 128, (6, 6, 8)).astype(np.int8)
    w = rng.integers(-128, 128, (4, 3, 3, 8)).astype(np.int8)
    bias = rng.integers(-1000, 1000, 4).astype(np.int32)
    q = K.ConvQuant(np.full(4, 1 << 30, np.int32), np.full(4, -8, np.int32), 5, 2)
    want = golden.conv2d(
        x, w, bias, q.multiplier, q.shift, pad=(1, 1), input_offset=5, output_offset=2
    )
    for region in ("flash", "sram"):
        for variant in K.VARIANTS:
            board_harness.free()
            got, _, _ = K.conv2d(
                board_harness,
                variant,
                x,
                w,
                bias,
                q,
                pad=(1, 1),
                out_size=(6, 6),
                weights_region=region,
            )
            np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("path", ["fast", "reference"])
def test_reset_memory_makes_a_call_as_cold_as_a_fresh_harness(path: str) -> None:
    """stm32f4's ART caches and prefetch remember earlier calls (spec §9.3): a call after others
    costs a few cycles less than the same call in a fresh harness. After reset_memory() it costs
    exactly what it costs as a fresh harness's first call, on both engine paths."""
    from conftest import build_firmware

    elf = build_firmware("stm32f4") / "kernel_harness.elf"
    rng = np.random.default_rng(5)
    x = rng.integers(-128, 128, 300).astype(np.int8)
    w = rng.integers(-127, 128, (6, 300)).astype(np.int8)
    bias = rng.integers(-1000, 1000, 6).astype(np.int32)
    q = K.ConvQuant(np.full(6, 1 << 30, np.int32), np.full(6, -9, np.int32), 3, -2)

    def cycles(h: Harness, variant: str) -> int:
        h.free()
        return K.fully_connected(h, variant, x, w, bias, q, weights_region="flash")[1].cycles

    fresh = {v: cycles(Harness(elf, "stm32f4", path=path), v) for v in ("ref", "asm")}
    h = Harness(elf, "stm32f4", path=path)
    cycles(h, "ref"), cycles(h, "asm")
    assert cycles(h, "ref") < fresh["ref"]  # the caches still hold the first call's lines
    for variant in ("asm", "ref", "ref"):
        h.reset_memory()
        assert cycles(h, variant) == fresh[variant]


# -- misuse is a HarnessError with a clear message (issue 14) ----------------------------------


@pytest.mark.parametrize(
    ("action", "message"),
    [
        (lambda h: h.alloc(4, align=0), "align must be a positive power of two, not 0"),
        (lambda h: h.alloc(4, align=3), "align must be a power of two"),
        (lambda h: h.alloc((-1, 4)), r"every size must be an integer >= 0"),
        (lambda h: h.alloc((2.5,)), r"every size must be an integer >= 0"),
        (lambda h: h.alloc("big"), r"every size must be an integer"),
        (lambda h: h.alloc(4, dtype="nonsense"), "not a numpy dtype"),
        (lambda h: h.put(np.array([object(), 1])), "dtype object cannot be placed"),
        (lambda h: h.put(np.array(["a", "b"])), "dtype <U1 cannot be placed"),
        (lambda h: h.call("nn_relu_opt", np.zeros(4, np.int8), 4, 0), "argument 1 is a numpy"),
        (lambda h: h.call("nn_relu_opt", 1.5, 4, 0), "argument 1 must be an integer, a Buffer"),
        (lambda h: h.call("nn_relu_opt", 0, "4", 0), "argument 2 must be an integer, a Buffer"),
        (lambda h: h.call("nn_relu_opt", 0, 1 << 40, 0), "does not fit in 32 bits"),
        (lambda h: h.call(42), "no function 42"),
        (lambda h: h.read(np.zeros(3)), "read takes a Buffer"),
        (lambda h: h.struct(1, 2.0), "must be an integer, not float"),
    ],
)
def test_misuse_raises_harness_error(harness: Harness, action, message) -> None:
    harness.free()
    with pytest.raises(HarnessError, match=message):
        action(harness)
    assert harness.alloc(4).address >= harness.image.symbol("__heap_start"), "nothing broken"


def test_construction_is_checked(firmware_dir, tmp_path) -> None:
    elf = firmware_dir / "kernel_harness.elf"
    for limit in (-1, 0, 2.5, True):
        with pytest.raises(HarnessError, match="call_limit must be"):
            Harness(elf, call_limit=limit)
    flashless = tmp_path / "ram_only.toml"
    flashless.write_text(
        'name = "ram-only"\nclock_hz = 1000000\n[[regions]]\nname = "code"\nbase = 0x08000000\n'
        'size = 0x100000\nkind = "sram"\n[[regions]]\nname = "sram"\nbase = 0x20000000\n'
        'size = 0x40000\nkind = "sram"\n'
    )
    with pytest.raises(HarnessError, match="board 'ram-only' has no flash region"):
        Harness(elf, board=str(flashless))
    with pytest.raises(HarnessError, match="linked for another board: its heap and stack"):
        Harness(elf, board="stm32f4")  # the m4-ideal build: its stack tops 256 KiB of SRAM
    with pytest.raises(HarnessError, match="has no symbol 'harness_return'; the harness needs"):
        Harness(firmware_dir / "hello.elf")


def test_more_misuse(harness: Harness) -> None:
    from cmsim.errors import BoardError, ImageError
    from cmsim.harness import Buffer

    with pytest.raises(HarnessError, match=r"unknown region \['sram'\]"):
        harness.alloc(4, region=["sram"])
    with pytest.raises(HarnessError, match="cannot read 4 bytes at 0x90000000"):
        harness.read(Buffer(0x90000000, (4,), np.dtype(np.int8), "sram"))
    with pytest.raises(ImageError, match="not a file name: None"):
        Harness(None)
    with pytest.raises(BoardError, match="not a board name or file: 5"):
        Harness(harness.image.path, board=5)
    assert isinstance(harness.alloc(4, align=np.int64(16)).address, int)
