/* Named profile regions for cmsim (like TensorFlow Lite Micro's per-op profiler).
 *
 *     #include "cmsim_marker.h"
 *     cmsim_region_begin("conv1");
 *     conv2d(...);
 *     cmsim_region_end();
 *
 * `cmsim run fw.elf --profile` then lists "conv1" in a regions table (count and cycles), the
 * Chrome trace (--trace) shows it on its own "regions" track, and collapsed stacks (--collapsed)
 * carry a "[conv1]" frame under the function that opened it. Regions may nest; an end closes
 * the innermost open region. The name must be a string literal (or the address of any object
 * with static storage): its address is a link-time constant.
 *
 * How: each marker is one word store to a register that only cmsim serves, in a range of the
 * private peripheral bus that the Cortex-M4 leaves reserved:
 *     0xE00FE000  MARKER_BEGIN  value = address of the NUL-terminated name
 *     0xE00FE004  MARKER_END    value ignored
 * The store's cycle is the timestamp: a region begins at the instruction after the begin store
 * and ends at the issue of the end store.
 *
 * Cost (deterministic): every marker is the same five instructions, emitted as one asm block
 * so the compiler cannot reorder or merge them:
 *     movw rA, #lo(register); movt rA, #hi(register); movw rV, #lo(value); movt rV, #hi(value);
 *     str rV, [rA]
 * On the Cortex-M4 timing model that is 4 x 1 cycle (MOVW/MOVT, M4-DP-1) + 1 cycle (a store
 * to the PPB is not buffered and never pairs, M4-LS-WB) = 5 cycles at zero wait states, plus
 * the fetch wait states of 20 bytes of code on a slow-flash board. A begin/end pair therefore
 * adds 10 cycles to the run, of which 4 (the end marker's register set-up) fall inside the
 * region. The asm block needs two scratch registers, which can change the compiler's register
 * allocation around it.
 *
 * On real hardware the reserved address may raise a BusFault: build with -DCMSIM_NO_MARKERS
 * to compile the markers out.
 */
#ifndef CMSIM_MARKER_H
#define CMSIM_MARKER_H

#define CMSIM_MARKER_BEGIN 0xE00FE000u
#define CMSIM_MARKER_END 0xE00FE004u

#ifdef CMSIM_NO_MARKERS
#define cmsim_region_begin(name) ((void)0)
#define cmsim_region_end() ((void)0)
#elif !defined(__thumb2__)
/* ARMv6-M (Cortex-M0+) has no MOVW/MOVT: the register and value come from a literal pair
 * inside the block, jumped over (LDR, LDR, STR, B: 2 + 2 + 2 + 2 cycles on the M0+, M0P-LS and
 * M0P-BR; the padding before the literals is never executed). */
#define CMSIM_MARKER_STORE_(reg, value)                                              \
    do {                                                                             \
        unsigned cmsim_v_, cmsim_a_;                                                 \
        __asm__ volatile(".syntax unified\n\t"                                        \
                         "ldr %1, 1f\n\t"                                            \
                         "ldr %0, 2f\n\t"                                            \
                         "str %0, [%1]\n\t"                                          \
                         "b 3f\n\t"                                                  \
                         ".balign 4\n"                                               \
                         "1: .word %c2\n"                                            \
                         "2: .word %c3\n"                                            \
                         "3:"                                                        \
                         : "=&l"(cmsim_v_), "=&l"(cmsim_a_)                          \
                         : "i"(reg), "i"(value)                                      \
                         : "memory");                                                \
    } while (0)
#define cmsim_region_begin(name) CMSIM_MARKER_STORE_(CMSIM_MARKER_BEGIN, name)
#define cmsim_region_end() CMSIM_MARKER_STORE_(CMSIM_MARKER_END, 0)
#else
#define CMSIM_MARKER_STORE_(reg, value)                                              \
    do {                                                                             \
        unsigned cmsim_v_, cmsim_a_;                                                 \
        __asm__ volatile("movw %1, #:lower16:%c2\n\t"                                \
                         "movt %1, #:upper16:%c2\n\t"                                \
                         "movw %0, #:lower16:%c3\n\t"                                \
                         "movt %0, #:upper16:%c3\n\t"                                \
                         "str %0, [%1]"                                              \
                         : "=&r"(cmsim_v_), "=&r"(cmsim_a_)                          \
                         : "i"(reg), "i"(value)                                      \
                         : "memory");                                                \
    } while (0)

/* Begin the region `name` (a string literal). */
#define cmsim_region_begin(name) CMSIM_MARKER_STORE_(CMSIM_MARKER_BEGIN, name)
/* End the innermost open region. */
#define cmsim_region_end() CMSIM_MARKER_STORE_(CMSIM_MARKER_END, 0)
#endif

#endif
