/* train kernels: softmax cross-entropy, the VMASK mask and its information loss, and the optimizer
 * (see compiler/ops/train.c for the semantics). Small, memory-bound loops in C; the Gumbel noise
 * comes from the counter RNG keyed by (seed, run counter, step index, element), so a training step
 * can be replayed exactly. Adam follows torch.optim.Adam's arithmetic (L2 weight decay added to the
 * gradient, bias corrections as in PyTorch) so trajectories can be compared with PyTorch. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels.h"

#define PAR_MIN 32768

static int64_t label_at(const struct vm_rt_tensor *t, int64_t i) {
    return t->dtype == VM_DTYPE_INT32 ? ((const int32_t *)t->data)[i] : ((const int64_t *)t->data)[i];
}

/* ---------------- SoftmaxCrossEntropy ---------------- */

static enum vm_status sce_run(struct vm_rt_ctx *c, const struct vm_rt_step *s, void *state, struct vm_error *err) {
    (void)state;
    const struct vm_rt_tensor *x = vm_rt_in(c, s, 0), *lab = vm_rt_in(c, s, 1);
    struct vm_rt_tensor *loss = vm_rt_out(c, s, 0), *prob = vm_rt_out(c, s, 1);
    int64_t B = x->dims[0], C = x->dims[1];
    const float *px = x->data;
    float *pp = prob->data;
    double total = 0;
    for (int64_t b = 0; b < B; b++) {
        int64_t y = label_at(lab, b);
        if (y < 0 || y >= C)
            return vm_rt_step_errorf(s, err, VM_EINVAL, "label %lld is outside the model's %lld classes", (long long)y, (long long)C);
        const float *row = px + b * C;
        float mx = row[0];
        for (int64_t k = 1; k < C; k++) mx = row[k] > mx ? row[k] : mx;
        double sum = 0;
        for (int64_t k = 0; k < C; k++) sum += exp((double)row[k] - mx);
        double lse = mx + log(sum);
        for (int64_t k = 0; k < C; k++) pp[b * C + k] = (float)exp((double)row[k] - lse);
        total += lse - row[y];
    }
    *(float *)loss->data = B ? (float)(total / (double)B) : 0.0f;
    return VM_OK;
}

static enum vm_status sce_grad_run(struct vm_rt_ctx *c, const struct vm_rt_step *s, void *state, struct vm_error *err) {
    (void)state;
    (void)err;
    const struct vm_rt_tensor *dl = vm_rt_in(c, s, 0), *prob = vm_rt_in(c, s, 1), *lab = vm_rt_in(c, s, 2);
    struct vm_rt_tensor *dx = vm_rt_out(c, s, 0);
    int64_t B = prob->dims[0], C = prob->dims[1];
    float scale = B ? *(const float *)dl->data / (float)B : 0.0f;
    const float *pp = prob->data;
    float *o = dx->data;
    for (int64_t b = 0; b < B; b++) {
        int64_t y = label_at(lab, b);
        for (int64_t k = 0; k < C; k++) o[b * C + k] = (pp[b * C + k] - (k == y ? 1.0f : 0.0f)) * scale;
    }
    return VM_OK;
}

/* ---------------- VMask ---------------- */

static float sigmoidf_(float x) { return x >= 0 ? 1.0f / (1.0f + expf(-x)) : expf(x) / (1.0f + expf(x)); }

static enum vm_status vmask_run(struct vm_rt_ctx *c, const struct vm_rt_step *s, void *state, struct vm_error *err) {
    (void)state;
    (void)err;
    const struct vm_rt_tensor *x = vm_rt_in(c, s, 0), *noise = vm_rt_in(c, s, 1);
    float *r = vm_rt_out(c, s, 0)->data, *q = vm_rt_out(c, s, 1)->data, *soft = vm_rt_out(c, s, 2)->data;
    const float *p = x->data, *gn = noise ? noise->data : NULL;
    float tau = (float)vm_rt_attr_float(s, "tau", 1.0);
    int64_t n = x->numel / 2;
    bool training = c->training;
    uint64_t stream = 0x2000u + (uint64_t)s->index;
#pragma omp parallel for if (n > PAR_MIN)
    for (int64_t i = 0; i < n; i++) {
        float p0 = p[2 * i], p1 = p[2 * i + 1];
        q[i] = sigmoidf_(p1 - p0);
        if (!training) {
            r[i] = soft[i] = q[i];
            continue;
        }
        float g0, g1;
        if (gn) {
            g0 = gn[2 * i];
            g1 = gn[2 * i + 1];
        } else {
            g0 = (float)-log(-log(vm_rt_rng_uniform(c->seed, c->counter, stream, (uint64_t)(2 * i))));
            g1 = (float)-log(-log(vm_rt_rng_uniform(c->seed, c->counter, stream, (uint64_t)(2 * i + 1))));
        }
        float a0 = p0 + g0, a1 = p1 + g1;
        r[i] = a1 > a0 ? 1.0f : 0.0f;
        soft[i] = sigmoidf_((a1 - a0) / tau);
    }
    return VM_OK;
}

static enum vm_status vmask_grad_run(struct vm_rt_ctx *c, const struct vm_rt_step *s, void *state, struct vm_error *err) {
    (void)state;
    (void)err;
    const struct vm_rt_tensor *dr = vm_rt_in(c, s, 0), *dq = vm_rt_in(c, s, 1);
    const float *q = vm_rt_in(c, s, 2)->data, *soft = vm_rt_in(c, s, 3)->data;
    struct vm_rt_tensor *dx = vm_rt_out(c, s, 0);
    float tau = c->training ? (float)vm_rt_attr_float(s, "tau", 1.0) : 1.0f;
    const float *pr = dr ? dr->data : NULL, *pq = dq ? dq->data : NULL;
    float *o = dx->data;
    int64_t n = dx->numel / 2;
#pragma omp parallel for if (n > PAR_MIN)
    for (int64_t i = 0; i < n; i++) {
        float g = 0;
        if (pr) g += pr[i] * soft[i] * (1 - soft[i]) / tau;
        if (pq) g += pq[i] * q[i] * (1 - q[i]);
        o[2 * i] = -g;
        o[2 * i + 1] = g;
    }
    return VM_OK;
}

/* ---------------- VMaskInfoLoss ---------------- */

static enum vm_status info_loss_run(struct vm_rt_ctx *c, const struct vm_rt_step *s, void *state, struct vm_error *err) {
    (void)state;
    (void)err;
    const struct vm_rt_tensor *tq = vm_rt_in(c, s, 0), *ids = vm_rt_in(c, s, 1);
    const float *q = tq->data;
    int64_t pad = vm_rt_attr_int(s, "pad", -1), n = tq->numel, cnt = 0;
    double eps = vm_rt_attr_float(s, "eps", 1e-8), sum = 0;
    for (int64_t i = 0; i < n; i++) {
        if (label_at(ids, i) == pad) continue;
        double v = q[i];
        sum += v * log(v + eps) + (1 - v) * log(1 - v + eps);
        cnt++;
    }
    *(float *)vm_rt_out(c, s, 0)->data = cnt ? (float)(sum / (double)cnt) : 0.0f;
    return VM_OK;
}

static enum vm_status info_loss_grad_run(struct vm_rt_ctx *c, const struct vm_rt_step *s, void *state, struct vm_error *err) {
    (void)state;
    (void)err;
    const struct vm_rt_tensor *tq = vm_rt_in(c, s, 1), *ids = vm_rt_in(c, s, 2);
    const float *q = tq->data;
    float *o = vm_rt_out(c, s, 0)->data;
    int64_t pad = vm_rt_attr_int(s, "pad", -1), n = tq->numel, cnt = 0;
    double eps = vm_rt_attr_float(s, "eps", 1e-8);
    for (int64_t i = 0; i < n; i++) cnt += label_at(ids, i) != pad;
    double scale = cnt ? *(const float *)vm_rt_in(c, s, 0)->data / (double)cnt : 0;
    for (int64_t i = 0; i < n; i++) {
        if (label_at(ids, i) == pad) {
            o[i] = 0;
            continue;
        }
        double v = q[i];
        o[i] = (float)(scale * (log(v + eps) + v / (v + eps) - log(1 - v + eps) - (1 - v) / (1 - v + eps)));
    }
    return VM_OK;
}

/* ---------------- optimizer ---------------- */

static enum vm_status opt_step_run(struct vm_rt_ctx *c, const struct vm_rt_step *s, void *state, struct vm_error *err) {
    (void)state;
    (void)err;
    float *t = vm_rt_in(c, s, 0)->data;
    *t += 1.0f;
    return VM_OK;
}

static enum vm_status grad_norm_run(struct vm_rt_ctx *c, const struct vm_rt_step *s, void *state, struct vm_error *err) {
    (void)state;
    (void)err;
    double sum = 0;
    for (int32_t k = 0; k < s->n_in; k++) {
        const struct vm_rt_tensor *g = vm_rt_in(c, s, k);
        const float *p = g->data;
        double part = 0;
#pragma omp parallel for reduction(+ : part) if (g->numel > PAR_MIN)
        for (int64_t i = 0; i < g->numel; i++) part += (double)p[i] * p[i];
        sum += part;
    }
    *(float *)vm_rt_out(c, s, 0)->data = (float)sqrt(sum);
    return VM_OK;
}

static enum vm_status adam_run(struct vm_rt_ctx *c, const struct vm_rt_step *s, void *state, struct vm_error *err) {
    (void)state;
    (void)err;
    struct vm_rt_tensor *tp = vm_rt_in(c, s, 0);
    float *p = tp->data, *m = vm_rt_in(c, s, 2)->data, *v = vm_rt_in(c, s, 3)->data;
    const float *g = vm_rt_in(c, s, 1)->data;
    double t = *(const float *)vm_rt_in(c, s, 4)->data, lr = *(const float *)vm_rt_in(c, s, 5)->data;
    double norm = *(const float *)vm_rt_in(c, s, 6)->data;
    float b1 = (float)vm_rt_attr_float(s, "beta1", 0.9), b2 = (float)vm_rt_attr_float(s, "beta2", 0.999);
    float eps = (float)vm_rt_attr_float(s, "epsilon", 1e-8), wd = (float)vm_rt_attr_float(s, "weight_decay", 0);
    double clip = vm_rt_attr_float(s, "clip", 0);
    /* torch.nn.utils.clip_grad_norm_: scale by max_norm / (norm + 1e-6) when that is below 1 */
    float cs = 1.0f;
    if (clip > 0 && clip / (norm + 1e-6) < 1.0) cs = (float)(clip / (norm + 1e-6));
    double bc1 = 1.0 - pow(b1, t), bc2 = 1.0 - pow(b2, t);
    float step = (float)(lr / bc1), sbc2 = (float)sqrt(bc2);
    int64_t n = tp->numel;
#pragma omp parallel for if (n > PAR_MIN)
    for (int64_t i = 0; i < n; i++) {
        float gi = g[i] * cs + wd * p[i];
        m[i] = b1 * m[i] + (1 - b1) * gi;
        v[i] = b2 * v[i] + (1 - b2) * gi * gi;
        p[i] -= step * m[i] / (sqrtf(v[i]) / sbc2 + eps);
    }
    return VM_OK;
}

const struct vm_rt_kernel vm_rt_kernels_train[] = {
    {"SoftmaxCrossEntropy", 2, 2, 2, 2, 0, NULL, sce_run, NULL},
    {"SoftmaxCrossEntropyGrad", 3, 3, 1, 1, 0, NULL, sce_grad_run, NULL},
    {"VMask", 1, 2, 3, 3, 0, NULL, vmask_run, NULL},
    {"VMaskGrad", 4, 4, 1, 1, 0, NULL, vmask_grad_run, NULL},
    {"VMaskInfoLoss", 2, 2, 1, 1, 0, NULL, info_loss_run, NULL},
    {"VMaskInfoLossGrad", 3, 3, 1, 1, 0, NULL, info_loss_grad_run, NULL},
    {"OptStep", 1, 1, 0, 0, 0, NULL, opt_step_run, NULL},
    {"GradNorm", 1, -1, 1, 1, 0, NULL, grad_norm_run, NULL},
    {"Adam", 7, 7, 0, 0, 0, NULL, adam_run, NULL},
    {NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL},
};
