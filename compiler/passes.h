/* passes: graph rewrites between import/inference and emission. Each pass leaves the graph
 * sorted and fully shaped. */
#ifndef VM_PASSES_H
#define VM_PASSES_H

#include "ir.h"

/* Inference form: Dropout and Identity forward their input (no step), dead nodes are removed. */
enum vm_status vm_pass_inference_cleanup(struct vm_graph *g, struct vm_error *err);

/* Graph rewrites for speed, run after shape inference on every compiled model (inference and
 * training): results stay the same up to float rounding of the fused kernels. */
enum vm_status vm_pass_optimize(struct vm_graph *g, struct vm_error *err);

/* compiler/pass_fuse.c: decomposed LayerNorm (ReduceMean/Sub/Pow/ReduceMean/Add/Sqrt/Div/Mul/Add)
 * -> LayerNormalization; the erf GELU (Div/Erf/Add/Mul/Mul) -> Gelu. */
enum vm_status vm_pass_fuse_norm_gelu(struct vm_graph *g, struct vm_error *err);

/* Infers a new or changed node, as the importer's driver would (normalizes its attributes, folds
 * known values); defined in compiler/pass_layout.c. */
enum vm_status vm_pass_reinfer(struct vm_graph *g, int32_t id, struct vm_error *err);

/* compiler/pass_fuse.c, inference graphs only: MatMul(A, W [K, N]) -> Add(bias [N]) ->
 * MatMulT(A, W, bias), the bias added by oneDNN's matmul. */
enum vm_status vm_pass_fuse_matmul_bias(struct vm_graph *g, struct vm_error *err);
/* compiler/pass_fuse.c, training graphs after autodiff: MatMulT(A, B[, bias]) -> Add(Z), Z of the
 * output's shape -> MatMulT(A, B, bias or none, Z), Z added by oneDNN's binary post-op. */
enum vm_status vm_pass_fuse_matmul_add(struct vm_graph *g, struct vm_error *err);
/* compiler/pass_fuse.c, after the fusions above (inference and training graphs): a Transpose feeding
 * a MatMul / MatMulT operand, or reading its product alone, is folded into the product as strides
 * (MatMulT's permA / permB / permY). VMASKC_FUSE_TRANSPOSE=0 turns it off (tests compare the two). */
enum vm_status vm_pass_fuse_transpose_matmul(struct vm_graph *g, struct vm_error *err);

/* compiler/pass_layout.c: Transpose(0,2,1) -> Conv becomes a channels-last convolution (ConvCL);
 * the transpose back is pushed through elementwise ops into reductions and disappears. */
enum vm_status vm_pass_conv_channels_last(struct vm_graph *g, struct vm_error *err);

/* compiler/pass_rows.c, inference graphs only: a Gather of constant rows (a classifier's first
 * token) moves above the row-wise ops that produce its input (MatMul with a shared weight,
 * elementwise ops, LayerNormalization over later axes), so they run on the kept rows only. */
enum vm_status vm_pass_gather_rows_early(struct vm_graph *g, struct vm_error *err);

/* compiler/pass_gather_fold.c, inference graphs only: LSTM(Gather(E, ids) [-> Transpose(1,0,2)])
 * -> LSTMGather(E, ids, ...) and 1-D ConvCL(Gather(E, ids), W, b) -> ConvGather(E, ids, W, b): the
 * input projection (every tap's) is computed once per vocabulary row. */
enum vm_status vm_pass_gather_fold(struct vm_graph *g, struct vm_error *err);

/* compiler/pass_remat.c, training graphs after autodiff: a cheap unary elementwise forward op
 * (Gelu, Relu, Tanh, ...) whose input the backward keeps anyway has its output recomputed in
 * the backward, just before the first backward reader, instead of kept from the forward: BERT's
 * GELU outputs (a quarter of its activations) stop being saved. Same kernel, same bits. */
enum vm_status vm_pass_remat(struct vm_graph *g, struct vm_error *err);
/* compiler/pass_remat.c, training graphs after autodiff, before vm_pass_fuse_matmul_mul: a GELU whose
 * gradient the backward computes becomes GeluD, which also writes the derivative d = Gelu'(x), and
 * its gradient EltwiseGrad(dy, x) becomes Mul(dy, d): the backward keeps y and d instead of x and
 * evaluates no erf. Only after a matmul whose inner dimension is at most 512 (GELU's passes matter
 * less, its extra activation as much, in wider models). VMASKC_GELU_DERIVATIVE=0 / 1: never / always. */
enum vm_status vm_pass_gelu_derivative(struct vm_graph *g, struct vm_error *err);
/* compiler/pass_fuse.c, training graphs after autodiff: MatMulT(A, B[, bias[, Z]]) -> Mul(M), M of
 * the output's shape -> MatMulT(A, B, bias, Z, M), M multiplied in by oneDNN's binary post-op. */
enum vm_status vm_pass_fuse_matmul_mul(struct vm_graph *g, struct vm_error *err);

#endif
