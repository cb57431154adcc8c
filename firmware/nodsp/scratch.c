/* Scratch sizes for a core without the DSP extension (cortex-m3, cortex-m0plus): that build has
 * the ref kernels only (firmware/Makefile, DSP=0), which take no scratch buffer, so a generated
 * model (model.c's scratch_needed) asks for none. The DSP build gets these from kernels/opt_*.c. */
#include "nn_kernels.h"

int32_t nn_conv2d_scratch_size(const nn_conv_params *p) { (void)p; return 0; }
int32_t nn_conv2d_1x1_scratch_size(const nn_conv_params *p) { (void)p; return 0; }
int32_t nn_conv2d_rgb_scratch_size(const nn_conv_params *p) { (void)p; return 0; }
int32_t nn_depthwise_conv2d_scratch_size(const nn_conv_params *p) { (void)p; return 0; }
int32_t nn_fully_connected_scratch_size(const nn_fc_params *p) { (void)p; return 0; }
int32_t nn_max_pool_scratch_size(const nn_pool_params *p) { (void)p; return 0; }
int32_t nn_avg_pool_scratch_size(const nn_pool_params *p) { (void)p; return 0; }
