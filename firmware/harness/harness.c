/*
 * Kernel harness: links every kernel variant so the host (cmsim.harness) can call any of them
 * with any shape at run time. The host sets the registers and the stack, points LR at
 * harness_return and runs the function; main only exists so the ELF also runs on its own.
 */
#include <stdint.h>
#include "nn_kernels.h"

/* The return address the host gives every call: the run stops when the PC gets here. */
__attribute__((naked, noinline, used)) void harness_return(void)
{
    __asm__ volatile("b harness_return");
}

/* Probes for the harness's own tests: a known instruction count (2) ... */
__attribute__((naked, noinline, used)) int32_t harness_add2(int32_t a, int32_t b)
{
    (void)a;
    (void)b;
#if defined(__thumb2__)
    __asm__ volatile("adds r0, r0, r1\n\tbx lr");
#else
    __asm__ volatile(".syntax unified\n\tadds r0, r0, r1\n\tbx lr"); /* ARMv6-M */
#endif
}

/* ... and arguments in registers and on the stack, each with its own weight. */
__attribute__((noinline, used)) int32_t harness_weighted_sum(int32_t a, int32_t b, int32_t c,
                                                             int32_t d, int32_t e, int32_t f)
{
    return a + 2 * b + 3 * c + 4 * d + 5 * e + 6 * f;
}

/* Every entry point the host may call; referenced from main so --gc-sections keeps them. A core
 * without the DSP extension (cortex-m3, cortex-m0plus) has the ref kernels only. */
static const void *const volatile kernel_table[] = {
#if defined(__ARM_FEATURE_DSP)
    (const void *)nn_conv2d_ref, (const void *)nn_conv2d_opt, (const void *)nn_conv2d_asm,
    (const void *)nn_conv2d_scratch_size,
    (const void *)nn_conv2d_1x1_ref, (const void *)nn_conv2d_1x1_opt,
    (const void *)nn_conv2d_1x1_asm, (const void *)nn_conv2d_1x1_scratch_size,
    (const void *)nn_conv2d_rgb_ref, (const void *)nn_conv2d_rgb_opt,
    (const void *)nn_conv2d_rgb_asm, (const void *)nn_conv2d_rgb_scratch_size,
    (const void *)nn_depthwise_conv2d_ref, (const void *)nn_depthwise_conv2d_opt,
    (const void *)nn_depthwise_conv2d_asm, (const void *)nn_depthwise_conv2d_scratch_size,
    (const void *)nn_fully_connected_ref, (const void *)nn_fully_connected_opt,
    (const void *)nn_fully_connected_asm, (const void *)nn_fully_connected_scratch_size,
    (const void *)nn_max_pool_ref, (const void *)nn_max_pool_opt, (const void *)nn_max_pool_asm,
    (const void *)nn_avg_pool_ref, (const void *)nn_avg_pool_opt, (const void *)nn_avg_pool_asm,
    (const void *)nn_max_pool_scratch_size, (const void *)nn_avg_pool_scratch_size,
    (const void *)nn_relu_ref, (const void *)nn_relu_opt, (const void *)nn_relu_asm,
    (const void *)nn_relu6_ref, (const void *)nn_relu6_opt, (const void *)nn_relu6_asm,
    (const void *)nn_softmax_ref, (const void *)nn_softmax_opt, (const void *)nn_softmax_asm,
    (const void *)nn_add_ref, (const void *)nn_add_opt, (const void *)nn_add_asm,
    (const void *)nn_quantize_f32, (const void *)nn_requantize_s8, (const void *)nn_dequantize_f32,
    (const void *)nn_mean_s8, (const void *)nn_pad_s8, (const void *)nn_concat_s8,
    (const void *)nn_activation_s8, (const void *)nn_logistic_s8, (const void *)nn_broadcast_s8,
    (const void *)nn_hard_swish_s8, (const void *)nn_leaky_relu_s8,
    (const void *)nn_tanh_s8,
    (const void *)harness_return, (const void *)harness_add2, (const void *)harness_weighted_sum,
#else
    (const void *)nn_conv2d_ref, (const void *)nn_conv2d_1x1_ref, (const void *)nn_conv2d_rgb_ref,
    (const void *)nn_depthwise_conv2d_ref, (const void *)nn_fully_connected_ref,
    (const void *)nn_max_pool_ref, (const void *)nn_avg_pool_ref, (const void *)nn_relu_ref,
    (const void *)nn_relu6_ref, (const void *)nn_softmax_ref, (const void *)nn_add_ref,
    (const void *)nn_quantize_f32, (const void *)nn_requantize_s8, (const void *)nn_dequantize_f32,
    (const void *)nn_mean_s8, (const void *)nn_pad_s8, (const void *)nn_concat_s8,
    (const void *)nn_activation_s8, (const void *)nn_logistic_s8, (const void *)nn_broadcast_s8,
    (const void *)nn_hard_swish_s8, (const void *)nn_leaky_relu_s8,
    (const void *)nn_tanh_s8,
    (const void *)harness_return, (const void *)harness_add2, (const void *)harness_weighted_sum,
#endif
};

int main(void)
{
    /* Touch the table so the linker keeps every kernel; exit 0 when run on its own. */
    uint32_t n = sizeof kernel_table / sizeof kernel_table[0];
    for (uint32_t i = 0; i < n; i++)
        if (kernel_table[i] == 0)
            return 1;
    return 0;
}
