/* train: vmaskc-internal ops for training — the classification loss, the variational word mask,
 * its information-loss term, and the optimizer.
 *
 *   SoftmaxCrossEntropy(logits[B,C], labels[B]) -> loss[], probs[B,C]
 *       mean over the batch of -log softmax(logits)[label]; probs are saved for the backward.
 *   VMask(logits[B,T,2], noise?[B,T,2]) attr tau -> r[B,T], q[B,T], soft[B,T]
 *       q = softmax(logits)[1] = p(keep). Training: r is the hard Gumbel-softmax sample
 *       (1 when logits + g pick "keep"), with g the noise input or Gumbel(0,1) draws from the
 *       counter RNG; soft = softmax((logits + g) / tau)[1] carries the straight-through gradient.
 *       Inference: r = soft = q (the expected mask).
 *   VMaskNet(table[V,E], ids[B,T], W1[E,H], b1[H], W2[H,2], b2[2]) -> logits[B,T,2], inv[B,T],
 *            uniq[B,T], hu[B,T,H]
 *       the mask network Linear -> tanh -> Linear on the rows of a frozen word embedding. The
 *       logits of a token depend on its word alone, so the network runs once per distinct word of
 *       the batch (U of them, first-occurrence order): uniq[0..U) are those word ids (the rest -1),
 *       inv the row of each token, hu[0..U) the tanh activations (both saved for the backward).
 *       Same values as Gather -> MatMul -> Add -> Tanh -> MatMul -> Add, at U/(B*T) of the cost
 *       (about 1/4 on SST-2 batches). The table gets no gradient (the op is only built when it
 *       is frozen).
 *   VMaskInfoLoss(q[B,T], ids[B,T]) attrs pad, skip (more ids to leave out), eps -> loss[]
 *       mean over real (non-pad) tokens of q log(q+eps) + (1-q) log(1-q+eps): the negative
 *       entropy, i.e. KL(q || Bernoulli(0.5)) - log 2, as the VMASK release computes it.
 *   OptStep(t), GradNorm(g...) -> norm[], Adam(param, grad, m, v, t, lr, norm)
 *       the optimizer phase; OptStep and Adam update their persistent inputs in place and have no
 *       outputs (the emitter always keeps such steps).
 * The *Grad rows are their backward kernels.
 */
#include <string.h>

#include "../autodiff.h"
#include "../ops.h"

#define F VM_DTYPE_FLOAT
#define I64 VM_DTYPE_INT64

static bool dims_eq(const struct vm_value *a, int da, const struct vm_value *b, int db) {
    return vm_dim_eq(&a->dims[da], &b->dims[db]);
}

static enum vm_status infer_sce(struct vm_graph *g, int32_t n, struct vm_error *err) {
    struct vm_value *x = vm_in(g, n, 0), *y = vm_in(g, n, 1);
    enum vm_status s = vm_check_dtype(g, n, 0, err, F, 0);
    if (!s) s = vm_check_dtype(g, n, 1, err, I64, 0);
    if (s) return s;
    if (x->rank != 2 || y->rank != 1 || !dims_eq(x, 0, y, 0))
        return vm_node_errorf(g, n, err, VM_EINVAL, "needs logits [B, C] and labels [B]");
    vm_set_out(g, n, 0, F, 0, NULL);
    vm_set_out(g, n, 1, F, 2, x->dims);
    return VM_OK;
}

static enum vm_status grad_sce(struct vm_autodiff *ad, int32_t n, struct vm_error *err) {
    (void)err;
    struct vm_graph *g = vm_ad_graph(ad);
    int32_t dl = vm_ad_dy(ad, n, 0);
    if (dl < 0) return VM_OK;
    int32_t in[3] = {dl, g->nodes[n].out[1], g->nodes[n].in[1]};
    int32_t dx = vm_ad_op(ad, "SoftmaxCrossEntropyGrad", 3, in);
    if (dx < 0) return vm_ad_err(ad)->code;
    return vm_ad_give(ad, n, 0, dx);
}

static enum vm_status infer_sce_grad(struct vm_graph *g, int32_t n, struct vm_error *err) {
    (void)err;
    struct vm_value *p = vm_in(g, n, 1);
    vm_set_out(g, n, 0, F, 2, p->dims);
    return VM_OK;
}

static enum vm_status infer_vmask(struct vm_graph *g, int32_t n, struct vm_error *err) {
    struct vm_value *x = vm_in(g, n, 0);
    enum vm_status s = vm_check_dtype(g, n, 0, err, F, 0);
    if (s) return s;
    if (x->rank != 3 || !vm_dim_is_const_eq(&x->dims[2], 2))
        return vm_node_errorf(g, n, err, VM_EINVAL, "needs keep/drop logits [B, T, 2]");
    if (vm_has_in(g, n, 1)) {
        struct vm_value *noise = vm_in(g, n, 1);
        if (noise->dtype != F || noise->rank != 3) return vm_node_errorf(g, n, err, VM_EINVAL, "noise must be float [B, T, 2]");
    }
    double tau = vm_node_float(g, n, "tau", 1.0);
    if (!(tau > 0)) return vm_node_errorf(g, n, err, VM_EINVAL, "temperature tau must be positive");
    if ((s = vm_node_set_float(g, n, "tau", tau, err))) return s;
    for (int k = 0; k < 3; k++) vm_set_out(g, n, k, F, 2, x->dims);
    return VM_OK;
}

static enum vm_status grad_vmask(struct vm_autodiff *ad, int32_t n, struct vm_error *err) {
    struct vm_graph *g = vm_ad_graph(ad);
    int32_t dr = vm_ad_dy(ad, n, 0), dq = vm_ad_dy(ad, n, 1);
    if (dr < 0 && dq < 0) return VM_OK;
    int32_t in[4] = {dr, dq, g->nodes[n].out[1], g->nodes[n].out[2]}, out;
    int32_t id = vm_ad_begin(ad, "VMaskGrad", 4, in, 1, &out);
    if (id < 0 || vm_node_set_float(g, id, "tau", vm_node_float(g, n, "tau", 1.0), err) || vm_ad_end(ad, id)) return err->code;
    return vm_ad_give(ad, n, 0, out);
}

static enum vm_status infer_vmask_grad(struct vm_graph *g, int32_t n, struct vm_error *err) {
    (void)err;
    struct vm_value *q = vm_in(g, n, 2);
    struct vm_dim d[3] = {q->dims[0], q->dims[1], vm_dim_const(2)};
    vm_set_out(g, n, 0, F, 3, d);
    return VM_OK;
}

static enum vm_status infer_info_loss(struct vm_graph *g, int32_t n, struct vm_error *err) {
    struct vm_value *q = vm_in(g, n, 0), *ids = vm_in(g, n, 1);
    enum vm_status s = vm_check_dtype(g, n, 0, err, F, 0);
    if (!s) s = vm_check_dtype(g, n, 1, err, I64, VM_DTYPE_INT32, 0);
    if (s) return s;
    if (q->rank != 2 || ids->rank != 2 || !dims_eq(q, 0, ids, 0) || !dims_eq(q, 1, ids, 1))
        return vm_node_errorf(g, n, err, VM_EINVAL, "needs q [B, T] and token ids [B, T]");
    if ((s = vm_node_set_int(g, n, "pad", vm_node_int(g, n, "pad", -1), err)) ||
        (s = vm_node_set_float(g, n, "eps", vm_node_float(g, n, "eps", 1e-8), err)))
        return s;
    vm_set_out(g, n, 0, F, 0, NULL);
    return VM_OK;
}

static enum vm_status grad_info_loss(struct vm_autodiff *ad, int32_t n, struct vm_error *err) {
    struct vm_graph *g = vm_ad_graph(ad);
    int32_t dl = vm_ad_dy(ad, n, 0);
    if (dl < 0) return VM_OK;
    int32_t in[3] = {dl, g->nodes[n].in[0], g->nodes[n].in[1]}, out;
    int32_t id = vm_ad_begin(ad, "VMaskInfoLossGrad", 3, in, 1, &out);
    const struct vm_attr *skip = vm_node_attr(g, n, "skip");
    if (id < 0 || vm_node_set_int(g, id, "pad", vm_node_int(g, n, "pad", -1), err) ||
        vm_node_set_float(g, id, "eps", vm_node_float(g, n, "eps", 1e-8), err) ||
        (skip && skip->type == VM_ATTR_INTS && vm_node_set_ints(g, id, "skip", skip->ints, skip->n, err)) || vm_ad_end(ad, id))
        return err->code;
    return vm_ad_give(ad, n, 0, out);
}

static enum vm_status infer_info_loss_grad(struct vm_graph *g, int32_t n, struct vm_error *err) {
    (void)err;
    struct vm_value *q = vm_in(g, n, 1);
    vm_set_out(g, n, 0, F, 2, q->dims);
    return VM_OK;
}

static enum vm_status infer_vmask_net(struct vm_graph *g, int32_t n, struct vm_error *err) {
    enum vm_status s = vm_check_dtype(g, n, 1, err, I64, VM_DTYPE_INT32, 0);
    for (int k = 0; k < 6 && !s; k++)
        if (k != 1) s = vm_check_dtype(g, n, k, err, F, 0);
    if (s) return s;
    struct vm_value *tab = vm_in(g, n, 0), *ids = vm_in(g, n, 1), *w1 = vm_in(g, n, 2), *b1 = vm_in(g, n, 3), *w2 = vm_in(g, n, 4),
                    *b2 = vm_in(g, n, 5);
    if (tab->rank != 2 || ids->rank != 2 || w1->rank != 2 || b1->rank != 1 || w2->rank != 2 || b2->rank != 1 ||
        !vm_dim_is_const(&tab->dims[1]) || !vm_dim_is_const(&w1->dims[1]) || !vm_dim_eq(&tab->dims[1], &w1->dims[0]) ||
        !vm_dim_eq(&w1->dims[1], &b1->dims[0]) || !vm_dim_eq(&w1->dims[1], &w2->dims[0]) || !vm_dim_is_const_eq(&w2->dims[1], 2) ||
        !vm_dim_is_const_eq(&b2->dims[0], 2))
        return vm_node_errorf(g, n, err, VM_EINVAL, "needs table [V, E], ids [B, T], W1 [E, H], b1 [H], W2 [H, 2], b2 [2]");
    struct vm_dim d[3] = {ids->dims[0], ids->dims[1], vm_dim_const(2)};
    vm_set_out(g, n, 0, F, 3, d);
    vm_set_out(g, n, 1, I64, 2, d);
    vm_set_out(g, n, 2, I64, 2, d);
    d[2] = w1->dims[1];
    vm_set_out(g, n, 3, F, 3, d);
    return VM_OK;
}

static enum vm_status grad_vmask_net(struct vm_autodiff *ad, int32_t n, struct vm_error *err) {
    (void)err;
    struct vm_graph *g = vm_ad_graph(ad);
    int32_t dl = vm_ad_dy(ad, n, 0);
    if (dl < 0) return VM_OK;
    const struct vm_node *fw = &g->nodes[n];
    int32_t in[6] = {dl, fw->in[0], fw->out[1], fw->out[2], fw->out[3], fw->in[4]}, out[4];
    int32_t id = vm_ad_begin(ad, "VMaskNetGrad", 6, in, 4, out);
    if (id < 0 || vm_ad_end(ad, id)) return vm_ad_err(ad)->code;
    for (int k = 0; k < 4; k++)
        if (vm_ad_wants(ad, n, 2 + k)) GIVE(2 + k, out[k]);
    return VM_OK;
}

static enum vm_status infer_vmask_net_grad(struct vm_graph *g, int32_t n, struct vm_error *err) {
    (void)err;
    struct vm_value *tab = vm_in(g, n, 1), *w2 = vm_in(g, n, 5);
    struct vm_dim d[2] = {tab->dims[1], w2->dims[0]};
    vm_set_out(g, n, 0, F, 2, d);
    vm_set_out(g, n, 1, F, 1, &w2->dims[0]);
    vm_set_out(g, n, 2, F, 2, w2->dims);
    vm_set_out(g, n, 3, F, 1, &w2->dims[1]);
    return VM_OK;
}

static enum vm_status infer_none(struct vm_graph *g, int32_t n, struct vm_error *err) {
    (void)g;
    (void)n;
    (void)err;
    return VM_OK;
}

static enum vm_status infer_grad_norm(struct vm_graph *g, int32_t n, struct vm_error *err) {
    for (int32_t k = 0; k < g->nodes[n].n_in; k++) {
        enum vm_status s = vm_check_dtype(g, n, k, err, F, 0);
        if (s) return s;
    }
    vm_set_out(g, n, 0, F, 0, NULL);
    return VM_OK;
}

static enum vm_status infer_adam(struct vm_graph *g, int32_t n, struct vm_error *err) {
    struct vm_value *p = vm_in(g, n, 0);
    for (int k = 1; k <= 3; k++) {
        struct vm_value *v = vm_in(g, n, k);
        if (v->dtype != F || v->rank != p->rank) return vm_node_errorf(g, n, err, VM_EINTERNAL, "Adam input %d does not match the parameter", k);
    }
    static const struct {
        const char *name;
        double def;
    } attrs[] = {{"beta1", 0.9}, {"beta2", 0.999}, {"epsilon", 1e-8}, {"weight_decay", 0.0}, {"clip", 0.0}};
    for (size_t i = 0; i < sizeof attrs / sizeof attrs[0]; i++) {
        enum vm_status s = vm_node_set_float(g, n, attrs[i].name, vm_node_float(g, n, attrs[i].name, attrs[i].def), err);
        if (s) return s;
    }
    return VM_OK;
}

#define INTERNAL VM_OP_INTERNAL
#define BWD (VM_OP_INTERNAL | VM_OP_NO_GRAD)

const struct vm_op_row vm_ops_train[] = {
    {"SoftmaxCrossEntropy", "vmaskc", 2, 2, 2, 2, "", 0, 0x2, INTERNAL, NULL, infer_sce, NULL, grad_sce},
    {"SoftmaxCrossEntropyGrad", "vmaskc", 3, 3, 1, 1, "", 0, 0x7, BWD, NULL, infer_sce_grad, NULL, NULL},
    {"VMask", "vmaskc", 1, 2, 3, 3, "tau:f", 0, 0x2, INTERNAL | VM_OP_STOCHASTIC, NULL, infer_vmask, NULL, grad_vmask},
    {"VMaskGrad", "vmaskc", 4, 4, 1, 1, "tau:f", 0, 0xf, BWD, NULL, infer_vmask_grad, NULL, NULL},
    {"VMaskNet", "vmaskc", 6, 6, 4, 4, "", 0, 0x3, INTERNAL, NULL, infer_vmask_net, NULL, grad_vmask_net},
    {"VMaskNetGrad", "vmaskc", 6, 6, 4, 4, "", 0, 0x3f, BWD, NULL, infer_vmask_net_grad, NULL, NULL},
    {"VMaskInfoLoss", "vmaskc", 2, 2, 1, 1, "pad:i skip:I eps:f", 0, 0x2, INTERNAL, NULL, infer_info_loss, NULL, grad_info_loss},
    {"VMaskInfoLossGrad", "vmaskc", 3, 3, 1, 1, "pad:i skip:I eps:f", 0, 0x7, BWD, NULL, infer_info_loss_grad, NULL, NULL},
    {"OptStep", "vmaskc", 1, 1, 0, 0, "", 0, 0x1, BWD, NULL, infer_none, NULL, NULL},
    {"GradNorm", "vmaskc", 1, VM_OP_VARIADIC, 1, 1, "", 0, 0, BWD, NULL, infer_grad_norm, NULL, NULL},
    {"Adam", "vmaskc", 7, 7, 0, 0, "beta1:f beta2:f epsilon:f weight_decay:f clip:f", 0, 0x7f, BWD, NULL, infer_adam, NULL, NULL},
    {NULL, NULL, 0, 0, 0, 0, NULL, 0, 0, 0, NULL, NULL, NULL, NULL},
};
