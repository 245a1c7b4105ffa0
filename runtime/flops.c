/* flops: the floating-point work of one run of an instance, counted from the plan's steps at the
 * instance's concrete shapes (for benchmarks' roofline columns). Only the ops that carry the
 * arithmetic are counted, as multiply-adds x 2: convolutions, matmuls (MatMul, MatMulT, Gemm) and
 * LSTM gates (the four gate matmuls over input and recurrent state). Elementwise, normalization,
 * softmax and reduction ops move memory and are left out, so GFLOP/s = these FLOPs / time is the
 * rate a GEMM-bound roofline compares with. Backward steps: ConvGradData and ConvGradWeight each
 * cost a forward convolution, LSTMGrad two forward LSTMs (data and weights). LSTMGather counts the
 * recurrent gate matmuls only: the input projections are computed once per vocabulary row, not
 * per run (runtime/kernels/rnn.c). ConvGather counts its adds, one per output element and tap
 * (its multiply-adds are likewise done once per vocabulary row, runtime/kernels/embed.c). */
#include <string.h>

#include "rt.h"

/* 2 x numel(Y) x K for op(A)[..., M, K] op(B)[..., K, N] = Y[..., M, N]; A read through MatMulT's
 * permA when it has one (the logical dim i is A's dim perm[i]). */
static double matmul_flops(const struct vm_rt_step *s, const struct vm_rt_tensor *a, const struct vm_rt_tensor *y, bool ta) {
    if (!a || !y || a->rank < 1) return 0;
    int kd = ta && a->rank >= 2 ? a->rank - 2 : a->rank - 1;
    int64_t perm[VM_MAX_RANK];
    if (!strcmp(s->op, "MatMulT") && vm_rt_attr_ints(s, "permA", perm, VM_MAX_RANK) == a->rank && perm[kd] >= 0 && perm[kd] < a->rank)
        kd = (int)perm[kd];
    return 2.0 * (double)y->numel * (double)a->dims[kd];
}

/* 2 x numel(Y) x (C/G) x kernel: W [M, C/G, k...] has M x (C/G) x kernel entries. */
static double conv_flops(const struct vm_rt_tensor *w, const struct vm_rt_tensor *y) {
    if (!w || !y || w->rank < 1 || w->dims[0] <= 0) return 0;
    return 2.0 * (double)y->numel * (double)(w->numel / w->dims[0]);
}

/* X [T, B, I] (or [B, T, I]), W [D, 4H, I], R [D, 4H, H]: 2 x T x B x D x 4H x (I + H). */
static double lstm_flops(const struct vm_rt_tensor *x, const struct vm_rt_tensor *w, const struct vm_rt_tensor *r) {
    if (!x || !w || !r || x->rank != 3 || w->rank != 3 || x->dims[2] <= 0) return 0;
    double tb = (double)x->numel / (double)x->dims[2];
    return 2.0 * tb * ((double)w->numel + (double)r->numel);
}

double vm_rt_step_flops(struct vm_rt_inst *inst, int32_t i, enum vm_rt_flop_kind *kind) {
    const struct vm_rt_step *s = &inst->m->plan.steps[i];
    struct vm_rt_ctx c = {.m = inst->m, .inst = inst, .t = inst->t};
    const char *op = s->op;
    *kind = VM_RT_FLOPS_OTHER;
    if (!strcmp(op, "MatMul") || !strcmp(op, "MatMulT") || !strcmp(op, "Gemm")) {
        *kind = VM_RT_FLOPS_MATMUL;
        bool ta = strcmp(op, "MatMul") && vm_rt_attr_int(s, "transA", 0) != 0;
        return matmul_flops(s, vm_rt_in(&c, s, 0), vm_rt_out(&c, s, 0), ta);
    }
    if (!strcmp(op, "Conv") || !strcmp(op, "ConvCL")) {
        *kind = VM_RT_FLOPS_CONV;
        return conv_flops(vm_rt_in(&c, s, 1), vm_rt_out(&c, s, 0));
    }
    if (!strcmp(op, "ConvGradData") || !strcmp(op, "ConvGradWeight")) {
        /* inputs (dY, W or X, ...): the forward's cost, from dY and the weight shape */
        *kind = VM_RT_FLOPS_CONV;
        const struct vm_rt_tensor *dy = vm_rt_in(&c, s, 0), *out = vm_rt_out(&c, s, 0);
        const struct vm_rt_tensor *w = !strcmp(op, "ConvGradWeight") ? out : vm_rt_in(&c, s, 1);
        return conv_flops(w, dy);
    }
    if (!strcmp(op, "LSTM") || !strcmp(op, "LSTMGrad")) {
        *kind = VM_RT_FLOPS_LSTM;
        double f = lstm_flops(vm_rt_in(&c, s, 0), vm_rt_in(&c, s, 1), vm_rt_in(&c, s, 2));
        return !strcmp(op, "LSTMGrad") ? 2 * f : f;
    }
    if (!strcmp(op, "ConvGather")) {
        /* inputs (E, ids [B, T], W [M, C, K], ...): B T' M K adds, T' = T + p0 + p1 - K + 1 */
        *kind = VM_RT_FLOPS_CONV;
        const struct vm_rt_tensor *ids = vm_rt_in(&c, s, 1), *w = vm_rt_in(&c, s, 2);
        int64_t pads[2] = {0, 0};
        vm_rt_attr_ints(s, "pads", pads, 2);
        if (!ids || !w || ids->rank != 2 || w->rank != 3) return 0;
        const int64_t tout = ids->dims[1] + pads[0] + pads[1] - w->dims[2] + 1;
        return tout > 0 ? (double)ids->dims[0] * (double)tout * (double)w->dims[0] * (double)w->dims[2] : 0;
    }
    if (!strcmp(op, "LSTMGather")) {
        /* inputs (E, ids, W, R, ...): 2 x B T x numel(R) */
        *kind = VM_RT_FLOPS_LSTM;
        const struct vm_rt_tensor *ids = vm_rt_in(&c, s, 1), *r = vm_rt_in(&c, s, 3);
        return ids && r ? 2.0 * (double)ids->numel * (double)r->numel : 0;
    }
    return 0;
}

double vm_rt_flops(struct vm_rt_inst *inst, unsigned ranges, double by_kind[VM_RT_FLOPS_KINDS]) {
    const struct vm_rt_plan *p = &inst->m->plan;
    if (!inst->flops_counted) {
        memset(inst->flops, 0, sizeof inst->flops);
        for (int r = 0; r < 3; r++)
            for (int32_t i = p->range[r][0]; i < p->range[r][1]; i++) {
                enum vm_rt_flop_kind k;
                double f = vm_rt_step_flops(inst, i, &k);
                inst->flops[r][k] += f;
            }
        inst->flops_counted = true;
    }
    double total = 0;
    if (by_kind) memset(by_kind, 0, sizeof(double) * VM_RT_FLOPS_KINDS);
    for (int r = 0; r < 3; r++) {
        if (!(ranges & (1u << r))) continue;
        for (int k = 0; k < VM_RT_FLOPS_KINDS; k++) {
            total += inst->flops[r][k];
            if (by_kind) by_kind[k] += inst->flops[r][k];
        }
    }
    return total;
}
