"""Ahead-of-time C for a lowered model: one source, built once per kernel variant.

The firmware is plain C with no interpreter: the operators are calls in execution order, the
parameter structs are `static const` data, the weights and the seeded input sit in one binary
blob in flash (`.incbin`), and every activation lives in one statically allocated arena at
the offset the planner chose. Each operator is a named cmsim region, so `cmsim run
--profile` and the Chrome trace show the layers, and `cmsim bench` reads each output when its
region ends. Kernel scratch comes from the free SRAM between .bss and the stack; the firmware
checks that it fits and prints its size.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cmsim.model.arena import Plan
from cmsim.model.graph import Graph
from cmsim.model.lower import FLOAT_FIELDS, Step

BLOB_ALIGNMENT = 8
ARENA_SYMBOL = "cmsim_arena"
BLOB_SYMBOL = "cmsim_model_blob"

# kernel -> (parameter struct, has a quant struct and weights, scratch-size function or None)
_CONV_LIKE = ("conv2d", "conv2d_1x1", "conv2d_rgb", "depthwise_conv2d")
_STRUCTS = {
    **{k: "nn_conv_params" for k in _CONV_LIKE},
    "fully_connected": "nn_fc_params",
    "max_pool": "nn_pool_params",
    "avg_pool": "nn_pool_params",
    "add": "nn_add_params",
    "softmax": "nn_softmax_params",
    "quantize_f32": "nn_quantize_f32_params",
    "requantize_s8": "nn_requantize_s8_params",
    "dequantize_f32": "nn_dequantize_f32_params",
    "mean_s8": "nn_mean_s8_params",
    "pad_s8": "nn_pad_s8_params",
    "concat_s8": "nn_concat_s8_params",
    "activation_s8": "nn_activation_s8_params",
    "logistic_s8": "nn_logistic_s8_params",
    "broadcast_s8": "nn_broadcast_s8_params",
    "hard_swish_s8": "nn_hard_swish_s8_params",
    "leaky_relu_s8": "nn_leaky_relu_s8_params",
    "tanh_s8": "nn_logistic_s8_params",
}
_SCRATCH = (*_CONV_LIKE, "fully_connected", "max_pool", "avg_pool")
_CTYPES = {"int8": "int8_t", "uint8": "uint8_t", "int32": "int32_t", "float32": "float"}


@dataclass(frozen=True)
class Sources:
    """What a model build needs: the C program and the constant blob it links."""

    c_source: str
    blob: bytes
    input_offsets: dict[int, int]  # graph input tensor -> offset of its seeded data in the blob


class _Blob:
    """Constants laid out back to back, each aligned, with their offsets."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []
        self.size = 0

    def add(self, array: np.ndarray) -> int:
        pad = (-self.size) % BLOB_ALIGNMENT
        if pad:
            self.parts.append(bytes(pad))
            self.size += pad
        offset = self.size
        data = np.ascontiguousarray(array).astype(array.dtype.newbyteorder("<")).tobytes()
        self.parts.append(data)
        self.size += len(data)
        return offset

    def bytes(self) -> bytes:
        return b"".join(self.parts)


def _literal(value: int | float, c_type: str) -> str:
    if isinstance(value, float):
        return value.hex() + ("f" if c_type == "float" else "")
    return str(int(value))


def _struct(name: str, c_type: str, params: dict, float_fields: dict[str, str]) -> str:
    fields = ", ".join(
        f".{k} = {_literal(v, float_fields.get(k, 'int'))}" for k, v in params.items()
    )
    return f"static const {c_type} {name} = {{{fields}}};"


def generate(graph: Graph, steps: list[Step], plan: Plan, inputs: dict[int, np.ndarray]) -> Sources:
    """The C program and blob for `steps` with the seeded `inputs` (graph input -> data)."""
    blob = _Blob()
    decls: list[str] = []
    calls: list[str] = []
    scratch: list[str] = []

    def pointer(tensor: int, const: bool) -> str:
        t = graph.tensor(tensor)
        c_type = _CTYPES.get(t.dtype, "uint8_t")
        if t.is_constant:
            return f"BLOB({c_type}, {blob.add(t.data)})"
        return f"ARENA({'const ' if const else ''}{c_type}, {plan.offsets[tensor]})"

    for i, step in enumerate(steps):
        if step.is_alias:
            continue
        name = f"op{i}"
        struct = _STRUCTS[step.kernel]
        decls.append(
            _struct(f"{name}_params", struct, step.params, FLOAT_FIELDS.get(step.kernel, {}))
        )
        args = [f"&{name}_params"]
        if step.constants:
            offsets = {k: blob.add(v) for k, v in step.constants.items()}
            decls.append(
                f"static const nn_quant {name}_quant = {{BLOB(int32_t, {offsets['multiplier']}), "
                f"BLOB(int32_t, {offsets['shift']})}};"
            )
            args += [
                f"&{name}_quant",
                pointer(step.inputs[0], True),
                f"BLOB(int8_t, {offsets['weights']})",
                f"BLOB(int32_t, {offsets['bias']})",
            ]
        elif step.kernel == "concat_s8":  # a table of input pointers, not one argument each
            pointers = ", ".join(pointer(t, True) for t in step.inputs)
            decls.append(f"static const int8_t *const {name}_inputs[] = {{{pointers}}};")
            args.append(f"{name}_inputs")
        else:
            args += [pointer(t, True) for t in step.inputs]
        args.append(pointer(step.output, False))
        if step.kernel in _SCRATCH:
            args.append("scratch")
            scratch.append(f"KERNEL_SCRATCH(nn_{step.kernel})(&{name}_params)")
        function = f"KERNEL(nn_{step.kernel})" if step.variants else f"nn_{step.kernel}"
        calls += [
            f'    cmsim_region_begin("{step.name}");',
            f"    status |= {function}({', '.join(args)});",
            "    cmsim_region_end();",
        ]
    input_offsets = {t: blob.add(inputs[t]) for t in graph.inputs}
    copies = [
        f"    memcpy(ARENA(uint8_t, {plan.offsets[t]}), BLOB(uint8_t, {input_offsets[t]}), "
        f"{graph.tensor(t).nbytes});"
        for t in graph.inputs
    ]
    source = _PROGRAM.format(
        name=graph.name,
        arena=max(plan.size, BLOB_ALIGNMENT),
        decls="\n".join(decls),
        scratch="\n".join(f"    need = MAX(need, {s});" for s in scratch),
        copies="\n".join(copies),
        calls="\n".join(calls),
        arena_symbol=ARENA_SYMBOL,
        blob_symbol=BLOB_SYMBOL,
    )
    return Sources(source, blob.bytes(), input_offsets)


BLOB_ASSEMBLY = f"""/* The model's constants (weights, parameters, input); generated by cmsim. */
    .section .rodata.cmsim_model, "a"
    .balign {BLOB_ALIGNMENT}
    .global {BLOB_SYMBOL}
{BLOB_SYMBOL}:
    .incbin "model.bin"
"""

_PROGRAM = """\
/* {name}: generated by cmsim (cmsim.model.codegen); do not edit. Build with -DVARIANT=v. */
#include <stddef.h>
#include <stdint.h>
#include "cmsim_marker.h"
#include "nn_kernels.h"
#include "semihost.h"

#define PASTE_(a, b) a##_##b
#define PASTE(a, b) PASTE_(a, b)
#define KERNEL(name) PASTE(name, VARIANT)
#define MAX(a, b) ((a) > (b) ? (a) : (b))
/* cmsim's kernels share one scratch-size function per kernel; CMSIS-NN has its own. */
#define IS_CMSIS_NN_cmsis_nn 1
#define IS_CMSIS_NN_(variant) IS_CMSIS_NN_##variant
#define IS_CMSIS_NN(variant) IS_CMSIS_NN_(variant)
#if IS_CMSIS_NN(VARIANT)
#define KERNEL_SCRATCH(name) PASTE(KERNEL(name), scratch_size)
#else
#define KERNEL_SCRATCH(name) PASTE(name, scratch_size)
#endif

void *memcpy(void *dst, const void *src, size_t n);

extern const uint8_t {blob_symbol}[];
extern uint8_t __heap_start[], __stack_limit[];
uint8_t {arena_symbol}[{arena}] __attribute__((aligned(8)));

#define BLOB(type, offset) ((const type *)({blob_symbol} + (offset)))
#define ARENA(type, offset) ((type *)({arena_symbol} + (offset)))

{decls}

static int32_t scratch_needed(void)
{{
    int32_t need = 0;
{scratch}
    return need;
}}

int main(void)
{{
    int32_t need = scratch_needed();
    sh_puts("scratch ");
    sh_put_int(need);
    sh_puts(" bytes\\n");
    if (need > __stack_limit - __heap_start) {{
        sh_puts("error: the kernels' scratch does not fit the free SRAM\\n");
        return 3;
    }}
    void *scratch = __heap_start;
    (void)scratch;
{copies}
    int32_t status = 0;
    cmsim_region_begin("inference");
{calls}
    cmsim_region_end();
    if (status != NN_OK) {{
        sh_puts("error: a kernel rejected its parameters\\n");
        return 2;
    }}
    return 0;
}}
"""
