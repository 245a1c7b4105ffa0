/* nn: convolution, pooling, Gemm/MatMul, Softmax/LogSoftmax and LayerNormalization.
 *
 * ConvCL (domain "vmaskc") is Conv on channels-last tensors, X (N, spatial..., C) and
 * Y (N, spatial..., M), with Conv's W, B and attributes; the layout pass (pass_layout.c) makes it
 * from Transpose -> Conv. It shares Conv's infer and gradient rule; its ConvGradData /
 * ConvGradWeight carry channels_last = 1 (dY, X, dX channels-last).
 * Every infer here leaves the node in one canonical form the runtime reads without knowing ONNX's
 * defaults or opset differences:
 *  - Conv/ConvCL/MaxPool/AveragePool: kernel_shape, strides, dilations (where the op has them), pads
 *    (begin..., end...) all explicit; auto_pad is resolved into pads and set to "NOTSET"; ceil_mode
 *    is 0 whenever it cannot change the output (auto_pad SAME/VALID, symbolic exact lengths);
 *  - Gemm: alpha, beta, transA, transB explicit;
 *  - Softmax/LogSoftmax: axis explicit and non-negative; opset <= 12 models whose 2-D coercion
 *    differs from the single-axis form keep the internal attribute `coerce_2d` = 1 (softmax over
 *    the flattened dims [axis, rank));
 *  - LayerNormalization: axis non-negative, epsilon and stash_type explicit;
 *  - ConvGradData/ConvGradWeight: channels_last 0 or 1 explicit.
 * Shapes may be symbolic (batch, seq): window outputs are (T + pads - dil*(k-1) - 1) / stride + 1
 * in the dim algebra, exact for stride 1; a stride that does not divide a symbolic length is
 * reported so the user can fix the length with --shape.
 * Gradient rules and the internal backward rows (domain "vmaskc") follow the forward ops; see the
 * "gradients" section.
 */
#include <stdio.h>
#include <string.h>

#include "../autodiff.h"
#include "../ops.h"

#define F VM_DTYPE_FLOAT
#define MAX_SP 3 /* spatial dims: 1-D, 2-D and 3-D windows */

static const char *dstr(const struct vm_graph *g, const struct vm_dim *d, char *buf, size_t len) {
    return vm_dim_str(d, (const char *const *)g->symbols, buf, len);
}

/* Reads an INTS attribute into out. want >= 0 demands exactly that many entries. *present tells
 * whether the node has it; absent is not an error. */
static enum vm_status get_ints(struct vm_graph *g, int32_t n, const char *name, int want, int64_t *out, int cap,
                               int *count, bool *present, struct vm_error *err) {
    const struct vm_attr *a = vm_node_attr(g, n, name);
    *present = false;
    if (count) *count = 0;
    if (!a) return VM_OK;
    if (a->type != VM_ATTR_INTS)
        return vm_node_errorf(g, n, err, VM_EINVAL, "attribute '%s' must be a list of integers", name);
    if ((want >= 0 && a->n != want) || a->n > cap)
        return vm_node_errorf(g, n, err, VM_EINVAL, "attribute '%s' has %d entries; expected %d", name, (int)a->n,
                              want >= 0 ? want : cap);
    for (int i = 0; i < a->n; i++) out[i] = a->ints[i];
    if (count) *count = a->n;
    *present = true;
    return VM_OK;
}

static enum vm_status get_int(struct vm_graph *g, int32_t n, const char *name, int64_t def, int64_t *out,
                              struct vm_error *err) {
    const struct vm_attr *a = vm_node_attr(g, n, name);
    *out = def;
    if (a && a->type != VM_ATTR_INT)
        return vm_node_errorf(g, n, err, VM_EINVAL, "attribute '%s' must be an integer", name);
    *out = a ? a->i : def;
    return VM_OK;
}

static enum vm_status get_float(struct vm_graph *g, int32_t n, const char *name, double def, double *out,
                                struct vm_error *err) {
    const struct vm_attr *a = vm_node_attr(g, n, name);
    *out = def;
    if (a && a->type != VM_ATTR_FLOAT && a->type != VM_ATTR_INT)
        return vm_node_errorf(g, n, err, VM_EINVAL, "attribute '%s' must be a number", name);
    *out = vm_node_float(g, n, name, def);
    return VM_OK;
}

/* vm_check_dtype for an optional input that may lie past the node's input count. */
static enum vm_status check_float_opt(struct vm_graph *g, int32_t n, int i, struct vm_error *err) {
    return vm_has_in(g, n, i) ? vm_check_dtype(g, n, i, err, F, 0) : VM_OK;
}

/* ---------------- sliding windows: Conv, MaxPool, AveragePool ---------------- */

struct window {
    int sp;                 /* spatial rank */
    int64_t k[MAX_SP];      /* kernel */
    int64_t s[MAX_SP];      /* strides */
    int64_t d[MAX_SP];      /* dilations */
    int64_t pb[MAX_SP];     /* pads at the beginning */
    int64_t pe[MAX_SP];     /* pads at the end */
    int64_t ceil_mode;
};

/* WIN_CL: X is channels-last (N, spatial..., C), so the spatial dims start at axis 1, not 2. */
enum { WIN_DILATIONS = 1, WIN_CEIL = 2, WIN_CL = 4 };

/* Validates and normalizes the window attributes of node n over input x (rank 2 + sp) and computes
 * the spatial output dims. wk: Conv's kernel from the weight (entries -1 when symbolic), or NULL
 * for the pools, where kernel_shape is required. */
static enum vm_status window_infer(struct vm_graph *g, int32_t n, const struct vm_value *x, const int64_t *wk,
                                   unsigned opts, struct window *w, struct vm_dim *out, struct vm_error *err) {
    int sp = x->rank - 2, sp0 = (opts & WIN_CL) ? 1 : 2;
    bool has;
    enum vm_status s;
    char b1[128], b2[128];
    memset(w, 0, sizeof *w);
    w->sp = sp;
    if ((s = get_ints(g, n, "kernel_shape", sp, w->k, MAX_SP, NULL, &has, err))) return s;
    if (!has) {
        if (!wk) return vm_node_errorf(g, n, err, VM_EINVAL, "attribute 'kernel_shape' is required");
        for (int i = 0; i < sp; i++) {
            if (wk[i] < 0)
                return vm_node_errorf(g, n, err, VM_EUNSUPPORTED,
                                      "the weight's kernel size is not a constant; give kernel_shape or fix the weight's shape");
            w->k[i] = wk[i];
        }
    }
    for (int i = 0; i < sp; i++) {
        if (w->k[i] < 1) return vm_node_errorf(g, n, err, VM_EINVAL, "kernel_shape[%d] = %lld must be at least 1", i, (long long)w->k[i]);
        if (wk && wk[i] >= 0 && wk[i] != w->k[i])
            return vm_node_errorf(g, n, err, VM_EINVAL, "kernel_shape[%d] = %lld does not match the weight's kernel size %lld", i,
                                  (long long)w->k[i], (long long)wk[i]);
    }
    if ((s = get_ints(g, n, "strides", sp, w->s, MAX_SP, NULL, &has, err))) return s;
    for (int i = 0; i < sp; i++) {
        if (!has) w->s[i] = 1;
        if (w->s[i] < 1) return vm_node_errorf(g, n, err, VM_EINVAL, "strides[%d] = %lld must be at least 1", i, (long long)w->s[i]);
    }
    has = false;
    if ((opts & WIN_DILATIONS) && (s = get_ints(g, n, "dilations", sp, w->d, MAX_SP, NULL, &has, err))) return s;
    for (int i = 0; i < sp; i++) {
        if (!has) w->d[i] = 1;
        if (w->d[i] < 1) return vm_node_errorf(g, n, err, VM_EINVAL, "dilations[%d] = %lld must be at least 1", i, (long long)w->d[i]);
    }
    int64_t pads[2 * MAX_SP] = {0};
    bool has_pads;
    if ((s = get_ints(g, n, "pads", 2 * sp, pads, 2 * MAX_SP, NULL, &has_pads, err))) return s;
    for (int i = 0; i < 2 * sp; i++)
        if (pads[i] < 0) return vm_node_errorf(g, n, err, VM_EUNSUPPORTED, "negative pads (%lld) are not supported", (long long)pads[i]);
    w->ceil_mode = 0;
    if ((opts & WIN_CEIL) && (s = get_int(g, n, "ceil_mode", 0, &w->ceil_mode, err))) return s;
    if (w->ceil_mode != 0 && w->ceil_mode != 1)
        return vm_node_errorf(g, n, err, VM_EINVAL, "ceil_mode must be 0 or 1, not %lld", (long long)w->ceil_mode);
    const char *ap = vm_node_string(g, n, "auto_pad", "NOTSET");
    bool same = !strcmp(ap, "SAME_UPPER") || !strcmp(ap, "SAME_LOWER");
    bool valid = !strcmp(ap, "VALID");
    if (!same && !valid && strcmp(ap, "NOTSET") != 0)
        return vm_node_errorf(g, n, err, VM_EINVAL, "auto_pad '%s' is not one of NOTSET, SAME_UPPER, SAME_LOWER, VALID", ap);
    if (same || valid) {
        for (int i = 0; i < 2 * sp; i++)
            if (has_pads && pads[i] != 0)
                return vm_node_errorf(g, n, err, VM_EINVAL, "explicit pads cannot be combined with auto_pad %s", ap);
        w->ceil_mode = 0; /* the output length of SAME/VALID ignores ceil_mode */
    }
    bool ceil_needed = false;
    for (int i = 0; i < sp; i++) {
        const struct vm_dim *in = &x->dims[sp0 + i];
        int64_t dk = w->d[i] * (w->k[i] - 1) + 1; /* dilated kernel extent */
        if (same) {
            /* out = ceil(in / s); pads total = max(0, (out - 1) * s + dk - in), the odd one at the end
             * (SAME_UPPER) or the beginning (SAME_LOWER) */
            int64_t total;
            if (vm_dim_is_const(in)) {
                int64_t t = vm_dim_value(in), o = (t + w->s[i] - 1) / w->s[i];
                total = (o - 1) * w->s[i] + dk - t;
                if (total < 0) total = 0;
            } else if (w->s[i] == 1) {
                total = dk - 1;
            } else {
                return vm_node_errorf(g, n, err, VM_EUNSUPPORTED,
                                      "auto_pad %s with stride %lld needs a concrete input length, but spatial axis %d is %s; "
                                      "fix the input shape with --shape",
                                      ap, (long long)w->s[i], i, dstr(g, in, b1, sizeof b1));
            }
            bool upper = !strcmp(ap, "SAME_UPPER");
            w->pb[i] = upper ? total / 2 : total - total / 2;
            w->pe[i] = total - w->pb[i];
        } else {
            w->pb[i] = pads[i];
            w->pe[i] = pads[sp + i];
        }
        /* num = in + pads - dk; out = num / s + 1 (floor, or ceil in ceil_mode) */
        struct vm_dim num, padk = vm_dim_const(w->pb[i] + w->pe[i] - dk);
        if ((s = vm_dim_add(&num, in, &padk)))
            return vm_node_errorf(g, n, err, VM_EUNSUPPORTED, "the output length along spatial axis %d is too complex", i);
        if (vm_dim_is_const(&num)) {
            int64_t v = vm_dim_value(&num);
            if (v < 0) {
                int64_t t = vm_dim_value(in);
                char pad[64] = "";
                if (w->pb[i] + w->pe[i]) snprintf(pad, sizeof pad, " (+%lld padding)", (long long)(w->pb[i] + w->pe[i]));
                char ker[64];
                snprintf(ker, sizeof ker, "%lld", (long long)w->k[i]);
                if (w->d[i] > 1) snprintf(ker, sizeof ker, "%lld (dilated to %lld)", (long long)w->k[i], (long long)dk);
                if (sp == 1)
                    return vm_node_errorf(g, n, err, VM_EINVAL, "kernel %s exceeds sequence length %lld%s", ker, (long long)t, pad);
                return vm_node_errorf(g, n, err, VM_EINVAL, "kernel %s exceeds input size %lld%s along spatial axis %d", ker,
                                      (long long)t, pad, i);
            }
            int64_t o = w->ceil_mode ? (v + w->s[i] - 1) / w->s[i] + 1 : v / w->s[i] + 1;
            /* PyTorch/onnxruntime rule: the last window must start inside the input or the
             * beginning padding */
            if (w->ceil_mode && (o - 1) * w->s[i] >= vm_dim_value(in) + w->pb[i]) o--;
            if (o != v / w->s[i] + 1) ceil_needed = true;
            out[i] = vm_dim_const(o);
            continue;
        }
        struct vm_dim q, one = vm_dim_const(1);
        if (w->s[i] == 1) q = num;
        else if (vm_dim_floordiv(&q, &num, w->s[i]))
            return vm_node_errorf(g, n, err, VM_EUNSUPPORTED,
                                  "stride %lld over the symbolic length %s: the output length (%s)/%lld + 1 is not a whole "
                                  "number for every input length; vmaskc needs a concrete length here (fix it with --shape)",
                                  (long long)w->s[i], dstr(g, in, b1, sizeof b1), dstr(g, &num, b2, sizeof b2), (long long)w->s[i]);
        if ((s = vm_dim_add(&out[i], &q, &one)))
            return vm_node_errorf(g, n, err, VM_EUNSUPPORTED, "the output length along spatial axis %d is too complex", i);
        if (vm_dim_sign(&out[i]) < 0)
            return vm_node_errorf(g, n, err, VM_EINVAL, "kernel %lld exceeds the input length %s along spatial axis %d",
                                  (long long)w->k[i], dstr(g, in, b1, sizeof b1), i);
        /* exact division: ceil and floor agree */
    }
    /* canonical: ceil_mode only where it changes an output length (the runtime reads the output
     * dims anyway; ceil_mode is kept for readers of the plan) */
    if (!ceil_needed) w->ceil_mode = 0;
    /* write the canonical form */
    int64_t p2[2 * MAX_SP];
    for (int i = 0; i < sp; i++) {
        p2[i] = w->pb[i];
        p2[sp + i] = w->pe[i];
    }
    if ((s = vm_node_set_ints(g, n, "kernel_shape", w->k, sp, err)) || (s = vm_node_set_ints(g, n, "strides", w->s, sp, err)) ||
        (s = vm_node_set_ints(g, n, "pads", p2, 2 * sp, err)) || (s = vm_node_set_string(g, n, "auto_pad", "NOTSET", err)))
        return s;
    if ((opts & WIN_DILATIONS) && (s = vm_node_set_ints(g, n, "dilations", w->d, sp, err))) return s;
    if ((opts & WIN_CEIL) && (s = vm_node_set_int(g, n, "ceil_mode", w->ceil_mode, err))) return s;
    return VM_OK;
}

static enum vm_status check_spatial_rank(struct vm_graph *g, int32_t n, const struct vm_value *x, const char *what,
                                         struct vm_error *err) {
    if (x->rank < 3 || x->rank > 2 + MAX_SP)
        return vm_node_errorf(g, n, err, VM_EUNSUPPORTED,
                              "%s '%s' has rank %d; vmaskc supports (N, C, L), (N, C, H, W) and (N, C, D, H, W) inputs", what,
                              x->name, (int)x->rank);
    return VM_OK;
}

static bool is_op(struct vm_graph *g, int32_t n, const char *name) {
    return strcmp(vm_op_name(g->nodes[n].op), name) == 0;
}

/* Conv, and ConvCL: the same convolution on channels-last tensors, X (N, spatial..., C) and
 * Y (N, spatial..., M); W, B and the attributes are Conv's (W stays [M, C/G, k...]). ConvCL is
 * internal: the layout pass (pass_layout.c) makes it from Transpose -> Conv. */
static enum vm_status infer_conv(struct vm_graph *g, int32_t n, struct vm_error *err) {
    enum vm_status s;
    if ((s = vm_check_dtype(g, n, 0, err, F, 0)) || (s = vm_check_dtype(g, n, 1, err, F, 0)) || (s = check_float_opt(g, n, 2, err)))
        return s;
    struct vm_value *x = vm_in(g, n, 0), *wv = vm_in(g, n, 1), *b = vm_has_in(g, n, 2) ? vm_in(g, n, 2) : NULL;
    if ((s = check_spatial_rank(g, n, x, "X", err))) return s;
    bool cl = is_op(g, n, "ConvCL");
    int ci = cl ? x->rank - 1 : 1; /* channel axis of X and Y */
    if (wv->rank != x->rank)
        return vm_node_errorf(g, n, err, VM_EINVAL, "Conv weight '%s' has rank %d but X has rank %d", wv->name, (int)wv->rank,
                              (int)x->rank);
    int64_t group;
    if ((s = get_int(g, n, "group", 1, &group, err))) return s;
    if (group < 1) return vm_node_errorf(g, n, err, VM_EINVAL, "group %lld must be at least 1", (long long)group);
    char b1[128], b2[128];
    struct vm_dim gd = vm_dim_const(group), cin;
    if (vm_dim_mul(&cin, &wv->dims[1], &gd) || !vm_dim_eq(&cin, &x->dims[ci])) {
        if (group == 1)
            return vm_node_errorf(g, n, err, VM_EINVAL, "Conv weight has %s input channels but X has %s",
                                  dstr(g, &wv->dims[1], b1, sizeof b1), dstr(g, &x->dims[ci], b2, sizeof b2));
        return vm_node_errorf(g, n, err, VM_EINVAL, "Conv weight has %s input channels per group x %lld groups but X has %s",
                              dstr(g, &wv->dims[1], b1, sizeof b1), (long long)group, dstr(g, &x->dims[ci], b2, sizeof b2));
    }
    const struct vm_dim *m = &wv->dims[0];
    if (vm_dim_is_const(m) && vm_dim_value(m) % group != 0)
        return vm_node_errorf(g, n, err, VM_EINVAL, "Conv weight has %lld output channels, not divisible by group %lld",
                              (long long)vm_dim_value(m), (long long)group);
    if (b && (b->rank != 1 || !vm_dim_eq(&b->dims[0], m)))
        return vm_node_errorf(g, n, err, VM_EINVAL, "Conv bias '%s' must have shape [%s] (one value per output channel)", b->name,
                              dstr(g, m, b1, sizeof b1));
    int64_t wk[MAX_SP];
    for (int i = 0; i < x->rank - 2; i++) wk[i] = vm_dim_is_const(&wv->dims[2 + i]) ? vm_dim_value(&wv->dims[2 + i]) : -1;
    struct window w;
    struct vm_dim dims[VM_MAX_RANK];
    if ((s = window_infer(g, n, x, wk, WIN_DILATIONS | (cl ? WIN_CL : 0), &w, cl ? dims + 1 : dims + 2, err))) return s;
    if ((s = vm_node_set_int(g, n, "group", group, err))) return s;
    dims[0] = x->dims[0];
    dims[ci] = *m;
    vm_set_out(g, n, 0, F, x->rank, dims);
    return VM_OK;
}

/* ConvGather(E [V,C], ids [B,T], W [M,C,K][, bias [M][, scale [B,T]]]) = ConvCL(Gather(E, ids) [* scale
 * (a per-token mask, unsqueezed)], W, bias) for a
 * 1-D convolution with stride 1, dilation 1, group 1 and pads [p0, p1] (compiler/pass_gather_fold.c,
 * inference only): Y [B, T + p0 + p1 - K + 1, M]. The runtime memoizes E's rows times each tap.
 * relu_max = 1: Y = ReduceMax(Relu(conv), axis 1, keepdims) instead, [B, M] or [B, 1, M]. */
static enum vm_status infer_conv_gather(struct vm_graph *g, int32_t n, struct vm_error *err) {
    enum vm_status s;
    if ((s = vm_check_dtype(g, n, 0, err, F, 0)) || (s = vm_check_dtype(g, n, 1, err, VM_DTYPE_INT64, VM_DTYPE_INT32, 0)) ||
        (s = vm_check_dtype(g, n, 2, err, F, 0)) || (s = check_float_opt(g, n, 3, err)) || (s = check_float_opt(g, n, 4, err)))
        return s;
    const struct vm_value *e = vm_in(g, n, 0), *ids = vm_in(g, n, 1), *w = vm_in(g, n, 2);
    const struct vm_value *sc = g->nodes[n].n_in > 4 && g->nodes[n].in[4] >= 0 ? vm_in(g, n, 4) : NULL;
    if (sc && (sc->rank != 2 || ids->rank != 2 || !vm_dim_eq(&sc->dims[0], &ids->dims[0]) || !vm_dim_eq(&sc->dims[1], &ids->dims[1])))
        return vm_node_errorf(g, n, err, VM_EINTERNAL, "ConvGather's scale must be shaped like its ids");
    const struct vm_attr *pads = vm_node_attr(g, n, "pads");
    if (e->rank != 2 || ids->rank != 2 || w->rank != 3 || !vm_dim_eq(&e->dims[1], &w->dims[1]) || !vm_dim_is_const(&w->dims[2]) ||
        !pads || pads->type != VM_ATTR_INTS || pads->n != 2)
        return vm_node_errorf(g, n, err, VM_EINTERNAL, "ConvGather needs E [V, C], ids [B, T], W [M, C, K] and pads [p0, p1]");
    struct vm_dim dims[3] = {ids->dims[0], {0}, w->dims[0]};
    const struct vm_dim extra = vm_dim_const(pads->ints[0] + pads->ints[1] - vm_dim_value(&w->dims[2]) + 1);
    if (vm_dim_add(&dims[1], &ids->dims[1], &extra)) return vm_node_errorf(g, n, err, VM_EINTERNAL, "ConvGather output length");
    if (vm_node_int(g, n, "relu_max", 0)) {
        const bool keep = vm_node_int(g, n, "keepdims", 1) != 0;
        dims[1] = keep ? vm_dim_const(1) : w->dims[0];
        vm_set_out(g, n, 0, F, keep ? 3 : 2, dims);
        return VM_OK;
    }
    vm_set_out(g, n, 0, F, 3, dims);
    return VM_OK;
}

static enum vm_status infer_pool(struct vm_graph *g, int32_t n, struct vm_error *err) {
    bool maxp = is_op(g, n, "MaxPool");
    enum vm_status s = maxp ? vm_check_dtype(g, n, 0, err, F, VM_DTYPE_UINT8, VM_DTYPE_INT8, 0) : vm_check_dtype(g, n, 0, err, F, 0);
    if (s) return s;
    struct vm_value *x = vm_in(g, n, 0);
    if ((s = check_spatial_rank(g, n, x, "X", err))) return s;
    struct window w;
    struct vm_dim dims[VM_MAX_RANK];
    if ((s = window_infer(g, n, x, NULL, maxp ? WIN_DILATIONS | WIN_CEIL : WIN_CEIL, &w, dims + 2, err))) return s;
    if (maxp) {
        int64_t so;
        if ((s = get_int(g, n, "storage_order", 0, &so, err))) return s;
        if (so != 0 && so != 1) return vm_node_errorf(g, n, err, VM_EINVAL, "storage_order must be 0 or 1, not %lld", (long long)so);
        if ((s = vm_node_set_int(g, n, "storage_order", so, err))) return s;
    } else {
        int64_t cip;
        if ((s = get_int(g, n, "count_include_pad", 0, &cip, err))) return s;
        if (cip != 0 && cip != 1)
            return vm_node_errorf(g, n, err, VM_EINVAL, "count_include_pad must be 0 or 1, not %lld", (long long)cip);
        if ((s = vm_node_set_int(g, n, "count_include_pad", cip, err))) return s;
    }
    dims[0] = x->dims[0];
    dims[1] = x->dims[1];
    vm_set_out(g, n, 0, x->dtype, x->rank, dims);
    if (maxp && g->nodes[n].n_out > 1) vm_set_out(g, n, 1, VM_DTYPE_INT64, x->rank, dims);
    return VM_OK;
}

static enum vm_status infer_global_pool(struct vm_graph *g, int32_t n, struct vm_error *err) {
    enum vm_status s = vm_check_dtype(g, n, 0, err, F, 0);
    if (s) return s;
    struct vm_value *x = vm_in(g, n, 0);
    if (x->rank < 3)
        return vm_node_errorf(g, n, err, VM_EINVAL, "X '%s' has rank %d; global pooling needs (N, C, spatial...)", x->name, (int)x->rank);
    struct vm_dim dims[VM_MAX_RANK];
    dims[0] = x->dims[0];
    dims[1] = x->dims[1];
    for (int i = 2; i < x->rank; i++) dims[i] = vm_dim_const(1);
    vm_set_out(g, n, 0, F, x->rank, dims);
    return VM_OK;
}

/* ---------------- Gemm, MatMul ---------------- */

static enum vm_status infer_gemm(struct vm_graph *g, int32_t n, struct vm_error *err) {
    enum vm_status s;
    if ((s = vm_check_dtype(g, n, 0, err, F, 0)) || (s = vm_check_dtype(g, n, 1, err, F, 0)) || (s = check_float_opt(g, n, 2, err)))
        return s;
    struct vm_value *a = vm_in(g, n, 0), *b = vm_in(g, n, 1), *c = vm_has_in(g, n, 2) ? vm_in(g, n, 2) : NULL;
    if (a->rank != 2) return vm_node_errorf(g, n, err, VM_EINVAL, "Gemm input A '%s' has rank %d; it must be a matrix", a->name, (int)a->rank);
    if (b->rank != 2) return vm_node_errorf(g, n, err, VM_EINVAL, "Gemm input B '%s' has rank %d; it must be a matrix", b->name, (int)b->rank);
    int64_t ta, tb;
    double alpha, beta;
    if ((s = get_int(g, n, "transA", 0, &ta, err)) || (s = get_int(g, n, "transB", 0, &tb, err)) ||
        (s = get_float(g, n, "alpha", 1.0, &alpha, err)) || (s = get_float(g, n, "beta", 1.0, &beta, err)))
        return s;
    if ((ta != 0 && ta != 1) || (tb != 0 && tb != 1))
        return vm_node_errorf(g, n, err, VM_EINVAL, "transA and transB must be 0 or 1 (got %lld, %lld)", (long long)ta, (long long)tb);
    const struct vm_dim *m = &a->dims[ta ? 1 : 0], *ka = &a->dims[ta ? 0 : 1];
    const struct vm_dim *kb = &b->dims[tb ? 1 : 0], *nn = &b->dims[tb ? 0 : 1];
    char b1[128], b2[128];
    if (!vm_dim_eq(ka, kb))
        return vm_node_errorf(g, n, err, VM_EINVAL, "A%s has K = %s but B%s has K = %s", ta ? "^T" : "", dstr(g, ka, b1, sizeof b1),
                              tb ? "^T" : "", dstr(g, kb, b2, sizeof b2));
    struct vm_dim dims[2] = {*m, *nn};
    /* opset 6 and older: `broadcast` (default 0) must be set for C to broadcast; later opsets
     * always broadcast, which is the canonical form, so the attribute is dropped */
    int64_t bc;
    if ((s = get_int(g, n, "broadcast", g->opset < 7 ? 0 : 1, &bc, err))) return s;
    if (c && !bc && (c->rank != 2 || !vm_dim_eq(&c->dims[0], m) || !vm_dim_eq(&c->dims[1], nn)))
        return vm_node_errorf(g, n, err, VM_EINVAL, "Gemm input C '%s' must have shape (M, N) = (%s, %s) when broadcast is 0", c->name,
                              dstr(g, m, b1, sizeof b1), dstr(g, nn, b2, sizeof b2));
    vm_node_remove_attr(g, n, "broadcast");
    if (c) {
        if (c->rank > 2)
            return vm_node_errorf(g, n, err, VM_EINVAL, "Gemm input C '%s' has rank %d; it must broadcast to (M, N)", c->name, (int)c->rank);
        for (int i = 0; i < c->rank; i++) {
            const struct vm_dim *cd = &c->dims[i], *od = &dims[2 - c->rank + i];
            if (!vm_dim_is_const_eq(cd, 1) && !vm_dim_eq(cd, od))
                return vm_node_errorf(g, n, err, VM_EINVAL, "Gemm input C '%s' dimension %d is %s; it must be 1 or %s to broadcast to (M, N)",
                                      c->name, i, dstr(g, cd, b1, sizeof b1), dstr(g, od, b2, sizeof b2));
        }
    }
    if ((s = vm_node_set_int(g, n, "transA", ta, err)) || (s = vm_node_set_int(g, n, "transB", tb, err)) ||
        (s = vm_node_set_float(g, n, "alpha", alpha, err)) || (s = vm_node_set_float(g, n, "beta", beta, err)))
        return s;
    vm_set_out(g, n, 0, F, 2, dims);
    return VM_OK;
}

static enum vm_status infer_matmul(struct vm_graph *g, int32_t n, struct vm_error *err) {
    enum vm_status s;
    if ((s = vm_check_dtype(g, n, 0, err, F, 0)) || (s = vm_check_dtype(g, n, 1, err, F, 0))) return s;
    struct vm_value *a = vm_in(g, n, 0), *b = vm_in(g, n, 1);
    if (a->rank < 1 || b->rank < 1)
        return vm_node_errorf(g, n, err, VM_EINVAL, "MatMul inputs must have rank 1 or more (got %d and %d)", (int)a->rank, (int)b->rank);
    const struct vm_dim *ka = &a->dims[a->rank - 1], *kb = &b->dims[b->rank >= 2 ? b->rank - 2 : 0];
    char b1[128], b2[128];
    if (!vm_dim_eq(ka, kb))
        return vm_node_errorf(g, n, err, VM_EINVAL, "A '%s' has %s columns but B '%s' has %s rows", a->name, dstr(g, ka, b1, sizeof b1),
                              b->name, dstr(g, kb, b2, sizeof b2));
    struct vm_dim dims[VM_MAX_RANK];
    int rank = 0;
    int ra = a->rank >= 2 ? a->rank - 2 : 0, rb = b->rank >= 2 ? b->rank - 2 : 0;
    if ((s = vm_broadcast(g, n, ra, a->dims, rb, b->dims, &rank, dims, err))) return s;
    if (a->rank >= 2) dims[rank++] = a->dims[a->rank - 2];
    if (b->rank >= 2) dims[rank++] = b->dims[b->rank - 1];
    vm_set_out(g, n, 0, F, rank, dims);
    return VM_OK;
}

/* ---------------- Softmax, LogSoftmax ---------------- */

/* Opsets before 13: default axis 1, and the input is coerced to 2-D (softmax over the flattened dims
 * [axis, rank)). Made explicit here so infer and the runtime never look at the opset. */
static enum vm_status normalize_softmax(struct vm_graph *g, int32_t n, struct vm_error *err) {
    if (g->opset >= 13) return VM_OK;
    enum vm_status s;
    int64_t axis;
    if ((s = get_int(g, n, "axis", 1, &axis, err))) return s;
    if ((s = vm_node_set_int(g, n, "axis", axis, err))) return s;
    return vm_node_set_int(g, n, "coerce_2d", 1, err);
}

static enum vm_status infer_softmax(struct vm_graph *g, int32_t n, struct vm_error *err) {
    enum vm_status s = vm_check_dtype(g, n, 0, err, F, 0);
    if (s) return s;
    struct vm_value *x = vm_in(g, n, 0);
    if (x->rank < 1) return vm_node_errorf(g, n, err, VM_EINVAL, "input '%s' is a scalar; softmax needs rank 1 or more", x->name);
    int64_t axis, coerce;
    if ((s = get_int(g, n, "axis", -1, &axis, err)) || (s = get_int(g, n, "coerce_2d", 0, &coerce, err))) return s;
    if ((s = vm_norm_axis(g, n, &axis, x->rank, err))) return s;
    if (coerce) {
        /* the 2-D form equals the single-axis form when every dim after axis is 1 */
        bool same = true;
        for (int i = (int)axis + 1; i < x->rank; i++) same = same && vm_dim_is_const_eq(&x->dims[i], 1);
        if (same) vm_node_remove_attr(g, n, "coerce_2d");
    }
    if ((s = vm_node_set_int(g, n, "axis", axis, err))) return s;
    vm_set_out(g, n, 0, F, x->rank, x->dims);
    return VM_OK;
}

/* ---------------- LayerNormalization ---------------- */

static enum vm_status infer_layernorm(struct vm_graph *g, int32_t n, struct vm_error *err) {
    enum vm_status s;
    if ((s = vm_check_dtype(g, n, 0, err, F, 0)) || (s = vm_check_dtype(g, n, 1, err, F, 0)) || (s = check_float_opt(g, n, 2, err)))
        return s;
    struct vm_value *x = vm_in(g, n, 0);
    if (x->rank < 1) return vm_node_errorf(g, n, err, VM_EINVAL, "input X '%s' is a scalar; LayerNormalization needs rank 1 or more", x->name);
    int64_t axis, stash;
    double eps;
    if ((s = get_int(g, n, "axis", -1, &axis, err)) || (s = get_int(g, n, "stash_type", 1, &stash, err)) ||
        (s = get_float(g, n, "epsilon", 1e-5, &eps, err)))
        return s;
    if ((s = vm_norm_axis(g, n, &axis, x->rank, err))) return s;
    if (stash != VM_DTYPE_FLOAT)
        return vm_node_errorf(g, n, err, VM_EUNSUPPORTED, "stash_type %lld is not supported (vmaskc computes the statistics in float, stash_type 1)",
                              (long long)stash);
    if (!(eps > 0)) return vm_node_errorf(g, n, err, VM_EINVAL, "epsilon %g must be positive", eps);
    /* Scale and B hold one value per normalized element: their dims, right-aligned, are X's dims
     * [axis, rank) (extra leading 1s allowed) */
    int nr = x->rank - (int)axis;
    for (int k = 1; k <= 2; k++) {
        if (!vm_has_in(g, n, k)) continue;
        struct vm_value *p = vm_in(g, n, k);
        bool ok = true;
        for (int i = 0; i < p->rank; i++) {
            int xi = x->rank - p->rank + i;
            if (xi < (int)axis) ok = ok && vm_dim_is_const_eq(&p->dims[i], 1);
            else ok = ok && vm_dim_eq(&p->dims[i], &x->dims[xi]);
        }
        if (p->rank < nr) {
            for (int i = (int)axis; i < x->rank - p->rank; i++) ok = ok && vm_dim_is_const_eq(&x->dims[i], 1);
        }
        if (!ok) {
            char buf[256] = "", d[96];
            size_t pos = 0;
            for (int i = (int)axis; i < x->rank; i++)
                pos += (size_t)snprintf(buf + pos, sizeof buf - pos, "%s%s", i > axis ? ", " : "", dstr(g, &x->dims[i], d, sizeof d));
            return vm_node_errorf(g, n, err, VM_EINVAL, "%s '%s' must have the normalized shape [%s] (X's dims from axis %lld)",
                                  k == 1 ? "Scale" : "B", p->name, buf, (long long)axis);
        }
    }
    if ((s = vm_node_set_int(g, n, "axis", axis, err)) || (s = vm_node_set_int(g, n, "stash_type", stash, err)) ||
        (s = vm_node_set_float(g, n, "epsilon", eps, err)))
        return s;
    vm_set_out(g, n, 0, F, x->rank, x->dims);
    struct vm_dim sd[VM_MAX_RANK];
    for (int i = 0; i < x->rank; i++) sd[i] = i < axis ? x->dims[i] : vm_dim_const(1);
    for (int k = 1; k < g->nodes[n].n_out && k < 3; k++) vm_set_out(g, n, k, F, x->rank, sd);
    return VM_OK;
}

/* ---------------- gradients ----------------
 *
 * Rules emit backward nodes only; the driver reduces broadcasts (Gemm's C, MatMul's batch dims)
 * and accumulates. Heavy backward work lands in internal rows below, each with a oneDNN kernel and
 * a C reference: ConvGradData / ConvGradWeight (+ bias) on convolution bwd_data / bwd_weights,
 * AveragePoolGrad on pooling backward, SoftmaxGrad on softmax_v2 backward (accurate and log),
 * LayerNormGrad on layer normalization backward (statistics recomputed from X). MatMulT is a
 * batched matmul whose operands may be read transposed (strides, no copy): MatMul's backward
 * products; Gemm's backward is Gemm again (its transA/transB are strides too). MaxPoolGrad /
 * GlobalMaxPoolGrad recompute the window argmax from X (first maximum wins, like PyTorch), so no
 * workspace crosses steps. Shape-only inputs (shape of X for ConvGradData, AveragePoolGrad,
 * GlobalAveragePoolGrad; shape of W for ConvGradWeight) are known int64 constants, possibly
 * symbolic, so the output shape follows the forward's without saving the tensor. */

/* Copies the listed (space-separated) attributes that node `from` has onto node `to`. */
static enum vm_status copy_attrs(struct vm_graph *g, int32_t from, int32_t to, const char *names, struct vm_error *err) {
    char name[64];
    for (const char *p = names; *p;) {
        while (*p == ' ') p++;
        size_t len = strcspn(p, " ");
        if (!len) break;
        snprintf(name, sizeof name, "%.*s", (int)len, p);
        p += len;
        const struct vm_attr *a = vm_node_attr(g, from, name);
        if (!a) continue;
        enum vm_status s = VM_OK;
        switch (a->type) {
        case VM_ATTR_INT: s = vm_node_set_int(g, to, name, a->i, err); break;
        case VM_ATTR_FLOAT: s = vm_node_set_float(g, to, name, a->f, err); break;
        case VM_ATTR_STRING: s = vm_node_set_string(g, to, name, a->s, err); break;
        case VM_ATTR_INTS: s = vm_node_set_ints(g, to, name, a->ints, a->n, err); break;
        case VM_ATTR_FLOATS: s = vm_node_set_floats(g, to, name, a->floats, a->n, err); break;
        default: break;
        }
        if (s) return s;
    }
    return VM_OK;
}

static int32_t reshape_to(struct vm_autodiff *ad, int32_t x, const struct vm_dim *dims, int r) {
    if (x < 0) return -1;
    int32_t shape = vm_ad_const_dims(ad, dims, r);
    if (shape < 0) return -1;
    int32_t in[2] = {x, shape};
    return vm_ad_op(ad, "Reshape", 2, in);
}

/* Adds backward op `op` with inputs in[0..n_in) and attributes copied from the forward node;
 * returns the node (outputs in outs), -1 on error. */
static int32_t grad_node(struct vm_autodiff *ad, int32_t n, const char *op, int n_in, const int32_t *in, int n_out, int32_t *outs,
                         const char *attrs) {
    for (int i = 0; i < n_in; i++)
        if (in[i] < 0) return -1;
    struct vm_graph *g = vm_ad_graph(ad);
    int32_t id = vm_ad_begin(ad, op, n_in, in, n_out, outs);
    if (id < 0) return -1;
    if (attrs && copy_attrs(g, n, id, attrs, vm_ad_err(ad))) return -1;
    return id;
}

static int32_t grad_op(struct vm_autodiff *ad, int32_t n, const char *op, int n_in, const int32_t *in, const char *attrs) {
    int32_t out;
    int32_t id = grad_node(ad, n, op, n_in, in, 1, &out, attrs);
    if (id < 0 || vm_ad_end(ad, id)) return -1;
    return out;
}

#define WIN_ATTRS "dilations group kernel_shape pads strides"

/* Conv and ConvCL: ConvGradData(dY, W, shape(X)) -> dX and ConvGradWeight(dY, X, shape(W)) ->
 * dW [, dB]; for ConvCL both carry channels_last = 1 (dY, X and dX channels-last). */
static enum vm_status grad_conv(struct vm_autodiff *ad, int32_t n, struct vm_error *err) {
    struct vm_graph *g = vm_ad_graph(ad);
    int32_t dy = vm_ad_dy(ad, n, 0), x = g->nodes[n].in[0], w = g->nodes[n].in[1];
    if (dy < 0) return VM_OK;
    int64_t cl = is_op(g, n, "ConvCL");
    if (vm_ad_wants(ad, n, 0)) {
        int32_t in[3] = {dy, w, vm_ad_shape_of(ad, x)}, dx;
        int32_t id = grad_node(ad, n, "ConvGradData", 3, in, 1, &dx, WIN_ATTRS);
        if (id < 0) return err->code;
        enum vm_status s = vm_node_set_int(g, id, "channels_last", cl, err);
        if (!s) s = vm_ad_end(ad, id);
        if (s) return s;
        GIVE(0, dx);
    }
    bool ww = vm_ad_wants(ad, n, 1), wb = vm_ad_wants(ad, n, 2);
    if (ww || wb) {
        /* one bwd_weights primitive gives both dW and dB */
        int32_t in[3] = {dy, x, vm_ad_shape_of(ad, w)}, outs[2];
        int32_t id = grad_node(ad, n, "ConvGradWeight", 3, in, wb ? 2 : 1, outs, WIN_ATTRS);
        if (id < 0) return err->code;
        enum vm_status s = vm_node_set_int(g, id, "channels_last", cl, err);
        if (!s) s = vm_ad_end(ad, id);
        if (s) return s;
        if (ww) GIVE(1, outs[0]);
        if (wb) GIVE(2, outs[1]);
    }
    return VM_OK;
}

static enum vm_status grad_pool(struct vm_autodiff *ad, int32_t n, struct vm_error *err) {
    (void)err;
    struct vm_graph *g = vm_ad_graph(ad);
    int32_t dy = vm_ad_dy(ad, n, 0), x = g->nodes[n].in[0];
    if (dy < 0) return VM_OK;
    if (is_op(g, n, "MaxPool")) {
        int32_t in[2] = {dy, x};
        GIVE(0, grad_op(ad, n, "MaxPoolGrad", 2, in, "dilations kernel_shape pads strides"));
    } else {
        int32_t in[2] = {dy, vm_ad_shape_of(ad, x)};
        GIVE(0, grad_op(ad, n, "AveragePoolGrad", 2, in, "count_include_pad kernel_shape pads strides"));
    }
    return VM_OK;
}

static enum vm_status grad_global_pool(struct vm_autodiff *ad, int32_t n, struct vm_error *err) {
    (void)err;
    struct vm_graph *g = vm_ad_graph(ad);
    int32_t dy = vm_ad_dy(ad, n, 0), x = g->nodes[n].in[0];
    if (dy < 0) return VM_OK;
    bool maxp = is_op(g, n, "GlobalMaxPool");
    int32_t in[2] = {dy, maxp ? x : vm_ad_shape_of(ad, x)};
    GIVE(0, grad_op(ad, n, maxp ? "GlobalMaxPoolGrad" : "GlobalAveragePoolGrad", 2, in, NULL));
    return VM_OK;
}

/* Gemm(a, b) with the given transposes and alpha (no C). */
static int32_t gemm2(struct vm_autodiff *ad, int32_t a, int32_t b, int ta, int tb, double alpha) {
    if (a < 0 || b < 0) return -1;
    struct vm_graph *g = vm_ad_graph(ad);
    struct vm_error *err = vm_ad_err(ad);
    int32_t in[2] = {a, b}, out;
    int32_t id = vm_ad_begin(ad, "Gemm", 2, in, 1, &out);
    if (id < 0 || vm_node_set_int(g, id, "transA", ta, err) || vm_node_set_int(g, id, "transB", tb, err) ||
        vm_node_set_float(g, id, "alpha", alpha, err) || vm_node_set_float(g, id, "beta", 1.0, err) || vm_ad_end(ad, id))
        return -1;
    return out;
}

/* Y = alpha op(A) op(B) + beta C:
 *   d op(A) = alpha dY op(B)^T, d op(B) = alpha op(A)^T dY, dC = beta dY (the driver reduces C's
 *   broadcast). Each product is one Gemm reading its operands through transposes (strides). */
static enum vm_status grad_gemm(struct vm_autodiff *ad, int32_t n, struct vm_error *err) {
    struct vm_graph *g = vm_ad_graph(ad);
    int32_t dy = vm_ad_dy(ad, n, 0), a = g->nodes[n].in[0], b = g->nodes[n].in[1];
    if (dy < 0) return VM_OK;
    int ta = (int)vm_node_int(g, n, "transA", 0), tb = (int)vm_node_int(g, n, "transB", 0);
    double alpha = vm_node_float(g, n, "alpha", 1.0), beta = vm_node_float(g, n, "beta", 1.0);
    if (vm_ad_wants(ad, n, 0)) {
        /* ta 0: dA = alpha dY op(B)^T;  ta 1: dA = (alpha dY op(B)^T)^T = alpha op(B) dY^T */
        if (!ta) GIVE(0, gemm2(ad, dy, b, 0, !tb, alpha));
        else GIVE(0, gemm2(ad, b, dy, tb, 1, alpha));
    }
    if (vm_ad_wants(ad, n, 1)) {
        /* tb 0: dB = alpha op(A)^T dY;  tb 1: dB = alpha dY^T op(A) */
        if (!tb) GIVE(1, gemm2(ad, a, dy, !ta, 0, alpha));
        else GIVE(1, gemm2(ad, dy, a, 1, ta, alpha));
    }
    if (vm_ad_wants(ad, n, 2)) {
        if (beta == 1.0) {
            GIVE(2, dy);
        } else {
            int32_t in[2] = {dy, vm_ad_const_f32(ad, (float)beta)};
            if (in[1] < 0) return err->code;
            GIVE(2, vm_ad_op(ad, "Mul", 2, in));
        }
    }
    return VM_OK;
}

static int32_t matmul_t(struct vm_autodiff *ad, int32_t a, int32_t b, int ta, int tb) {
    if (a < 0 || b < 0) return -1;
    struct vm_graph *g = vm_ad_graph(ad);
    struct vm_error *err = vm_ad_err(ad);
    int32_t in[2] = {a, b}, out;
    int32_t id = vm_ad_begin(ad, "MatMulT", 2, in, 1, &out);
    if (id < 0 || vm_node_set_int(g, id, "transA", ta, err) || vm_node_set_int(g, id, "transB", tb, err) || vm_ad_end(ad, id))
        return -1;
    return out;
}

static int32_t flatten2(struct vm_autodiff *ad, int32_t x, int axis) {
    if (x < 0) return -1;
    int32_t out;
    int32_t id = vm_ad_begin(ad, "Flatten", 1, &x, 1, &out);
    if (id < 0 || vm_node_set_int(vm_ad_graph(ad), id, "axis", axis, vm_ad_err(ad)) || vm_ad_end(ad, id)) return -1;
    return out;
}

/* Y = A B with 1-D promotion (A [K] -> [1, K], B [K] -> [K, 1]) and numpy batch broadcasting:
 *   dA = dY B^T, dB = A^T dY on the promoted operands, transposes read through strides (MatMulT).
 * The driver sums broadcast batch dims. When B has no batch but A has (x W, the common case), dB
 * is one [K, rows] x [rows, N] product over the flattened rows instead of per-batch products
 * summed afterwards. */
static enum vm_status grad_matmul(struct vm_autodiff *ad, int32_t n, struct vm_error *err) {
    (void)err;
    struct vm_graph *g = vm_ad_graph(ad);
    int32_t dy = vm_ad_dy(ad, n, 0), a = g->nodes[n].in[0], b = g->nodes[n].in[1];
    if (dy < 0) return VM_OK;
    struct vm_value av = g->values[a], bv = g->values[b], yv = g->values[dy];
    int ra = av.rank, rb = bv.rank;
    /* promoted operands and dY [batch..., M, N] */
    int32_t a2 = a, b2 = b, dy2 = dy;
    if (ra == 1) {
        struct vm_dim d[2] = {vm_dim_const(1), av.dims[0]};
        a2 = reshape_to(ad, a, d, 2);
    }
    if (rb == 1) {
        struct vm_dim d[2] = {bv.dims[0], vm_dim_const(1)};
        b2 = reshape_to(ad, b, d, 2);
    }
    if (ra == 1 || rb == 1) {
        struct vm_dim d[VM_MAX_RANK];
        int r = 0;
        /* Y = [batch..., (M if ra > 1), (N if rb > 1)] */
        int nb = yv.rank - (ra > 1) - (rb > 1);
        for (int i = 0; i < nb; i++) d[r++] = yv.dims[i];
        d[r++] = ra > 1 ? yv.dims[nb] : vm_dim_const(1);
        d[r++] = rb > 1 ? yv.dims[yv.rank - 1] : vm_dim_const(1);
        dy2 = reshape_to(ad, dy, d, r);
    }
    int ra2 = ra < 2 ? 2 : ra, rb2 = rb < 2 ? 2 : rb;
    if (vm_ad_wants(ad, n, 0)) {
        /* [batch..., M, K]; for 1-D A the driver sums everything but K */
        GIVE(0, matmul_t(ad, dy2, b2, 0, 1));
    }
    if (vm_ad_wants(ad, n, 1)) {
        int32_t db;
        if (rb2 == 2 && ra2 > 2) db = matmul_t(ad, flatten2(ad, a2, ra2 - 1), flatten2(ad, dy2, ra2 - 1), 1, 0);
        else db = matmul_t(ad, a2, dy2, 1, 0);
        if (db >= 0 && rb == 1) {
            /* [batch..., K, 1] -> [batch..., K] */
            struct vm_value *dv = &g->values[db];
            struct vm_dim d[VM_MAX_RANK];
            int r = dv->rank - 1;
            for (int i = 0; i < r; i++) d[i] = dv->dims[i];
            db = reshape_to(ad, db, d, r);
        }
        GIVE(1, db);
    }
    return VM_OK;
}

static enum vm_status grad_softmax(struct vm_autodiff *ad, int32_t n, struct vm_error *err) {
    struct vm_graph *g = vm_ad_graph(ad);
    int32_t dy = vm_ad_dy(ad, n, 0), y = g->nodes[n].out[0];
    if (dy < 0) return VM_OK;
    int32_t in[2] = {dy, y}, out;
    int32_t id = grad_node(ad, n, "SoftmaxGrad", 2, in, 1, &out, "axis coerce_2d");
    if (id < 0) return err->code;
    enum vm_status s = vm_node_set_int(g, id, "log", is_op(g, n, "LogSoftmax"), err);
    if (!s) s = vm_ad_end(ad, id);
    if (s) return s;
    GIVE(0, out);
    return VM_OK;
}

static bool same_dims(const struct vm_value *a, const struct vm_value *b) {
    if (a->rank != b->rank) return false;
    for (int i = 0; i < a->rank; i++)
        if (!vm_dim_eq(&a->dims[i], &b->dims[i])) return false;
    return true;
}

/* ---------------- BatchNormalization (inference form) ----------------
 * Y = (X - mean) / sqrt(var + epsilon) * scale + B per channel (axis 1), with the running mean and
 * variance as given: the form PyTorch exports from a model in eval mode. Training keeps that form
 * too (scale and B trained, the statistics fixed: BatchNorm frozen as when fine-tuning in eval
 * mode); a graph exported in training mode (training_mode = 1, batch statistics, running-stat
 * outputs) is refused with what to change. */
static enum vm_status infer_batchnorm(struct vm_graph *g, int32_t n, struct vm_error *err) {
    enum vm_status s;
    for (int k = 0; k < 5; k++)
        if ((s = vm_check_dtype(g, n, k, err, F, 0))) return s;
    struct vm_value *x = vm_in(g, n, 0);
    int64_t training, spatial;
    double eps, momentum;
    if ((s = get_int(g, n, "training_mode", 0, &training, err)) || (s = get_int(g, n, "spatial", 1, &spatial, err)) ||
        (s = get_float(g, n, "epsilon", 1e-5, &eps, err)) || (s = get_float(g, n, "momentum", 0.9, &momentum, err)))
        return s;
    if (training || g->nodes[n].n_out > 1)
        return vm_node_errorf(g, n, err, VM_EUNSUPPORTED,
                              "BatchNormalization in training mode (batch statistics%s) is not supported: export the model in eval mode "
                              "(model.eval() before torch.onnx.export, the default training=TrainingMode.EVAL)",
                              g->nodes[n].n_out > 1 ? " and running-statistics outputs" : "");
    if (!spatial)
        return vm_node_errorf(g, n, err, VM_EUNSUPPORTED, "spatial = 0 (statistics per element, BatchNormalization-7) is not supported");
    if (!(eps >= 0)) return vm_node_errorf(g, n, err, VM_EINVAL, "epsilon %g must not be negative", eps);
    if (x->rank < 2) return vm_node_errorf(g, n, err, VM_EINVAL, "input X '%s' has rank %d; BatchNormalization needs [N, C, ...]", x->name, x->rank);
    static const char *const what[5] = {"X", "scale", "B", "input_mean", "input_var"};
    char d0[96], d1[96];
    for (int k = 1; k < 5; k++) {
        struct vm_value *p = vm_in(g, n, k);
        if (p->rank != 1 || !vm_dim_eq(&p->dims[0], &x->dims[1]))
            return vm_node_errorf(g, n, err, VM_EINVAL, "%s '%s' must have shape [C] with C = %s, X's dim 1 (it has rank %d%s%s)", what[k],
                                  p->name, dstr(g, &x->dims[1], d0, sizeof d0), p->rank, p->rank == 1 ? ", length " : "",
                                  p->rank == 1 ? dstr(g, &p->dims[0], d1, sizeof d1) : "");
    }
    if ((s = vm_node_set_float(g, n, "epsilon", eps, err)) || (s = vm_node_set_int(g, n, "training_mode", 0, err))) return s;
    vm_set_out(g, n, 0, F, x->rank, x->dims);
    return VM_OK;
}

/* ReduceSum of v over every axis but 1, keepdims 0: [N, C, ...] -> [C]. */
static int32_t sum_but_channels(struct vm_autodiff *ad, int32_t v) {
    if (v < 0) return -1;
    struct vm_graph *g = vm_ad_graph(ad);
    int64_t axes[VM_MAX_RANK];
    int na = 0;
    for (int d = 0; d < g->values[v].rank; d++)
        if (d != 1) axes[na++] = d;
    int32_t out, id = vm_ad_begin(ad, "ReduceSum", 1, &v, 1, &out);
    if (id < 0 || vm_node_set_ints(g, id, "axes", axes, na, vm_ad_err(ad)) || vm_node_set_int(g, id, "keepdims", 0, vm_ad_err(ad)) ||
        vm_ad_end(ad, id))
        return -1;
    return out;
}

/* [C] -> [C, 1, ..., 1] (rank - 1 dims), to broadcast along X's axis 1. */
static int32_t per_channel(struct vm_autodiff *ad, int32_t v, int rank) {
    if (v < 0) return -1;
    struct vm_graph *g = vm_ad_graph(ad);
    struct vm_dim dims[VM_MAX_RANK];
    dims[0] = g->values[v].dims[0];
    for (int d = 1; d < rank - 1; d++) dims[d] = vm_dim_const(1);
    int32_t in[2] = {v, vm_ad_const_dims(ad, dims, rank - 1)};
    return in[1] < 0 ? -1 : vm_ad_op(ad, "Reshape", 2, in);
}

/* With a = scale / sqrt(var + eps) and xhat = (X - mean) / sqrt(var + eps):
 *   dX = dY a (per channel), dscale = sum dY xhat, dB = sum dY (sums over every axis but 1);
 * the statistics are inputs that get no gradient (nondiff), as in eval mode. */
static enum vm_status grad_batchnorm(struct vm_autodiff *ad, int32_t n, struct vm_error *err) {
    struct vm_graph *g = vm_ad_graph(ad);
    int32_t dy = vm_ad_dy(ad, n, 0);
    if (dy < 0) return VM_OK;
    const int32_t *in = g->nodes[n].in;
    int rank = g->values[in[0]].rank;
    int32_t ve[2] = {in[4], vm_ad_const_f32(ad, (float)vm_node_float(g, n, "epsilon", 1e-5))};
    int32_t sd = ve[1] < 0 ? -1 : vm_ad_op(ad, "Add", 2, ve);
    sd = sd < 0 ? -1 : vm_ad_op(ad, "Sqrt", 1, &sd);
    int32_t inv_in[2] = {vm_ad_const_f32(ad, 1.0f), sd};
    int32_t inv = sd < 0 || inv_in[0] < 0 ? -1 : vm_ad_op(ad, "Div", 2, inv_in);
    if (inv < 0) return err->code;
    if (vm_ad_wants(ad, n, 0)) {
        int32_t sa[2] = {in[1], inv};
        int32_t a = per_channel(ad, vm_ad_op(ad, "Mul", 2, sa), rank);
        int32_t m[2] = {dy, a};
        GIVE(0, a < 0 ? -1 : vm_ad_op(ad, "Mul", 2, m));
    }
    if (vm_ad_wants(ad, n, 1)) {
        int32_t xm[2] = {in[0], per_channel(ad, in[3], rank)};
        int32_t c = xm[1] < 0 ? -1 : vm_ad_op(ad, "Sub", 2, xm);
        int32_t xh[2] = {c, per_channel(ad, inv, rank)};
        int32_t xhat = c < 0 || xh[1] < 0 ? -1 : vm_ad_op(ad, "Mul", 2, xh);
        int32_t p[2] = {dy, xhat};
        GIVE(1, sum_but_channels(ad, xhat < 0 ? -1 : vm_ad_op(ad, "Mul", 2, p)));
    }
    if (vm_ad_wants(ad, n, 2)) GIVE(2, sum_but_channels(ad, dy));
    return VM_OK;
}

/* One LayerNormGrad node gives dX, dScale and (with B) dB; the statistics are recomputed from X
 * in the kernel rather than saved by the forward. */
static enum vm_status grad_layernorm(struct vm_autodiff *ad, int32_t n, struct vm_error *err) {
    struct vm_graph *g = vm_ad_graph(ad);
    int32_t dy = vm_ad_dy(ad, n, 0), x = g->nodes[n].in[0], sc = g->nodes[n].in[1];
    if (vm_ad_dy(ad, n, 1) >= 0 || vm_ad_dy(ad, n, 2) >= 0)
        return vm_node_errorf(g, n, err, VM_EUNSUPPORTED, "gradients through the Mean and InvStdDev outputs are not supported");
    if (dy < 0) return VM_OK;
    bool wb = vm_ad_wants(ad, n, 2);
    int32_t in[3] = {dy, x, sc}, outs[3];
    int32_t id = grad_node(ad, n, "LayerNormGrad", 3, in, wb ? 3 : 2, outs, "axis epsilon");
    if (id < 0) return err->code;
    enum vm_status s = vm_ad_end(ad, id);
    if (s) return s;
    if (vm_ad_wants(ad, n, 0)) GIVE(0, outs[0]);
    if (vm_ad_wants(ad, n, 1)) GIVE(1, outs[1]);
    if (wb) {
        int32_t bb = g->nodes[n].in[2], db = outs[2];
        /* dB comes out in Scale's shape; B may differ in leading 1s */
        if (!same_dims(&g->values[bb], &g->values[db])) db = vm_ad_reshape_like(ad, db, bb);
        GIVE(2, db);
    }
    return VM_OK;
}

/* ---- infer of the backward rows ---- */

/* Output 0 shaped like input 1: a float tensor (its dims) or an int64 shape constant (its
 * content). */
static enum vm_status out_like(struct vm_graph *g, int32_t n, int i, int slot, struct vm_error *err) {
    struct vm_value *v = vm_in(g, n, i);
    if (v->dtype == VM_DTYPE_INT64) {
        struct vm_dim d[VM_MAX_RANK];
        int64_t r;
        if (!vm_known_input(g, n, i, d, VM_MAX_RANK, &r))
            return vm_node_errorf(g, n, err, VM_EINTERNAL, "input %d must be a known shape", i);
        vm_set_out(g, n, slot, F, (int)r, d);
        return VM_OK;
    }
    vm_set_out(g, n, slot, F, v->rank, v->dims);
    return VM_OK;
}

static enum vm_status infer_like_input1(struct vm_graph *g, int32_t n, struct vm_error *err) {
    enum vm_status s = vm_check_dtype(g, n, 0, err, F, 0);
    return s ? s : out_like(g, n, 1, 0, err);
}

/* channels_last: 0 or 1, made explicit. */
static enum vm_status conv_grad_layout(struct vm_graph *g, int32_t n, bool *cl, struct vm_error *err) {
    int64_t v;
    enum vm_status s = get_int(g, n, "channels_last", 0, &v, err);
    if (s) return s;
    if (v != 0 && v != 1) return vm_node_errorf(g, n, err, VM_EINVAL, "channels_last must be 0 or 1, not %lld", (long long)v);
    *cl = v != 0;
    return vm_node_set_int(g, n, "channels_last", v, err);
}

static enum vm_status infer_conv_grad_data(struct vm_graph *g, int32_t n, struct vm_error *err) {
    enum vm_status s;
    bool cl = false;
    if ((s = vm_check_dtype(g, n, 0, err, F, 0)) || (s = vm_check_dtype(g, n, 1, err, F, 0)) || (s = conv_grad_layout(g, n, &cl, err)))
        return s;
    return out_like(g, n, 2, 0, err);
}

static enum vm_status infer_conv_grad_weight(struct vm_graph *g, int32_t n, struct vm_error *err) {
    enum vm_status s;
    bool cl = false;
    if ((s = vm_check_dtype(g, n, 0, err, F, 0)) || (s = vm_check_dtype(g, n, 1, err, F, 0)) || (s = conv_grad_layout(g, n, &cl, err)))
        return s;
    if ((s = out_like(g, n, 2, 0, err))) return s;
    struct vm_value *dy = vm_in(g, n, 0);
    if (g->nodes[n].n_out > 1) vm_set_out(g, n, 1, F, 1, &dy->dims[cl ? dy->rank - 1 : 1]);
    return VM_OK;
}

static enum vm_status infer_softmax_grad(struct vm_graph *g, int32_t n, struct vm_error *err) {
    enum vm_status s;
    if ((s = vm_check_dtype(g, n, 0, err, F, 0)) || (s = vm_check_dtype(g, n, 1, err, F, 0))) return s;
    return out_like(g, n, 1, 0, err);
}

static enum vm_status infer_layernorm_grad(struct vm_graph *g, int32_t n, struct vm_error *err) {
    enum vm_status s;
    if ((s = vm_check_dtype(g, n, 0, err, F, 0)) || (s = vm_check_dtype(g, n, 1, err, F, 0)) || (s = vm_check_dtype(g, n, 2, err, F, 0)))
        return s;
    if ((s = out_like(g, n, 1, 0, err)) || (s = out_like(g, n, 2, 1, err))) return s;
    if (g->nodes[n].n_out > 2) s = out_like(g, n, 2, 2, err);
    return s;
}

/* The dims of Transpose(v, perm attribute `name`) into out, or v's own when the node has no such
 * attribute; false when the attribute is not a permutation of v's axes. */
static bool permuted_dims(const struct vm_graph *g, int32_t n, const char *name, const struct vm_value *v, struct vm_dim *out) {
    const struct vm_attr *p = vm_node_attr(g, n, name);
    if (!p) {
        for (int i = 0; i < v->rank; i++) out[i] = v->dims[i];
        return true;
    }
    if (p->type != VM_ATTR_INTS || p->n != v->rank || !vm_is_perm(p->ints, p->n)) return false;
    for (int i = 0; i < p->n; i++) out[i] = v->dims[p->ints[i]];
    return true;
}

/* MatMulT(A, B[, bias[, Z[, M]]]): Y = (op(A) op(B) [+ bias] [+ Z]) [* M] over the last two dims,
 * op = transpose when transA / transB; batch dims broadcast. Both operands have rank >= 2; bias [N]
 * is added to every row (the pass fuses MatMul -> Add(bias) into it), Z has Y's shape (training
 * graphs: a residual or a gradient accumulation fused in; bias may then be absent), and so has M
 * (training graphs: the GELU derivative a gradient is multiplied by; bias and Z may be absent).
 * permA / permB (compiler/pass_fuse.c, vm_pass_fuse_transpose_matmul): the operand is
 * Transpose(input, perm), read in place through strides (before transA / transB); permY: the node
 * writes Transpose(Y, permY) (no Z then). Operands with a perm have the same rank. */
static enum vm_status infer_matmul_t(struct vm_graph *g, int32_t n, struct vm_error *err) {
    enum vm_status s;
    if ((s = vm_check_dtype(g, n, 0, err, F, 0)) || (s = vm_check_dtype(g, n, 1, err, F, 0))) return s;
    struct vm_value *av = vm_in(g, n, 0), *bv = vm_in(g, n, 1);
    if (av->rank < 2 || bv->rank < 2) return vm_node_errorf(g, n, err, VM_EINTERNAL, "MatMulT operands must have rank 2 or more");
    struct vm_value a = *av, b = *bv; /* the operands as read: dims through permA / permB */
    if (!permuted_dims(g, n, "permA", av, a.dims) || !permuted_dims(g, n, "permB", bv, b.dims))
        return vm_node_errorf(g, n, err, VM_EINTERNAL, "MatMulT permA / permB must permute the operand's axes");
    bool perms = vm_node_attr(g, n, "permA") || vm_node_attr(g, n, "permB") || vm_node_attr(g, n, "permY");
    if (perms && (av->rank != bv->rank || vm_has_in(g, n, 3) || vm_has_in(g, n, 4)))
        return vm_node_errorf(g, n, err, VM_EINTERNAL, "MatMulT with a perm needs operands of one rank and no addend or factor");
    int64_t ta = vm_node_int(g, n, "transA", 0), tb = vm_node_int(g, n, "transB", 0);
    if ((s = vm_node_set_int(g, n, "transA", ta != 0, err)) || (s = vm_node_set_int(g, n, "transB", tb != 0, err))) return s;
    const struct vm_dim *m = &a.dims[a.rank - (ta ? 1 : 2)], *ka = &a.dims[a.rank - (ta ? 2 : 1)];
    const struct vm_dim *kb = &b.dims[b.rank - (tb ? 1 : 2)], *nn = &b.dims[b.rank - (tb ? 2 : 1)];
    if (!vm_dim_eq(ka, kb)) return vm_node_errorf(g, n, err, VM_EINTERNAL, "MatMulT inner dimensions differ");
    struct vm_dim dims[VM_MAX_RANK];
    int rank = 0;
    if ((s = vm_broadcast(g, n, a.rank - 2, a.dims, b.rank - 2, b.dims, &rank, dims, err))) return s;
    dims[rank++] = *m;
    dims[rank++] = *nn;
    if (vm_has_in(g, n, 2)) {
        struct vm_value *bias = vm_in(g, n, 2);
        if ((s = vm_check_dtype(g, n, 2, err, F, 0))) return s;
        if (bias->rank != 1 || !vm_dim_eq(&bias->dims[0], nn))
            return vm_node_errorf(g, n, err, VM_EINTERNAL, "MatMulT bias must be a vector of the output's last dim");
    }
    for (int k = 3; k <= 4; k++) {
        if (!vm_has_in(g, n, k)) continue;
        struct vm_value *z = vm_in(g, n, k);
        if ((s = vm_check_dtype(g, n, k, err, F, 0))) return s;
        bool same = z->rank == rank;
        for (int i = 0; same && i < rank; i++) same = vm_dim_eq(&z->dims[i], &dims[i]);
        if (!same) return vm_node_errorf(g, n, err, VM_EINTERNAL, "MatMulT %s must have the output's shape", k == 3 ? "addend" : "factor");
    }
    struct vm_value y = {.rank = rank};
    for (int i = 0; i < rank; i++) y.dims[i] = dims[i];
    if (!permuted_dims(g, n, "permY", &y, dims)) return vm_node_errorf(g, n, err, VM_EINTERNAL, "MatMulT permY must permute the output's axes");
    vm_set_out(g, n, 0, F, rank, dims);
    return VM_OK;
}

const struct vm_op_row vm_ops_nn[] = {
    {"Conv", NULL, 2, 3, 1, 1, "auto_pad:s dilations:I group:i kernel_shape:I pads:I strides:I", 0, 0, 0, NULL, infer_conv, NULL, grad_conv},
    {"ConvCL", "vmaskc", 2, 3, 1, 1, "auto_pad:s dilations:I group:i kernel_shape:I pads:I strides:I", 0, 0, VM_OP_INTERNAL, NULL, infer_conv, NULL,
     grad_conv},
    {"ConvGather", "vmaskc", 3, 5, 1, 1, "keepdims:i pads:I relu_max:i", 0, 0x1f, VM_OP_INTERNAL | VM_OP_NO_GRAD, NULL, infer_conv_gather, NULL, NULL},
    {"MaxPool", NULL, 1, 1, 1, 2, "auto_pad:s ceil_mode:i dilations:I kernel_shape:I pads:I storage_order:i strides:I", 0, 0, 0, NULL, infer_pool,
     NULL, grad_pool},
    {"AveragePool", NULL, 1, 1, 1, 1, "auto_pad:s ceil_mode:i count_include_pad:i kernel_shape:I pads:I strides:I", 0, 0, 0, NULL, infer_pool,
     NULL, grad_pool},
    {"GlobalMaxPool", NULL, 1, 1, 1, 1, "", 0, 0, 0, NULL, infer_global_pool, NULL, grad_global_pool},
    {"GlobalAveragePool", NULL, 1, 1, 1, 1, "", 0, 0, 0, NULL, infer_global_pool, NULL, grad_global_pool},
    {"BatchNormalization", NULL, 5, 5, 1, 3, "epsilon:f momentum:f spatial:i training_mode:i", 0, 0x18, 0, NULL, infer_batchnorm, NULL,
     grad_batchnorm},
    {"Gemm", NULL, 2, 3, 1, 1, "alpha:f beta:f broadcast:i transA:i transB:i", 0, 0, 0, NULL, infer_gemm, NULL, grad_gemm},
    {"MatMul", NULL, 2, 2, 1, 1, "", 0, 0, 0, NULL, infer_matmul, NULL, grad_matmul},
    {"Softmax", NULL, 1, 1, 1, 1, "axis:i", 0, 0, 0, normalize_softmax, infer_softmax, NULL, grad_softmax},
    {"LogSoftmax", NULL, 1, 1, 1, 1, "axis:i", 0, 0, 0, normalize_softmax, infer_softmax, NULL, grad_softmax},
    {"LayerNormalization", NULL, 2, 3, 1, 3, "axis:i epsilon:f stash_type:i", 0, 0, 0, NULL, infer_layernorm, NULL, grad_layernorm},
    /* backward ops (autodiff) */
    {"MatMulT", "vmaskc", 2, 5, 1, 1, "permA:I permB:I permY:I transA:i transB:i", 0, 0x1f, VM_OP_INTERNAL | VM_OP_NO_GRAD, NULL, infer_matmul_t, NULL, NULL},
    {"ConvGradData", "vmaskc", 3, 3, 1, 1, "channels_last:i dilations:I group:i kernel_shape:I pads:I strides:I", 0x4, 0x7, VM_OP_INTERNAL | VM_OP_NO_GRAD, NULL,
     infer_conv_grad_data, NULL, NULL},
    {"ConvGradWeight", "vmaskc", 3, 3, 1, 2, "channels_last:i dilations:I group:i kernel_shape:I pads:I strides:I", 0x4, 0x7, VM_OP_INTERNAL | VM_OP_NO_GRAD,
     NULL, infer_conv_grad_weight, NULL, NULL},
    {"MaxPoolGrad", "vmaskc", 2, 2, 1, 1, "dilations:I kernel_shape:I pads:I strides:I", 0, 0x3, VM_OP_INTERNAL | VM_OP_NO_GRAD, NULL,
     infer_like_input1, NULL, NULL},
    {"AveragePoolGrad", "vmaskc", 2, 2, 1, 1, "count_include_pad:i kernel_shape:I pads:I strides:I", 0x2, 0x3,
     VM_OP_INTERNAL | VM_OP_NO_GRAD, NULL, infer_like_input1, NULL, NULL},
    {"GlobalMaxPoolGrad", "vmaskc", 2, 2, 1, 1, "", 0, 0x3, VM_OP_INTERNAL | VM_OP_NO_GRAD, NULL, infer_like_input1, NULL, NULL},
    {"GlobalAveragePoolGrad", "vmaskc", 2, 2, 1, 1, "", 0x2, 0x3, VM_OP_INTERNAL | VM_OP_NO_GRAD, NULL, infer_like_input1, NULL,
     NULL},
    {"SoftmaxGrad", "vmaskc", 2, 2, 1, 1, "axis:i coerce_2d:i log:i", 0, 0x3, VM_OP_INTERNAL | VM_OP_NO_GRAD, NULL, infer_softmax_grad, NULL,
     NULL},
    {"LayerNormGrad", "vmaskc", 3, 3, 2, 3, "axis:i epsilon:f", 0, 0x7, VM_OP_INTERNAL | VM_OP_NO_GRAD, NULL, infer_layernorm_grad, NULL,
     NULL},
    {NULL, NULL, 0, 0, 0, 0, NULL, 0, 0, 0, NULL, NULL, NULL, NULL},
};
