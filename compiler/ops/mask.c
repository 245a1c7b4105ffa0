/* mask: vmaskc-internal ops of the two competitor mask layers the VMASK paper trains against
 * (appendix C; docs in ../shared/reference/interpretability.md §5.1, §5.2). Both act per token of
 * a text; `ids` (shaped like the token axis) says which tokens are real: the `pad` id and the
 * `skip` ids (special tokens such as [CLS]/[SEP]) are never masked.
 *
 *   L2XMask(scores[d0,d1], ids[d0,d1], noise?[K,d0,d1]) attrs k!, tau, axis, pad, skip
 *           -> r[d0,d1], y[K,d0,d1]
 *       `axis` is the sequence axis (1 for [B, T], 0 for time-major [T, B]). Per text, over its n
 *       real tokens, with k' = min(k, n):
 *       training: the Concrete relaxation of a k-hot subset (Chen et al. 2018): draw j < k' is
 *       y_j = softmax over real tokens of (scores + g_j) / tau, g_j Gumbel(0,1) (the noise input
 *       or the counter RNG); r = max_j y_j. Draws j >= k' and non-real tokens are 0 in y.
 *       inference: r = 1 where fewer than k real tokens score strictly higher (= score >= the
 *       k-th largest, ties kept, as the L2X reference's test-time mask), else 0.
 *       Both: r = 1 for skip ids, 0 for pad (unless pad is a skip id).
 *   IBA(x[B,T,E], alpha[B,T], mu[E], sigma[E], ids[B,T], noise?[B,T,E]) attrs pad, skip
 *           -> z[B,T,E], lam[B,T], eps[B,T,E]
 *       the readout bottleneck of Schulz et al. 2020 on the word embeddings: lam = sigmoid(alpha)
 *       (1 for pad and skip ids), z = lam x + (1 - lam) eps with eps = mu + sigma n, n ~ N(0,1)
 *       (the noise input, or the counter RNG) in training and eps = mu in inference.
 *   IBAInfoLoss(x, alpha, mu, sigma, ids) attrs pad, skip -> loss[]
 *       mean over real tokens and the E dimensions of KL(N(lam r, (1-lam)^2) || N(0,1)) with
 *       r = (x - mu) / sigma; log(1 - lam) is computed as -softplus(alpha), so a saturated lam
 *       stays finite.
 * The *Grad rows are their backward kernels (IBAGrad(x, lam, eps, dz?, dlam?): either gradient
 * may be absent). L2XMask's gradient is the relaxed sample's in
 * training; in inference r is piecewise constant and its gradient 0.
 */
#include <string.h>

#include "../autodiff.h"
#include "../ops.h"

#define F VM_DTYPE_FLOAT
#define I64 VM_DTYPE_INT64

static bool same_shape(const struct vm_value *a, const struct vm_value *b) {
    if (a->rank != b->rank) return false;
    for (int d = 0; d < a->rank; d++)
        if (!vm_dim_eq(&a->dims[d], &b->dims[d])) return false;
    return true;
}

/* pad, skip: ids never masked, carried to the backward rows as given */
static enum vm_status copy_token_attrs(struct vm_graph *g, int32_t from, int32_t to, struct vm_error *err) {
    const struct vm_attr *skip = vm_node_attr(g, from, "skip");
    enum vm_status s = vm_node_set_int(g, to, "pad", vm_node_int(g, from, "pad", -1), err);
    if (!s && skip && skip->type == VM_ATTR_INTS) s = vm_node_set_ints(g, to, "skip", skip->ints, skip->n, err);
    return s;
}

static enum vm_status check_skip(struct vm_graph *g, int32_t n, struct vm_error *err) {
    const struct vm_attr *skip = vm_node_attr(g, n, "skip");
    if (skip && skip->type == VM_ATTR_INTS && skip->n > 16) return vm_node_errorf(g, n, err, VM_EINVAL, "at most 16 skip ids");
    return vm_node_set_int(g, n, "pad", vm_node_int(g, n, "pad", -1), err);
}

static enum vm_status infer_l2x(struct vm_graph *g, int32_t n, struct vm_error *err) {
    enum vm_status s = vm_check_dtype(g, n, 0, err, F, 0);
    if (!s) s = vm_check_dtype(g, n, 1, err, I64, VM_DTYPE_INT32, 0);
    if (s) return s;
    struct vm_value *sc = vm_in(g, n, 0), *ids = vm_in(g, n, 1);
    if (sc->rank != 2 || !same_shape(sc, ids)) return vm_node_errorf(g, n, err, VM_EINVAL, "needs scores and token ids of one 2-D shape");
    int64_t k = vm_node_int(g, n, "k", 0), axis = vm_node_int(g, n, "axis", 1);
    double tau = vm_node_float(g, n, "tau", 0.5);
    if (k < 1 || k > 4096) return vm_node_errorf(g, n, err, VM_EINVAL, "k must be in [1, 4096], got %lld", (long long)k);
    if (!(tau > 0)) return vm_node_errorf(g, n, err, VM_EINVAL, "temperature tau must be positive");
    if (axis != 0 && axis != 1) return vm_node_errorf(g, n, err, VM_EINVAL, "axis (the sequence axis) must be 0 or 1");
    struct vm_dim yd[3] = {vm_dim_const(k), sc->dims[0], sc->dims[1]};
    if (vm_has_in(g, n, 2)) {
        struct vm_value *noise = vm_in(g, n, 2);
        if (noise->dtype != F || noise->rank != 3 || !vm_dim_is_const_eq(&noise->dims[0], k))
            return vm_node_errorf(g, n, err, VM_EINVAL, "noise must be float [k, d0, d1]");
    }
    if ((s = vm_node_set_float(g, n, "tau", tau, err)) || (s = vm_node_set_int(g, n, "axis", axis, err)) || (s = check_skip(g, n, err)))
        return s;
    vm_set_out(g, n, 0, F, 2, sc->dims);
    vm_set_out(g, n, 1, F, 3, yd);
    return VM_OK;
}

static enum vm_status grad_l2x(struct vm_autodiff *ad, int32_t n, struct vm_error *err) {
    struct vm_graph *g = vm_ad_graph(ad);
    int32_t dr = vm_ad_dy(ad, n, 0);
    if (dr < 0) return VM_OK;
    int32_t in[2] = {dr, g->nodes[n].out[1]}, out;
    int32_t id = vm_ad_begin(ad, "L2XMaskGrad", 2, in, 1, &out);
    if (id < 0 || vm_node_set_float(g, id, "tau", vm_node_float(g, n, "tau", 0.5), err) ||
        vm_node_set_int(g, id, "axis", vm_node_int(g, n, "axis", 1), err) || vm_ad_end(ad, id))
        return vm_ad_err(ad)->code;
    return vm_ad_give(ad, n, 0, out);
}

static enum vm_status infer_l2x_grad(struct vm_graph *g, int32_t n, struct vm_error *err) {
    (void)err;
    vm_set_out(g, n, 0, F, 2, vm_in(g, n, 0)->dims);
    return VM_OK;
}

static enum vm_status infer_iba(struct vm_graph *g, int32_t n, struct vm_error *err) {
    enum vm_status s = VM_OK;
    for (int k = 0; k < 4 && !s; k++) s = vm_check_dtype(g, n, k, err, F, 0);
    if (!s) s = vm_check_dtype(g, n, 4, err, I64, VM_DTYPE_INT32, 0);
    if (s) return s;
    struct vm_value *x = vm_in(g, n, 0), *a = vm_in(g, n, 1), *mu = vm_in(g, n, 2), *sd = vm_in(g, n, 3), *ids = vm_in(g, n, 4);
    if (x->rank != 3 || !vm_dim_is_const(&x->dims[2]) || a->rank != 2 || !vm_dim_eq(&a->dims[0], &x->dims[0]) ||
        !vm_dim_eq(&a->dims[1], &x->dims[1]) || !same_shape(a, ids) || mu->rank != 1 || !vm_dim_eq(&mu->dims[0], &x->dims[2]) ||
        !same_shape(mu, sd))
        return vm_node_errorf(g, n, err, VM_EINVAL, "needs x [B, T, E], alpha [B, T], mu [E], sigma [E], ids [B, T]");
    if (vm_has_in(g, n, 5) && !same_shape(vm_in(g, n, 5), x)) return vm_node_errorf(g, n, err, VM_EINVAL, "noise must be shaped like x");
    if ((s = check_skip(g, n, err))) return s;
    vm_set_out(g, n, 0, F, 3, x->dims);
    vm_set_out(g, n, 1, F, 2, a->dims);
    vm_set_out(g, n, 2, F, 3, x->dims);
    return VM_OK;
}

static enum vm_status grad_iba(struct vm_autodiff *ad, int32_t n, struct vm_error *err) {
    (void)err;
    struct vm_graph *g = vm_ad_graph(ad);
    int32_t dz = vm_ad_dy(ad, n, 0), dl = vm_ad_dy(ad, n, 1);
    if (dz < 0 && dl < 0) return VM_OK;
    const struct vm_node *fw = &g->nodes[n];
    int32_t in[5] = {fw->in[0], fw->out[1], fw->out[2], dz, dl}, out[2];
    int32_t id = vm_ad_begin(ad, "IBAGrad", dl >= 0 ? 5 : 4, in, 2, out);
    if (id < 0 || vm_ad_end(ad, id)) return vm_ad_err(ad)->code;
    if (vm_ad_wants(ad, n, 0)) GIVE(0, out[0]);
    if (vm_ad_wants(ad, n, 1)) GIVE(1, out[1]);
    return VM_OK;
}

static enum vm_status infer_iba_grad(struct vm_graph *g, int32_t n, struct vm_error *err) {
    (void)err;
    vm_set_out(g, n, 0, F, 3, vm_in(g, n, 0)->dims);
    vm_set_out(g, n, 1, F, 2, vm_in(g, n, 1)->dims);
    return VM_OK;
}

static enum vm_status infer_iba_loss(struct vm_graph *g, int32_t n, struct vm_error *err) {
    enum vm_status s = infer_iba(g, n, err); /* same inputs, minus the noise */
    if (s) return s;
    vm_set_out(g, n, 0, F, 0, NULL);
    return VM_OK;
}

static enum vm_status grad_iba_loss(struct vm_autodiff *ad, int32_t n, struct vm_error *err) {
    struct vm_graph *g = vm_ad_graph(ad);
    int32_t dl = vm_ad_dy(ad, n, 0);
    if (dl < 0) return VM_OK;
    const struct vm_node *fw = &g->nodes[n];
    int32_t in[6] = {dl, fw->in[0], fw->in[1], fw->in[2], fw->in[3], fw->in[4]}, out[2];
    int32_t id = vm_ad_begin(ad, "IBAInfoLossGrad", 6, in, 2, out);
    if (id < 0 || copy_token_attrs(g, n, id, err) || vm_ad_end(ad, id)) return vm_ad_err(ad)->code;
    if (vm_ad_wants(ad, n, 0)) GIVE(0, out[0]);
    if (vm_ad_wants(ad, n, 1)) GIVE(1, out[1]);
    return VM_OK;
}

static enum vm_status infer_iba_loss_grad(struct vm_graph *g, int32_t n, struct vm_error *err) {
    (void)err;
    vm_set_out(g, n, 0, F, 3, vm_in(g, n, 1)->dims);
    vm_set_out(g, n, 1, F, 2, vm_in(g, n, 2)->dims);
    return VM_OK;
}

#define INTERNAL VM_OP_INTERNAL
#define BWD (VM_OP_INTERNAL | VM_OP_NO_GRAD)

const struct vm_op_row vm_ops_mask[] = {
    {"L2XMask", "vmaskc", 2, 3, 2, 2, "k:i! tau:f axis:i pad:i skip:I", 0, 0x6, INTERNAL | VM_OP_STOCHASTIC, NULL, infer_l2x, NULL, grad_l2x},
    {"L2XMaskGrad", "vmaskc", 2, 2, 1, 1, "tau:f axis:i", 0, 0x3, BWD, NULL, infer_l2x_grad, NULL, NULL},
    {"IBA", "vmaskc", 5, 6, 3, 3, "pad:i skip:I", 0, 0x3c, INTERNAL | VM_OP_STOCHASTIC, NULL, infer_iba, NULL, grad_iba},
    {"IBAGrad", "vmaskc", 3, 5, 2, 2, "", 0, 0x1f, BWD, NULL, infer_iba_grad, NULL, NULL},
    {"IBAInfoLoss", "vmaskc", 5, 5, 1, 1, "pad:i skip:I", 0, 0x1c, INTERNAL, NULL, infer_iba_loss, NULL, grad_iba_loss},
    {"IBAInfoLossGrad", "vmaskc", 6, 6, 2, 2, "pad:i skip:I", 0, 0x3f, BWD, NULL, infer_iba_loss_grad, NULL, NULL},
    {NULL, NULL, 0, 0, 0, 0, NULL, 0, 0, 0, NULL, NULL, NULL, NULL},
};
